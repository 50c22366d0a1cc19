r"""Bounding-box regression losses: IoU, GIoU, DIoU, CIoU and EIoU, and box-format conversions.

Every loss compares a predicted box with its target box, pair by pair: ``pred`` and ``target``
have the same shape ``(..., 4)`` (2D boxes) or ``(..., 6)`` (3D boxes; any leading dims,
including none and zero elements), and ``reduction="none"`` returns the batch shape
``pred.shape[:-1]``. Boxes are given in one of three formats (``box_format``):

* ``"xyxy"``: :math:`(x_1, y_1, x_2, y_2)`, the corners (the default, torchvision's convention);
* ``"xywh"``: :math:`(x_1, y_1, w, h)`, the top-left corner and the size (COCO);
* ``"cxcywh"``: :math:`(c_x, c_y, w, h)`, the centre and the size (YOLO, DETR).

3D boxes ``(..., 6)``: the same three names are read per axis, lower values first, then upper
values (or sizes): ``"xyxy"`` is :math:`(x_1, y_1, z_1, x_2, y_2, z_2)` (MONAI's ``StandardMode``
"xyzxyz"), ``"xywh"`` is :math:`(x_1, y_1, z_1, w, h, d)` and ``"cxcywh"`` is
:math:`(c_x, c_y, c_z, w, h, d)`. Every definition below is written per axis and holds in 3D with
areas read as volumes: the IoU and GIoU of boxes (volumes of the intersection, union and
enclosing box), DIoU's :math:`c^2` the squared diagonal of the 3D enclosing box and
:math:`\rho^2` the squared 3D centre distance, EIoU's size terms one per axis (three in 3D, so
EIoU lies in [0, 5) there). CIoU's aspect term :math:`\arctan(w/h)` is a 2D quantity with no
agreed 3D form: ``ciou_loss`` (and ``kind="ciou"``) raises a ``ValueError`` for 3D boxes. 2D and
3D boxes cannot be mixed in one call (``ValueError``). :func:`box_convert` and the
``*_to_*`` conversions take both. 3D GIoU agrees with MONAI's ``BoxGIoULoss`` (up to the
placement of :math:`\epsilon`).

The family is built in layers, like torchvision's ``diou_loss``/``ciou_loss``: one op
(:func:`visionloss.kernels.boxes.box_loss`) computes the intersection, the union, the IoU and the
smallest enclosing box once; each kind adds its penalty on top (GIoU the empty part of the
enclosing box, DIoU the centre distance, CIoU DIoU plus the aspect term, EIoU DIoU plus the width and height terms).

Numerics shared by every kind (:math:`\epsilon` is the ``eps`` option, default ``1e-7``):

* Half and bfloat16 boxes are cast to float32 *before* any area product (a 300-pixel box has an
  area of 9e4, beyond float16's 65504); the result is float32.
* :math:`\mathrm{IoU} = (I + \epsilon)/(U + \epsilon)`. Identical boxes then give exactly
  :math:`\mathrm{IoU} = 1` and every loss exactly 0, zero-area boxes included (torchvision's
  :math:`I/(U + \epsilon)` leaves :math:`\epsilon/U` for identical boxes). The two differ by
  :math:`\epsilon (U - I)/U^2` at most, 1e-7 for unit-sized boxes. The IoU of two zero-area
  boxes is 1 (the 0/0 of two empty sets taken as a match, the smoothing convention of Dice and
  Jaccard), so the ``"iou"`` kind gives no signal between two distinct zero-area boxes; the
  other kinds still see their distance.
* Inverted boxes (:math:`x_2 < x_1` or :math:`y_2 < y_1`): such a box is taken as the empty box
  (width or height 0) at its centre :math:`(x_1 + x_2)/2`. It has zero area and enters every
  term through its centre only; no term rewards inverting a box, and every penalty keeps its
  range (its numerator never exceeds its denominator). Boxes with :math:`x_1 \le x_2` are used
  unchanged.
* :math:`\epsilon` has the dimension of an area: it is added to the areas and squared lengths
  that are divided by, so every denominator is at least :math:`\epsilon`; CIoU's aspect
  :math:`\arctan(w/h)` uses :math:`\max(h, \sqrt{\epsilon})`, the matching length (3e-4 at the
  default), which bounds its gradient by about :math:`1/\sqrt{\epsilon}`. Zero-area, inverted
  and far-apart boxes give finite losses and finite gradients. Where *both* boxes of a pair are
  (nearly) zero-area, the IoU passes from 1 to 0 as the union grows past :math:`\epsilon`, and
  its gradient there is of the order of a side length over :math:`\epsilon`: finite in
  float32, though it can overflow if cast back to float16.
* NaN and inf coordinates propagate to the loss. No host synchronisation and no boolean-mask
  indexing: every loss compiles with ``torch.compile(fullgraph=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from .._core import (
    LossModule,
    LossOptions,
    LossSpec,
    Reduction,
    check_choice,
    check_floating,
    check_number,
    check_same_shape,
    check_tensor,
    reduce_loss,
)
from ..kernels.boxes import box_loss

__all__ = [
    "BOX_FORMATS",
    "BOX_KINDS",
    "BoxFormat",
    "BoxIoULoss",
    "BoxIoUOptions",
    "BoxKind",
    "BoxOptions",
    "CIoULoss",
    "DIoULoss",
    "EIoULoss",
    "GIoULoss",
    "IoULoss",
    "SPECS",
    "box_convert",
    "box_iou_loss",
    "ciou_loss",
    "cxcywh_to_xyxy",
    "diou_loss",
    "eiou_loss",
    "giou_loss",
    "iou_loss",
    "xywh_to_xyxy",
    "xyxy_to_cxcywh",
    "xyxy_to_xywh",
]

BoxFormat = Literal["xyxy", "xywh", "cxcywh"]
BoxKind = Literal["iou", "giou", "diou", "ciou", "eiou"]
BOX_FORMATS: tuple[str, ...] = ("xyxy", "xywh", "cxcywh")
BOX_KINDS: tuple[str, ...] = ("iou", "giou", "diou", "ciou", "eiou")


# --- options: declared once, checked when built ---------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BoxOptions(LossOptions):
    """The options of the single-kind losses (``iou_loss``, ``giou_loss``, ...).

    ``box_format`` names the layout of 2D boxes ``(..., 4)`` and is read per axis for 3D boxes
    ``(..., 6)`` (``"xyxy"``: x1, y1, z1, x2, y2, z2; ``"xywh"``: x, y, z, w, h, d;
    ``"cxcywh"``: cx, cy, cz, w, h, d). The box dimension is a property of the inputs, checked
    at the call: CIoU on 3D boxes raises a ``ValueError`` there."""

    box_format: BoxFormat = "xyxy"
    eps: float = 1e-7

    def validate(self) -> None:
        check_choice(self.box_format, "box_format", BOX_FORMATS)
        check_number(self.eps, "eps", low=0.0, low_inclusive=False)


@dataclass(frozen=True, kw_only=True)
class BoxIoUOptions(BoxOptions):
    """The options of ``box_iou_loss``: those of every kind, plus the ``kind`` (``"ciou"``
    takes 2D boxes only, checked at the call)."""

    kind: BoxKind = "giou"

    def validate(self) -> None:
        check_choice(self.kind, "kind", BOX_KINDS)
        super().validate()


# --- box formats ----------------------------------------------------------------------------------


def _check_boxes(boxes: Tensor, name: str) -> None:
    if boxes.dim() == 0 or boxes.shape[-1] not in (4, 6):
        raise ValueError(
            f"{name}: expected 2D boxes (..., 4) or 3D boxes (..., 6), got {tuple(boxes.shape)}"
        )


def _halves(boxes: Tensor) -> tuple[Tensor, Tensor]:
    d = boxes.shape[-1] // 2
    return boxes[..., :d], boxes[..., d:]


def xywh_to_xyxy(boxes: Tensor) -> Tensor:
    """``(x1, y1, w, h)`` -> ``(x1, y1, x1 + w, y1 + h)``, and the same per axis for 3D boxes
    ``(x1, y1, z1, w, h, d)``; shape ``(..., 4)`` or ``(..., 6)``, dtype kept."""
    lo, size = _halves(boxes)
    return torch.cat((lo, lo + size), dim=-1)


def xyxy_to_xywh(boxes: Tensor) -> Tensor:
    """``(x1, y1, x2, y2)`` -> ``(x1, y1, x2 - x1, y2 - y1)``, and per axis in 3D; dtype kept."""
    lo, hi = _halves(boxes)
    return torch.cat((lo, hi - lo), dim=-1)


def cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    """``(cx, cy, w, h)`` -> ``(cx - w/2, cy - h/2, cx + w/2, cy + h/2)``, and per axis in 3D;
    dtype kept."""
    center, size = _halves(boxes)
    half = 0.5 * size
    return torch.cat((center - half, center + half), dim=-1)


def xyxy_to_cxcywh(boxes: Tensor) -> Tensor:
    """``(x1, y1, x2, y2)`` -> ``((x1 + x2)/2, (y1 + y2)/2, x2 - x1, y2 - y1)``, and per axis in
    3D; dtype kept."""
    lo, hi = _halves(boxes)
    return torch.cat((0.5 * (lo + hi), hi - lo), dim=-1)


_TO_XYXY = {"xywh": xywh_to_xyxy, "cxcywh": cxcywh_to_xyxy}
_FROM_XYXY = {"xywh": xyxy_to_xywh, "cxcywh": xyxy_to_cxcywh}


def box_convert(boxes: Tensor, in_fmt: BoxFormat, out_fmt: BoxFormat) -> Tensor:
    r"""Convert boxes between the ``"xyxy"``, ``"xywh"`` and ``"cxcywh"`` formats.

    The conversion goes through ``"xyxy"`` and keeps the dtype (no upcast: it is a change of
    coordinates, not a loss). A negative width or height gives an inverted ``"xyxy"`` box and
    back. Differentiable; the same names and meaning as ``torchvision.ops.box_convert``, except
    that ``in_fmt == out_fmt`` returns a copy, never the input itself.

    Args:
        boxes: ``(..., 4)`` tensor (2D boxes) or ``(..., 6)`` (3D boxes, the format read per
            axis), any leading dims.
        in_fmt: the format of ``boxes``: ``"xyxy"``, ``"xywh"`` or ``"cxcywh"``.
        out_fmt: the format wanted, one of the same three.

    Returns:
        A tensor of the same shape and dtype.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> VF.box_convert(torch.tensor([[1.0, 2.0, 4.0, 8.0]]), "xyxy", "cxcywh")
        tensor([[2.5000, 5.0000, 3.0000, 6.0000]])
    """
    check_tensor(boxes, "boxes")
    check_choice(in_fmt, "in_fmt", BOX_FORMATS)
    check_choice(out_fmt, "out_fmt", BOX_FORMATS)
    _check_boxes(boxes, "boxes")
    if in_fmt == out_fmt:
        return boxes.clone()
    xyxy = boxes if in_fmt == "xyxy" else _TO_XYXY[in_fmt](boxes)
    return xyxy if out_fmt == "xyxy" else _FROM_XYXY[out_fmt](xyxy)


# --- the checks; the geometry lives in kernels/boxes.py -------------------------------------------


def _check_pair(pred: Tensor, target: Tensor, kind: str) -> None:
    check_floating(pred, "pred")
    check_tensor(target, "target")
    _check_boxes(pred, "pred")
    if target.dim() > 0 and target.shape[-1] in _DIMS and target.shape[-1] != pred.shape[-1]:
        raise ValueError(
            f"pred and target: boxes of one dimension expected, got {_DIMS[pred.shape[-1]]} "
            f"boxes {tuple(pred.shape)} and {_DIMS[target.shape[-1]]} boxes "
            f"{tuple(target.shape)}"
        )
    check_same_shape(pred, target, "pred", "target")
    if kind == "ciou" and pred.shape[-1] == 6:
        raise ValueError(
            "kind='ciou' (ciou_loss): CIoU is defined for 2D boxes (..., 4) only, its "
            "aspect-ratio term arctan(w/h) has no 3D form; pred and target hold 3D boxes "
            f"{tuple(pred.shape)}. For 3D boxes use 'diou' or 'eiou' (per-axis size terms)."
        )


_DIMS = {4: "2D (..., 4)", 6: "3D (..., 6)"}


# --- the losses -----------------------------------------------------------------------------------


def box_iou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    kind: BoxKind = "giou",
    box_format: BoxFormat = "xyxy",
    eps: float = 1e-7,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""IoU-based loss between predicted and target boxes, pair by pair: IoU, GIoU, DIoU, CIoU, EIoU.

    With :math:`A` the predicted and :math:`B` the target box, :math:`C` the smallest box
    enclosing both (width :math:`C_w`, height :math:`C_h`, diagonal :math:`c`), :math:`\rho` the
    distance between the centres of :math:`A` and :math:`B`, and :math:`w, h` widths and heights:

    .. math::
        \mathrm{IoU} &= \frac{|A \cap B| + \epsilon}{|A \cup B| + \epsilon} \\
        \ell_{\mathrm{iou}} &= 1 - \mathrm{IoU} \\
        \ell_{\mathrm{giou}} &= 1 - \mathrm{IoU}
            + \frac{|C| - |A \cup B|}{|C| + \epsilon} \\
        \ell_{\mathrm{diou}} &= 1 - \mathrm{IoU} + \frac{\rho^2}{c^2 + \epsilon} \\
        \ell_{\mathrm{ciou}} &= \ell_{\mathrm{diou}} + \alpha v, \quad
            v = \frac{4}{\pi^2}\left(\arctan\frac{w_B}{h_B} - \arctan\frac{w_A}{h_A}\right)^2,
            \quad \alpha = \frac{v}{1 - \mathrm{IoU} + v + \epsilon} \\
        \ell_{\mathrm{eiou}} &= \ell_{\mathrm{diou}} + \frac{(w_A - w_B)^2}{C_w^2 + \epsilon}
            + \frac{(h_A - h_B)^2}{C_h^2 + \epsilon}

    Ranges: IoU in [0, 1], GIoU in [0, 2), DIoU in [0, 2), CIoU in [0, 3), EIoU in [0, 4) (in
    [0, 5) for 3D boxes, one size term per axis); every kind is 0 for identical boxes (exactly)
    and symmetric in ``pred`` and ``target``.

    3D boxes ``(..., 6)``: areas become volumes, :math:`c` is the diagonal of the 3D enclosing box,
    :math:`\rho` the 3D centre distance, and EIoU adds the depth term
    :math:`(d_A - d_B)^2/(C_d^2 + \epsilon)`; CIoU raises a ``ValueError`` (its aspect term
    is 2D by definition). See the module docstring for the 3D formats.

    CIoU conventions: :math:`\alpha` is a weight computed without gradient and with no
    IoU > 0.5 gate, as in torchvision's ``complete_box_iou_loss`` and the authors' code. Two
    other variants exist: the journal version of the paper sets :math:`\alpha = 0` where
    IoU < 0.5 (the gate), and some implementations differentiate through :math:`\alpha`; neither
    is provided. The heights in :math:`\arctan(w/h)` are floored at :math:`\sqrt{\epsilon}`.

    How degenerate boxes are handled (zero-area, inverted, far apart) and how the result
    relates to torchvision's :math:`I/(U+\epsilon)` is described in the module docstring
    (:mod:`visionloss.losses.boxes`): in short, an inverted box is the empty box at its centre,
    and every value and gradient stays finite.

    Args:
        pred: predicted boxes ``(..., 4)`` (2D) or ``(..., 6)`` (3D, the format read per axis;
            every kind but ``"ciou"``), floating point, any leading dims (zero elements too).
        target: target boxes, the same shape; any real dtype (integer pixel boxes are cast).
        kind: ``"iou"``, ``"giou"`` (default), ``"diou"``, ``"ciou"`` (2D boxes only) or
            ``"eiou"``.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``; both tensors use it.
        eps: :math:`\epsilon > 0`, see the formulas. Default 1e-7 (torchvision's).
        weight: optional non-negative tensor broadcastable to the batch shape ``pred.shape[:-1]``
            (a weight per box); ``"mean"`` is then :math:`\sum w_i \ell_i / \sum w_i`.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (the batch shape
            ``pred.shape[:-1]``).

    Returns:
        The loss, float32 for half/bfloat16 boxes, else their dtype. Empty input gives 0.

    References:
        J. Yu et al., "UnitBox: An Advanced Object Detection Network", ACM MM 2016,
        arXiv:1608.01471 (IoU loss);
        H. Rezatofighi et al., "Generalized Intersection over Union", CVPR 2019,
        arXiv:1902.09630 (GIoU);
        Z. Zheng et al., "Distance-IoU Loss: Faster and Better Learning for Bounding Box
        Regression", AAAI 2020, arXiv:1911.08287 (DIoU, CIoU);
        Y.-F. Zhang et al., "Focal and Efficient IOU Loss for Accurate Bounding Box Regression",
        Neurocomputing 2022, arXiv:2101.08158 (EIoU).

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> pred = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 4.0, 4.0]])
        >>> target = torch.tensor([[1.0, 1.0, 3.0, 3.0], [1.0, 1.0, 3.0, 3.0]])
        >>> VF.box_iou_loss(pred, target, kind="iou", reduction="none")
        tensor([0.8571, 0.7500])
        >>> VF.box_iou_loss(pred, target, kind="giou", reduction="none")
        tensor([1.0794, 0.7500])
    """
    return _box_iou(
        pred,
        target,
        BoxIoUOptions(kind=kind, box_format=box_format, eps=eps, reduction=reduction),
        weight,
    )


