r"""Lovász losses: the convex Lovász extension of the Jaccard loss (softmax and hinge forms).

Both sort the errors once per (image, class) along the pixels and weigh them by the Lovász
gradient of the Jaccard loss (:func:`_lovasz_weights`), a constant of the sort: autograd keeps
those weights only, not the permutation. No Python loop over classes or pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from ..._core import (
    LossModule,
    LossOptions,
    LossSpec,
    Reduction,
    check_choice,
    check_flag,
    check_ignore_index,
    check_probabilities,
    compute_dtype,
    describe,
    prepare_dense_target,
    reduce_loss,
)

__all__ = [
    "LovaszHingeLoss",
    "LovaszSoftmaxLoss",
    "SPECS",
    "lovasz_hinge_loss",
    "lovasz_softmax_loss",
]

#: which classes the Lovász-Softmax mean counts: those present in the target, all, or a list
Classes = Literal["present", "all"] | Sequence[int]


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


# --- options: declared once, checked when built ---------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class LovaszSoftmaxOptions(LossOptions):
    classes: Classes = "present"
    per_image: bool = False
    ignore_index: int | None = -100
    from_logits: bool = True

    def validate(self) -> None:
        _check_classes(self.classes)  # the ids against C at the call
        if not isinstance(self.classes, str):
            self._set("classes", tuple(self.classes))  # a list from a configuration, frozen
        check_flag(self.per_image, "per_image")
        check_ignore_index(self.ignore_index)
        check_flag(self.from_logits, "from_logits")


@dataclass(frozen=True, kw_only=True)
class LovaszHingeOptions(LossOptions):
    per_image: bool = True
    ignore_index: int | None = -100

    def validate(self) -> None:
        check_flag(self.per_image, "per_image")
        check_ignore_index(self.ignore_index)


# --- the shared core ------------------------------------------------------------------------------


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


def lovasz_softmax_loss(
    input: Tensor,
    target: Tensor,
    *,
    classes: Classes = "present",
    per_image: bool = False,
    ignore_index: int | None = -100,
    from_logits: bool = True,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
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
    return _lovasz_softmax(input, target, LovaszSoftmaxOptions(
        classes=classes, per_image=per_image, ignore_index=ignore_index,
        from_logits=from_logits, reduction=reduction,
    ), weight)


def _lovasz_softmax(
    input: Tensor, target: Tensor, opts: LovaszSoftmaxOptions, weight: Tensor | None
) -> Tensor:
    dense = prepare_dense_target(input, target, "multiclass", ignore_index=opts.ignore_index)
    if dense.index is None:
        raise TypeError(
            f"target: expected integer class ids for lovasz_softmax_loss, got dtype {target.dtype}"
        )
    if not opts.from_logits:
        check_probabilities(input, "input")
    classes = opts.classes
    n, c = input.shape[0], input.shape[1]
    _check_classes(classes, c)
    dtype = compute_dtype(input)
    size = math.prod(input.shape[2:])
    x = input.to(dtype).reshape(n, c, size)
    probs = torch.softmax(x, dim=1) if opts.from_logits else x
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
    # a class id out of [0, C) that is not ignore_index (the data checks off) matches no class:
    # NaN there, so that the loss is NaN rather than silently computed without it
    known = (index >= 0) & (index < c)
    errors = torch.where(known.unsqueeze(1), errors, torch.nan)
    key = torch.where(valid, errors.detach(), -1.0)
    if not opts.per_image:
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
    if opts.per_image:
        per_class = counted.to(dtype)
        num = per_class.sum(-1)
        loss = (class_loss * per_class).sum(-1) / torch.clamp(num, min=1)
        return reduce_loss(loss, opts.reduction, weight=weight, valid=num > 0)
    return reduce_loss(class_loss[0], opts.reduction, weight=weight, valid=counted[0])


def lovasz_hinge_loss(
    input: Tensor,
    target: Tensor,
    *,
    per_image: bool = True,
    ignore_index: int | None = -100,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
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
    return _lovasz_hinge(input, target, LovaszHingeOptions(
        per_image=per_image, ignore_index=ignore_index, reduction=reduction,
    ), weight)


def _lovasz_hinge(
    input: Tensor, target: Tensor, opts: LovaszHingeOptions, weight: Tensor | None
) -> Tensor:
    if input.dim() == 0:
        raise ValueError("input: expected shape (N, *), got ()")
    dense = prepare_dense_target(input, target, "binary", ignore_index=opts.ignore_index)
    assert dense.probs is not None  # binary targets are decoded to values
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
    if not opts.per_image:
        hinge, key, labels, valid = (t.reshape(1, n * size) for t in (hinge, key, labels, valid))
    loss = (hinge * _lovasz_weights(key, labels, dtype)).sum(-1)
    has_pixels = valid.any(-1)
    if not opts.per_image:
        loss, has_pixels = loss[0], has_pixels[0]
    return reduce_loss(loss, opts.reduction, weight=weight, valid=has_pixels)


# --- Modules: documented by their spec, forward is one call to the core -------------------------


class LovaszSoftmaxLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The Lovász-Softmax loss of ``input`` against ``target`` (see the class docstring)."""
        return _lovasz_softmax(input, target, self.opts, weight)


class LovaszHingeLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The Lovász hinge loss of ``input`` against ``target`` (see the class docstring)."""
        return _lovasz_hinge(input, target, self.opts, weight)


# --- the sub-family's catalogue -------------------------------------------------------------------

_BERMAN = (
    "M. Berman, A. Rannen Triki, M. B. Blaschko, The Lovász-Softmax loss: A tractable surrogate "
    "for the optimization of the intersection-over-union measure in neural networks, CVPR 2018, "
    "arXiv:1705.08790"
)

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        "lovasz_softmax", lovasz_softmax_loss, LovaszSoftmaxLoss, LovaszSoftmaxOptions,
        "segmentation",
        summary="The convex Lovász extension of the per-class Jaccard loss on softmax errors.",
        formula=r"\sum_i m_{\pi_i}(c)\,\big(J_c(\pi_{1..i}) - J_c(\pi_{1..i-1})\big),"
        r"\ m_s(c) = |g_s(c) - p_s(c)|",
        paper=_BERMAN,
    ),
    LossSpec(
        "lovasz_hinge", lovasz_hinge_loss, LovaszHingeLoss, LovaszHingeOptions, "segmentation",
        summary="The Lovász extension of the binary Jaccard loss on hinge errors of the logits.",
        formula=r"\sum_i \max(m_{\pi_i}, 0)\,\big(J(\pi_{1..i}) - J(\pi_{1..i-1})\big),"
        r"\ m_s = 1 - x_s (2 y_s - 1)",
        paper=_BERMAN,
    ),
)
