r"""Segmentation overlap losses: Dice, Jaccard, Tversky, focal Tversky, generalized Dice, Lovász,
and Dice combined with cross-entropy or focal loss.

The overlap losses stand on one private core, the per-sample, per-class statistics

.. math::
    I_{nc} = \sum_s v_s\, p_{ncs}\, g_{ncs}, \qquad
    P_{nc} = \sum_s v_s\, p_{ncs} \;\big(\textstyle\sum_s v_s\, p_{ncs}^2 \text{ if squared}\big),
    \qquad G_{nc} = \sum_s v_s\, g_{ncs},

(:math:`p` the predicted probability, :math:`g` the target, :math:`v` 0 at ``ignore_index``),
from which false positives :math:`P - I` and false negatives :math:`G - I` follow; each loss is
then a few lines on these ``(N, C)`` tensors. Targets come in the three modes of
:mod:`visionloss._core.targets` (``"binary"``, ``"multilabel"``, ``"multiclass"`` with integer
ids or probabilities), with any number of spatial dims. Integer targets are never expanded to a
one-hot tensor.

Memory: by default the statistics come from a fused ``torch.autograd.Function``
(:mod:`visionloss.kernels.overlap`) that saves for backward only the caller's ``input`` and
``target``, plus one log-sum-exp per pixel (``(N, *)``, 1/C of the logits) for softmax with
integer targets, and recomputes the softmax or sigmoid in its analytic backward; what the rest
of the graph keeps is ``(N, C)``. ``VISIONLOSS_KERNELS=0`` selects the plain PyTorch composition
(autograd then keeps the activated prediction), which gives the same values and gradients.

Empty masks, the policy of every per-class overlap loss here: a class absent from the target
and from the prediction scores :math:`(0 + s)/(0 + s) = 1`, a loss of about 0; a class absent
from the target but predicted scores :math:`s / (P + s) \approx 0`, a loss of about 1 (a false
positive on an empty mask is penalised fully); a sample whose positions are all ignored has
:math:`I = P = G = 0`, a loss of exactly 0 with zero gradients, and is left out of the mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .._core import (
    DenseTarget,
    LossModule,
    check_choice,
    check_class_weight,
    check_flag,
    check_ignore_index,
    check_mode,
    check_number,
    check_probabilities,
    check_reduction,
    check_weight,
    compute_dtype,
    describe,
    prepare_dense_target,
    reduce_loss,
)
from .._core.synced import reduce_loss_synced
from ..distributed import sync_sum
from ..kernels import kernels_enabled
from ..kernels.overlap import overlap_statistics, overlap_statistics_reference
from .classification import _cross_entropy_terms, _focal_terms, binary_cross_entropy

__all__ = [
    "DiceCELoss",
    "DiceFocalLoss",
    "DiceLoss",
    "FocalTverskyLoss",
    "GeneralizedDiceLoss",
    "JaccardLoss",
    "LovaszHingeLoss",
    "LovaszSoftmaxLoss",
    "TverskyLoss",
    "dice_ce_loss",
    "dice_focal_loss",
    "dice_loss",
    "focal_tversky_loss",
    "generalized_dice_loss",
    "jaccard_loss",
    "lovasz_hinge_loss",
    "lovasz_softmax_loss",
    "tversky_loss",
]

WEIGHT_TYPES: tuple[str, ...] = ("square", "simple", "uniform")


# --- checks shared by the functions and their Modules ---------------------------------------------


def _check_overlap_options(
    mode: str,
    smooth: float,
    class_weight: Tensor | None,
    ignore_index: int | None,
    reduction: str,
    **flags: bool,
) -> None:
    check_mode(mode)
    check_number(smooth, "smooth", low=0.0)
    check_class_weight(class_weight)
    check_ignore_index(ignore_index)
    check_reduction(reduction)
    for name, value in flags.items():
        check_flag(value, name)


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
    flat = (shape[0], shape[2]) if dense.is_index else tuple(shape)
    valid = None if dense.valid is None else dense.valid.reshape(flat)
    return values.reshape(flat), valid


def _activation(mode: str, from_logits: bool) -> str:
    if not from_logits:
        return "identity"
    return "softmax" if mode == "multiclass" else "sigmoid"


def _overlap_statistics(
    input: Tensor,
    target: Tensor,
    *,
    mode: str,
    ignore_index: int | None,
    from_logits: bool,
    squared: bool,
    batch_dice: bool,
    sync: bool,
    process_group: object | None,
    activation: str | None = None,
    dense: DenseTarget | None = None,
) -> Tensor:
    """``(4, N, C)`` stacked ``I, P, G, V`` (``V``: the count of valid positions); ``(4, C)``
    summed over the batch, and over the ranks when synced, with ``batch_dice``.

    ``activation`` overrides the one of ``mode``/``from_logits`` (``"exp"`` for shared
    log-probabilities); ``dense``: the target as the caller checked it already.
    """
    if mode == "binary" and input.dim() == 0:
        raise ValueError("input: expected shape (N, *) for mode='binary', got ()")
    if dense is None:
        # the checks (shapes, dtypes, class ids, probabilities), and the decoded target that the
        # kernel's forward uses (its backward decodes the caller's raw target again)
        dense = prepare_dense_target(
            input, target, mode, ignore_index=ignore_index, dtype=compute_dtype(input)
        )
        if not from_logits:
            check_probabilities(input, "input")
    x, t = _flatten(input, target, mode)
    compute = overlap_statistics if kernels_enabled() else overlap_statistics_reference
    stats = compute(
        x,
        t,
        activation=activation or _activation(mode, from_logits),
        ignore_index=ignore_index,
        squared=squared,
        decoded=_decoded(dense, x.shape),
    )
    if batch_dice:
        # one autograd-aware all-reduce of the (4, C) sums: every rank then holds the statistics
        # of the whole global batch
        stats = sync_sum(stats.sum(1), sync=sync, process_group=process_group)
    return stats


def _ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    """``numerator / denominator``, and 1 where the denominator is 0 (an empty, perfect match).

    Only reachable with ``smooth=0``; the double ``where`` keeps the gradient finite there.
    """
    nonzero = denominator > 0
    safe = torch.where(nonzero, denominator, torch.ones_like(denominator))
    return torch.where(nonzero, numerator / safe, torch.ones_like(numerator))


def _score_to_loss(score: Tensor, log_loss: bool) -> Tensor:
    if not log_loss:
        return 1 - score
    # -log(score); the clamp only acts at score 0 (smooth=0 and no overlap), where it is +inf
    return -torch.log(torch.clamp(score, min=torch.finfo(score.dtype).tiny))


def _reduce_overlap(
    loss: Tensor,
    count: Tensor,
    reduction: str,
    *,
    weight: Tensor | None,
    class_weight: Tensor | None,
    batch_dice: bool,
    sync: bool,
    process_group: object | None,
) -> Tensor:
    """The one reduction of a per-class overlap loss ``(N, C)`` (or ``(C,)`` with batch_dice)."""
    check_weight(weight, loss.shape)
    check_class_weight(class_weight, loss.shape[-1])
    if class_weight is not None:
        weight = class_weight if weight is None else weight * class_weight
    # a sample (or, with batch_dice, a class) with no valid position is left out of the mean
    valid = count > 0
    if batch_dice:
        # the statistics were already summed over the ranks: every rank holds the same loss
        return reduce_loss(loss, reduction, weight=weight, valid=valid)
    return reduce_loss_synced(
        loss, reduction, weight=weight, valid=valid, sync=sync, process_group=process_group
    )


# --- Dice, Jaccard, Tversky, focal Tversky, generalized Dice --------------------------------------


def dice_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: str,
    smooth: float = 1e-5,
    squared: bool = False,
    log_loss: bool = False,
    batch_dice: bool = False,
    class_weight: Tensor | None = None,
    ignore_index: int | None = -100,
    from_logits: bool = True,
    sync: bool = False,
    process_group: object | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Soft Dice loss, per sample and class (V-Net's loss, MONAI's ``DiceLoss`` convention).

    .. math::
        \ell_{nc} = 1 - \frac{2 I_{nc} + s}{P_{nc} + G_{nc} + s}, \qquad
        I = \sum_s p\,g, \quad P = \sum_s p \;(\text{or } \textstyle\sum_s p^2), \quad
        G = \sum_s g

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
    one log-sum-exp per pixel (``(N, *)``); its backward recomputes the softmax or sigmoid. Integer targets are never expanded to a one-hot tensor.

    Args:
        input: logits (or probabilities with ``from_logits=False``): ``(N, C, *)`` for
            ``"multiclass"`` and ``"multilabel"``, ``(N, *)`` for ``"binary"`` (typically
            ``(N, 1, *)``); any number of spatial dims.
        target: ``"multiclass"``: ``(N, *)`` integer class ids or ``(N, C, *)`` probabilities;
            ``"binary"``/``"multilabel"``: the input's shape, 0/1 integers or probabilities.
            No gradient flows to it.
        mode: ``"binary"``, ``"multilabel"`` or ``"multiclass"`` (required).
        smooth: :math:`s \ge 0`. Default 1e-5.
        squared: use :math:`P = \sum p^2` (Milletari et al.). Default False.
        log_loss: :math:`-\log(\mathrm{Dice})` instead of :math:`1 - \mathrm{Dice}`.
        batch_dice: sum the statistics over the batch before the ratio.
        class_weight: optional ``(C,)`` non-negative weights, applied as ``weight`` along C (so
            ``"mean"`` is the class-weighted mean).
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
    _check_overlap_options(
        mode,
        smooth,
        class_weight,
        ignore_index,
        reduction,
        squared=squared,
        log_loss=log_loss,
        batch_dice=batch_dice,
        from_logits=from_logits,
        sync=sync,
    )
    inter, pred, tgt, count = _overlap_statistics(
        input,
        target,
        mode=mode,
        ignore_index=ignore_index,
        from_logits=from_logits,
        squared=squared,
        batch_dice=batch_dice,
        sync=sync,
        process_group=process_group,
    )
    loss = _score_to_loss(_ratio(2 * inter + smooth, pred + tgt + smooth), log_loss)
    return _reduce_overlap(
        loss,
        count,
        reduction,
        weight=weight,
        class_weight=class_weight,
        batch_dice=batch_dice,
        sync=sync,
        process_group=process_group,
    )


def jaccard_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: str,
    smooth: float = 1e-5,
    squared: bool = False,
    log_loss: bool = False,
    batch_dice: bool = False,
    class_weight: Tensor | None = None,
    ignore_index: int | None = -100,
    from_logits: bool = True,
    sync: bool = False,
    process_group: object | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
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
    _check_overlap_options(
        mode,
        smooth,
        class_weight,
        ignore_index,
        reduction,
        squared=squared,
        log_loss=log_loss,
        batch_dice=batch_dice,
        from_logits=from_logits,
        sync=sync,
    )
    inter, pred, tgt, count = _overlap_statistics(
        input,
        target,
        mode=mode,
        ignore_index=ignore_index,
        from_logits=from_logits,
        squared=squared,
        batch_dice=batch_dice,
        sync=sync,
        process_group=process_group,
    )
    loss = _score_to_loss(_ratio(inter + smooth, pred + tgt - inter + smooth), log_loss)
    return _reduce_overlap(
        loss,
        count,
        reduction,
        weight=weight,
        class_weight=class_weight,
        batch_dice=batch_dice,
        sync=sync,
        process_group=process_group,
    )


def _tversky_index(
    input: Tensor,
    target: Tensor,
    *,
    alpha: float,
    beta: float,
    mode: str,
    smooth: float,
    batch_dice: bool,
    ignore_index: int | None,
    from_logits: bool,
    sync: bool,
    process_group: object | None,
) -> tuple[Tensor, Tensor]:
    inter, pred, tgt, count = _overlap_statistics(
        input,
        target,
        mode=mode,
        ignore_index=ignore_index,
        from_logits=from_logits,
        squared=False,
        batch_dice=batch_dice,
        sync=sync,
        process_group=process_group,
    )
    false_pos, false_neg = pred - inter, tgt - inter
    index = _ratio(inter + smooth, inter + alpha * false_pos + beta * false_neg + smooth)
    return index, count


def tversky_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: str,
    alpha: float = 0.5,
    beta: float = 0.5,
    smooth: float = 1e-5,
    log_loss: bool = False,
    batch_dice: bool = False,
    class_weight: Tensor | None = None,
    ignore_index: int | None = -100,
    from_logits: bool = True,
    sync: bool = False,
    process_group: object | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
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
    _check_overlap_options(
        mode,
        smooth,
        class_weight,
        ignore_index,
        reduction,
        log_loss=log_loss,
        batch_dice=batch_dice,
        from_logits=from_logits,
        sync=sync,
    )
    check_number(alpha, "alpha", low=0.0)
    check_number(beta, "beta", low=0.0)
    index, count = _tversky_index(
        input,
        target,
        alpha=alpha,
        beta=beta,
        mode=mode,
        smooth=smooth,
        batch_dice=batch_dice,
        ignore_index=ignore_index,
        from_logits=from_logits,
        sync=sync,
        process_group=process_group,
    )
    return _reduce_overlap(
        _score_to_loss(index, log_loss),
        count,
        reduction,
        weight=weight,
        class_weight=class_weight,
        batch_dice=batch_dice,
        sync=sync,
        process_group=process_group,
    )


def focal_tversky_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: str,
    alpha: float = 0.5,
    beta: float = 0.5,
    gamma: float = 0.75,
    smooth: float = 1e-5,
    batch_dice: bool = False,
    class_weight: Tensor | None = None,
    ignore_index: int | None = -100,
    from_logits: bool = True,
    sync: bool = False,
    process_group: object | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
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
    _check_overlap_options(
        mode,
        smooth,
        class_weight,
        ignore_index,
        reduction,
        batch_dice=batch_dice,
        from_logits=from_logits,
        sync=sync,
    )
    check_number(alpha, "alpha", low=0.0)
    check_number(beta, "beta", low=0.0)
    check_number(gamma, "gamma", low=0.0, low_inclusive=False)
    index, count = _tversky_index(
        input,
        target,
        alpha=alpha,
        beta=beta,
        mode=mode,
        smooth=smooth,
        batch_dice=batch_dice,
        ignore_index=ignore_index,
        from_logits=from_logits,
        sync=sync,
        process_group=process_group,
    )
    base = 1 - index
    # x^gamma has an infinite slope at 0 for gamma < 1: below eps the loss is 0, and the inner
    # `where` keeps pow away from 0 so that the discarded branch cannot send inf * 0 = NaN back
    positive = base > torch.finfo(base.dtype).eps
    loss = torch.where(
        positive,
        torch.where(positive, base, torch.ones_like(base)) ** gamma,
        torch.zeros_like(base),
    )
    return _reduce_overlap(
        loss,
        count,
        reduction,
        weight=weight,
        class_weight=class_weight,
        batch_dice=batch_dice,
        sync=sync,
        process_group=process_group,
    )


def generalized_dice_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: str,
    weight_type: str = "square",
    smooth: float = 1e-5,
    squared: bool = False,
    batch_dice: bool = False,
    class_weight: Tensor | None = None,
    ignore_index: int | None = -100,
    from_logits: bool = True,
    sync: bool = False,
    process_group: object | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
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
    _check_overlap_options(
        mode,
        smooth,
        class_weight,
        ignore_index,
        reduction,
        squared=squared,
        batch_dice=batch_dice,
        from_logits=from_logits,
        sync=sync,
    )
    check_choice(weight_type, "weight_type", WEIGHT_TYPES)
    inter, pred, tgt, count = _overlap_statistics(
        input,
        target,
        mode=mode,
        ignore_index=ignore_index,
        from_logits=from_logits,
        squared=squared,
        batch_dice=batch_dice,
        sync=sync,
        process_group=process_group,
    )
    check_class_weight(class_weight, inter.shape[-1])
    present = tgt > 0
    safe_tgt = torch.where(present, tgt, torch.ones_like(tgt))
    if weight_type == "uniform":
        class_w = torch.ones_like(tgt)
    else:
        power = 2 if weight_type == "square" else 1
        # an absent class gets 0 (not 1/0 = inf)
        class_w = torch.where(present, safe_tgt.pow(-power), torch.zeros_like(tgt))
    if class_weight is not None:
        class_w = class_w * class_weight.to(class_w.dtype)
    numerator = 2 * (class_w * inter).sum(-1) + smooth
    denominator = (class_w * (pred + tgt)).sum(-1) + smooth
    loss = 1 - _ratio(numerator, denominator)
    check_weight(weight, loss.shape)
    valid = count.sum(-1) > 0
    if batch_dice:
        return reduce_loss(loss, reduction, weight=weight, valid=valid)
    return reduce_loss_synced(
        loss, reduction, weight=weight, valid=valid, sync=sync, process_group=process_group
    )


# --- Lovász ---------------------------------------------------------------------------------------


def _lovasz_weights(key: Tensor, fg: Tensor, dtype: torch.dtype) -> Tensor:
    """The Lovász gradient of the Jaccard loss, put back at every position's place.

    ``key``: the errors along the last dim, with ignored positions below every valid one;
    ``fg``: the ground truth, bool (an equality test per class) or 0/1 floats, 0 where ignored.
    For each row, sorting the errors in decreasing order, the weight of the i-th is
    :math:`J_i - J_{i-1}` with :math:`J_i = 1 - \\frac{|G| - h_i}{|G| + i - h_i}` and
    :math:`h_i = |G \\cap \\pi_{1..i}|` (Berman's ``lovasz_grad``), a constant of the sort. The
    loss is then ``(errors * weights).sum(-1)``, so autograd keeps these weights only (not the
    permutation). One cumulative count: no float copy of the ground truth is made.
    """
    with torch.no_grad():
        perm = torch.sort(key, dim=-1, descending=True).indices
        hits = fg.gather(-1, perm).cumsum(-1, dtype=dtype)
        total = fg.sum(-1, keepdim=True, dtype=dtype)
        seen = torch.arange(1, key.shape[-1] + 1, dtype=dtype, device=key.device)
        # the union |G| + i - h_i is >= 1 at every position: no 0/0 (float32 counts are exact
        # up to 2^24 positions per row)
        jaccard = 1 - (total - hits) / (total + seen - hits)
        sorted_weights = torch.diff(jaccard, dim=-1, prepend=torch.zeros_like(jaccard[..., :1]))
        return torch.empty_like(sorted_weights).scatter_(-1, perm, sorted_weights)


def _check_classes(classes: Any, num_classes: int | None = None) -> None:
    if isinstance(classes, str):
        check_choice(classes, "classes", ("present", "all"))
        return
    ok = isinstance(classes, Sequence) and all(
        isinstance(c, int) and not isinstance(c, bool) for c in classes
    )
    if not ok or len(classes) == 0:
        raise TypeError(
            f"classes: expected 'present', 'all' or a non-empty list of class ids, "
            f"got {describe(classes)}"
        )
    if num_classes is not None and not all(0 <= c < num_classes for c in classes):
        raise ValueError(
            f"classes: expected class ids in [0, {num_classes - 1}], got {list(classes)}"
        )


def lovasz_softmax_loss(
    input: Tensor,
    target: Tensor,
    *,
    classes: str | Sequence[int] = "present",
    per_image: bool = False,
    ignore_index: int | None = -100,
    from_logits: bool = True,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Lovász-Softmax loss: the convex Lovász extension of the Jaccard loss, per class.

    .. math::
        \ell_c = \sum_{i=1}^{S} m_{\pi_i}(c)\, \big(J_c(\pi_{1..i}) - J_c(\pi_{1..i-1})\big),
        \qquad m_s(c) = |g_s(c) - p_s(c)|

    where :math:`\pi` sorts the errors :math:`m(c)` in decreasing order and
    :math:`J_c(A) = 1 - |G_c \setminus A| / |G_c \cup A|` is the Jaccard loss of predicting the
    set :math:`A` for class :math:`c` (Berman's ``lovasz_grad``). Computed for every class at
    once (one sort per class and image along the pixels, no Python loop over classes or pixels).

    With ``per_image=False`` the pixels of the whole batch form one set per class and the loss
    is the mean over the counted classes; with ``per_image=True`` each image has its own
    per-class losses, averaged over its counted classes, then the mean runs over the images.
    ``classes="present"`` counts the classes present in the (non-ignored) target,
    ``"all"`` every class, a list those ids. Ignored pixels are removed (they leave the sort
    and every count); an image without valid pixels leaves the mean (Berman's code counts it as
    0), so a fully ignored batch gives 0 with zero gradients.

    Args:
        input: ``(N, C, *)`` logits (probabilities with ``from_logits=False``).
        target: ``(N, *)`` integer class ids.
        classes: ``"present"`` (default), ``"all"`` or a list of class ids.
        per_image: one loss per image (default False: per class over the batch).
        ignore_index: target value to ignore. Default -100.
        from_logits: ``input`` holds logits (softmax over dim 1 taken here) or probabilities.
        weight: optional non-negative tensor broadcastable to the unreduced loss.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``: ``(C,)`` per class (classes not counted
            are 0), or ``(N,)`` per image with ``per_image``.

    References:
        M. Berman, A. Rannen Triki, M. B. Blaschko, "The Lovász-Softmax loss: A tractable
        surrogate for the optimization of the intersection-over-union measure in neural
        networks", CVPR 2018, arXiv:1705.08790.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> probs = torch.tensor([[[0.8, 0.4], [0.2, 0.6]]])  # (N=1, C=2, S=2)
        >>> # class 0: errors (0.2, 0.4), Lovász weights (0.5, 0.5) -> 0.3; class 1: 0.4
        >>> VF.lovasz_softmax_loss(probs, torch.tensor([[0, 1]]), from_logits=False)
        tensor(0.3500)
    """
    _check_classes(classes)
    check_flag(per_image, "per_image")
    check_flag(from_logits, "from_logits")
    check_ignore_index(ignore_index)
    check_reduction(reduction)
    dense = prepare_dense_target(input, target, "multiclass", ignore_index=ignore_index)
    if not dense.is_index:
        raise TypeError(
            f"target: expected integer class ids for lovasz_softmax_loss, got dtype {target.dtype}"
        )
    if not from_logits:
        check_probabilities(input, "input")
    n, c = input.shape[0], input.shape[1]
    _check_classes(classes, c)
    dtype = compute_dtype(input)
    size = math.prod(input.shape[2:])
    x = input.to(dtype).reshape(n, c, size)
    probs = torch.softmax(x, dim=1) if from_logits else x
    index = dense.index.reshape(n, size)
    classes_ids = torch.arange(c, device=input.device).view(1, c, 1)
    fg = index.unsqueeze(1) == classes_ids  # (N, C, S) bool, never a float one-hot of the input
    if dense.valid is None:
        valid = torch.ones(n, 1, size, dtype=torch.bool, device=input.device)
    else:
        valid = dense.valid.reshape(n, 1, size)
        fg = fg & valid
    # |g - p| (1 - p on the class, p elsewhere), and 0 at ignored pixels; their sort key is -1
    # (errors are in [0, 1]) so that they come after every valid pixel, where they change no
    # weight that multiplies an error
    errors = torch.where(valid, torch.where(fg, 1 - probs, probs), 0.0)
    key = torch.where(valid, errors.detach(), -1.0)
    if not per_image:
        # the whole batch as one image: (1, C, N * S)
        errors, key, fg = (t.transpose(0, 1).reshape(1, c, n * size) for t in (errors, key, fg))
        valid = valid.transpose(0, 1).reshape(1, 1, n * size)
    class_loss = (errors * _lovasz_weights(key, fg, dtype)).sum(-1)  # (B, C)

    if isinstance(classes, str):
        selected = torch.ones(c, dtype=torch.bool, device=input.device)
    else:
        selected = torch.zeros(c, dtype=torch.bool, device=input.device)
        selected[list(classes)] = True
    counted = selected & valid.any(-1)  # an image (or batch) without valid pixels counts nothing
    if classes == "present":
        counted = counted & (fg.sum(-1) > 0)
    if per_image:
        per_class = counted.to(dtype)
        num = per_class.sum(-1)
        loss = (class_loss * per_class).sum(-1) / torch.clamp(num, min=1)
        return reduce_loss(loss, reduction, weight=weight, valid=num > 0)
    return reduce_loss(class_loss[0], reduction, weight=weight, valid=counted[0])


def lovasz_hinge_loss(
    input: Tensor,
    target: Tensor,
    *,
    per_image: bool = True,
    ignore_index: int | None = -100,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Lovász hinge loss: the Lovász extension of the binary Jaccard loss on hinge errors.

    .. math::
        \ell = \sum_{i=1}^{S} \max(m_{\pi_i}, 0)\, \big(J(\pi_{1..i}) - J(\pi_{1..i-1})\big),
        \qquad m_s = 1 - x_s (2 y_s - 1)

    with :math:`x` the logits, :math:`y \in \{0, 1\}` the labels, :math:`\pi` the order of
    decreasing :math:`m` and :math:`J` the Jaccard loss of the foreground, as in
    :func:`lovasz_softmax_loss`. Vectorised over images (one sort per image).

    Args:
        input: logits of any shape ``(N, *)`` (typically ``(N, 1, H, W)``).
        target: the input's shape, 0/1 integers (or bool, or 0/1 floats).
        per_image: one loss per image, then the mean over images (default True, as Berman);
            False: every pixel of the batch in one set.
        ignore_index: integer target value to ignore: those pixels leave the sort and every
            count; an image without valid pixels leaves the mean. Default -100.
        weight: optional non-negative tensor broadcastable to the unreduced loss.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``: ``(N,)`` with ``per_image``, else
            ``()``.

    References:
        M. Berman, A. Rannen Triki, M. B. Blaschko, "The Lovász-Softmax loss", CVPR 2018,
        arXiv:1705.08790.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> logits = torch.tensor([[2.0, -1.0, 0.5, -3.0]])
        >>> VF.lovasz_hinge_loss(logits, torch.tensor([[1, 0, 0, 0]]))
        tensor(0.7500)
    """
    check_flag(per_image, "per_image")
    check_ignore_index(ignore_index)
    check_reduction(reduction)
    if input.dim() == 0:
        raise ValueError("input: expected shape (N, *), got ()")
    dense = prepare_dense_target(input, target, "binary", ignore_index=ignore_index)
    dtype = compute_dtype(input)
    n, size = input.shape[0], math.prod(input.shape[1:])
    x = input.to(dtype).reshape(n, size)
    labels = dense.probs.to(dtype).reshape(n, size)
    if dense.valid is None:
        valid = torch.ones(n, size, dtype=torch.bool, device=input.device)
    else:
        valid = dense.valid.reshape(n, size)
    errors = 1 - x * (2 * labels - 1)
    # ignored pixels sort after every valid one (key -inf) and contribute no error
    key = torch.where(valid, errors.detach(), -math.inf)
    hinge = torch.where(valid, torch.relu(errors), 0.0)
    if not per_image:
        hinge, key, labels, valid = (t.reshape(1, n * size) for t in (hinge, key, labels, valid))
    loss = (hinge * _lovasz_weights(key, labels, dtype)).sum(-1)
    has_pixels = valid.any(-1)
    if not per_image:
        loss, has_pixels = loss[0], has_pixels[0]
    return reduce_loss(loss, reduction, weight=weight, valid=has_pixels)


# --- Dice + cross-entropy, Dice + focal: one softmax shared --------------------------------------


def _per_sample_mean(loss: Tensor, weight: Tensor | None, valid: Tensor | None) -> Tensor:
    """``(N,)`` weighted mean of an elementwise loss over each sample's valid elements (0 for a
    sample without any): the per-sample form of the part's own ``"mean"``."""
    shape = (loss.shape[0], math.prod(loss.shape[1:]))  # not (N, -1): torch refuses it for N = 0
    weighted = reduce_loss(loss, "none", weight=weight, valid=valid).reshape(shape).sum(-1)
    mass = reduce_loss(torch.ones_like(loss), "none", weight=weight, valid=valid)
    mass = mass.reshape(shape).sum(-1)
    return weighted / torch.where(mass > 0, mass, torch.ones_like(mass))


def _dice_per_sample(stats: Tensor, smooth: float, class_weight: Tensor | None) -> Tensor:
    """The Dice loss of each sample, averaged over its classes (class-weighted): ``(N,)``, or
    ``()`` from batch statistics ``(4, C)``."""
    inter, pred, tgt, _ = stats.unbind(0)
    loss = 1 - _ratio(2 * inter + smooth, pred + tgt + smooth)
    check_class_weight(class_weight, loss.shape[-1])
    if class_weight is None:
        return loss.mean(-1)
    cw = class_weight.to(loss.dtype)
    total = cw.sum()
    return (loss * cw).sum(-1) / torch.where(total > 0, total, torch.ones_like(total))


def _combined_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: str,
    lambda_dice: float,
    lambda_other: float,
    other: str,
    smooth: float,
    squared: bool,
    batch_dice: bool,
    class_weight: Tensor | None,
    ignore_index: int | None,
    sync: bool,
    process_group: object | None,
    weight: Tensor | None,
    reduction: str,
    label_smoothing: float = 0.0,
    alpha: float | Tensor | None = None,
    gamma: float = 2.0,
) -> Tensor:
    dtype = compute_dtype(input)
    dense = prepare_dense_target(input, target, mode, ignore_index=ignore_index, dtype=dtype)
    common = dict(
        mode=mode,
        ignore_index=ignore_index,
        from_logits=True,
        squared=squared,
        batch_dice=batch_dice,
        sync=sync,
        process_group=process_group,
        dense=dense,
    )
    part_weight = None
    if mode == "multiclass":
        # the one softmax: its log feeds the cross-entropy (or focal) term and, through the
        # "exp" activation of the fused statistics, the Dice term. log_softmax keeps its output
        # for backward anyway, so the statistics add no saved tensor of the input's size.
        log_probs = torch.log_softmax(input, dim=1, dtype=dtype)
        stats = _overlap_statistics(log_probs, target, activation="exp", **common)
        if other == "ce":
            part, part_weight, part_valid = _cross_entropy_terms(
                log_probs, dense, class_weight=class_weight, label_smoothing=label_smoothing
            )
        else:
            part, part_valid = _focal_terms(log_probs, dense, alpha=alpha, gamma=gamma)
    else:
        # sigmoid modes: elementwise, nothing to share; both parts keep only input and target
        stats = _overlap_statistics(input, target, **common)
        if other == "ce":
            part = binary_cross_entropy(
                input,
                target,
                ignore_index=ignore_index,
                label_smoothing=label_smoothing,
                reduction="none",
            )
            if class_weight is not None and mode == "multilabel":
                check_class_weight(class_weight, input.shape[1])
                part_weight = class_weight.to(dtype).view((1, -1) + (1,) * (input.dim() - 2))
        else:
            part, _ = _focal_terms(input, dense, alpha=alpha, gamma=gamma)
        part_valid = dense.valid

    dice = _dice_per_sample(stats, smooth, class_weight)
    loss = lambda_dice * dice + lambda_other * _per_sample_mean(part, part_weight, part_valid)
    check_weight(weight, loss.shape)
    # a sample whose positions are all ignored leaves the mean
    has_positions = _per_sample_mean(torch.ones_like(part), None, part_valid) > 0
    return reduce_loss_synced(
        loss, reduction, weight=weight, valid=has_positions, sync=sync, process_group=process_group
    )


