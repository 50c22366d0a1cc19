r"""Dice plus cross-entropy, Dice plus focal and Dice plus top-k cross-entropy, from one shared
softmax.

Multiclass: one ``log_softmax`` feeds both terms (the Dice statistics take its ``exp`` in the
fused kernel), so the graph keeps one tensor of the input's size. The cross-entropy and focal
terms come from :mod:`visionloss.losses._dense_terms`; the Dice statistics from the overlap core
(:func:`~visionloss.losses.segmentation.overlap.overlap_stats`); nothing is re-implemented here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, cast

import torch
from torch import Tensor

from ..._core import (
    DenseTarget,
    LossModule,
    LossSpec,
    Mode,
    Reduction,
    check_class_weight,
    check_flag,
    check_floating,
    check_nonnegative_tensor,
    check_number,
    check_weight,
    compute_dtype,
    describe,
    prepare_dense_target,
    reduce_loss,
)
from ..._core.synced import reduce_loss_synced
from .._dense_terms import cross_entropy_terms, focal_terms
from ..classification import binary_cross_entropy
from .extra import topk_mean
from .overlap import OverlapTermOptions, TensorLike, as_tensor, overlap_stats, ratio

__all__ = [
    "DiceCELoss",
    "DiceFocalLoss",
    "DiceTopKLoss",
    "SPECS",
    "dice_ce_loss",
    "dice_focal_loss",
    "dice_topk_loss",
]


# --- options: declared once, checked when built ---------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DiceCompoundOptions(OverlapTermOptions):
    """The Dice term's options (it takes logits: no ``from_logits``) and its weight."""

    mode: Mode = "multiclass"
    lambda_dice: float = 1.0
    squared: bool = False

    def validate(self) -> None:
        super().validate()
        check_number(self.lambda_dice, "lambda_dice", low=0.0)
        check_flag(self.squared, "squared")

    @property
    def squared_sums(self) -> bool:
        return self.squared


@dataclass(frozen=True, kw_only=True)
class DiceCEOptions(DiceCompoundOptions):
    lambda_ce: float = 1.0
    label_smoothing: float = 0.0

    def validate(self) -> None:
        super().validate()
        check_number(self.lambda_ce, "lambda_ce", low=0.0)
        check_number(self.label_smoothing, "label_smoothing", low=0.0, high=1.0)


@dataclass(frozen=True, kw_only=True)
class DiceFocalOptions(DiceCompoundOptions):
    lambda_focal: float = 1.0
    alpha: float | TensorLike | None = None
    gamma: float = 2.0

    tensor_fields: ClassVar[tuple[str, ...]] = ("class_weight", "alpha")

    def validate(self) -> None:
        super().validate()
        check_number(self.lambda_focal, "lambda_focal", low=0.0)
        check_number(self.gamma, "gamma", low=0.0)
        # the focal term's alpha, against the mode (its length against C at the call)
        alpha = self.alpha
        if isinstance(alpha, Tensor):
            if self.mode == "binary":
                raise TypeError(
                    "alpha: expected a real number or None for mode='binary' (a per-class "
                    f"tensor needs mode='multilabel' or 'multiclass'), got {describe(alpha)}"
                )
            check_floating(alpha, "alpha")
            if alpha.dim() != 1:
                raise ValueError(
                    f"alpha: expected a number or a tensor of shape (C,), got {tuple(alpha.shape)}"
                )
            check_nonnegative_tensor(alpha, "alpha")
        elif alpha is not None:
            # a weight of the positives in [0, 1] for the sigmoid modes (1 - alpha weighs the
            # negatives), any non-negative factor for multiclass
            high = math.inf if self.mode == "multiclass" else 1.0
            check_number(alpha, "alpha", low=0.0, high=high)


@dataclass(frozen=True, kw_only=True)
class DiceTopKOptions(DiceCompoundOptions):
    lambda_topk: float = 1.0
    k: float = 0.1
    label_smoothing: float = 0.0

    def validate(self) -> None:
        super().validate()
        check_number(self.lambda_topk, "lambda_topk", low=0.0)
        check_number(self.k, "k", low=0.0, high=1.0, low_inclusive=False)
        check_number(self.label_smoothing, "label_smoothing", low=0.0, high=1.0)


# --- the core: one softmax, the Dice statistics and the other term per sample ---------------------

#: an elementwise term split for the reduction: (loss, weight or None, validity or None)
Terms = tuple[Tensor, Tensor | None, Tensor | None]


