"""Cross-entropy and focal terms of a dense target, shared by the classification and segmentation
families.

``dice_ce_loss`` and ``dice_focal_loss`` compute one softmax and call these with its log, so that
the softmax is not computed twice; :mod:`visionloss.losses.classification` builds its losses on the
same terms. Nothing here reduces: each returns the unreduced loss with what
:func:`~visionloss._core.reduce_loss` needs (a weight, a validity mask).

* :func:`cross_entropy_terms` ``(log_probs, dense_target, *, class_weight, label_smoothing) ->
  (loss, weight, valid)``, torch's cross-entropy from precomputed log-probabilities;
* :func:`focal_terms` ``(scores, dense_target, *, alpha, gamma) -> (loss, valid)``, the focal loss
  from logits (binary, multilabel) or log-probabilities (multiclass).

Both check their options (these callers pass them unchecked); the option checks themselves
(:func:`check_focal_options`, :func:`check_label_smoothing`) are the ones the classification
options run when they are built. This module does not import the classification family.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._core import (
    DenseTarget,
    check_class_weight,
    check_floating,
    check_mode,
    check_nonnegative_tensor,
    check_number,
    check_weight,
    compute_dtype,
    describe,
)
from ..kernels import cross_entropy as _ce
from ..kernels import focal as _focal

__all__ = [
    "check_focal_alpha_length",
    "check_focal_options",
    "check_label_smoothing",
    "cross_entropy_terms",
    "focal_alpha",
    "focal_terms",
    "merge_weights",
    "unchecked_cross_entropy_terms",
]

Alpha = float | Tensor | None


# --- option checks ---------------------------------------------------------------------------


def check_label_smoothing(label_smoothing: float) -> float:
    """``label_smoothing`` in ``[0, 1]``, as a float."""
    return float(check_number(label_smoothing, "label_smoothing", low=0.0, high=1.0))


def check_focal_options(
    mode: str, alpha: Alpha, gamma: float, num_classes: int | None = None
) -> None:
    """``mode``, ``gamma >= 0`` and ``alpha``: a number in [0, 1] for the sigmoid modes (any
    number >= 0 for multiclass), or a ``(C,)`` non-negative tensor for multilabel and multiclass
    (of length ``num_classes`` when given)."""
    check_mode(mode)
    check_number(gamma, "gamma", low=0.0)
    if alpha is None:
        return
    if isinstance(alpha, Tensor):
        if mode == "binary":
            raise TypeError(
                "alpha: expected a real number or None for mode='binary' (a per-class tensor "
                f"needs mode='multilabel' or 'multiclass'), got {describe(alpha)}"
            )
        check_floating(alpha, "alpha")
        check_focal_alpha_length(alpha, num_classes)
        check_nonnegative_tensor(alpha, "alpha")
        return
    high = torch.inf if mode == "multiclass" else 1.0
    check_number(alpha, "alpha", low=0.0, high=high)


def check_focal_alpha_length(alpha: Alpha, num_classes: int | None) -> None:
    """A tensor ``alpha`` is ``(C,)``, ``(num_classes,)`` when given: the check that needs the
    input (a shape, not data)."""
    if not isinstance(alpha, Tensor):
        return
    if alpha.dim() != 1 or (num_classes is not None and alpha.numel() != num_classes):
        expected = "(C,)" if num_classes is None else f"({num_classes},), one value per class"
        raise ValueError(
            f"alpha: expected a number or a tensor of shape {expected}, got {tuple(alpha.shape)}"
        )


# --- helpers --------------------------------------------------------------------------------


def merge_weights(
    class_w: Tensor | None, weight: Tensor | None, shape: torch.Size
) -> Tensor | None:
    """The per-element class weight times the user's ``weight``; before multiplying, ``weight`` is
    checked against ``shape``, so that a wrong one is reported under its own name (alone, it is
    checked by the reduction)."""
    if class_w is None:
        return weight
    if weight is None:
        return class_w
    check_weight(weight, shape)
    return class_w * weight.to(class_w.dtype)


def focal_alpha(alpha: Alpha, mode: str, input: Tensor, dtype: torch.dtype) -> Alpha:
    """``alpha`` ready for the focal formulas: a tensor is cast, and viewed along the channel dim
    for multilabel."""
    if not isinstance(alpha, Tensor):
        return None if alpha is None else float(alpha)
    alpha = alpha.detach().to(dtype=dtype, device=input.device)
    if mode == "multilabel":
        alpha = alpha.view((1, -1) + (1,) * (input.dim() - 2))
    return alpha


# --- the terms ------------------------------------------------------------------------------


def cross_entropy_terms(
    log_probs: Tensor,
    target: DenseTarget,
    *,
    class_weight: Tensor | None = None,
    label_smoothing: float = 0.0,
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """torch's cross-entropy from log-probabilities, split for :func:`~visionloss._core.reduce_loss`.

    Args:
        log_probs: ``log_softmax(logits, 1)``, ``(N, C, *)`` in the compute dtype.
        target: a multiclass :class:`~visionloss._core.DenseTarget` for the same input.
        class_weight: optional ``(C,)`` non-negative weights (checked here).
        label_smoothing: in ``[0, 1]`` (checked here).

    Returns:
        ``(loss, weight, valid)``, all ``(N, *)`` (``weight``/``valid`` may be ``None``), such that
        ``reduce_loss(loss, reduction, weight=weight * pixel_weight, valid=valid)`` equals
        ``F.cross_entropy(..., weight=class_weight, label_smoothing=..., reduction=...)``. For
        class ids, ``weight`` is ``class_weight[y]`` and ``loss`` the loss per unit of it, so the
        mean is torch's :math:`\\sum_i w_{y_i} \\ell_i / \\sum_i w_{y_i}`; for probability targets
        the class weights are inside ``loss`` and ``weight`` is ``None`` (torch's mean divides by
        the number of positions there).
    """
    check_label_smoothing(label_smoothing)
    check_class_weight(class_weight, log_probs.shape[1])
    return unchecked_cross_entropy_terms(log_probs, target, class_weight, float(label_smoothing))


def unchecked_cross_entropy_terms(
    log_probs: Tensor, target: DenseTarget, class_weight: Tensor | None, label_smoothing: float
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """:func:`cross_entropy_terms` with options already checked."""
    s = label_smoothing
    cw = None if class_weight is None else class_weight.to(log_probs.dtype)

    index = target.index
    if index is None:
        # probability targets: -sum_c w_c y'_c log p_c, with y' = (1 - s) y + s / C
        probs = target.probs
        assert probs is not None  # a DenseTarget holds class ids or probabilities
        loss = _ce.cross_entropy_probs_terms(log_probs, probs, class_weight=cw, label_smoothing=s)
        return loss, None, None

    # class ids: the op's specification, per unit of class_weight[y]
    loss = _ce.cross_entropy_ids_terms(log_probs, index, class_weight=cw, label_smoothing=s)
    w_y = None if cw is None else cw[index]
    return loss, w_y, target.valid


def focal_terms(
    scores: Tensor,
    target: DenseTarget,
    *,
    alpha: float | Tensor | None = None,
    gamma: float = 2.0,
) -> tuple[Tensor, Tensor | None]:
    """The unreduced focal loss of a checked dense target.

    Args:
        scores: logits for ``"binary"``/``"multilabel"`` (the input's shape); for ``"multiclass"``
            log-probabilities ``log_softmax(logits, 1)`` ``(N, C, *)``, so that a caller that also
            needs the softmax computes it once.
        target: a :class:`~visionloss._core.DenseTarget` for ``scores``.
        alpha, gamma: as :func:`visionloss.functional.focal_loss` (checked here).

    Returns:
        ``(loss, valid)``: the input's shape for the sigmoid modes, ``(N, *)`` for multiclass, and
        the validity mask to pass to :func:`~visionloss._core.reduce_loss`.
    """
    num_classes = scores.shape[1] if target.mode != "binary" else None
    check_focal_options(target.mode, alpha, gamma, num_classes)
    dtype = compute_dtype(scores)
    alpha = focal_alpha(alpha, target.mode, scores, dtype)
    if target.mode == "multiclass":
        labels = target.index if target.is_index else target.probs
        assert labels is not None  # a DenseTarget holds one of the two
        return _focal.softmax_focal_terms(scores, labels, alpha=alpha, gamma=gamma), target.valid
    assert target.probs is not None
    loss = _focal.sigmoid_focal(scores, target.probs, alpha=alpha, gamma=gamma, ignore_index=None)
    return loss, target.valid