def _check_combined_options(
    mode: str,
    lambda_dice: float,
    lambda_other: float,
    other_name: str,
    smooth: float,
    class_weight: Tensor | None,
    ignore_index: int | None,
    reduction: str,
    **flags: bool,
) -> None:
    _check_overlap_options(mode, smooth, class_weight, ignore_index, reduction, **flags)
    check_number(lambda_dice, "lambda_dice", low=0.0)
    check_number(lambda_other, other_name, low=0.0)


def dice_ce_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: str = "multiclass",
    lambda_dice: float = 1.0,
    lambda_ce: float = 1.0,
    smooth: float = 1e-5,
    squared: bool = False,
    batch_dice: bool = False,
    class_weight: Tensor | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    sync: bool = False,
    process_group: object | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
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
    that ``log_softmax``'s own backward needs. The cross-entropy comes from the classification
    family's private core; nothing is re-implemented here.

    Args:
        input: logits, ``(N, C, *)`` (``(N, *)`` for ``"binary"``).
        target: as in :func:`dice_loss` (``"multiclass"``: class ids or probabilities).
        mode: ``"multiclass"`` (default), ``"binary"`` or ``"multilabel"``.
        lambda_dice: weight of the Dice term, >= 0. Default 1.
        lambda_ce: weight of the cross-entropy term, >= 0. Default 1.
        smooth, squared, batch_dice, ignore_index, sync, process_group: as in
            :func:`dice_loss`.
        class_weight: optional ``(C,)`` weights of both terms.
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
    _check_combined_options(
        mode,
        lambda_dice,
        lambda_ce,
        "lambda_ce",
        smooth,
        class_weight,
        ignore_index,
        reduction,
        squared=squared,
        batch_dice=batch_dice,
        sync=sync,
    )
    return _combined_loss(
        input,
        target,
        mode=mode,
        lambda_dice=lambda_dice,
        lambda_other=lambda_ce,
        other="ce",
        smooth=smooth,
        squared=squared,
        batch_dice=batch_dice,
        class_weight=class_weight,
        ignore_index=ignore_index,
        sync=sync,
        process_group=process_group,
        weight=weight,
        reduction=reduction,
        label_smoothing=label_smoothing,
    )