def _per_sample_mean(loss: Tensor, weight: Tensor | None, valid: Tensor | None) -> Tensor:
    """``(N,)`` weighted mean of an elementwise loss over each sample's valid elements (0 for a
    sample without any): the per-sample form of the part's own ``"mean"``."""
    shape = (loss.shape[0], math.prod(loss.shape[1:]))  # not (N, -1): torch refuses it for N = 0
    weighted = reduce_loss(loss, "none", weight=weight, valid=valid).reshape(shape).sum(-1)
    mass = reduce_loss(torch.ones_like(loss), "none", weight=weight, valid=valid)
    mass = mass.reshape(shape).sum(-1)
    return weighted / torch.where(mass == 0, torch.ones_like(mass), mass)



def _dice_per_sample(stats: Tensor, opts: DiceCompoundOptions) -> Tensor:
    """The Dice loss of each sample, averaged over its classes (class-weighted): ``(N,)``, or
    ``()`` from batch statistics ``(4, C)``."""
    inter, pred, tgt, _ = stats.unbind(0)
    loss = 1 - ratio(2 * inter + opts.smooth, pred + tgt + opts.smooth)
    class_weight = as_tensor(opts.class_weight)
    check_class_weight(class_weight, loss.shape[-1])
    if class_weight is None:
        return loss.mean(-1)
    cw = class_weight.to(loss.device, loss.dtype)
    total = cw.sum()
    return (loss * cw).sum(-1) / torch.where(total == 0, torch.ones_like(total), total)


def _ce_terms(
    scores: Tensor, target: Tensor, dense: DenseTarget, opts: DiceCEOptions | DiceTopKOptions
) -> Terms:
    """Cross-entropy from the shared log-probabilities (multiclass), else BCE with logits."""
    class_weight = as_tensor(opts.class_weight)
    if opts.mode == "multiclass":
        return cross_entropy_terms(
            scores, dense, class_weight=class_weight, label_smoothing=opts.label_smoothing
        )
    # sigmoid modes: elementwise, nothing to share; both parts keep only input and target
    part = binary_cross_entropy(
        scores,
        target,
        ignore_index=opts.ignore_index,
        label_smoothing=opts.label_smoothing,
        reduction="none",
    )
    part_weight = None
    if class_weight is not None and opts.mode == "multilabel":
        check_class_weight(class_weight, scores.shape[1])
        shape = (1, -1) + (1,) * (scores.dim() - 2)
        part_weight = class_weight.to(scores.device, compute_dtype(scores)).view(shape)
    return part, part_weight, dense.valid


def _focal_part(scores: Tensor, dense: DenseTarget, opts: DiceFocalOptions) -> Terms:
    alpha = cast("float | Tensor | None", opts.alpha)  # a list became a tensor when built
    part, valid = focal_terms(scores, dense, alpha=alpha, gamma=opts.gamma)
    return part, None, valid


def _compound(
    input: Tensor,
    target: Tensor,
    opts: DiceCEOptions | DiceFocalOptions | DiceTopKOptions,
    weight: Tensor | None,
) -> Tensor:
    dtype = compute_dtype(input)
    dense = prepare_dense_target(
        input, target, opts.mode, ignore_index=opts.ignore_index, dtype=dtype
    )
    if opts.mode == "multiclass":
        # the one softmax: its log feeds the cross-entropy (or focal) term and, through the
        # "exp" activation of the fused statistics, the Dice term. log_softmax keeps its output
        # for backward anyway, so the statistics add no saved tensor of the input's size.
        scores = torch.log_softmax(input, dim=1, dtype=dtype)
        stats = overlap_stats(scores, target, opts, activation="exp", dense=dense)
    else:
        scores = input
        stats = overlap_stats(input, target, opts, dense=dense)
    dice = _dice_per_sample(stats, opts)
    if isinstance(opts, DiceTopKOptions):
        # the hardest k fraction of each sample's valid elements, ranked on the weighted loss
        part, part_weight, part_valid = _ce_terms(scores, target, dense, opts)
        if part_weight is not None:
            part = part * part_weight
        other, count = topk_mean(part, part_valid, opts.k)
        loss = opts.lambda_dice * dice + opts.lambda_topk * other
        has_positions = count > 0
    else:
        if isinstance(opts, DiceCEOptions):
            lambda_other, (part, part_weight, part_valid) = opts.lambda_ce, _ce_terms(
                scores, target, dense, opts
            )
        else:
            lambda_other, (part, part_weight, part_valid) = opts.lambda_focal, _focal_part(
                scores, dense, opts
            )
        other = _per_sample_mean(part, part_weight, part_valid)
        loss = opts.lambda_dice * dice + lambda_other * other
        # a sample whose positions are all ignored leaves the mean
        has_positions = _per_sample_mean(torch.ones_like(part), None, part_valid) > 0
    check_weight(weight, loss.shape)
    return reduce_loss_synced(
        loss,
        opts.reduction,
        weight=weight,
        valid=has_positions,
        sync=opts.sync,
        process_group=opts.process_group,
    )


