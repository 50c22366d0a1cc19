"""Classification losses: binary and multi-class cross-entropy, focal loss, Poly-1.

Dense targets follow the three modes of :mod:`visionloss._core.targets` (``"binary"``,
``"multilabel"``, ``"multiclass"``); integer class ids are gathered, never expanded to a one-hot
tensor. Half and bfloat16 logits are computed in float32 (the result is float32), and every loss
ends with the shared :func:`~visionloss._core.reduce_loss`.

Two private cores are shared with the segmentation family (``dice_ce_loss`` and
``dice_focal_loss`` compute one softmax and call them):

* :func:`_cross_entropy_terms` ``(log_probs, dense_target, *, class_weight, label_smoothing) ->
  (loss, weight, valid)``, torch's cross-entropy from precomputed log-probabilities;
* :func:`_focal_terms` ``(scores, dense_target, *, alpha, gamma) -> (loss, valid)``, the focal loss
  from logits (binary, multilabel) or log-probabilities (multiclass).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core import (
    DenseTarget,
    LossModule,
    check_broadcastable,
    check_class_weight,
    check_flag,
    check_floating,
    check_ignore_index,
    check_mode,
    check_nonnegative_tensor,
    check_number,
    check_probabilities,
    check_reduction,
    check_weight,
    compute_dtype,
    describe,
    gather_classes,
    prepare_dense_target,
    reduce_loss,
)
from ..distributed import sync_sum
from ..kernels import cross_entropy as _ce
from ..kernels import focal as _focal
from ..kernels import kernels_enabled

__all__ = [
    "BCELoss",
    "CrossEntropyLoss",
    "FocalLoss",
    "Poly1Loss",
    "binary_cross_entropy",
    "cross_entropy",
    "focal_loss",
    "poly1_loss",
]


# --- option checks ---------------------------------------------------------------------------


def _check_focal_options(
    mode: str, alpha: float | Tensor | None, gamma: float, num_classes: int | None = None
) -> None:
    """``mode``, ``gamma >= 0`` and ``alpha``: a number in [0, 1] for the sigmoid modes (any
    number >= 0 for multiclass), or a ``(C,)`` tensor for multilabel and multiclass."""
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
        if alpha.dim() != 1 or (num_classes is not None and alpha.numel() != num_classes):
            expected = "(C,)" if num_classes is None else f"({num_classes},), one value per class"
            raise ValueError(
                f"alpha: expected a number or a tensor of shape {expected}, "
                f"got {tuple(alpha.shape)}"
            )
        check_nonnegative_tensor(alpha, "alpha")
        return
    high = torch.inf if mode == "multiclass" else 1.0
    check_number(alpha, "alpha", low=0.0, high=high)


def _check_label_smoothing(label_smoothing: float) -> float:
    return check_number(label_smoothing, "label_smoothing", low=0.0, high=1.0)


def _merge_weights(
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


# --- private cores shared with the segmentation family ------------------------------------------


def _cross_entropy_terms(
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
    _check_label_smoothing(label_smoothing)
    num_classes = log_probs.shape[1]
    check_class_weight(class_weight, num_classes)
    s = float(label_smoothing)
    cw = None if class_weight is None else class_weight.to(log_probs.dtype)

    if not target.is_index:
        # probability targets: -sum_c w_c y'_c log p_c, with y' = (1 - s) y + s / C
        probs = target.probs
        if s > 0:
            probs = probs * (1 - s) + s / num_classes
        term = log_probs * probs
        if cw is not None:
            term = term * cw.view((1, -1) + (1,) * (log_probs.dim() - 2))
        return -term.sum(1), None, None

    index = target.index
    # F.nll_loss, the op F.cross_entropy itself runs after log_softmax: the same unreduced values
    nll = F.nll_loss(log_probs, index, reduction="none")
    if s == 0:
        w_y = None if cw is None else cw[index]
        return nll, w_y, target.valid
    if cw is None:
        # torch: (1 - s) nll + s / C * sum_c (-log p_c)
        smooth = -log_probs.sum(1)
        return (1 - s) * nll + (s / num_classes) * smooth, None, target.valid
    # torch: (1 - s) w_y nll + s / C * sum_c w_c (-log p_c), and the mean divides by sum w_y.
    # Returned per unit of w_y. A class of weight 0 contributes nothing (torch still adds its
    # smoothing term to the numerator of the mean while leaving it out of the denominator).
    w_y = cw[index]
    smooth = -torch.einsum("nc...,c->n...", log_probs, cw)
    w_safe = torch.where(w_y > 0, w_y, torch.ones_like(w_y))
    return (1 - s) * nll + (s / num_classes) * smooth / w_safe, w_y, target.valid


def _focal_alpha(
    alpha: float | Tensor | None, mode: str, input: Tensor, dtype: torch.dtype
) -> float | Tensor | None:
    """``alpha`` ready for the focal formulas: a tensor is cast, and viewed along the channel dim
    for multilabel."""
    if not isinstance(alpha, Tensor):
        return None if alpha is None else float(alpha)
    alpha = alpha.detach().to(dtype=dtype, device=input.device)
    if mode == "multilabel":
        alpha = alpha.view((1, -1) + (1,) * (input.dim() - 2))
    return alpha


def _sigmoid_focal(
    logits: Tensor,
    target: Tensor,
    *,
    alpha: float | Tensor | None,
    gamma: float,
    ignore_index: int | None,
) -> Tensor:
    """Elementwise sigmoid focal loss: fused (keeps only the inputs) or the plain formula."""
    if kernels_enabled():
        return _focal.sigmoid_focal(
            logits, target, alpha=alpha, gamma=gamma, ignore_index=ignore_index
        )
    dtype = compute_dtype(logits)
    y = _focal.binary_target(target, ignore_index, dtype)
    return _focal.sigmoid_focal_terms(logits.to(dtype), y, alpha, gamma)


def _focal_terms(
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
        alpha, gamma: as :func:`focal_loss` (checked here).

    Returns:
        ``(loss, valid)``: the input's shape for the sigmoid modes, ``(N, *)`` for multiclass, and
        the validity mask to pass to :func:`~visionloss._core.reduce_loss`.
    """
    num_classes = scores.shape[1] if target.mode != "binary" else None
    _check_focal_options(target.mode, alpha, gamma, num_classes)
    dtype = compute_dtype(scores)
    alpha = _focal_alpha(alpha, target.mode, scores, dtype)
    if target.mode == "multiclass":
        labels = target.index if target.is_index else target.probs
        return _focal.softmax_focal_terms(scores, labels, alpha=alpha, gamma=gamma), target.valid
    loss = _sigmoid_focal(scores, target.probs, alpha=alpha, gamma=gamma, ignore_index=None)
    return loss, target.valid