def _box_iou(pred: Tensor, target: Tensor, opts: BoxIoUOptions, weight: Tensor | None) -> Tensor:
    return _box_loss(pred, target, opts.kind, opts, weight)


def _box_loss(
    pred: Tensor, target: Tensor, kind: str, opts: BoxOptions, weight: Tensor | None
) -> Tensor:
    """The core of every box loss: ``kind`` is the loss's (fixed for the single-kind losses)."""
    _check_pair(pred, target, kind)
    loss = box_loss(pred, target, kind=kind, box_format=opts.box_format, eps=opts.eps)
    return reduce_loss(loss, opts.reduction, weight=weight)


def iou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    box_format: BoxFormat = "xyxy",
    eps: float = 1e-7,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""IoU loss :math:`1 - \mathrm{IoU}`: :func:`box_iou_loss` with ``kind="iou"``.

    .. math::
        \ell = 1 - \frac{|A \cap B| + \epsilon}{|A \cup B| + \epsilon}

    Its gradient is 0 for boxes that do not overlap; GIoU, DIoU, CIoU and EIoU add a penalty
    that still pulls them together.

    Args:
        pred: predicted boxes ``(..., 4)``, or 3D boxes ``(..., 6)``.
        target: target boxes, the same shape.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``, read per axis in 3D.
        eps: :math:`\epsilon > 0`. Default 1e-7.
        weight: optional non-negative tensor broadcastable to ``pred.shape[:-1]``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (``pred.shape[:-1]``).

    References:
        J. Yu et al., "UnitBox: An Advanced Object Detection Network", ACM MM 2016,
        arXiv:1608.01471.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> VF.iou_loss(torch.tensor([0.0, 0.0, 4.0, 4.0]), torch.tensor([1.0, 1.0, 3.0, 3.0]))
        tensor(0.7500)
    """
    return _box_loss(
        pred,
        target,
        "iou",
        BoxOptions(box_format=box_format, eps=eps, reduction=reduction),
        weight,
    )


def giou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    box_format: BoxFormat = "xyxy",
    eps: float = 1e-7,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Generalized IoU loss: :func:`box_iou_loss` with ``kind="giou"``.

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{|C| - |A \cup B|}{|C| + \epsilon}

    with :math:`C` the smallest box enclosing :math:`A` and :math:`B`. In [0, 2).

    Args:
        pred: predicted boxes ``(..., 4)``, or 3D boxes ``(..., 6)``.
        target: target boxes, the same shape.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``, read per axis in 3D.
        eps: :math:`\epsilon > 0`. Default 1e-7.
        weight: optional non-negative tensor broadcastable to ``pred.shape[:-1]``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (``pred.shape[:-1]``).

    References:
        H. Rezatofighi et al., "Generalized Intersection over Union: A Metric and A Loss for
        Bounding Box Regression", CVPR 2019, arXiv:1902.09630.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> VF.giou_loss(torch.tensor([0.0, 0.0, 1.0, 1.0]), torch.tensor([2.0, 0.0, 3.0, 1.0]))
        tensor(1.3333)
    """
    return _box_loss(
        pred,
        target,
        "giou",
        BoxOptions(box_format=box_format, eps=eps, reduction=reduction),
        weight,
    )


