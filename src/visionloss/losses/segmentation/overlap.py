r"""Overlap losses: Dice, Jaccard, Tversky, focal Tversky, generalized Dice, and their shared core.

The overlap losses stand on one private core, the per-sample, per-class statistics

.. math::
    I_{nc} = \sum_s v_s\, p_{ncs}\, g_{ncs}, \qquad
    P_{nc} = \sum_s v_s\, p_{ncs}, \qquad G_{nc} = \sum_s v_s\, g_{ncs}

(with ``squared=True``: :math:`P = \sum_s v_s p^2` and :math:`G = \sum_s v_s g^2`, as V-Net;
:math:`p` the predicted probability, :math:`g` the target, :math:`v` 0 at ``ignore_index``),
from which false positives :math:`P - I` and false negatives :math:`G - I` follow; each loss is
then a few lines on these ``(N, C)`` tensors. Targets come in the three modes of
:mod:`visionloss._core.targets` (``"binary"``, ``"multilabel"``, ``"multiclass"`` with integer
ids or probabilities), with any number of spatial dims. Integer targets are never expanded to a
one-hot tensor.

The options of each loss are one frozen object (:class:`OverlapOptions` and its subclasses),
checked when it is built; the private cores take it whole. The statistics come from
:func:`visionloss.kernels.overlap.overlap_statistics`, the op's one dispatch point
(``VISIONLOSS_KERNELS``): by default a fused ``torch.autograd.Function`` that saves for backward
only the caller's ``input`` and ``target``, plus one log-sum-exp per pixel (``(N, *)``, 1/C of
the logits) for softmax with integer targets; ``VISIONLOSS_KERNELS=reference`` selects the plain
PyTorch composition (autograd then keeps the activated prediction), with the same values and
gradients.

Empty masks, the policy of every per-class overlap loss here: a class absent from the target
and from the prediction scores :math:`(0 + s)/(0 + s) = 1`, a loss of about 0; a class absent
from the target but predicted scores :math:`s / (P + s) \approx 0`, a loss of about 1 (a false
positive on an empty mask is penalised fully); a sample whose positions are all ignored has
:math:`I = P = G = 0`, a loss of exactly 0 with zero gradients, and is left out of the mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal, cast

import torch
from torch import Tensor

from ..._core import (
    DenseTarget,
    LossModule,
    LossOptions,
    LossSpec,
    Mode,
    Reduction,
    autocast_off,
    check_choice,
    check_class_weight,
    check_flag,
    check_ignore_index,
    check_mode,
    check_number,
    check_probabilities,
    check_weight,
    compute_dtype,
    prepare_dense_target,
    reduce_loss,
)
from ..._core.synced import reduce_loss_synced
from ...distributed import sync_sum
from ...kernels.overlap import overlap_statistics

__all__ = [
    "DiceLoss",
    "FocalTverskyLoss",
    "GeneralizedDiceLoss",
    "JaccardLoss",
    "SPECS",
    "TverskyLoss",
    "dice_loss",
    "focal_tversky_loss",
    "generalized_dice_loss",
    "jaccard_loss",
    "tversky_loss",
]

WeightType = Literal["square", "simple", "uniform"]
WEIGHT_TYPES: tuple[str, ...] = ("square", "simple", "uniform")

#: a tensor option as the user may give it: a tensor or a list of numbers (made a tensor when the
#: options are built)
TensorLike = Tensor | Sequence[float]


def as_tensor(value: TensorLike | None) -> Tensor | None:
    """A tensor option of a built options object: a tensor or ``None`` (lists were converted)."""
    return cast(Tensor | None, value)


# --- options: declared once, checked when built ---------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class OverlapTermOptions(LossOptions):
    """What every Dice-type term shares: the overlap losses and the Dice part of the compound
    losses (which have no ``from_logits``: they take logits)."""

    mode: Mode
    smooth: float = 1e-5
    batch_dice: bool = False
    class_weight: TensorLike | None = None
    ignore_index: int | None = -100
    sync: bool = False
    process_group: object | None = None

    tensor_fields: ClassVar[tuple[str, ...]] = ("class_weight",)

    def validate(self) -> None:
        check_mode(self.mode)
        check_number(self.smooth, "smooth", low=0.0)
        check_class_weight(self.class_weight)  # the length is checked against C at the call
        check_ignore_index(self.ignore_index)
        check_flag(self.batch_dice, "batch_dice")
        check_flag(self.sync, "sync")

    @property
    def squared_sums(self) -> bool:
        """Whether :math:`P` and :math:`G` are sums of squares (the ``squared`` option, where
        the loss has one)."""
        return False

    @property
    def activation(self) -> str:
        """The kernel's activation of the input: softmax for multiclass logits, else sigmoid."""
        return "softmax" if self.mode == "multiclass" else "sigmoid"