def dice_focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: str = "multiclass",
    lambda_dice: float = 1.0,
    lambda_focal: float = 1.0,
    alpha: float | Tensor | None = None,
    gamma: float = 2.0,
    smooth: float = 1e-5,
    squared: bool = False,
    batch_dice: bool = False,
    class_weight: Tensor | None = None,
    ignore_index: int | None = -100,
    sync: bool = False,
    process_group: object | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Dice loss plus focal loss, from one shared softmax (MONAI's DiceFocal).

    .. math::
        \ell_n = \lambda_{\mathrm{dice}}\, \overline{\mathrm{Dice}}_n
               + \lambda_{\mathrm{focal}}\, \overline{\mathrm{FL}}_n

    as :func:`dice_ce_loss` with the cross-entropy replaced by
    :func:`~visionloss.functional.focal_loss` (same ``mode``, ``alpha``, ``gamma``), averaged
    over each sample's valid elements. ``class_weight`` weighs the Dice term only (``alpha``
    balances the focal term). ``gamma=0`` and ``alpha=None`` give :func:`dice_ce_loss`.
    Multiclass shares one ``log_softmax`` between both terms; the focal term comes from the
    classification family's private core.

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
    _check_combined_options(
        mode,
        lambda_dice,
        lambda_focal,
        "lambda_focal",
        smooth,
        class_weight,
        ignore_index,
        reduction,
        squared=squared,
        batch_dice=batch_dice,
        sync=sync,
    )
    return _combined_loss(
        input,
        target,
        mode=mode,
        lambda_dice=lambda_dice,
        lambda_other=lambda_focal,
        other="focal",
        smooth=smooth,
        squared=squared,
        batch_dice=batch_dice,
        class_weight=class_weight,
        ignore_index=ignore_index,
        sync=sync,
        process_group=process_group,
        weight=weight,
        reduction=reduction,
        alpha=alpha,
        gamma=gamma,
    )