def diou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    box_format: BoxFormat = "xyxy",
    eps: float = 1e-7,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Distance-IoU loss: :func:`box_iou_loss` with ``kind="diou"``.

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{\rho^2}{c^2 + \epsilon}

    with :math:`\rho` the distance between the two centres and :math:`c` the diagonal of the
    smallest enclosing box (both in 3D for ``(..., 6)`` boxes: the ratio keeps its meaning and
    its range). In [0, 2).

    Args:
        pred: predicted boxes ``(..., 4)``, or 3D boxes ``(..., 6)``.
        target: target boxes, the same shape.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``, read per axis in 3D.
        eps: :math:`\epsilon > 0`. Default 1e-7.
        weight: optional non-negative tensor broadcastable to ``pred.shape[:-1]``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (``pred.shape[:-1]``).

    References:
        Z. Zheng et al., "Distance-IoU Loss: Faster and Better Learning for Bounding Box
        Regression", AAAI 2020, arXiv:1911.08287.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> VF.diou_loss(torch.tensor([0.0, 0.0, 1.0, 1.0]), torch.tensor([2.0, 0.0, 3.0, 1.0]))
        tensor(1.4000)
    """
    return _box_loss(
        pred,
        target,
        "diou",
        BoxOptions(box_format=box_format, eps=eps, reduction=reduction),
        weight,
    )


def ciou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    box_format: BoxFormat = "xyxy",
    eps: float = 1e-7,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Complete-IoU loss: :func:`box_iou_loss` with ``kind="ciou"``.

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{\rho^2}{c^2 + \epsilon} + \alpha v, \quad
        v = \frac{4}{\pi^2}\left(\arctan\frac{w_B}{h_B} - \arctan\frac{w_A}{h_A}\right)^2, \quad
        \alpha = \frac{v}{1 - \mathrm{IoU} + v + \epsilon}

    :math:`\alpha` is computed without gradient and with no IoU > 0.5 gate (torchvision's
    convention); the paper's gated :math:`\alpha` and an :math:`\alpha` with gradient are other
    variants, not provided. The heights in :math:`\arctan(w/h)` are floored at
    :math:`\sqrt{\epsilon}` (a length, as :math:`\epsilon` is an area).
    In [0, 3).

    Args:
        pred: predicted boxes ``(..., 4)``; 2D only: 3D boxes ``(..., 6)`` raise a
            ``ValueError`` (the aspect ratio :math:`w/h` is a 2D quantity).
        target: target boxes, the same shape.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``.
        eps: :math:`\epsilon > 0`. Default 1e-7.
        weight: optional non-negative tensor broadcastable to ``pred.shape[:-1]``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (``pred.shape[:-1]``).

    References:
        Z. Zheng et al., "Distance-IoU Loss: Faster and Better Learning for Bounding Box
        Regression", AAAI 2020, arXiv:1911.08287; Z. Zheng et al., "Enhancing Geometric Factors
        in Model Learning and Inference for Object Detection and Instance Segmentation", IEEE
        Trans. Cybernetics 2021, arXiv:2005.03572 (the gated alpha).

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> VF.ciou_loss(torch.tensor([0.0, 0.0, 2.0, 1.0]), torch.tensor([0.0, 0.0, 1.0, 2.0]))
        tensor(0.7629)
    """
    return _box_loss(
        pred,
        target,
        "ciou",
        BoxOptions(box_format=box_format, eps=eps, reduction=reduction),
        weight,
    )


