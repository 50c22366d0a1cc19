r"""Pixel-selection and correlation losses: top-k (bootstrapped) cross-entropy and the Matthews
correlation coefficient loss.

:func:`topk_cross_entropy` builds on the shared cross-entropy terms of
:mod:`visionloss.losses._dense_terms`; :func:`mcc_loss` on the overlap statistics of
:mod:`.overlap` (the soft true positives, predicted and target sums, and valid count, from which
false positives, false negatives and true negatives follow). Nothing is re-implemented here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..._core import (
    LossModule,
    LossSpec,
    Mode,
    Reduction,
    check_class_weight,
    check_number,
    check_weight,
    compute_dtype,
    prepare_dense_target,
    reduce_loss,
)
from .._dense_terms import cross_entropy_terms
from ..classification import CrossEntropyOptions
from .overlap import OverlapOptions, TensorLike, _reduce_overlap, overlap_stats

__all__ = [
    "MCCLoss",
    "SPECS",
    "TopKCrossEntropyLoss",
    "mcc_loss",
    "topk_cross_entropy",
]


# --- options ------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TopKCrossEntropyOptions(CrossEntropyOptions):
    k: float = 0.1

    def validate(self) -> None:
        check_number(self.k, "k", low=0.0, high=1.0, low_inclusive=False)
        super().validate()


@dataclass(frozen=True, kw_only=True)
class MCCOptions(OverlapOptions):
    smooth: float = 1e-5


# --- top-k cross-entropy ------------------------------------------------------------------------


def topk_cross_entropy(
    input: Tensor,
    target: Tensor,
    *,
    k: float = 0.1,
    class_weight: TensorLike | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Top-k (bootstrapped) cross-entropy: per sample, the mean cross-entropy of its hardest
    ``k`` fraction of valid pixels (Wu et al.'s bootstrapping, nnU-Net's ``TopKLoss``).

    .. math::
        \ell_n = \frac{1}{K_n} \sum_{j=1}^{K_n} \mathrm{CE}_{n,(j)}, \qquad
        K_n = \lceil k\, V_n \rceil

    where :math:`\mathrm{CE}_{n,(1)} \ge \mathrm{CE}_{n,(2)} \ge \dots` are the per-pixel
    cross-entropies of sample :math:`n` (torch's ``reduction="none"`` values: times
    ``class_weight[y]`` when given, with ``label_smoothing``) sorted in decreasing order and
    :math:`V_n` the number of its pixels not at ``ignore_index``. ``k=1`` is the per-sample mean
    cross-entropy (unweighted by the class weights: the top-k mean divides by the count, as
    nnU-Net's does).

    The count :math:`K_n` depends on the data (the number of valid pixels); to keep shapes
    static, so that it compiles with ``fullgraph`` and has no host synchronisation, each sample's
    losses are sorted (ignored pixels set to :math:`-\infty`, hence last) and the first
    :math:`K_n` kept by a mask on the rank, not by ``torch.topk`` with a data-dependent count.
    Cost: one sort per sample, :math:`O(S \log S)`. Differences from nnU-Net's ``TopKLoss``: it
    takes the top k percent (``k=10`` there is ``k=0.1`` here) over the whole batch at once and
    counts ignored pixels (loss 0) in the pool; here it is per sample and over valid pixels only.

    Args:
        input: logits ``(N, C, *)``, any number of spatial dims.
        target: ``(N, *)`` integer class ids, or ``(N, C, *)`` class probabilities.
        k: the fraction of each sample's valid pixels kept, in ``(0, 1]``. Default 0.1.
        class_weight: optional ``(C,)`` non-negative class weights (a tensor or a list).
        ignore_index: class id whose pixels are never selected. Default -100.
        label_smoothing: in ``[0, 1]``, as in :func:`~visionloss.functional.cross_entropy`.
        weight: optional non-negative sample weights broadcastable to ``(N,)``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (``(N,)``; a sample whose
            pixels are all ignored gives 0 and leaves the mean).

    Returns:
        The loss, float32 for half and bfloat16 inputs.

    References:
        Z. Wu, C. Shen, A. van den Hengel, "Bridging Category-level and Instance-level Semantic
        Image Segmentation", arXiv:1605.06885, 2016.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> logits = torch.zeros(1, 2, 4)  # CE log 2 everywhere ...
        >>> logits[0, 0, :2] = 3.0  # ... except two easy pixels of class 0
        >>> VF.topk_cross_entropy(logits, torch.zeros(1, 4, dtype=torch.long), k=0.5)
        tensor(0.6931)
    """
    return _topk_cross_entropy(input, target, TopKCrossEntropyOptions(
        k=k, class_weight=class_weight,  # type: ignore[arg-type]  # a list becomes a tensor
        ignore_index=ignore_index,
        label_smoothing=label_smoothing, reduction=reduction,
    ), weight)