# --- Modules: options checked and stored in __init__, forward is one call -------------------------


class DiceLoss(LossModule):
    """Module form of :func:`dice_loss`."""

    def __init__(
        self,
        *,
        mode: str,
        smooth: float = 1e-5,
        squared: bool = False,
        log_loss: bool = False,
        batch_dice: bool = False,
        class_weight: Tensor | None = None,
        ignore_index: int | None = -100,
        from_logits: bool = True,
        sync: bool = False,
        process_group: object | None = None,
        reduction: str = "mean",
    ) -> None:
        _check_overlap_options(
            mode,
            smooth,
            class_weight,
            ignore_index,
            reduction,
            squared=squared,
            log_loss=log_loss,
            batch_dice=batch_dice,
            from_logits=from_logits,
            sync=sync,
        )
        super().__init__(
            mode=mode,
            smooth=smooth,
            squared=squared,
            log_loss=log_loss,
            batch_dice=batch_dice,
            class_weight=class_weight,
            ignore_index=ignore_index,
            from_logits=from_logits,
            sync=sync,
            process_group=process_group,
            reduction=reduction,
        )

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return dice_loss(input, target, weight=weight, **self.options())


class JaccardLoss(LossModule):
    """Module form of :func:`jaccard_loss`."""

    def __init__(
        self,
        *,
        mode: str,
        smooth: float = 1e-5,
        squared: bool = False,
        log_loss: bool = False,
        batch_dice: bool = False,
        class_weight: Tensor | None = None,
        ignore_index: int | None = -100,
        from_logits: bool = True,
        sync: bool = False,
        process_group: object | None = None,
        reduction: str = "mean",
    ) -> None:
        _check_overlap_options(
            mode,
            smooth,
            class_weight,
            ignore_index,
            reduction,
            squared=squared,
            log_loss=log_loss,
            batch_dice=batch_dice,
            from_logits=from_logits,
            sync=sync,
        )
        super().__init__(
            mode=mode,
            smooth=smooth,
            squared=squared,
            log_loss=log_loss,
            batch_dice=batch_dice,
            class_weight=class_weight,
            ignore_index=ignore_index,
            from_logits=from_logits,
            sync=sync,
            process_group=process_group,
            reduction=reduction,
        )

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return jaccard_loss(input, target, weight=weight, **self.options())