def eiou_loss(
    pred: Tensor,
    target: Tensor,
    *,
    box_format: BoxFormat = "xyxy",
    eps: float = 1e-7,
    weight: Tensor | None = None,
    reduction: Reduction = "mean",
) -> Tensor:
    r"""Efficient-IoU loss: :func:`box_iou_loss` with ``kind="eiou"``.

    .. math::
        \ell = 1 - \mathrm{IoU} + \frac{\rho^2}{c^2 + \epsilon}
            + \frac{(w_A - w_B)^2}{C_w^2 + \epsilon} + \frac{(h_A - h_B)^2}{C_h^2 + \epsilon}

    with :math:`C_w, C_h` the width and height of the smallest enclosing box. In [0, 4). For 3D
    boxes a third term :math:`(d_A - d_B)^2/(C_d^2 + \epsilon)` compares the depths (one term per
    axis, as the paper's two are per axis), and the loss lies in [0, 5).

    Args:
        pred: predicted boxes ``(..., 4)``, or 3D boxes ``(..., 6)``.
        target: target boxes, the same shape.
        box_format: ``"xyxy"`` (default), ``"xywh"`` or ``"cxcywh"``, read per axis in 3D.
        eps: :math:`\epsilon > 0`. Default 1e-7.
        weight: optional non-negative tensor broadcastable to ``pred.shape[:-1]``.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (``pred.shape[:-1]``).

    References:
        Y.-F. Zhang et al., "Focal and Efficient IOU Loss for Accurate Bounding Box Regression",
        Neurocomputing 2022, arXiv:2101.08158.

    Example:
        >>> import torch
        >>> import visionloss.functional as VF
        >>> VF.eiou_loss(torch.tensor([0.0, 0.0, 2.0, 1.0]), torch.tensor([0.0, 0.0, 1.0, 2.0]))
        tensor(1.2292)
    """
    return _box_loss(
        pred,
        target,
        "eiou",
        BoxOptions(box_format=box_format, eps=eps, reduction=reduction),
        weight,
    )