def _topk_cross_entropy(
    input: Tensor, target: Tensor, opts: TopKCrossEntropyOptions, weight: Tensor | None
) -> Tensor:
    dtype = compute_dtype(input)
    dense = prepare_dense_target(
        input, target, "multiclass", ignore_index=opts.ignore_index, dtype=dtype
    )
    check_class_weight(opts.class_weight, input.shape[1])
    class_weight = None if opts.class_weight is None else opts.class_weight.to(input.device)
    log_probs = torch.log_softmax(input, dim=1, dtype=dtype)
    loss, w_y, valid = cross_entropy_terms(
        log_probs, dense, class_weight=class_weight, label_smoothing=opts.label_smoothing
    )
    if w_y is not None:
        loss = loss * w_y  # torch's unreduced value: the ranking is on the weighted loss
    per_sample, count = topk_mean(loss, valid, opts.k)
    check_weight(weight, per_sample.shape)
    return reduce_loss(per_sample, opts.reduction, weight=weight, valid=count > 0)


def topk_mean(loss: Tensor, valid: Tensor | None, k: float) -> tuple[Tensor, Tensor]:
    r"""Per sample, the mean of the largest :math:`\lceil k V_n \rceil` of an elementwise loss
    ``(N, *)`` over its valid elements: ``(N,)`` means (0 for a sample without a valid
    element) and the ``(N,)`` valid counts :math:`V_n`. Static shapes: one sort per sample and a
    mask on the rank, no data-dependent ``torch.topk``. Shared with ``dice_topk_loss``."""
    dtype = loss.dtype
    n, size = loss.shape[0], math.prod(loss.shape[1:])
    flat = loss.reshape(n, size)
    if valid is None:
        valid_flat = torch.ones(n, size, dtype=torch.bool, device=loss.device)
    else:
        valid_flat = valid.expand(loss.shape).reshape(n, size)
    lowest = torch.full((), -math.inf, dtype=dtype, device=flat.device)
    ranked = torch.where(valid_flat, flat, lowest)  # ignored pixels sort last
    ranked = torch.sort(ranked, dim=1, descending=True).values
    count = valid_flat.sum(1)
    # K = ceil(k V), at least 1 for a sample with a valid pixel; the small offset keeps an exact
    # product (k V integral up to float rounding, e.g. 0.3 * 10) from rounding up
    kept = torch.ceil(count.to(torch.float64) * k - 1e-9).clamp(min=1)
    rank = torch.arange(size, device=flat.device)
    chosen = (rank < kept.unsqueeze(1)) & (rank < count.unsqueeze(1))
    zero = torch.zeros((), dtype=dtype, device=flat.device)
    return torch.where(chosen, ranked, zero).sum(1) / kept.to(dtype), count


# --- Matthews correlation coefficient -----------------------------------------------------------


