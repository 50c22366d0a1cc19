"""Classification losses: binary and multi-class cross-entropy, focal loss, Poly-1, and the
dense-detection heads' varifocal, quality focal and distribution focal losses.

Dense targets follow the three modes of :mod:`visionloss._core.targets` (``"binary"``,
``"multilabel"``, ``"multiclass"``); integer class ids are gathered, never expanded to a one-hot
tensor. Half and bfloat16 logits are computed in float32 (the result is float32), and every loss
ends with the shared :func:`~visionloss._core.reduce_loss`.

Each loss is declared once: its options (a frozen, self-validating
:class:`~visionloss._core.LossOptions`), its public function, a private core that reads the
options object, its Module (``forward`` is one call to the core) and its row of :data:`SPECS`.
The cross-entropy and focal terms that the segmentation family shares (``dice_ce_loss`` and
``dice_focal_loss`` compute one softmax and call them) live in
:mod:`visionloss.losses._dense_terms`; the fused kernels and their references in
:mod:`visionloss.kernels.cross_entropy` and :mod:`visionloss.kernels.focal`. The detection losses
(:func:`varifocal_loss`, :func:`quality_focal_loss`, :func:`distribution_focal_loss`) live in
:mod:`visionloss.losses._detection`; this module re-exports them and its :data:`SPECS` ends with
their rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core import (
    LossModule,
    LossOptions,
    LossSpec,
    Mode,
    Reduction,
    check_broadcastable,
    check_class_weight,
    check_flag,
    check_ignore_index,
    check_mode,
    check_nonnegative_tensor,
    check_number,
    check_probabilities,
    compute_dtype,
    prepare_dense_target,
    reduce_loss,
)
from ..distributed import sync_sum
from ..kernels import bce as _bce_op
from ..kernels import cross_entropy as _ce
from ..kernels import focal as _focal
from ..kernels import focal_cpu as _focal_cpu
from ..kernels import poly1 as _poly
from . import _detection
from ._dense_terms import (
    check_focal_alpha_length,
    check_focal_options,
    check_label_smoothing,
    focal_alpha,
    merge_weights,
    unchecked_cross_entropy_terms,
)
from ._detection import (
    DistributionFocalLoss,
    QualityFocalLoss,
    QualityFocalOptions,
    VarifocalLoss,
    VarifocalOptions,
    distribution_focal_loss,
    quality_focal_loss,
    varifocal_loss,
)

__all__ = [
    "BCELoss",
    "BCEOptions",
    "CrossEntropyLoss",
    "CrossEntropyOptions",
    "DistributionFocalLoss",
    "FocalLoss",
    "FocalOptions",
    "Poly1Loss",
    "Poly1Options",
    "QualityFocalLoss",
    "QualityFocalOptions",
    "SPECS",
    "VarifocalLoss",
    "VarifocalOptions",
    "binary_cross_entropy",
    "cross_entropy",
    "distribution_focal_loss",
    "focal_loss",
    "poly1_loss",
    "quality_focal_loss",
    "varifocal_loss",
]


# --- options: declared once, checked when built ---------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BCEOptions(LossOptions):
    from_logits: bool = True
    pos_weight: Tensor | float | None = None
    label_smoothing: float = 0.0
    ignore_index: int | None = -100

    tensor_fields: ClassVar[tuple[str, ...]] = ("pos_weight",)

    def validate(self) -> None:
        check_flag(self.from_logits, "from_logits")
        if self.pos_weight is not None:
            check_number(self.pos_weight, "pos_weight", low=0.0, allow_tensor=True)
            if isinstance(self.pos_weight, Tensor):
                check_nonnegative_tensor(self.pos_weight, "pos_weight")
        check_label_smoothing(self.label_smoothing)
        check_ignore_index(self.ignore_index)


@dataclass(frozen=True, kw_only=True)
class CrossEntropyOptions(LossOptions):
    class_weight: Tensor | None = None
    ignore_index: int | None = -100
    label_smoothing: float = 0.0

    tensor_fields: ClassVar[tuple[str, ...]] = ("class_weight",)

    def validate(self) -> None:
        # the (C,) length needs the input: checked by the core at call time
        check_class_weight(self.class_weight)
        check_ignore_index(self.ignore_index)
        check_label_smoothing(self.label_smoothing)


@dataclass(frozen=True, kw_only=True)
class Poly1Options(CrossEntropyOptions):
    epsilon: float = 1.0

    def validate(self) -> None:
        check_number(self.epsilon, "epsilon", low=-1.0)
        super().validate()


@dataclass(frozen=True, kw_only=True)
class FocalOptions(LossOptions):
    mode: Mode = "binary"
    alpha: float | Tensor | None = None
    gamma: float = 2.0
    ignore_index: int | None = -100
    normalize: bool = False
    sync: bool = False
    process_group: object | None = None

    tensor_fields: ClassVar[tuple[str, ...]] = ("alpha",)

    def validate(self) -> None:
        check_mode(self.mode)
        check_ignore_index(self.ignore_index)
        check_flag(self.normalize, "normalize")
        check_flag(self.sync, "sync")
        if self.normalize and self.mode == "multiclass":
            raise ValueError(
                "normalize: expected False for mode='multiclass' (the positive count is defined "
                "for the sigmoid modes 'binary' and 'multilabel'), got True"
            )
        # a tensor alpha with mode="binary" is refused here; its (C,) length needs the input
        check_focal_options(self.mode, self.alpha, self.gamma)


# --- the losses ---------------------------------------------------------------------------------


def binary_cross_entropy(
    input: Tensor,
    target: Tensor,
    *,
    from_logits: bool = True,
    pos_weight: Tensor | float | Sequence[float] | None = None,
    label_smoothing: float = 0.0,
    ignore_index: int | None = -100,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
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
            for ``(N, C, H, W)``); a list of numbers is taken as a ``(C,)`` tensor. Default
            ``None`` (1).
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
    return _bce(
        input,
        target,
        BCEOptions(
            from_logits=from_logits,
            pos_weight=pos_weight,  # type: ignore[arg-type]  # a list becomes a tensor
            label_smoothing=label_smoothing,
            ignore_index=ignore_index,
            reduction=reduction,
        ),
        weight,
    )


def _bce(input: Tensor, target: Tensor, opts: BCEOptions, weight: Tensor | None) -> Tensor:
    dtype = compute_dtype(input)
    dense = prepare_dense_target(
        input, target, "binary", ignore_index=opts.ignore_index, dtype=dtype
    )
    x, y = input.to(dtype), dense.probs
    assert y is not None  # binary targets are float
    s = opts.label_smoothing
    if s > 0:
        y = y * (1 - s) + 0.5 * s
    pos_weight = None
    if opts.pos_weight is not None:
        pos_weight = torch.as_tensor(opts.pos_weight, dtype=dtype, device=x.device)
        check_broadcastable(pos_weight, x.shape, "pos_weight", "input")
    if opts.from_logits:
        # the op: torch's own kernels, or the Triton kernel on CUDA (the caller's logits: the
        # op computes half inputs in float32 itself)
        loss = _bce_op.bce_with_logits(input, y, pos_weight=pos_weight)
    else:
        check_probabilities(input, "input")
        # torch's binary_cross_entropy refuses NaN and inf (an error on CPU, a device assert on
        # CUDA; the data check lets them through): it sees 0.5 there and the loss is NaN instead
        finite = torch.isfinite(x)
        x = torch.where(finite, x, torch.full((), 0.5, dtype=x.dtype, device=x.device))
        if pos_weight is None:
            loss = F.binary_cross_entropy(x, y, reduction="none")
        else:
            # torch's clamped logs (and their bounded gradients), one term at a time:
            # -log p (clamped) is BCE against 1, -log(1 - p) BCE against 0
            neg_log_p = F.binary_cross_entropy(x, torch.ones_like(x), reduction="none")
            neg_log_1mp = F.binary_cross_entropy(x, torch.zeros_like(x), reduction="none")
            loss = pos_weight * y * neg_log_p + (1 - y) * neg_log_1mp
        nan = torch.full((), torch.nan, dtype=loss.dtype, device=loss.device)
        loss = torch.where(finite, loss, nan)
    return reduce_loss(loss, opts.reduction, weight=weight, valid=dense.valid)


def cross_entropy(
    input: Tensor,
    target: Tensor,
    *,
    class_weight: Tensor | Sequence[float] | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
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

    With class ids, the default path on CPU is ``F.cross_entropy`` itself wherever the options
    are torch's own (no pixel ``weight``, float32/float64 logits, no zero class weight with
    label smoothing): its kernels were measured the fastest there, and it keeps its
    log-softmax for backward, nothing more. On CUDA a Triton kernel (one pass forward saving
    one log-sum-exp per position, one pass backward) takes the call. Elsewhere a fused
    ``autograd.Function`` evaluates one exponential per logit, keeps :math:`e^{x - \max x}`
    for backward and gives the gradient :math:`g\,(Q\,p - q)` in one multiply and one scatter
    (``VISIONLOSS_KERNELS=fused`` forces it); ``class_weight`` is not differentiated by the
    fast paths. With probability targets, a Triton kernel takes the call on CUDA (one pass
    forward saving one log-sum-exp per position, one pass backward; not when the target
    requires grad), the plain composition elsewhere. ``VISIONLOSS_KERNELS=0`` gives the plain
    composition.

    For class imbalance, :func:`visionloss.compose.class_weights` turns class counts into
    ``class_weight``.

    Args:
        input: logits :math:`x`, ``(N, C, *)``.
        target: ``(N, *)`` integer class ids in ``[0, C)`` (or ``ignore_index``), or ``(N, C, *)``
            probabilities in ``[0, 1]``.
        class_weight: optional ``(C,)`` non-negative weights, a tensor or a list of numbers.
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
    return _cross_entropy(
        input,
        target,
        CrossEntropyOptions(
            class_weight=class_weight,  # type: ignore[arg-type]  # a list becomes a tensor
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            reduction=reduction,
        ),
        weight,
    )


def _cross_entropy(
    input: Tensor, target: Tensor, opts: CrossEntropyOptions, weight: Tensor | None
) -> Tensor:
    dtype = compute_dtype(input)
    cw = opts.class_weight
    s = opts.label_smoothing
    if _ce.torch_takes(
        input,
        target,
        class_weight=cw,
        ignore_index=opts.ignore_index,
        label_smoothing=s,
        weight=weight,
        dtype=dtype,
    ):
        # well-formed class ids with torch's own options, on CPU: F.cross_entropy itself (it
        # checks the ids; see visionloss.kernels.cross_entropy.torch_takes)
        return _ce.cross_entropy_torch(
            input,
            target,
            class_weight=cw,
            ignore_index=opts.ignore_index,
            label_smoothing=s,
            reduction=opts.reduction,
        )
    # probabilities stay in their own dtype (no cast copy): the op casts them itself
    probs_dtype = target.dtype if target.is_floating_point() else dtype
    dense = prepare_dense_target(
        input, target, "multiclass", ignore_index=opts.ignore_index, dtype=probs_dtype
    )
    check_class_weight(cw, input.shape[1])
    class_w: Tensor | None
    if dense.index is not None:
        # class ids: the op (fused, or its reference with VISIONLOSS_KERNELS=reference)
        loss = _ce.cross_entropy_ids(
            input, dense.index, class_weight=cw, label_smoothing=s, dtype=dtype
        )
        class_w = None if cw is None else cw.to(dtype)[dense.index]
        valid = dense.valid
    else:
        # probability targets (checked above): the op reads the caller's target as it is (the
        # kernel casts in registers; the reference casts to dtype, as dense.probs is)
        loss = _ce.cross_entropy_probs(
            input, target, class_weight=cw, label_smoothing=s, dtype=dtype
        )
        class_w, valid = None, None
    return reduce_loss(
        loss, opts.reduction, weight=merge_weights(class_w, weight, loss.shape), valid=valid
    )


def focal_loss(
    input: Tensor,
    target: Tensor,
    *,
    mode: Mode = "binary",
    alpha: float | Tensor | Sequence[float] | None = None,
    gamma: float = 2.0,
    ignore_index: int | None = -100,
    normalize: bool = False,
    sync: bool = False,
    process_group: object | None = None,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
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
            modes), or a ``(C,)`` tensor or list (multilabel: per channel; multiclass: per
            class).
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
    return _focal_loss(
        input,
        target,
        FocalOptions(
            mode=mode,
            alpha=alpha,  # type: ignore[arg-type]  # a list becomes a tensor
            gamma=gamma,
            ignore_index=ignore_index,
            normalize=normalize,
            sync=sync,
            process_group=process_group,
            reduction=reduction,
        ),
        weight,
    )


def _focal_loss(input: Tensor, target: Tensor, opts: FocalOptions, weight: Tensor | None) -> Tensor:
    mode = opts.mode
    dtype = compute_dtype(input)
    if mode == "multiclass" and _focal_cpu.torch_takes_focal(
        input, target, ignore_index=opts.ignore_index, weight=weight, sync=opts.sync
    ):
        # class ids on CPU: torch's nll_loss picks log p_t and skips the ignored positions
        # itself (see visionloss.kernels.focal_cpu)
        check_focal_alpha_length(opts.alpha, input.shape[1])
        return _focal_cpu.softmax_focal_torch(
            input,
            target,
            alpha=focal_alpha(opts.alpha, mode, input, dtype),
            gamma=opts.gamma,
            ignore_index=opts.ignore_index,
            reduction=opts.reduction,
        )
    dense = prepare_dense_target(input, target, mode, ignore_index=opts.ignore_index, dtype=dtype)
    check_focal_alpha_length(opts.alpha, input.shape[1] if mode != "binary" else None)
    alpha = focal_alpha(opts.alpha, mode, input, dtype)
    # the raw target: the fused paths keep the caller's tensor, not a converted copy
    if mode == "multiclass":
        loss = _focal.softmax_focal(
            input,
            target,
            alpha=alpha,
            gamma=opts.gamma,
            ignore_index=opts.ignore_index,
            index=dense.index,
        )
    else:
        loss = _focal.sigmoid_focal(
            input, target, alpha=alpha, gamma=opts.gamma, ignore_index=opts.ignore_index
        )

    sync, group = opts.sync, opts.process_group
    normalized = opts.normalize and opts.reduction == "mean"
    if normalized:
        # RetinaNet: sum / max(#positives, 1); the count is not differentiated
        assert dense.probs is not None  # sigmoid modes (normalize is refused for multiclass)
        positives = sync_sum(dense.probs.detach().sum(), sync=sync, process_group=group)
        loss = loss / positives.clamp(min=1)
    result = reduce_loss(
        loss, "sum" if normalized else opts.reduction, weight=weight, valid=dense.valid
    )
    if normalized:
        # every rank returns the whole batch's loss; the all-reduce's backward gives each shard
        # K times its single-process gradient (DDP's convention)
        result = sync_sum(result, sync=sync, process_group=group)
    return result


def poly1_loss(
    input: Tensor,
    target: Tensor,
    *,
    epsilon: float = 1.0,
    class_weight: Tensor | Sequence[float] | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
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
    return _poly1(
        input,
        target,
        Poly1Options(
            epsilon=epsilon,
            class_weight=class_weight,  # type: ignore[arg-type]  # a list becomes a tensor
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            reduction=reduction,
        ),
        weight,
    )


def _poly1(input: Tensor, target: Tensor, opts: Poly1Options, weight: Tensor | None) -> Tensor:
    dtype = compute_dtype(input)
    dense = prepare_dense_target(
        input, target, "multiclass", ignore_index=opts.ignore_index, dtype=dtype
    )
    check_class_weight(opts.class_weight, input.shape[1])
    s, num_classes, epsilon = float(opts.label_smoothing), input.shape[1], opts.epsilon
    if dense.index is not None:
        # class ids: the op (the cross-entropy Triton kernels with the Poly-1 term on CUDA, its
        # reference elsewhere), per unit of class_weight[y]
        loss = _poly.poly1_ids(
            input,
            dense.index,
            class_weight=opts.class_weight,
            label_smoothing=s,
            epsilon=epsilon,
            dtype=dtype,
        )
        cw = opts.class_weight
        class_w = None if cw is None else cw.to(dtype)[dense.index]
        valid = dense.valid
    else:
        assert dense.probs is not None
        log_probs = F.log_softmax(input, dim=1, dtype=dtype)
        ce, class_w, valid = unchecked_cross_entropy_terms(
            log_probs, dense, opts.class_weight, opts.label_smoothing
        )
        probs = dense.probs * (1 - s) + s / num_classes if s > 0 else dense.probs
        poly = epsilon * (1 - (probs * log_probs.exp()).sum(1))
        if opts.class_weight is not None:
            shape = (1, -1) + (1,) * (input.dim() - 2)
            poly = poly * (probs * opts.class_weight.to(dtype).view(shape)).sum(1)
        loss = ce + poly
    return reduce_loss(
        loss, opts.reduction, weight=merge_weights(class_w, weight, loss.shape), valid=valid
    )


# --- Modules: documented by their spec, forward is one call to the core -------------------------


class BCELoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The loss of logits (or probabilities) ``input`` against ``target``; ``weight``."""
        return _bce(input, target, self.opts, weight)


class CrossEntropyLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The loss of logits ``input`` ``(N, C, *)`` against ``target``, ``weight`` optional."""
        return _cross_entropy(input, target, self.opts, weight)


class FocalLoss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The loss of logits ``input`` against ``target``, ``weight`` optional."""
        return _focal_loss(input, target, self.opts, weight)


class Poly1Loss(LossModule):
    def forward(self, input: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The loss of logits ``input`` ``(N, C, *)`` against ``target``, ``weight`` optional."""
        return _poly1(input, target, self.opts, weight)


# --- the family's catalogue -----------------------------------------------------------------------

_SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        "binary_cross_entropy", binary_cross_entropy, BCELoss, BCEOptions, "classification",
        summary="Binary cross-entropy of logits (or probabilities), with a positive-class weight "
        "and label smoothing; equals torch's binary_cross_entropy_with_logits.",
        formula=r"-\left[w_+\, y \log \sigma(x) + (1 - y) \log (1 - \sigma(x))\right]",
    ),
    LossSpec(
        "cross_entropy", cross_entropy, CrossEntropyLoss, CrossEntropyOptions, "classification",
        summary="Softmax cross-entropy with class ids or probabilities, class weights, "
        "ignore_index and label smoothing; equals torch's F.cross_entropy.",
        formula=r"-\sum_c w_c\, y'_c \log \mathrm{softmax}(x)_c, \quad y' = (1 - s)\, y + s / C",
        paper="C. Szegedy et al., Rethinking the Inception Architecture for Computer Vision "
        "(label smoothing), CVPR 2016, arXiv:1512.00567",
    ),
    LossSpec(
        "focal", focal_loss, FocalLoss, FocalOptions, "classification",
        summary="Cross-entropy down-weighted by (1 - p_t)^gamma where the prediction is already "
        "right: dense detection and heavy class imbalance.",
        formula=r"-\alpha_t\, (1 - p_t)^\gamma \log p_t",
        paper="T.-Y. Lin et al., Focal Loss for Dense Object Detection, ICCV 2017, "
        "arXiv:1708.02002",
    ),
    LossSpec(
        "poly1", poly1_loss, Poly1Loss, Poly1Options, "classification",
        summary="Cross-entropy plus epsilon times the first polynomial term (1 - p_t).",
        formula=r"-\log p_t + \epsilon\, (1 - p_t)",
        paper="Z. Leng et al., PolyLoss: A Polynomial Expansion Perspective of Classification "
        "Loss Functions, ICLR 2022, arXiv:2204.12511",
    ),
)

SPECS: tuple[LossSpec, ...] = _SPECS + _detection.SPECS