class TverskyLoss(LossModule):
    """Module form of :func:`tversky_loss`."""

    def __init__(
        self,
        *,
        mode: str,
        alpha: float = 0.5,
        beta: float = 0.5,
        smooth: float = 1e-5,
        log_loss: bool = False,
        batch_dice: bool = False,
        class_weight: Tensor | None = None,
        ignore_index: int | None = -100,
        from_logits: bool = True,
        sync: bool = False,
        process_group: object | None = None,
        reduction: str = "mean",
    ) -> None:
        _check_overlap_options(
            mode,
            smooth,
            class_weight,
            ignore_index,
            reduction,
            log_loss=log_loss,
            batch_dice=batch_dice,
            from_logits=from_logits,
            sync=sync,
        )
        check_number(alpha, "alpha", low=0.0)
        check_number(beta, "beta", low=0.0)
        super().__init__(
            mode=mode,
            alpha=alpha,
            beta=beta,
            smooth=smooth,
            log_loss=log_loss,
            batch_dice=batch_dice,
            class_weight=class_weight,
            ignore_index=ignore_index,
            from_logits=from_logits,
            sync=sync,
            process_group=process_group,
            reduction=reduction,
        )

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return tversky_loss(input, target, weight=weight, **self.options())


class FocalTverskyLoss(LossModule):
    """Module form of :func:`focal_tversky_loss`."""

    def __init__(
        self,
        *,
        mode: str,
        alpha: float = 0.5,
        beta: float = 0.5,
        gamma: float = 0.75,
        smooth: float = 1e-5,
        batch_dice: bool = False,
        class_weight: Tensor | None = None,
        ignore_index: int | None = -100,
        from_logits: bool = True,
        sync: bool = False,
        process_group: object | None = None,
        reduction: str = "mean",
    ) -> None:
        _check_overlap_options(
            mode,
            smooth,
            class_weight,
            ignore_index,
            reduction,
            batch_dice=batch_dice,
            from_logits=from_logits,
            sync=sync,
        )
        check_number(alpha, "alpha", low=0.0)
        check_number(beta, "beta", low=0.0)
        check_number(gamma, "gamma", low=0.0, low_inclusive=False)
        super().__init__(
            mode=mode,
            alpha=alpha,
            beta=beta,
            gamma=gamma,
            smooth=smooth,
            batch_dice=batch_dice,
            class_weight=class_weight,
            ignore_index=ignore_index,
            from_logits=from_logits,
            sync=sync,
            process_group=process_group,
            reduction=reduction,
        )

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return focal_tversky_loss(input, target, weight=weight, **self.options())