@dataclass(frozen=True, kw_only=True)
class OverlapOptions(OverlapTermOptions):
    """The options of the overlap losses: the shared ones plus ``from_logits``."""

    from_logits: bool = True

    def validate(self) -> None:
        super().validate()
        check_flag(self.from_logits, "from_logits")

    @property
    def activation(self) -> str:
        # (no super() here: torch.compile cannot resolve a property through it)
        if not self.from_logits:
            return "identity"
        return "softmax" if self.mode == "multiclass" else "sigmoid"


@dataclass(frozen=True, kw_only=True)
class DiceOptions(OverlapOptions):
    squared: bool = False
    log_loss: bool = False

    def validate(self) -> None:
        super().validate()
        check_flag(self.squared, "squared")
        check_flag(self.log_loss, "log_loss")

    @property
    def squared_sums(self) -> bool:
        return self.squared


@dataclass(frozen=True, kw_only=True)
class JaccardOptions(DiceOptions):
    pass


@dataclass(frozen=True, kw_only=True)
class TverskyBaseOptions(OverlapOptions):
    alpha: float = 0.5
    beta: float = 0.5

    def validate(self) -> None:
        super().validate()
        check_number(self.alpha, "alpha", low=0.0)
        check_number(self.beta, "beta", low=0.0)


@dataclass(frozen=True, kw_only=True)
class TverskyOptions(TverskyBaseOptions):
    log_loss: bool = False

    def validate(self) -> None:
        super().validate()
        check_flag(self.log_loss, "log_loss")


@dataclass(frozen=True, kw_only=True)
class FocalTverskyOptions(TverskyBaseOptions):
    gamma: float = 0.75

    def validate(self) -> None:
        super().validate()
        check_number(self.gamma, "gamma", low=0.0, low_inclusive=False)


@dataclass(frozen=True, kw_only=True)
class GeneralizedDiceOptions(OverlapOptions):
    weight_type: WeightType = "square"
    squared: bool = False

    def validate(self) -> None:
        super().validate()
        check_choice(self.weight_type, "weight_type", WEIGHT_TYPES)
        check_flag(self.squared, "squared")

    @property
    def squared_sums(self) -> bool:
        return self.squared


# --- the private core: (I, P, G, V) statistics and the reduction of an overlap loss ---------------


def _flatten(input: Tensor, target: Tensor, mode: str) -> tuple[Tensor, Tensor]:
    """``(N, C, S)`` prediction and ``(N, S)`` ids or ``(N, C, S)`` target (binary: ``C = 1``)."""
    n = input.shape[0]
    if mode == "binary":
        size = math.prod(input.shape[1:])
        return input.reshape(n, 1, size), target.reshape(n, 1, size)
    c, size = input.shape[1], math.prod(input.shape[2:])
    if target.dim() == input.dim():
        return input.reshape(n, c, size), target.reshape(n, c, size)
    return input.reshape(n, c, size), target.reshape(n, size)


def _decoded(dense: DenseTarget, shape: torch.Size) -> tuple[Tensor, Tensor | None]:
    """The checked target in the kernel's layout: ids ``(N, S)`` or values ``(N, C, S)``."""
    values = dense.index if dense.is_index else dense.probs
    assert values is not None  # one of the two is set
    flat = (shape[0], shape[2]) if dense.is_index else tuple(shape)
    valid = None if dense.valid is None else dense.valid.reshape(flat)
    return values.reshape(flat), valid