def mcc_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode,
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
    r"""Matthews correlation coefficient loss: one minus the soft MCC, per sample and class.

    .. math::
        \ell_{nc} = 1 - \frac{\mathrm{TP}\,\mathrm{TN} - \mathrm{FP}\,\mathrm{FN}}
        {\sqrt{(\mathrm{TP}+\mathrm{FP})(\mathrm{TP}+\mathrm{FN})(\mathrm{TN}+\mathrm{FP})
        (\mathrm{TN}+\mathrm{FN})} + s}

    with soft counts from the overlap statistics of :func:`dice_loss`:
    :math:`\mathrm{TP} = I`, :math:`\mathrm{FP} = P - I`, :math:`\mathrm{FN} = G - I` and
    :math:`\mathrm{TN} = V - P - G + I` (:math:`V` the number of valid positions). Unlike Dice,
    MCC counts the true negatives, so it rewards a correct background too; it ranges over
    :math:`[-1, 1]`, so the loss is in :math:`[0, 2]` (0 for a perfect prediction, 1 for one
    uncorrelated with the target, 2 for the inverted one). ``smooth`` is added to the
    denominator only. Where MCC is undefined (a zero row or column of the confusion matrix: a
    class absent from the target, or one predicted exactly nowhere or everywhere), the score is
    0, as scikit-learn's ``matthews_corrcoef``: the loss is 1 with zero gradient whatever the
    prediction, so a class absent from a sample's target adds a constant. Pair MCC with a
    pixel-wise term, or use ``batch_dice``, when such samples occur.

    Differences from smp's ``MCCLoss``: it takes probabilities (our ``from_logits=False``),
    pools the whole batch into one set of counts (our ``batch_dice=True``), is binary only, and
    adds ``eps=1e-5`` to each of the four counts; with ``batch_dice=True, smooth=0`` the two
    agree to about 1e-5.

    Args:
        input: logits (or probabilities with ``from_logits=False``): ``(N, C, *)``, or
            ``(N, *)`` for ``"binary"``.
        target: as in :func:`dice_loss`.
        mode: ``"binary"``, ``"multilabel"`` or ``"multiclass"`` (required).
        smooth, batch_dice, class_weight, ignore_index, from_logits, sync, process_group,
            weight: as in :func:`dice_loss`.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``: ``(N, C)``, or ``(C,)``
            with ``batch_dice``.

    References:
        B. W. Matthews, "Comparison of the predicted and observed secondary structure of T4
        phage lysozyme", Biochimica et Biophysica Acta 1975; K. Abhishek, G. Hamarneh,
        "Matthews Correlation Coefficient Loss for Deep Convolutional Networks: Application to
        Skin Lesion Segmentation", ISBI 2021, arXiv:2010.13454.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> probs = torch.tensor([[[0.8, 0.6, 0.3, 0.1]]])  # TP 1.4, FP 0.4, FN 0.6, TN 1.6
        >>> target = torch.tensor([[[1, 1, 0, 0]]])  # MCC 2.0 / sqrt(1.8 * 2 * 2 * 2.2) = 0.5025
        >>> VF.mcc_loss(probs, target, mode="binary", from_logits=False)
        tensor(0.4975)
    """
    return _mcc(input, target, MCCOptions(
        mode=mode, smooth=smooth, batch_dice=batch_dice, class_weight=class_weight,
        ignore_index=ignore_index, from_logits=from_logits, sync=sync,
        process_group=process_group, reduction=reduction,
    ), weight)


def _mcc(input: Tensor, target: Tensor, opts: MCCOptions, weight: Tensor | None) -> Tensor:
    tp, pred, tgt, count = overlap_stats(input, target, opts)
    fp, fn = pred - tp, tgt - tp
    tn = count.to(tp.dtype) - pred - tgt + tp
    numerator = tp * tn - fp * fn
    product = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    # the square root's gradient is infinite at 0: the clamp keeps it finite where a soft count
    # product vanishes (a degenerate confusion matrix, where MCC is undefined)
    root = torch.sqrt(torch.clamp(product, min=torch.finfo(product.dtype).tiny))
    root = torch.where(product > 0, root, torch.zeros_like(root))
    denominator = root + opts.smooth
    # undefined (a zero denominator, only with smooth=0): MCC 0, scikit-learn's convention
    empty = denominator == 0
    safe = torch.where(empty, torch.ones_like(denominator), denominator)
    score = torch.where(empty, torch.zeros_like(numerator), numerator / safe)
    return _reduce_overlap(1 - score, count, opts, weight)


# --- Modules ------------------------------------------------------------------------------------


class TopKCrossEntropyLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """Top-k cross-entropy of ``input`` against ``target`` (see the class docstring)."""
        return _topk_cross_entropy(input, target, self.opts, weight)


class MCCLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """MCC loss of ``input`` against ``target`` (see the class docstring)."""
        return _mcc(input, target, self.opts, weight)


# --- the sub-family's catalogue -----------------------------------------------------------------

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        "topk_cross_entropy", topk_cross_entropy, TopKCrossEntropyLoss, TopKCrossEntropyOptions,
        "segmentation",
        summary="Cross-entropy of each sample's hardest k fraction of pixels (bootstrapped CE, "
        "nnU-Net's TopK).",
        formula=r"\frac{1}{\lceil kV_n\rceil}\sum_{j \le \lceil kV_n\rceil}\mathrm{CE}_{n,(j)}",
        paper="Z. Wu, C. Shen, A. van den Hengel, Bridging Category-level and Instance-level "
        "Semantic Image Segmentation, arXiv:1605.06885, 2016",
    ),
    LossSpec(
        "mcc", mcc_loss, MCCLoss, MCCOptions, "segmentation",
        summary="One minus the soft Matthews correlation coefficient, per sample and class: "
        "counts the true negatives too.",
        formula=r"1 - \frac{TP\,TN - FP\,FN}{\sqrt{(TP+FP)(TP+FN)(TN+FP)(TN+FN)}}",
        paper="K. Abhishek, G. Hamarneh, Matthews Correlation Coefficient Loss for Deep "
        "Convolutional Networks, ISBI 2021, arXiv:2010.13454",
    ),
)