# --- Modules: documented by their spec, forward is one call to the core -------------------------


class BoxIoULoss(LossModule):
    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The loss of boxes ``pred`` ``(..., 4)`` or ``(..., 6)`` against ``target``."""
        return _box_iou(pred, target, self.opts, weight)


class IoULoss(LossModule):
    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The loss of boxes ``pred`` ``(..., 4)`` or ``(..., 6)`` against ``target``."""
        return _box_loss(pred, target, "iou", self.opts, weight)


class GIoULoss(LossModule):
    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The loss of boxes ``pred`` ``(..., 4)`` or ``(..., 6)`` against ``target``."""
        return _box_loss(pred, target, "giou", self.opts, weight)


class DIoULoss(LossModule):
    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The loss of boxes ``pred`` ``(..., 4)`` or ``(..., 6)`` against ``target``."""
        return _box_loss(pred, target, "diou", self.opts, weight)


class CIoULoss(LossModule):
    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The loss of 2D boxes ``pred`` ``(..., 4)`` against ``target``, ``weight`` optional."""
        return _box_loss(pred, target, "ciou", self.opts, weight)


class EIoULoss(LossModule):
    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """The loss of boxes ``pred`` ``(..., 4)`` or ``(..., 6)`` against ``target``."""
        return _box_loss(pred, target, "eiou", self.opts, weight)


# --- the family's catalogue -----------------------------------------------------------------------

_UNITBOX = (
    "J. Yu et al., UnitBox: An Advanced Object Detection Network, ACM MM 2016, arXiv:1608.01471"
)
_GIOU = (
    "H. Rezatofighi et al., Generalized Intersection over Union: A Metric and A Loss for Bounding "
    "Box Regression, CVPR 2019, arXiv:1902.09630"
)
_DIOU = (
    "Z. Zheng et al., Distance-IoU Loss: Faster and Better Learning for Bounding Box Regression, "
    "AAAI 2020, arXiv:1911.08287"
)
_EIOU = (
    "Y.-F. Zhang et al., Focal and Efficient IOU Loss for Accurate Bounding Box Regression, "
    "Neurocomputing 2022, arXiv:2101.08158"
)

SPECS: tuple[LossSpec, ...] = (
    LossSpec(
        "box_iou", box_iou_loss, BoxIoULoss, BoxIoUOptions, "boxes",
        summary="IoU-based box regression loss of the chosen kind: IoU, GIoU, DIoU, CIoU or EIoU.",
        formula=r"1 - \mathrm{IoU} + \mathcal{R}_{\mathrm{kind}}(A, B)",
        paper=f"{_UNITBOX}; {_GIOU}; {_DIOU}; {_EIOU}",
    ),
    LossSpec(
        "iou", iou_loss, IoULoss, BoxOptions, "boxes",
        summary="1 - IoU: no gradient for boxes that do not overlap.",
        formula=r"1 - \frac{|A \cap B| + \epsilon}{|A \cup B| + \epsilon}",
        paper=_UNITBOX,
    ),
    LossSpec(
        "giou", giou_loss, GIoULoss, BoxOptions, "boxes",
        summary="IoU loss plus the empty part of the smallest enclosing box: pulls disjoint boxes "
        "together.",
        formula=r"1 - \mathrm{IoU} + \frac{|C| - |A \cup B|}{|C| + \epsilon}",
        paper=_GIOU,
    ),
    LossSpec(
        "diou", diou_loss, DIoULoss, BoxOptions, "boxes",
        summary="IoU loss plus the squared centre distance over the enclosing box's squared "
        "diagonal.",
        formula=r"1 - \mathrm{IoU} + \frac{\rho^2}{c^2 + \epsilon}",
        paper=_DIOU,
    ),
    LossSpec(
        "ciou", ciou_loss, CIoULoss, BoxOptions, "boxes",
        summary="DIoU plus an aspect-ratio term weighted by a trade-off factor computed without "
        "gradient.",
        formula=r"1 - \mathrm{IoU} + \frac{\rho^2}{c^2 + \epsilon} + \alpha v",
        paper=_DIOU,
    ),
    LossSpec(
        "eiou", eiou_loss, EIoULoss, BoxOptions, "boxes",
        summary="DIoU plus the width and height differences over the enclosing box's width and "
        "height.",
        formula=r"1 - \mathrm{IoU} + \frac{\rho^2}{c^2 + \epsilon} "
        r"+ \frac{(w_A - w_B)^2}{C_w^2 + \epsilon} + \frac{(h_A - h_B)^2}{C_h^2 + \epsilon}",
        paper=_EIOU,
    ),
)
