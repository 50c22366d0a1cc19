"""Dense-detection classification losses: varifocal, quality focal and distribution focal.

Imported and re-exported by :mod:`visionloss.losses.classification`. They belong to the
classification family: each is a cross-entropy of logits (sigmoid for :func:`varifocal_loss` and
:func:`quality_focal_loss`, softmax over bins for :func:`distribution_focal_loss`) against a soft or
continuous target, a generalisation of :func:`~visionloss.losses.classification.focal_loss`; none
takes boxes. The detector supplies the targets (the IoU of each positive's predicted box with its
ground truth, or the distance of a box edge from the anchor in bin units).

Detectors normalise these sums by the number of positives (or the sum of the target scores), not
by the number of anchors: use ``reduction="sum"`` and divide, as the papers do. Half and bfloat16
inputs are computed in float32 and give a float32 result; every function ends in the shared
:func:`~visionloss._core.reduce_loss`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core import (
    LossModule,
    LossOptions,
    LossSpec,
    Reduction,
    check_floating,
    check_number,
    check_probabilities,
    check_same_shape,
    check_tensor,
    checks_enabled,
    compute_dtype,
    reduce_loss,
)

__all__ = [
    "DistributionFocalLoss",
    "QualityFocalLoss",
    "QualityFocalOptions",
    "SPECS",
    "VarifocalLoss",
    "VarifocalOptions",
    "distribution_focal_loss",
    "quality_focal_loss",
    "varifocal_loss",
]


# --- options: declared once, checked when built ---------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class VarifocalOptions(LossOptions):
    alpha: float = 0.75
    gamma: float = 2.0

    def validate(self) -> None:
        check_number(self.alpha, "alpha", low=0.0)
        check_number(self.gamma, "gamma", low=0.0)


@dataclass(frozen=True, kw_only=True)
class QualityFocalOptions(LossOptions):
    beta: float = 2.0

    def validate(self) -> None:
        check_number(self.beta, "beta", low=0.0)


def _prepare_scores(pred_logits: Tensor, target_score: Tensor) -> tuple[Tensor, Tensor]:
    check_floating(pred_logits, "pred_logits")
    check_tensor(target_score, "target_score")
    check_same_shape(pred_logits, target_score, "pred_logits", "target_score")
    dtype = compute_dtype(pred_logits, target_score)
    x, q = pred_logits.to(dtype), target_score.to(dtype)
    check_probabilities(q, "target_score")
    return x, q


# --- varifocal ------------------------------------------------------------------------------------


def varifocal_loss(
    pred_logits: Tensor,
    target_score: Tensor,
    label: Tensor | None = None,
    *,
    alpha: float = 0.75,
    gamma: float = 2.0,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Varifocal loss (VarifocalNet): an IoU-aware classification score, focal on negatives only.

    With :math:`p = \sigma(x)` and the target score :math:`q \in [0, 1]` (the IoU of the
    positive's predicted box with its ground truth at the positive's class, 0 elsewhere),

    .. math::
        \mathrm{VFL}(p, q) = \begin{cases}
            -q \left(q \log p + (1 - q) \log (1 - p)\right) & \text{positive} \\
            -\alpha\, p^\gamma \log (1 - p) & \text{negative } (q = 0)
        \end{cases}

    elementwise: positives are weighted by their own target (a high-quality positive counts more)
    and never down-weighted, negatives by :math:`\alpha p^\gamma` as in the focal loss. The
    positives are ``label`` where it is given (a 0/1 or boolean mask, as RT-DETR and
    PaddleDetection pass it: a positive of IoU 0 then gets weight 0) and :math:`q > 0` otherwise
    (mmdetection's ``iou_weighted`` form). The cross-entropy is computed from the logits
    (``binary_cross_entropy_with_logits``), finite for any finite logit; the weights are
    constants of the data, not detached.

    Args:
        pred_logits: classification logits, any shape (``(N, A, C)`` anchors by classes, or
            ``(N, C, H, W)``).
        target_score: :math:`q`, the same shape, values in ``[0, 1]``.
        label: optional positive mask, the same shape (bool or 0/1); default ``target_score > 0``.
        alpha: :math:`\alpha \ge 0`, the weight of the negatives. Default 0.75 (the paper's).
        gamma: :math:`\gamma \ge 0`, the focusing exponent on the negatives. Default 2.
        weight: optional non-negative tensor broadcastable to the input's shape.
        reduction: ``"mean"`` (default, over every element), ``"sum"`` (detectors divide it by
            the number of positives) or ``"none"`` (the input's shape).

    References:
        H. Zhang, Y. Wang, F. Dayoub and N. Sünderhauf, "VarifocalNet: An IoU-aware Dense Object
        Detector", CVPR 2021, arXiv:2008.13367, eq. 2.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> x = torch.tensor([0.0, 0.0])  # p = 1/2
        >>> q = torch.tensor([1.0, 0.0])  # a positive of IoU 1, a negative
        >>> VF.varifocal_loss(x, q, reduction="none")  # log 2, 0.75 * 0.25 * log 2
        tensor([0.6931, 0.1300])
    """
    opts = VarifocalOptions(alpha=alpha, gamma=gamma, reduction=reduction)
    return _varifocal(pred_logits, target_score, label, opts, weight)