class GeneralizedDiceLoss(LossModule):
    """Module form of :func:`generalized_dice_loss`."""

    def __init__(
        self,
        *,
        mode: str,
        weight_type: str = "square",
        smooth: float = 1e-5,
        squared: bool = False,
        batch_dice: bool = False,
        class_weight: Tensor | None = None,
        ignore_index: int | None = -100,
        from_logits: bool = True,
        sync: bool = False,
        process_group: object | None = None,
        reduction: str = "mean",
    ) -> None:
        _check_overlap_options(
            mode,
            smooth,
            class_weight,
            ignore_index,
            reduction,
            squared=squared,
            batch_dice=batch_dice,
            from_logits=from_logits,
            sync=sync,
        )
        check_choice(weight_type, "weight_type", WEIGHT_TYPES)
        super().__init__(
            mode=mode,
            weight_type=weight_type,
            smooth=smooth,
            squared=squared,
            batch_dice=batch_dice,
            class_weight=class_weight,
            ignore_index=ignore_index,
            from_logits=from_logits,
            sync=sync,
            process_group=process_group,
            reduction=reduction,
        )

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return generalized_dice_loss(input, target, weight=weight, **self.options())


class LovaszSoftmaxLoss(LossModule):
    """Module form of :func:`lovasz_softmax_loss`."""

    def __init__(
        self,
        *,
        classes: str | Sequence[int] = "present",
        per_image: bool = False,
        ignore_index: int | None = -100,
        from_logits: bool = True,
        reduction: str = "mean",
    ) -> None:
        _check_classes(classes)
        check_flag(per_image, "per_image")
        check_flag(from_logits, "from_logits")
        check_ignore_index(ignore_index)
        super().__init__(
            classes=classes if isinstance(classes, str) else list(classes),
            per_image=per_image,
            ignore_index=ignore_index,
            from_logits=from_logits,
            reduction=reduction,
        )

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return lovasz_softmax_loss(input, target, weight=weight, **self.options())