# --- the losses ---------------------------------------------------------------------------------


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    *,
    from_logits: bool = True,
    pos_weight: Tensor | float | None = None,
    label_smoothing: float = 0.0,
    ignore_index: int | None = -100,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Binary cross-entropy of logits (or probabilities) and binary or soft targets.

    .. math::
        \ell_i = -\left[ w_+\, y_i \log \sigma(x_i) + (1 - y_i) \log (1 - \sigma(x_i)) \right]

    with :math:`w_+` the ``pos_weight`` (1 when omitted). From logits it is computed as torch's
    ``binary_cross_entropy_with_logits`` (softplus form, exact for :math:`|x|` up to 1e4). From
    probabilities (``from_logits=False``, :math:`\sigma(x_i)` replaced by the input :math:`p_i`)
    it is torch's ``binary_cross_entropy``: each log is clamped at -100, so :math:`p \in \{0, 1\}`
    gives a finite loss (100) and a finite gradient. Label smoothing replaces the target by
    :math:`y (1 - s) + s/2`.

    Args:
        input: logits :math:`x` (or probabilities with ``from_logits=False``), any shape.
        target: the same shape: probabilities in ``[0, 1]``, or 0/1 integers (or bool) where
            ``ignore_index`` marks elements to ignore.
        from_logits: whether ``input`` holds logits (default) or probabilities.
        pos_weight: weight of the positive term, a number or a tensor broadcastable to ``input``
            (torch's broadcasting: a ``(C,)`` tensor applies along the last dim; use ``(C, 1, 1)``
            for ``(N, C, H, W)``). Default ``None`` (1).
        label_smoothing: :math:`s \in [0, 1]`. Default 0.
        ignore_index: integer target value to ignore. Default -100.
        weight: optional non-negative tensor broadcastable to ``input``.
        reduction: ``"mean"`` (default, over the elements not ignored), ``"sum"`` or ``"none"``
            (the input's shape, 0 where ignored).

    Returns:
        The loss; equals ``torch.nn.functional.binary_cross_entropy_with_logits`` (or
        ``binary_cross_entropy`` for probabilities) on the smoothed target.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> x, y = torch.tensor([2.0, -1.0, 0.0]), torch.tensor([1.0, 0.0, 1.0])
        >>> VF.binary_cross_entropy(x, y, reduction="none")
        tensor([0.1269, 0.3133, 0.6931])
        >>> VF.binary_cross_entropy(x, torch.tensor([1, -100, 1]))  # integer targets, one ignored
        tensor(0.4100)
    """
    check_reduction(reduction)
    check_flag(from_logits, "from_logits")
    _check_label_smoothing(label_smoothing)
    check_ignore_index(ignore_index)
    dtype = compute_dtype(input)
    target = prepare_dense_target(input, target, "binary", ignore_index=ignore_index, dtype=dtype)
    x, y = input.to(dtype), target.probs
    if label_smoothing > 0:
        y = y * (1 - label_smoothing) + 0.5 * label_smoothing
    if pos_weight is not None:
        check_number(pos_weight, "pos_weight", low=0.0, allow_tensor=True)
        pos_weight = torch.as_tensor(pos_weight, dtype=dtype, device=x.device)
        check_broadcastable(pos_weight, x.shape, "pos_weight", "input")
        check_nonnegative_tensor(pos_weight, "pos_weight")
    if from_logits:
        loss = F.binary_cross_entropy_with_logits(x, y, pos_weight=pos_weight, reduction="none")
    else:
        check_probabilities(input, "input")
        if pos_weight is None:
            loss = F.binary_cross_entropy(x, y, reduction="none")
        else:
            # torch's clamped logs (and their bounded gradients), one term at a time:
            # -log p (clamped) is BCE against 1, -log(1 - p) BCE against 0
            neg_log_p = F.binary_cross_entropy(x, torch.ones_like(x), reduction="none")
            neg_log_1mp = F.binary_cross_entropy(x, torch.zeros_like(x), reduction="none")
            loss = pos_weight * y * neg_log_p + (1 - y) * neg_log_1mp
    return reduce_loss(loss, reduction, weight=weight, valid=target.valid)


def cross_entropy(
    input: Tensor,
    target: Tensor,
    *,
    class_weight: Tensor | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Softmax cross-entropy over dim 1 with class ids or probabilities, any spatial dims.

    .. math::
        \ell_i = -\sum_c w_c\, y'_{ic} \log p_{ic}, \qquad
        p_{i} = \mathrm{softmax}(x_i), \quad y'_{ic} = (1 - s)\, y_{ic} + s / C

    with :math:`y_{ic}` the one-hot of the class id (never formed: the log-probability is
    gathered) or the given probabilities, :math:`w` the ``class_weight`` and :math:`s` the label
    smoothing. This is ``torch.nn.functional.cross_entropy``, reductions included: with class
    ids and ``class_weight`` the mean is :math:`\sum_i \ell_i / \sum_i w_{y_i}` over the
    positions not ignored; with probability targets it divides by the number of positions.
    Differences from torch: a fully ignored batch gives 0 with zero gradients (torch: NaN); a
    pixel ``weight`` may be given on top (the mean becomes
    :math:`\sum_i v_i \ell_i / \sum_i v_i w_{y_i}` for the pixel weight :math:`v`); and with
    label smoothing, positions whose class has weight exactly 0 contribute 0 (torch keeps their
    smoothing term in the numerator of the mean while leaving them out of its denominator).

    With class ids the default path is a fused ``autograd.Function`` that evaluates one
    exponential per logit (torch: two, forward and backward), keeps :math:`e^{x - \max x}` for
    backward (the logits' size in the compute dtype, where torch keeps its log-softmax) and gives
    the gradient :math:`g\,(Q\,p - q)` in one multiply and one scatter; ``class_weight`` is not
    differentiated there. ``VISIONLOSS_KERNELS=0`` gives the plain composition.

    For class imbalance, :func:`visionloss.compose.class_weights` turns class counts into
    ``class_weight``.

    Args:
        input: logits :math:`x`, ``(N, C, *)``.
        target: ``(N, *)`` integer class ids in ``[0, C)`` (or ``ignore_index``), or ``(N, C, *)``
            probabilities in ``[0, 1]``.
        class_weight: optional ``(C,)`` non-negative weights.
        ignore_index: class id to ignore (class-id targets only). Default -100.
        label_smoothing: :math:`s \in [0, 1]`. Default 0.
        weight: optional non-negative tensor broadcastable to ``(N, *)`` (pixel or sample weights).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (``(N, *)``, 0 where ignored).

    References:
        C. Szegedy et al., "Rethinking the Inception Architecture for Computer Vision" (label
        smoothing), CVPR 2016, arXiv:1512.00567.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
        >>> VF.cross_entropy(logits, torch.tensor([0, 2]), reduction="none")
        tensor([0.1698, 1.0986])
        >>> VF.cross_entropy(logits, torch.tensor([0, -100]))  # the second one ignored
        tensor(0.1698)
    """
    check_reduction(reduction)
    check_ignore_index(ignore_index)
    check_class_weight(class_weight)
    dtype = compute_dtype(input)
    target = prepare_dense_target(
        input, target, "multiclass", ignore_index=ignore_index, dtype=dtype
    )
    if target.is_index and kernels_enabled():
        _check_label_smoothing(label_smoothing)
        check_class_weight(class_weight, input.shape[1])
        loss = _ce.cross_entropy_ids(
            input,
            target.index,
            class_weight=class_weight,
            label_smoothing=label_smoothing,
            dtype=dtype,
        )
        class_w = None if class_weight is None else class_weight.to(dtype)[target.index]
        valid = target.valid
    else:
        # log_softmax upcasts half/bfloat16 itself (no float32 copy of the logits is made)
        log_probs = F.log_softmax(input, dim=1, dtype=dtype)
        loss, class_w, valid = _cross_entropy_terms(
            log_probs, target, class_weight=class_weight, label_smoothing=label_smoothing
        )
    weight = _merge_weights(class_w, weight, loss.shape)
    return reduce_loss(loss, reduction, weight=weight, valid=valid)


def focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: str = "binary",
    alpha: float | Tensor | None = None,
    gamma: float = 2.0,
    ignore_index: int | None = -100,
    normalize: bool = False,
    sync: bool = False,
    process_group: object | None = None,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Focal loss: cross-entropy down-weighted where the prediction is already right.

    .. math::
        \ell = -\alpha_t\, (1 - p_t)^\gamma \log p_t

    with :math:`p_t` the predicted probability of the target. ``"binary"``/``"multilabel"``: one
    sigmoid per element, :math:`p = \sigma(x)`; for a target :math:`y \in [0, 1]` (soft targets
    interpolate, as torchvision does) :math:`-\log p_t` is the binary cross-entropy of the logit,
    :math:`p_t = p y + (1 - p)(1 - y)` and :math:`\alpha_t = \alpha y + (1 - \alpha)(1 - y)`, so
    ``mode="binary", alpha=0.25, reduction="none"`` equals torchvision's ``sigmoid_focal_loss``.
    ``"multiclass"``: softmax over dim 1, :math:`p_t = p_y`, :math:`\alpha_t = \alpha` (a number)
    or :math:`\alpha_y` (a ``(C,)`` tensor); probability targets give
    :math:`-\sum_c y_c \alpha_c (1 - p_c)^\gamma \log p_c`. ``alpha=None`` means
    :math:`\alpha_t = 1`; with ``gamma=0`` the loss is exactly :func:`binary_cross_entropy` /
    :func:`cross_entropy`.

    Numerics: :math:`-\log p_t` comes from the logits (the BCE of a logit, log-softmax), never
    from the log of a probability; :math:`1 - p_t` from :math:`\sigma(-x)` or
    :math:`-\mathrm{expm1}(\log p_t)`, accurate where :math:`p_t \to 1`; the gradient is finite
    for every :math:`\gamma \ge 0`, including :math:`\gamma < 1` at :math:`p_t = 1`. The default
    path is a fused ``autograd.Function`` that keeps only ``input``, ``target`` (and, for
    multiclass, the maximum logit and the log-sum of each position) for backward and recomputes
    the rest; for speed its sigmoid form takes :math:`1 - p_t` as :math:`p + y - 2py` (absolute
    error below one ulp of 1, on terms already ~1e-7 of their cross-entropy) except for the
    target's gradient. ``VISIONLOSS_KERNELS=0`` gives the plain composition.

    ``normalize=True`` is RetinaNet's normalisation: ``"mean"`` divides the summed (weighted)
    loss by the number of positive targets, :math:`\max(\sum y, 1)` over the elements not ignored
    (soft targets count their mass), instead of the number of elements; ``"sum"`` and ``"none"``
    are unchanged. Sigmoid modes only. With ``sync=True`` and an initialised process group, the
    positive count and the summed loss are added up across the ranks
    (:func:`visionloss.distributed.sync_sum`), so every rank returns the loss of the whole batch
    and its shard's gradient is K times the single-process one (DDP averages it back).

    Args:
        input: logits, ``(N, C, *)`` (any shape for ``"binary"``).
        target: ``"binary"``/``"multilabel"``: the input's shape, probabilities or 0/1 integers;
            ``"multiclass"``: ``(N, *)`` class ids or ``(N, C, *)`` probabilities.
        mode: ``"binary"`` (default), ``"multilabel"`` or ``"multiclass"``.
        alpha: class balance; ``None`` (default), a number (in ``[0, 1]`` for the sigmoid
            modes), or a ``(C,)`` tensor (multilabel: per channel; multiclass: per class).
        gamma: focusing parameter :math:`\gamma \ge 0`. Default 2.
        ignore_index: integer target value to ignore. Default -100.
        normalize: divide ``"mean"`` by the positive count (see above). Default ``False``.
        sync, process_group: combine the positive count and the sum across ranks (with
            ``normalize``).
        weight: optional non-negative tensor broadcastable to the unreduced loss.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (the input's shape for the
            sigmoid modes, ``(N, *)`` for multiclass; 0 where ignored).

    References:
        T.-Y. Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017, arXiv:1708.02002.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> x, y = torch.tensor([3.0, -1.0]), torch.tensor([1.0, 1.0])
        >>> # the easy one (p_t = 0.95) is scaled by (1 - p_t)^2 = 0.0022, the hard one by 0.53
        >>> VF.focal_loss(x, y, reduction="none")
        tensor([1.0928e-04, 7.0187e-01])
        >>> logits = torch.tensor([[2.0, 0.0, -1.0]])
        >>> VF.focal_loss(logits, torch.tensor([0]), mode="multiclass", alpha=0.25)
        tensor(0.0010)
    """
    check_reduction(reduction)
    check_ignore_index(ignore_index)
    check_flag(normalize, "normalize")
    check_flag(sync, "sync")
    check_mode(mode)
    if normalize and mode == "multiclass":
        raise ValueError(
            "normalize: expected False for mode='multiclass' (the positive count is defined for "
            "the sigmoid modes 'binary' and 'multilabel'), got True"
        )
    dtype = compute_dtype(input)
    dense = prepare_dense_target(input, target, mode, ignore_index=ignore_index, dtype=dtype)
    _check_focal_options(mode, alpha, gamma, input.shape[1] if mode != "binary" else None)
    alpha = _focal_alpha(alpha, mode, input, dtype)

    if mode == "multiclass":
        if kernels_enabled():
            loss = _focal.softmax_focal(
                input, target, alpha=alpha, gamma=gamma, ignore_index=ignore_index
            )
        else:
            labels = dense.index if dense.is_index else dense.probs
            log_probs = F.log_softmax(input, dim=1, dtype=dtype)
            loss = _focal.softmax_focal_terms(log_probs, labels, alpha=alpha, gamma=gamma)
    else:
        # the raw target: the fused path keeps the caller's tensor, not a converted copy
        loss = _sigmoid_focal(input, target, alpha=alpha, gamma=gamma, ignore_index=ignore_index)

    normalized = normalize and reduction == "mean"
    if normalized:
        # RetinaNet: sum / max(#positives, 1); the count is not differentiated
        positives = sync_sum(dense.probs.detach().sum(), sync=sync, process_group=process_group)
        loss = loss / positives.clamp(min=1)
    result = reduce_loss(loss, "sum" if normalized else reduction, weight=weight, valid=dense.valid)
    if normalized:
        # every rank returns the whole batch's loss; the all-reduce's backward gives each shard
        # K times its single-process gradient (DDP's convention)
        result = sync_sum(result, sync=sync, process_group=process_group)
    return result


def poly1_loss(
    input: Tensor,
    target: Tensor,
    *,
    epsilon: float = 1.0,
    class_weight: Tensor | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    weight: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    r"""Poly-1 loss: cross-entropy plus :math:`\epsilon` times the first polynomial term.

    .. math::
        \ell_i = \mathrm{CE}_i + \epsilon\,(1 - p_{t,i}), \qquad p_{t,i} = \sum_c y'_{ic}\, p_{ic}

    :math:`\mathrm{CE}` is :func:`cross_entropy` (same ``class_weight``, ``ignore_index`` and
    ``label_smoothing``), :math:`p = \mathrm{softmax}(x)` and :math:`y'` the (smoothed) target, so
    that with label smoothing :math:`p_t` is the probability mass on the smoothed target, as in
    the paper's code; for class ids :math:`p_t = (1 - s)\, p_y + s / C` (no one-hot is formed).
    :math:`\epsilon = 0` gives the cross-entropy; the paper uses :math:`\epsilon \ge -1`.
    ``class_weight`` weighs the whole term of a position by the weight of its class (for
    probability targets the :math:`\epsilon` term by :math:`\sum_c w_c y'_c`); the means are
    those of :func:`cross_entropy`.

    For class imbalance, :func:`visionloss.compose.class_weights` turns class counts into
    ``class_weight``.

    Args:
        input: logits, ``(N, C, *)``.
        target: ``(N, *)`` class ids or ``(N, C, *)`` probabilities.
        epsilon: weight of the polynomial term, :math:`\ge -1`. Default 1.
        class_weight, ignore_index, label_smoothing, weight: as :func:`cross_entropy`.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (``(N, *)``).

    References:
        Z. Leng et al., "PolyLoss: A Polynomial Expansion Perspective of Classification Loss
        Functions", ICLR 2022, arXiv:2204.12511.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
        >>> VF.poly1_loss(logits, torch.tensor([0, 2]), reduction="none")  # CE + (1 - p_t)
        tensor([0.3261, 1.7653])
    """
    check_reduction(reduction)
    check_number(epsilon, "epsilon", low=-1.0)
    check_ignore_index(ignore_index)
    check_class_weight(class_weight)
    dtype = compute_dtype(input)
    target = prepare_dense_target(
        input, target, "multiclass", ignore_index=ignore_index, dtype=dtype
    )
    log_probs = F.log_softmax(input, dim=1, dtype=dtype)
    ce, class_w, valid = _cross_entropy_terms(
        log_probs, target, class_weight=class_weight, label_smoothing=label_smoothing
    )
    s, num_classes = float(label_smoothing), input.shape[1]
    if target.is_index:
        p_t = gather_classes(log_probs, target.index).exp()
        if s > 0:
            # sum_c y'_c p_c with y' = (1 - s) onehot + s / C, and sum_c p_c = 1
            p_t = (1 - s) * p_t + s / num_classes
        loss = ce + epsilon * (1 - p_t)
    else:
        probs = target.probs * (1 - s) + s / num_classes if s > 0 else target.probs
        poly = epsilon * (1 - (probs * log_probs.exp()).sum(1))
        if class_weight is not None:
            shape = (1, -1) + (1,) * (input.dim() - 2)
            poly = poly * (probs * class_weight.to(dtype).view(shape)).sum(1)
        loss = ce + poly
    weight = _merge_weights(class_w, weight, loss.shape)
    return reduce_loss(loss, reduction, weight=weight, valid=valid)


# --- Modules: options checked and stored in __init__, forward is one call -------------------------


class BCELoss(LossModule):
    """Module form of :func:`binary_cross_entropy`."""

    def __init__(
        self,
        *,
        from_logits: bool = True,
        pos_weight: Tensor | float | None = None,
        label_smoothing: float = 0.0,
        ignore_index: int | None = -100,
        reduction: str = "mean",
    ) -> None:
        check_flag(from_logits, "from_logits")
        if pos_weight is not None:
            check_number(pos_weight, "pos_weight", low=0.0, allow_tensor=True)
        _check_label_smoothing(label_smoothing)
        check_ignore_index(ignore_index)
        super().__init__(
            from_logits=from_logits,
            pos_weight=pos_weight,
            label_smoothing=label_smoothing,
            ignore_index=ignore_index,
            reduction=reduction,
        )

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return binary_cross_entropy(input, target, weight=weight, **self.options())


class CrossEntropyLoss(LossModule):
    """Module form of :func:`cross_entropy`."""

    def __init__(
        self,
        *,
        class_weight: Tensor | None = None,
        ignore_index: int | None = -100,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        check_class_weight(class_weight)
        check_ignore_index(ignore_index)
        _check_label_smoothing(label_smoothing)
        super().__init__(
            class_weight=class_weight,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            reduction=reduction,
        )

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return cross_entropy(input, target, weight=weight, **self.options())


class FocalLoss(LossModule):
    """Module form of :func:`focal_loss`."""

    def __init__(
        self,
        *,
        mode: str = "binary",
        alpha: float | Tensor | None = None,
        gamma: float = 2.0,
        ignore_index: int | None = -100,
        normalize: bool = False,
        sync: bool = False,
        process_group: object | None = None,
        reduction: str = "mean",
    ) -> None:
        _check_focal_options(mode, alpha, gamma)
        check_ignore_index(ignore_index)
        check_flag(normalize, "normalize")
        check_flag(sync, "sync")
        super().__init__(
            mode=mode,
            alpha=alpha,
            gamma=gamma,
            ignore_index=ignore_index,
            normalize=normalize,
            sync=sync,
            process_group=process_group,
            reduction=reduction,
        )

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return focal_loss(input, target, weight=weight, **self.options())


class Poly1Loss(LossModule):
    """Module form of :func:`poly1_loss`."""

    def __init__(
        self,
        *,
        epsilon: float = 1.0,
        class_weight: Tensor | None = None,
        ignore_index: int | None = -100,
        label_smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> None:
        check_number(epsilon, "epsilon", low=-1.0)
        check_class_weight(class_weight)
        check_ignore_index(ignore_index)
        _check_label_smoothing(label_smoothing)
        super().__init__(
            epsilon=epsilon,
            class_weight=class_weight,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            reduction=reduction,
        )

    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return poly1_loss(input, target, weight=weight, **self.options())