# --- the losses -----------------------------------------------------------------------------------


def dice_ce_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode = "multiclass",
    lambda_dice: float = 1.0,
    lambda_ce: float = 1.0,
    smooth: float = 1e-5,
    squared: bool = False,
    batch_dice: bool = False,
    class_weight: TensorLike | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    sync: bool = False,
    process_group: object | None = None,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Dice loss plus cross-entropy, from one shared softmax (nnU-Net's and MONAI's DiceCE).

    .. math::
        \ell_n = \lambda_{\mathrm{dice}}\, \overline{\mathrm{Dice}}_n
               + \lambda_{\mathrm{ce}}\, \overline{\mathrm{CE}}_n

    per sample :math:`n`: :math:`\overline{\mathrm{Dice}}_n` is :func:`dice_loss`'s ``(N, C)``
    loss averaged over the classes (weighted by ``class_weight``; with ``batch_dice`` the one
    batch value, the same for every sample) and :math:`\overline{\mathrm{CE}}_n` the mean over
    the sample's positions of :func:`~visionloss.functional.cross_entropy` (multiclass, with
    torch's ``class_weight`` mean) or of
    :func:`~visionloss.functional.binary_cross_entropy` (binary, multilabel; ``class_weight``
    along the channels). ``"mean"`` averages over the samples, so that with the same number of
    valid positions in every sample and no ``class_weight`` it equals exactly
    ``lambda_dice * dice_loss(...) + lambda_ce * cross_entropy(...)``.

    Multiclass: one ``log_softmax`` feeds both terms (the Dice statistics take its ``exp`` in
    the fused kernel), so the graph keeps one tensor of the input's size, the log-probabilities
    that ``log_softmax``'s own backward needs. The cross-entropy term comes from
    :mod:`visionloss.losses._dense_terms`; nothing is re-implemented here.

    Args:
        input: logits, ``(N, C, *)`` (``(N, *)`` for ``"binary"``).
        target: as in :func:`dice_loss` (``"multiclass"``: class ids or probabilities).
        mode: ``"multiclass"`` (default), ``"binary"`` or ``"multilabel"``.
        lambda_dice: weight of the Dice term, >= 0. Default 1.
        lambda_ce: weight of the cross-entropy term, >= 0. Default 1.
        smooth, squared, batch_dice, ignore_index, sync, process_group: as in
            :func:`dice_loss`.
        class_weight: optional ``(C,)`` weights of both terms (a tensor or a list of numbers).
        label_smoothing: of the cross-entropy term, in ``[0, 1]``. Default 0.
        weight: optional non-negative sample weights broadcastable to ``(N,)``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (``(N,)``; a sample whose positions
            are all ignored gives 0 and leaves the mean).

    References:
        F. Isensee et al., "nnU-Net: a self-configuring method for deep learning-based
        biomedical image segmentation", Nature Methods 2021, arXiv:1809.10486.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> logits = torch.tensor([[[1.0, -1.0], [-1.0, 1.0]]])  # Dice 1 - sigmoid(2) per class
        >>> VF.dice_ce_loss(logits, torch.tensor([[0, 1]]))  # + CE softplus(-2) = 0.1269
        tensor(0.2461)
    """
    return _compound(input, target, DiceCEOptions(
        mode=mode, lambda_dice=lambda_dice, lambda_ce=lambda_ce, smooth=smooth, squared=squared,
        batch_dice=batch_dice, class_weight=class_weight, ignore_index=ignore_index,
        label_smoothing=label_smoothing, sync=sync, process_group=process_group,
        reduction=reduction,
    ), weight)


def dice_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode = "multiclass",
    lambda_dice: float = 1.0,
    lambda_focal: float = 1.0,
    alpha: float | TensorLike | None = None,
    gamma: float = 2.0,
    smooth: float = 1e-5,
    squared: bool = False,
    batch_dice: bool = False,
    class_weight: TensorLike | None = None,
    ignore_index: int | None = -100,
    sync: bool = False,
    process_group: object | None = None,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Dice loss plus focal loss, from one shared softmax (MONAI's DiceFocal).

    .. math::
        \ell_n = \lambda_{\mathrm{dice}}\, \overline{\mathrm{Dice}}_n
               + \lambda_{\mathrm{focal}}\, \overline{\mathrm{FL}}_n

    as :func:`dice_ce_loss` with the cross-entropy replaced by
    :func:`~visionloss.functional.focal_loss` (same ``mode``, ``alpha``, ``gamma``), averaged
    over each sample's valid elements. ``class_weight`` weighs the Dice term only (``alpha``
    balances the focal term). ``gamma=0`` and ``alpha=None`` give :func:`dice_ce_loss`.
    Multiclass shares one ``log_softmax`` between both terms; the focal term comes from
    :mod:`visionloss.losses._dense_terms`.

    Args:
        input: logits, ``(N, C, *)`` (``(N, *)`` for ``"binary"``).
        target: as in :func:`dice_loss`.
        mode: ``"multiclass"`` (default), ``"binary"`` or ``"multilabel"``.
        lambda_dice: weight of the Dice term, >= 0. Default 1.
        lambda_focal: weight of the focal term, >= 0. Default 1.
        alpha, gamma: of the focal term, as in :func:`~visionloss.functional.focal_loss`.
        smooth, squared, batch_dice, class_weight, ignore_index, sync, process_group: as in
            :func:`dice_loss`.
        weight: optional non-negative sample weights broadcastable to ``(N,)``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (``(N,)``).

    References:
        W. Zhu et al., "AnatomyNet: Deep learning for fast and fully automated whole-volume
        segmentation of head and neck anatomy", Medical Physics 2019, arXiv:1808.05238.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> logits = torch.tensor([[[1.0, -1.0], [-1.0, 1.0]]])
        >>> VF.dice_focal_loss(logits, torch.tensor([[0, 1]]))  # 0.1192 + 0.1269 * 0.1192^2
        tensor(0.1210)
    """
    return _compound(input, target, DiceFocalOptions(
        mode=mode, lambda_dice=lambda_dice, lambda_focal=lambda_focal, alpha=alpha, gamma=gamma,
        smooth=smooth, squared=squared, batch_dice=batch_dice, class_weight=class_weight,
        ignore_index=ignore_index, sync=sync, process_group=process_group, reduction=reduction,
    ), weight)