def overlap_stats(
    input: Tensor,
    target: Tensor,
    opts: OverlapTermOptions,
    *,
    activation: str | None = None,
    dense: DenseTarget | None = None,
) -> Tensor:
    """``(4, N, C)`` stacked ``I, P, G, V`` (``V``: the count of valid positions); ``(4, C)``
    summed over the batch, and over the ranks when synced, with ``batch_dice``.

    ``activation`` overrides the options' one (``"exp"`` for shared log-probabilities);
    ``dense``: the target as the caller checked it already.
    """
    if opts.mode == "binary" and input.dim() == 0:
        raise ValueError("input: expected shape (N, *) for mode='binary', got ()")
    activation = activation or opts.activation
    if dense is None:
        # the checks (shapes, dtypes, class ids, probabilities), and the decoded target that the
        # kernel's forward uses (its backward decodes the caller's raw target again)
        dense = prepare_dense_target(
            input, target, opts.mode, ignore_index=opts.ignore_index, dtype=compute_dtype(input)
        )
        if activation == "identity":
            check_probabilities(input, "input")
    x, t = _flatten(input, target, opts.mode)
    with autocast_off(x):  # the per-class sums (bmm) in the compute dtype, not autocast's
        stats = overlap_statistics(
            x,
            t,
            activation=activation,
            ignore_index=opts.ignore_index,
            squared=opts.squared_sums,
            decoded=_decoded(dense, x.shape),
        )
    if opts.batch_dice:
        # one autograd-aware all-reduce of the (4, C) sums: every rank then holds the statistics
        # of the whole global batch
        stats = sync_sum(stats.sum(1), sync=opts.sync, process_group=opts.process_group)
    return stats


def ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    """``numerator / denominator``, and 1 where the denominator is 0 (an empty, perfect match).

    Only reachable with ``smooth=0``; the double ``where`` keeps the gradient finite there. The
    test is ``== 0``, not ``> 0``: a NaN denominator (a NaN logit) is not an empty match, and
    propagates.
    """
    empty = denominator == 0
    safe = torch.where(empty, torch.ones_like(denominator), denominator)
    return torch.where(empty, torch.ones_like(numerator), numerator / safe)


def _score_to_loss(score: Tensor, log_loss: bool) -> Tensor:
    if not log_loss:
        return 1 - score
    # -log(score); the clamp only acts at score 0 (smooth=0 and no overlap), where it is +inf
    return -torch.log(torch.clamp(score, min=torch.finfo(score.dtype).tiny))


def _reduce(loss: Tensor, valid: Tensor, opts: OverlapTermOptions, weight: Tensor | None) -> Tensor:
    if opts.batch_dice:
        # the statistics were already summed over the ranks: every rank holds the same loss
        return reduce_loss(loss, opts.reduction, weight=weight, valid=valid)
    return reduce_loss_synced(
        loss,
        opts.reduction,
        weight=weight,
        valid=valid,
        sync=opts.sync,
        process_group=opts.process_group,
    )


def _reduce_overlap(
    loss: Tensor, count: Tensor, opts: OverlapTermOptions, weight: Tensor | None
) -> Tensor:
    """The one reduction of a per-class overlap loss ``(N, C)`` (or ``(C,)`` with batch_dice)."""
    check_weight(weight, loss.shape)
    class_weight = as_tensor(opts.class_weight)
    check_class_weight(class_weight, loss.shape[-1])
    if class_weight is not None:
        weight = class_weight if weight is None else weight * class_weight
    # a sample (or, with batch_dice, a class) with no valid position is left out of the mean
    return _reduce(loss, count > 0, opts, weight)


# --- Dice, Jaccard, Tversky, focal Tversky, generalized Dice --------------------------------------