class LovaszHingeLoss(LossModule):
    """Module form of :func:`lovasz_hinge_loss`."""

    def __init__(
        self, *, per_image: bool = True, ignore_index: int | None = -100, reduction: str = "mean"
    ) -> None:
        check_flag(per_image, "per_image")
        check_ignore_index(ignore_index)
        super().__init__(per_image=per_image, ignore_index=ignore_index, reduction=reduction)

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return lovasz_hinge_loss(input, target, weight=weight, **self.options())


class DiceCELoss(LossModule):
    """Module form of :func:`dice_ce_loss`."""

    def __init__(
        self,
        *,
        mode: str = "multiclass",
        lambda_dice: float = 1.0,
        lambda_ce: float = 1.0,
        smooth: float = 1e-5,
        squared: bool = False,
        batch_dice: bool = False,
        class_weight: Tensor | None = None,
        ignore_index: int | None = -100,
        label_smoothing: float = 0.0,
        sync: bool = False,
        process_group: object | None = None,
        reduction: str = "mean",
    ) -> None:
        _check_combined_options(
            mode,
            lambda_dice,
            lambda_ce,
            "lambda_ce",
            smooth,
            class_weight,
            ignore_index,
            reduction,
            squared=squared,
            batch_dice=batch_dice,
            sync=sync,
        )
        check_number(label_smoothing, "label_smoothing", low=0.0, high=1.0)
        super().__init__(
            mode=mode,
            lambda_dice=lambda_dice,
            lambda_ce=lambda_ce,
            smooth=smooth,
            squared=squared,
            batch_dice=batch_dice,
            class_weight=class_weight,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            sync=sync,
            process_group=process_group,
            reduction=reduction,
        )

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return dice_ce_loss(input, target, weight=weight, **self.options())