def dice_topk_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode = "multiclass",
    lambda_dice: float = 1.0,
    lambda_topk: float = 1.0,
    k: float = 0.1,
    smooth: float = 1e-5,
    squared: bool = False,
    batch_dice: bool = False,
    class_weight: TensorLike | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    sync: bool = False,
    process_group: object | None = None,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Dice loss plus top-k cross-entropy, from one shared softmax (nnU-Net's DC_and_topk).

    .. math::
        \ell_n = \lambda_{\mathrm{dice}}\, \overline{\mathrm{Dice}}_n
               + \lambda_{\mathrm{topk}}\, \frac{1}{K_n} \sum_{j=1}^{K_n}
                 \mathrm{CE}_{n,(j)}, \qquad K_n = \lceil k\, V_n \rceil

    per sample :math:`n`: :math:`\overline{\mathrm{Dice}}_n` as in :func:`dice_ce_loss`, and
    the second term :func:`~visionloss.functional.topk_cross_entropy`'s: the mean of the
    largest :math:`K_n` of the sample's :math:`V_n` valid per-element cross-entropies (times
    ``class_weight[y]`` when given; the mean divides by the count). ``"binary"`` and
    ``"multilabel"`` rank the elementwise binary cross-entropies (``(C, *)`` of them per sample
    for multilabel, ``class_weight`` along the channels). With the same number of valid
    positions in every sample and no ``class_weight``, ``"mean"`` equals exactly
    ``lambda_dice * dice_loss(...) + lambda_topk * topk_cross_entropy(...)``; ``k=1`` gives
    :func:`dice_ce_loss`. One ``log_softmax`` feeds both terms; the selection is
    :func:`topk_cross_entropy`'s (one sort per sample, static shapes, no host
    synchronisation).

    Ma et al.'s benchmark of 20 segmentation losses found this compound (with nnU-Net's
    ``k=0.1``) among the most robust. Differences from nnU-Net's ``DC_and_topk_loss``: its top-k
    pool is the whole batch, counts ignored pixels (loss 0) and keeps ``int(k V)`` (rounded
    down); its Dice term is minus the Dice score (ours is one minus it: a constant
    ``lambda_dice`` apart), and its trainers leave the background class out of it
    (``do_bg=False``). Here the pool is each sample's valid elements, and the Dice term is over
    all classes (``class_weight`` weighs both terms, so a 0 for the background also drops its
    pixels from the cross-entropy term). For one image with ``batch_dice=True`` and ``k V``
    integral, the value is nnU-Net's with ``do_bg=True`` plus ``lambda_dice``.

    Args:
        input: logits, ``(N, C, *)`` (``(N, *)`` for ``"binary"``).
        target: as in :func:`dice_loss` (``"multiclass"``: class ids or probabilities).
        mode: ``"multiclass"`` (default), ``"binary"`` or ``"multilabel"``.
        lambda_dice: weight of the Dice term, >= 0. Default 1.
        lambda_topk: weight of the top-k cross-entropy term, >= 0. Default 1.
        k: the fraction of each sample's valid elements kept by the cross-entropy term, in
            ``(0, 1]``. Default 0.1 (nnU-Net's TopK10).
        smooth, squared, batch_dice, ignore_index, sync, process_group: as in
            :func:`dice_loss`.
        class_weight: optional ``(C,)`` weights of both terms (a tensor or a list of numbers).
        label_smoothing: of the cross-entropy term, in ``[0, 1]``. Default 0.
        weight: optional non-negative sample weights broadcastable to ``(N,)``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (``(N,)``; a sample whose positions
            are all ignored gives 0 and leaves the mean).

    References:
        J. Ma et al., "Loss odyssey in medical image segmentation", Medical Image Analysis 2021,
        arXiv:2005.13449. Z. Wu, C. Shen, A. van den Hengel, "Bridging Category-level and
        Instance-level Semantic Image Segmentation", arXiv:1605.06885, 2016.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> logits = torch.tensor([[[1.0, -1.0], [-1.0, 1.0]]])  # Dice 1 - sigmoid(2) per class
        >>> VF.dice_topk_loss(logits, torch.tensor([[0, 1]]), k=0.5)  # + CE softplus(-2)
        tensor(0.2461)
    """
    return _compound(input, target, DiceTopKOptions(
        mode=mode, lambda_dice=lambda_dice, lambda_topk=lambda_topk, k=k, smooth=smooth,
        squared=squared, batch_dice=batch_dice, class_weight=class_weight,
        ignore_index=ignore_index, label_smoothing=label_smoothing, sync=sync,
        process_group=process_group, reduction=reduction,
    ), weight)


# --- Modules: documented by their spec, forward is one call to the core -------------------------


class DiceCELoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """Dice plus cross-entropy of ``input`` against ``target`` (see the class docstring)."""
        return _compound(input, target, self.opts, weight)


class DiceFocalLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """Dice plus focal loss of ``input`` against ``target`` (see the class docstring)."""
        return _compound(input, target, self.opts, weight)


class DiceTopKLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """Dice plus top-k cross-entropy of ``input`` against ``target`` (see the class
        docstring)."""
        return _compound(input, target, self.opts, weight)


# --- the sub-family's catalogue -------------------------------------------------------------------

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        "dice_ce", dice_ce_loss, DiceCELoss, DiceCEOptions, "segmentation",
        summary="Dice plus cross-entropy per sample, from one shared softmax (nnU-Net's loss).",
        formula=r"\lambda_{\mathrm{dice}}\,\overline{\mathrm{Dice}}_n"
        r" + \lambda_{\mathrm{ce}}\,\overline{\mathrm{CE}}_n",
        paper="F. Isensee et al., nnU-Net: a self-configuring method for deep learning-based "
        "biomedical image segmentation, Nature Methods 2021, arXiv:1809.10486",
    ),
    LossSpec(
        "dice_focal", dice_focal_loss, DiceFocalLoss, DiceFocalOptions, "segmentation",
        summary="Dice plus focal loss per sample, from one shared softmax.",
        formula=r"\lambda_{\mathrm{dice}}\,\overline{\mathrm{Dice}}_n"
        r" + \lambda_{\mathrm{focal}}\,\overline{\mathrm{FL}}_n",
        paper="W. Zhu et al., AnatomyNet: Deep learning for fast and fully automated whole-volume "
        "segmentation of head and neck anatomy, Medical Physics 2019, arXiv:1808.05238",
    ),
    LossSpec(
        "dice_topk", dice_topk_loss, DiceTopKLoss, DiceTopKOptions, "segmentation",
        summary="Dice plus the cross-entropy of each sample's hardest k fraction of pixels, from "
        "one shared softmax (nnU-Net's DC_and_topk).",
        formula=r"\lambda_{\mathrm{dice}}\,\overline{\mathrm{Dice}}_n + \lambda_{\mathrm{topk}}"
        r"\,\frac{1}{\lceil kV_n\rceil}\sum_{j \le \lceil kV_n\rceil}\mathrm{CE}_{n,(j)}",
        paper="J. Ma et al., Loss odyssey in medical image segmentation, Medical Image Analysis "
        "2021, arXiv:2005.13449",
    ),
)