def dice_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode,
    smooth: float = 1e-5,
    squared: bool = False,
    log_loss: bool = False,
    batch_dice: bool = False,
    class_weight: TensorLike | None = None,
    ignore_index: int | None = -100,
    from_logits: bool = True,
    sync: bool = False,
    process_group: object | None = None,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Soft Dice loss, per sample and class (V-Net's loss, MONAI's ``DiceLoss`` convention).

    .. math::
        \ell_{nc} = 1 - \frac{2 I_{nc} + s}{P_{nc} + G_{nc} + s}, \qquad
        I = \sum_s p\,g, \quad P = \sum_s p, \quad G = \sum_s g
        \quad \big(\text{squared: } P = \textstyle\sum_s p^2,\ G = \sum_s g^2\big)

    with :math:`p` the predicted probability of class :math:`c` (softmax over classes for
    ``"multiclass"``, sigmoid for ``"binary"``/``"multilabel"``), :math:`g` the target and
    :math:`s` = ``smooth`` added to numerator and denominator. ``log_loss`` gives
    :math:`-\log` of the Dice score instead. With ``batch_dice`` the sums run over the batch too
    (one score per class, nnU-Net's "batch Dice").

    Empty masks: a class absent from the target and from the prediction gives a loss of about 0
    (:math:`s/s`); absent from the target but predicted, about 1; a sample whose positions are
    all ignored gives exactly 0 with zero gradients and is left out of the mean.

    Memory: the default fused path saves for backward only ``input`` and ``target`` (no
    one-hot, no softmax output), ``(N, C)`` statistics and, for softmax with integer targets,
    one log-sum-exp per pixel (``(N, *)``); its backward recomputes the softmax or sigmoid.
    Integer targets are never expanded to a one-hot tensor.

    Args:
        input: logits (or probabilities with ``from_logits=False``): ``(N, C, *)`` for
            ``"multiclass"`` and ``"multilabel"``, ``(N, *)`` for ``"binary"`` (typically
            ``(N, 1, *)``); any number of spatial dims.
        target: ``"multiclass"``: ``(N, *)`` integer class ids or ``(N, C, *)`` probabilities;
            ``"binary"``/``"multilabel"``: the input's shape, 0/1 integers or probabilities.
            No gradient flows to it.
        mode: ``"binary"``, ``"multilabel"`` or ``"multiclass"`` (required).
        smooth: :math:`s \ge 0`. Default 1e-5.
        squared: use :math:`P = \sum p^2` and :math:`G = \sum g^2` (V-Net, Milletari et
            al.; differs from the plain sums only for soft targets). Default False.
        log_loss: :math:`-\log(\mathrm{Dice})` instead of :math:`1 - \mathrm{Dice}`.
        batch_dice: sum the statistics over the batch before the ratio.
        class_weight: optional ``(C,)`` non-negative weights, applied as ``weight`` along C (so
            ``"mean"`` is the class-weighted mean); a tensor or a list of numbers.
        ignore_index: integer target value whose positions leave every sum. Default -100.
        from_logits: ``input`` holds logits (default) or probabilities.
        sync: with ``torch.distributed`` initialised, combine across ranks: the ``(C,)`` sums
            with ``batch_dice``, otherwise the numerator and count of the mean, so that K ranks
            with B samples equal one process with K*B samples. Each rank's gradient is then K
            times the single-process one (DDP averages it back).
        process_group: the group for ``sync`` (default: the world).
        weight: optional non-negative tensor broadcastable to the unreduced loss.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``: ``(N, C)``, or ``(C,)``
            with ``batch_dice`` (``(N, 1)`` for ``"binary"``).

    Returns:
        The loss, float32 for half and bfloat16 inputs.

    References:
        F. Milletari, N. Navab, S.-A. Ahmadi, "V-Net: Fully Convolutional Neural Networks for
        Volumetric Medical Image Segmentation", 3DV 2016, arXiv:1606.04797.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> logits = torch.tensor([[[1.0, -1.0], [-1.0, 1.0]]])  # (N=1, C=2, S=2)
        >>> # each class: I = sigmoid(2), P = G = 1, so the loss is 1 - sigmoid(2)
        >>> VF.dice_loss(logits, torch.tensor([[0, 1]]), mode="multiclass", reduction="none")
        tensor([[0.1192, 0.1192]])
    """
    return _dice(input, target, DiceOptions(
        mode=mode, smooth=smooth, squared=squared, log_loss=log_loss, batch_dice=batch_dice,
        class_weight=class_weight, ignore_index=ignore_index, from_logits=from_logits,
        sync=sync, process_group=process_group, reduction=reduction,
    ), weight)


def _dice(input: Tensor, target: Tensor, opts: DiceOptions, weight: Tensor | None) -> Tensor:
    inter, pred, tgt, count = overlap_stats(input, target, opts)
    score = ratio(2 * inter + opts.smooth, pred + tgt + opts.smooth)
    return _reduce_overlap(_score_to_loss(score, opts.log_loss), count, opts, weight)


def jaccard_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode,
    smooth: float = 1e-5,
    squared: bool = False,
    log_loss: bool = False,
    batch_dice: bool = False,
    class_weight: TensorLike | None = None,
    ignore_index: int | None = -100,
    from_logits: bool = True,
    sync: bool = False,
    process_group: object | None = None,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Soft Jaccard (IoU) loss, per sample and class.

    .. math::
        \ell_{nc} = 1 - \frac{I_{nc} + s}{P_{nc} + G_{nc} - I_{nc} + s}

    with :math:`I, P, G` as in :func:`dice_loss` (the soft union is :math:`P + G - I`).
    ``log_loss`` gives :math:`-\log` of the Jaccard index. Same modes, targets, options, shapes,
    empty-mask policy and memory behaviour as :func:`dice_loss`.

    Args:
        input: logits ``(N, C, *)`` (``(N, *)`` for ``"binary"``), or probabilities.
        target: as in :func:`dice_loss`.
        mode: ``"binary"``, ``"multilabel"`` or ``"multiclass"``.
        smooth, squared, log_loss, batch_dice, class_weight, ignore_index, from_logits, sync,
            process_group, weight: as in :func:`dice_loss`.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``: ``(N, C)``, or ``(C,)`` with
            ``batch_dice``.

    References:
        M. A. Rahman, Y. Wang, "Optimizing Intersection-Over-Union in Deep Neural Networks for
        Image Segmentation", ISVC 2016.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> probs = torch.tensor([[[0.5, 0.5, 0.0, 0.0]]])  # (N=1, 1, S=4)
        >>> target = torch.tensor([[[1, 1, 1, 0]]])
        >>> VF.jaccard_loss(probs, target, mode="binary", from_logits=False, smooth=0.0)
        tensor(0.6667)
    """
    return _jaccard(input, target, JaccardOptions(
        mode=mode, smooth=smooth, squared=squared, log_loss=log_loss, batch_dice=batch_dice,
        class_weight=class_weight, ignore_index=ignore_index, from_logits=from_logits,
        sync=sync, process_group=process_group, reduction=reduction,
    ), weight)


def _jaccard(input: Tensor, target: Tensor, opts: JaccardOptions, weight: Tensor | None) -> Tensor:
    inter, pred, tgt, count = overlap_stats(input, target, opts)
    score = ratio(inter + opts.smooth, pred + tgt - inter + opts.smooth)
    return _reduce_overlap(_score_to_loss(score, opts.log_loss), count, opts, weight)


def _tversky_index(
    input: Tensor, target: Tensor, opts: TverskyBaseOptions
) -> tuple[Tensor, Tensor]:
    inter, pred, tgt, count = overlap_stats(input, target, opts)
    false_pos, false_neg = pred - inter, tgt - inter
    denominator = inter + opts.alpha * false_pos + opts.beta * false_neg + opts.smooth
    return ratio(inter + opts.smooth, denominator), count


def tversky_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode,
    alpha: float = 0.5,
    beta: float = 0.5,
    smooth: float = 1e-5,
    log_loss: bool = False,
    batch_dice: bool = False,
    class_weight: TensorLike | None = None,
    ignore_index: int | None = -100,
    from_logits: bool = True,
    sync: bool = False,
    process_group: object | None = None,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Tversky loss: Dice with separate weights on false positives and false negatives.

    .. math::
        \ell_{nc} = 1 - \frac{I + s}{I + \alpha\,\mathrm{FP} + \beta\,\mathrm{FN} + s}, \qquad
        \mathrm{FP} = \sum_s p\,(1 - g) = P - I, \quad \mathrm{FN} = \sum_s (1 - p)\,g = G - I

    ``alpha`` weighs false positives and ``beta`` false negatives; ``alpha = beta = 0.5`` is
    :func:`dice_loss`, ``alpha = beta = 1`` :func:`jaccard_loss`. Raising ``beta`` favours
    recall on small structures. Same modes, targets, shapes, empty-mask policy and memory
    behaviour as :func:`dice_loss` (no ``squared`` option: FP and FN are linear in :math:`p`).

    Args:
        input: logits ``(N, C, *)`` (``(N, *)`` for ``"binary"``), or probabilities.
        target: as in :func:`dice_loss`.
        mode: ``"binary"``, ``"multilabel"`` or ``"multiclass"``.
        alpha: weight of the false positives, >= 0. Default 0.5.
        beta: weight of the false negatives, >= 0. Default 0.5.
        smooth, log_loss, batch_dice, class_weight, ignore_index, from_logits, sync,
            process_group, weight: as in :func:`dice_loss`.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``: ``(N, C)``, or ``(C,)`` with
            ``batch_dice``.

    References:
        S. S. M. Salehi, D. Erdogmus, A. Gholipour, "Tversky loss function for image
        segmentation using 3D fully convolutional deep networks", MLMI 2017, arXiv:1706.05721.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> probs = torch.tensor([[[0.5, 0.5, 0.0, 0.0]]])  # I = 1, FP = 0, FN = 2
        >>> target = torch.tensor([[[1, 1, 1, 0]]])  # loss 1 - 1 / (1 + 0.7 * 2)
        >>> VF.tversky_loss(probs, target, mode="binary", alpha=0.3, beta=0.7, from_logits=False)
        tensor(0.5833)
    """
    return _tversky(input, target, TverskyOptions(
        mode=mode, alpha=alpha, beta=beta, smooth=smooth, log_loss=log_loss,
        batch_dice=batch_dice, class_weight=class_weight, ignore_index=ignore_index,
        from_logits=from_logits, sync=sync, process_group=process_group, reduction=reduction,
    ), weight)


def _tversky(input: Tensor, target: Tensor, opts: TverskyOptions, weight: Tensor | None) -> Tensor:
    index, count = _tversky_index(input, target, opts)
    return _reduce_overlap(_score_to_loss(index, opts.log_loss), count, opts, weight)


def focal_tversky_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode,
    alpha: float = 0.5,
    beta: float = 0.5,
    gamma: float = 0.75,
    smooth: float = 1e-5,
    batch_dice: bool = False,
    class_weight: TensorLike | None = None,
    ignore_index: int | None = -100,
    from_logits: bool = True,
    sync: bool = False,
    process_group: object | None = None,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Focal Tversky loss: the Tversky loss raised to the power ``gamma``.

    .. math::
        \ell_{nc} = \left(1 - \mathrm{TI}_{nc}\right)^{\gamma}, \qquad
        \mathrm{TI} = \frac{I + s}{I + \alpha\,\mathrm{FP} + \beta\,\mathrm{FN} + s}

    With :math:`\gamma < 1` (the paper's 0.75, written there as :math:`1/\gamma` with
    :math:`\gamma = 4/3`) small losses are enlarged (:math:`0.1^{0.75} = 0.18`) and the slope
    :math:`\gamma x^{\gamma - 1}` grows as a class nears a perfect score. The derivative of
    :math:`x^\gamma` is infinite at 0 for :math:`\gamma < 1`: a Tversky loss below machine
    epsilon counts as 0 with a zero gradient (a perfect or empty-and-unpredicted class). Same
    modes, targets, shapes, empty-mask policy and memory behaviour as :func:`dice_loss`.

    Args:
        input: logits ``(N, C, *)`` (``(N, *)`` for ``"binary"``), or probabilities.
        target: as in :func:`dice_loss`.
        mode: ``"binary"``, ``"multilabel"`` or ``"multiclass"``.
        alpha, beta: weights of false positives and false negatives, as in
            :func:`tversky_loss`. Default 0.5 each.
        gamma: the exponent, > 0. Default 0.75; 1 gives :func:`tversky_loss`.
        smooth, batch_dice, class_weight, ignore_index, from_logits, sync, process_group,
            weight: as in :func:`dice_loss`.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``: ``(N, C)``, or ``(C,)`` with
            ``batch_dice``.

    References:
        N. Abraham, N. M. Khan, "A Novel Focal Tversky loss function with improved Attention
        U-Net for lesion segmentation", ISBI 2019, arXiv:1810.07842.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> probs = torch.tensor([[[0.5, 0.5, 0.0, 0.0]]])  # Tversky loss 7/12, ^0.75
        >>> target = torch.tensor([[[1, 1, 1, 0]]])
        >>> VF.focal_tversky_loss(
        ...     probs, target, mode="binary", alpha=0.3, beta=0.7, from_logits=False
        ... )
        tensor(0.6675)
    """
    return _focal_tversky(input, target, FocalTverskyOptions(
        mode=mode, alpha=alpha, beta=beta, gamma=gamma, smooth=smooth, batch_dice=batch_dice,
        class_weight=class_weight, ignore_index=ignore_index, from_logits=from_logits,
        sync=sync, process_group=process_group, reduction=reduction,
    ), weight)


def _focal_tversky(
    input: Tensor, target: Tensor, opts: FocalTverskyOptions, weight: Tensor | None
) -> Tensor:
    index, count = _tversky_index(input, target, opts)
    base = 1 - index
    # x^gamma has an infinite slope at 0 for gamma < 1: below eps the loss is 0, and the inner
    # `where` keeps pow away from 0 so that the discarded branch cannot send inf * 0 = NaN back;
    # `<=`, so that a NaN index is not "below eps": it propagates
    flat = base <= torch.finfo(base.dtype).eps
    loss = torch.where(
        flat,
        torch.zeros_like(base),
        torch.where(flat, torch.ones_like(base), base) ** opts.gamma,
    )
    return _reduce_overlap(loss, count, opts, weight)


def generalized_dice_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode,
    weight_type: WeightType = "square",
    smooth: float = 1e-5,
    squared: bool = False,
    batch_dice: bool = False,
    class_weight: TensorLike | None = None,
    ignore_index: int | None = -100,
    from_logits: bool = True,
    sync: bool = False,
    process_group: object | None = None,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Generalized Dice loss: one Dice per sample over all classes, each weighted by its size.

    .. math::
        \ell_n = 1 - \frac{2 \sum_c w_{nc} I_{nc} + s}{\sum_c w_{nc} (P_{nc} + G_{nc}) + s},
        \qquad w_{nc} = \begin{cases} 1/G_{nc}^2 & \text{"square"} \\ 1/G_{nc} &
        \text{"simple"} \\ 1 & \text{"uniform"} \end{cases}

    The weights are computed per sample from the target (per class over the batch with
    ``batch_dice``) and carry no gradient. A class absent from the target gets weight 0, not
    inf (MONAI gives it the largest weight of the sample instead): its false positives are then
    not penalised directly by this loss (under a softmax they are, through the other classes).
    ``class_weight`` multiplies :math:`w`. Same modes, targets and memory behaviour as
    :func:`dice_loss`; a sample whose positions are all ignored gives 0 and leaves the mean.

    Args:
        input: logits ``(N, C, *)`` (``(N, *)`` for ``"binary"``), or probabilities.
        target: as in :func:`dice_loss`.
        mode: ``"binary"``, ``"multilabel"`` or ``"multiclass"``.
        weight_type: ``"square"`` (default), ``"simple"`` or ``"uniform"``.
        smooth, squared, batch_dice, ignore_index, from_logits, sync, process_group: as in
            :func:`dice_loss`.
        class_weight: optional ``(C,)`` non-negative factors on :math:`w`.
        weight: optional non-negative tensor broadcastable to the unreduced loss.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``: ``(N,)``, or ``()`` with
            ``batch_dice``.

    References:
        C. H. Sudre, W. Li, T. Vercauteren, S. Ourselin, M. J. Cardoso, "Generalised Dice
        overlap as a deep learning loss function for highly unbalanced segmentations", DLMIA
        2017, arXiv:1707.03237.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> probs = torch.tensor([[[0.5, 0.5, 0.0, 0.0], [0.5, 0.5, 1.0, 1.0]]])
        >>> target = torch.tensor([[0, 0, 0, 1]])  # G = (3, 1): weights 1/9 and 1; I = (1, 1)
        >>> # 1 - 2 (1/9 + 1) / ((1 + 3) / 9 + (3 + 1)) = 1 - (20/9) / (40/9)
        >>> VF.generalized_dice_loss(
        ...     probs, target, mode="multiclass", from_logits=False, smooth=0.0
        ... )
        tensor(0.5000)
    """
    return _generalized_dice(input, target, GeneralizedDiceOptions(
        mode=mode, weight_type=weight_type, smooth=smooth, squared=squared,
        batch_dice=batch_dice, class_weight=class_weight, ignore_index=ignore_index,
        from_logits=from_logits, sync=sync, process_group=process_group, reduction=reduction,
    ), weight)


def _generalized_dice(
    input: Tensor, target: Tensor, opts: GeneralizedDiceOptions, weight: Tensor | None
) -> Tensor:
    inter, pred, tgt, count = overlap_stats(input, target, opts)
    class_weight = as_tensor(opts.class_weight)
    check_class_weight(class_weight, inter.shape[-1])
    present = tgt > 0
    safe_tgt = torch.where(present, tgt, torch.ones_like(tgt))
    if opts.weight_type == "uniform":
        class_w = torch.ones_like(tgt)
    else:
        power = 2 if opts.weight_type == "square" else 1
        # an absent class gets 0 (not 1/0 = inf)
        class_w = torch.where(present, safe_tgt.pow(-power), torch.zeros_like(tgt))
    if class_weight is not None:
        class_w = class_w * class_weight.to(class_w.dtype)
    numerator = 2 * (class_w * inter).sum(-1) + opts.smooth
    denominator = (class_w * (pred + tgt)).sum(-1) + opts.smooth
    loss = 1 - ratio(numerator, denominator)
    check_weight(weight, loss.shape)
    return _reduce(loss, count.sum(-1) > 0, opts, weight)


# --- Modules: documented by their spec, forward is one call to the core -------------------------


class DiceLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The Dice loss of ``input`` against ``target`` (see the class docstring)."""
        return _dice(input, target, self.opts, weight)


class JaccardLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The Jaccard loss of ``input`` against ``target`` (see the class docstring)."""
        return _jaccard(input, target, self.opts, weight)


class TverskyLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The Tversky loss of ``input`` against ``target`` (see the class docstring)."""
        return _tversky(input, target, self.opts, weight)


class FocalTverskyLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The focal Tversky loss of ``input`` against ``target`` (see the class docstring)."""
        return _focal_tversky(input, target, self.opts, weight)


class GeneralizedDiceLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The generalized Dice loss of ``input`` against ``target`` (see the class docstring)."""
        return _generalized_dice(input, target, self.opts, weight)


# --- the sub-family's catalogue -------------------------------------------------------------------

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        "dice", dice_loss, DiceLoss, DiceOptions, "segmentation",
        summary="Soft Dice: one minus the soft overlap score, per sample and class.",
        formula=r"1 - \frac{2 I + s}{P + G + s},\ I = \sum p g,\ P = \sum p,\ G = \sum g"
        r"\ (\text{squared: } P = \sum p^2,\ G = \sum g^2)",
        paper="F. Milletari, N. Navab, S.-A. Ahmadi, V-Net: Fully Convolutional Neural Networks "
        "for Volumetric Medical Image Segmentation, 3DV 2016, arXiv:1606.04797",
    ),
    LossSpec(
        "jaccard", jaccard_loss, JaccardLoss, JaccardOptions, "segmentation",
        summary="Soft Jaccard (IoU): one minus intersection over the soft union.",
        formula=r"1 - \frac{I + s}{P + G - I + s}",
        paper="M. A. Rahman, Y. Wang, Optimizing Intersection-Over-Union in Deep Neural Networks "
        "for Image Segmentation, ISVC 2016",
    ),
    LossSpec(
        "tversky", tversky_loss, TverskyLoss, TverskyOptions, "segmentation",
        summary="Dice with separate weights on false positives (alpha) and false negatives (beta).",
        formula=r"1 - \frac{I + s}{I + \alpha\,\mathrm{FP} + \beta\,\mathrm{FN} + s},"
        r"\ \mathrm{FP} = P - I,\ \mathrm{FN} = G - I",
        paper="S. S. M. Salehi, D. Erdogmus, A. Gholipour, Tversky loss function for image "
        "segmentation using 3D fully convolutional deep networks, MLMI 2017, arXiv:1706.05721",
    ),
    LossSpec(
        "focal_tversky", focal_tversky_loss, FocalTverskyLoss, FocalTverskyOptions,
        "segmentation",
        summary="The Tversky loss raised to the power gamma: more weight on hard classes.",
        formula=r"\left(1 - \frac{I + s}{I + \alpha\,\mathrm{FP} + \beta\,\mathrm{FN} + s}"
        r"\right)^{\gamma}",
        paper="N. Abraham, N. M. Khan, A Novel Focal Tversky loss function with improved "
        "Attention U-Net for lesion segmentation, ISBI 2019, arXiv:1810.07842",
    ),
    LossSpec(
        "generalized_dice", generalized_dice_loss, GeneralizedDiceLoss, GeneralizedDiceOptions,
        "segmentation",
        summary="One Dice per sample over all classes, each class weighted by its inverse "
        "(squared) size.",
        formula=r"1 - \frac{2 \sum_c w_c I_c + s}{\sum_c w_c (P_c + G_c) + s},\ w_c = 1/G_c^2",
        paper="C. H. Sudre, W. Li, T. Vercauteren, S. Ourselin, M. J. Cardoso, Generalised Dice "
        "overlap as a deep learning loss function for highly unbalanced segmentations, DLMIA "
        "2017, arXiv:1707.03237",
    ),
)