def _varifocal(
    pred_logits: Tensor,
    target_score: Tensor,
    label: Tensor | None,
    opts: VarifocalOptions,
    weight: Tensor | None,
) -> Tensor:
    x, q = _prepare_scores(pred_logits, target_score)
    if label is None:
        positive = q > 0
    else:
        check_tensor(label, "label")
        check_same_shape(pred_logits, label, "pred_logits", "label")
        positive = label if label.dtype == torch.bool else label != 0
    p = torch.sigmoid(x)
    focal = opts.alpha * p.pow(opts.gamma)
    factor = torch.where(positive, q, focal)
    ce = F.binary_cross_entropy_with_logits(x, q, reduction="none")
    return reduce_loss(factor * ce, opts.reduction, weight=weight)


# --- quality focal --------------------------------------------------------------------------------


def quality_focal_loss(
    pred_logits: Tensor,
    target_score: Tensor,
    *,
    beta: float = 2.0,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Quality focal loss (Generalized Focal Loss): focal loss with a continuous IoU target.

    With :math:`\sigma = \sigma(x)` and the target :math:`y \in [0, 1]` (the IoU quality at the
    positive's class, 0 elsewhere),

    .. math::
        \mathrm{QFL}(\sigma, y) = -|y - \sigma|^\beta
            \left((1 - y) \log (1 - \sigma) + y \log \sigma\right)

    elementwise: the binary cross-entropy to the soft target, scaled by the distance to it. At
    :math:`y \in \{0, 1\}` it is the focal loss without :math:`\alpha`; its minimum is at
    :math:`\sigma = y`, where it is :math:`y`'s binary entropy times 0, so 0. The
    cross-entropy is computed from the logits, finite for any finite logit.

    mmdetection's ``QualityFocalLoss`` takes ``(label, score)`` per anchor; the dense target is
    ``target_score = score[:, None] * one_hot(label, C)`` (zeros for the background).

    Args:
        pred_logits: the joint classification-quality logits, any shape (``(N, A, C)``).
        target_score: :math:`y`, the same shape, values in ``[0, 1]``.
        beta: :math:`\beta \ge 0`, the focusing exponent. Default 2 (the paper's).
        weight: optional non-negative tensor broadcastable to the input's shape.
        reduction: ``"mean"`` (default, over every element), ``"sum"`` (detectors divide it by
            the number of positives) or ``"none"`` (the input's shape).

    References:
        X. Li et al., "Generalized Focal Loss: Learning Qualified and Distributed Bounding Boxes
        for Dense Object Detection", NeurIPS 2020, arXiv:2006.04388, eq. 5.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> VF.quality_focal_loss(torch.tensor([0.0]), torch.tensor([1.0]))  # 0.25 * log 2
        tensor(0.1733)
    """
    opts = QualityFocalOptions(beta=beta, reduction=reduction)
    return _quality_focal(pred_logits, target_score, opts, weight)


def _quality_focal(
    pred_logits: Tensor, target_score: Tensor, opts: QualityFocalOptions, weight: Tensor | None
) -> Tensor:
    x, y = _prepare_scores(pred_logits, target_score)
    scale = (torch.sigmoid(x) - y).abs().pow(opts.beta)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    return reduce_loss(scale * ce, opts.reduction, weight=weight)


# --- distribution focal ---------------------------------------------------------------------------


def distribution_focal_loss(
    pred_dist_logits: Tensor,
    target: Tensor,
    *,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Distribution focal loss (Generalized Focal Loss): a box edge as a distribution over bins.

    The prediction is a categorical distribution over ``n`` bins :math:`0, 1, \dots, n - 1` (the
    last dimension of ``pred_dist_logits``); the target a continuous distance :math:`y \in
    [0, n - 1]` in bin units. With :math:`y_l = \lfloor y \rfloor` and :math:`y_r = y_l + 1`
    (:math:`y_l = n - 2` at :math:`y = n - 1`),

    .. math::
        \mathrm{DFL}(S, y) = -\left((y_r - y) \log S_{y_l} + (y - y_l) \log S_{y_r}\right)

    with :math:`S = \operatorname{softmax}(x)`: the cross-entropy to the two bins around
    :math:`y`, each weighted by its nearness, so that the distribution concentrates on them and
    its expectation :math:`\sum_i i\,S_i` approaches :math:`y`. Its minimum is the entropy of
    the two-bin target, 0 only when :math:`y` is an integer.

    The number of bins is the input's last dimension, so there is no ``reg_max`` option: in
    mmdetection's GFL head ``reg_max = 16`` means 17 bins (targets up to 16), in YOLOv8's 16 bins
    (targets clamped to ``15 - 0.01`` by the caller). YOLOv8 averages the four edges of a box
    (``reduction="none"`` then ``.mean(-1)`` over the ``(..., 4)`` edges) and weights each box by
    its IoU target (``weight``). Targets outside ``[0, n - 1]`` raise ``ValueError`` (a data
    check, skipped when checks are off; the end bins' weights then extrapolate).

    Args:
        pred_dist_logits: logits ``(..., n)`` over ``n >= 2`` bins (``(N, A, 4, n)`` for the four
            edges of each anchor's box).
        target: the distances ``(...)``, the input's shape without the last dim, in ``[0, n-1]``.
        weight: optional non-negative tensor broadcastable to ``target``'s shape.
        reduction: ``"mean"`` (default, over the distributions), ``"sum"`` or ``"none"``
            (``target``'s shape).

    References:
        X. Li et al., "Generalized Focal Loss: Learning Qualified and Distributed Bounding Boxes
        for Dense Object Detection", NeurIPS 2020, arXiv:2006.04388, eq. 6.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> logits = torch.zeros(1, 4)  # uniform over 4 bins: -log S_i = log 4 for every bin
        >>> VF.distribution_focal_loss(logits, torch.tensor([1.5]))
        tensor(1.3863)
    """
    return _distribution_focal(pred_dist_logits, target, LossOptions(reduction=reduction), weight)


def _distribution_focal(
    pred_dist_logits: Tensor, target: Tensor, opts: LossOptions, weight: Tensor | None
) -> Tensor:
    check_floating(pred_dist_logits, "pred_dist_logits")
    check_tensor(target, "target")
    if pred_dist_logits.dim() < 1 or pred_dist_logits.shape[-1] < 2:
        raise ValueError(
            "pred_dist_logits: expected (..., n) logits over n >= 2 bins, got shape "
            f"{tuple(pred_dist_logits.shape)}"
        )
    if tuple(target.shape) != tuple(pred_dist_logits.shape[:-1]):
        raise ValueError(
            f"target: expected shape {tuple(pred_dist_logits.shape[:-1])} (pred_dist_logits's "
            f"without the bins), got {tuple(target.shape)}"
        )
    bins = pred_dist_logits.shape[-1]
    dtype = compute_dtype(pred_dist_logits, target)
    x, y = pred_dist_logits.to(dtype), target.to(dtype)
    if checks_enabled(y) and y.numel() > 0:
        finite = torch.where(torch.isfinite(y), y, torch.zeros((), dtype=dtype, device=y.device))
        if bool(((finite < 0) | (finite > bins - 1)).any()):
            raise ValueError(
                f"target: expected distances in [0, {bins - 1}] (the bins of pred_dist_logits), "
                f"got values in [{float(finite.min()):.4g}, {float(finite.max()):.4g}]"
            )
    # the index is kept in range (NaN at 0); the weights are not clamped, so a NaN or inf target
    # propagates to the loss, and out-of-range targets (checks off) extrapolate the end bins
    left = y.detach().floor().nan_to_num(0.0).clamp(0, bins - 2)
    w_right = y - left
    w_left = 1 - w_right
    left_index = left.to(torch.long).unsqueeze(-1)
    log_s = F.log_softmax(x, dim=-1)
    log_left = log_s.gather(-1, left_index).squeeze(-1)
    log_right = log_s.gather(-1, left_index + 1).squeeze(-1)
    loss = -(w_left * log_left + w_right * log_right)
    return reduce_loss(loss, opts.reduction, weight=weight)


# --- Modules: documented by their spec, forward is one call to the core -------------------------


class VarifocalLoss(LossModule):
    def forward(
        self,
        pred_logits: Tensor,
        target_score: Tensor,
        label: Tensor | None = None,
        weight: Tensor | None = None,
    ) -> Tensor:
        """pred_logits, target_score (and label): the same shape; weight."""
        return _varifocal(pred_logits, target_score, label, self.opts, weight)


class QualityFocalLoss(LossModule):
    def forward(
        self, pred_logits: Tensor, target_score: Tensor, weight: Tensor | None = None
    ) -> Tensor:
        """pred_logits, target_score: the same shape; weight."""
        return _quality_focal(pred_logits, target_score, self.opts, weight)


class DistributionFocalLoss(LossModule):
    def forward(
        self, pred_dist_logits: Tensor, target: Tensor, weight: Tensor | None = None
    ) -> Tensor:
        """pred_dist_logits: ``(..., n)`` bins; target: ``(...)`` in ``[0, n - 1]``; weight."""
        return _distribution_focal(pred_dist_logits, target, self.opts, weight)


# --- the catalogue rows (concatenated into the classification family's table) --------------------

_GFL = (
    "X. Li et al., Generalized Focal Loss: Learning Qualified and Distributed Bounding Boxes for "
    "Dense Object Detection, NeurIPS 2020, arXiv:2006.04388"
)

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        "varifocal", varifocal_loss, VarifocalLoss, VarifocalOptions, "classification",
        summary="IoU-aware classification loss of dense detectors: BCE to the IoU target, "
        "weighted by the target on positives and by alpha p^gamma on negatives.",
        formula=r"-q\,(q \log p + (1 - q) \log(1 - p)) \;(q > 0), \quad "
        r"-\alpha\, p^\gamma \log(1 - p) \;(q = 0)",
        paper="H. Zhang, Y. Wang, F. Dayoub, N. Sünderhauf, VarifocalNet: An IoU-aware Dense "
        "Object Detector, CVPR 2021, arXiv:2008.13367",
    ),
    LossSpec(
        "quality_focal", quality_focal_loss, QualityFocalLoss, QualityFocalOptions,
        "classification",
        summary="Focal loss with a continuous IoU-quality target: BCE to the soft target scaled "
        "by |y - sigma|^beta (GFL).",
        formula=r"-|y - \sigma|^\beta \left((1 - y) \log(1 - \sigma) + y \log \sigma\right)",
        paper=_GFL,
    ),
    LossSpec(
        "distribution_focal", distribution_focal_loss, DistributionFocalLoss, LossOptions,
        "classification",
        summary="Cross-entropy of a box edge's distribution over bins to the two bins around the "
        "continuous target, weighted by nearness (GFL's DFL, as in YOLOv8).",
        formula=r"-\left((y_r - y) \log S_{y_l} + (y - y_l) \log S_{y_r}\right)",
        paper=_GFL,
    ),
)