class DiceFocalLoss(LossModule):
    """Module form of :func:`dice_focal_loss`."""

    def __init__(
        self,
        *,
        mode: str = "multiclass",
        lambda_dice: float = 1.0,
        lambda_focal: float = 1.0,
        alpha: float | Tensor | None = None,
        gamma: float = 2.0,
        smooth: float = 1e-5,
        squared: bool = False,
        batch_dice: bool = False,
        class_weight: Tensor | None = None,
        ignore_index: int | None = -100,
        sync: bool = False,
        process_group: object | None = None,
        reduction: str = "mean",
    ) -> None:
        _check_combined_options(
            mode,
            lambda_dice,
            lambda_focal,
            "lambda_focal",
            smooth,
            class_weight,
            ignore_index,
            reduction,
            squared=squared,
            batch_dice=batch_dice,
            sync=sync,
        )
        check_number(gamma, "gamma", low=0.0)
        if alpha is not None:
            check_number(alpha, "alpha", low=0.0, allow_tensor=True)
        super().__init__(
            mode=mode,
            lambda_dice=lambda_dice,
            lambda_focal=lambda_focal,
            alpha=alpha,
            gamma=gamma,
            smooth=smooth,
            squared=squared,
            batch_dice=batch_dice,
            class_weight=class_weight,
            ignore_index=ignore_index,
            sync=sync,
            process_group=process_group,
            reduction=reduction,
        )

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return dice_focal_loss(input, target, weight=weight, **self.options())
