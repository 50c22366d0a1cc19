"""Catalogue rows of the boxes family, with a float64 reference written from the papers' formulas.

The reference below is the papers' geometry written out box by box (areas of rectangles,
intersection and enclosing rectangles, centres), independently of the library's core; it holds
for regular boxes (x1 < x2, y1 < y2), which is what ``make_inputs`` draws. The library's
``(I + eps) / (U + eps)`` form of the IoU is used, so that the comparison can be tight; the
comparison with torchvision's ``I / (U + eps)`` lives in tests/test_boxes.py.
"""

from __future__ import annotations

import math

import torch

import visionloss
import visionloss.functional as VF

from . import LossCase


def _random_xyxy(gen: torch.Generator, shape: tuple[int, ...], same_aspect: bool = False):
    """Targets of size 0.5 to 3.5 in [0, 4]^2; predictions shifted and resized around them, so
    that the batch holds overlapping, nested and disjoint pairs."""
    f64 = torch.float64
    xy = torch.rand(*shape, 2, generator=gen, dtype=f64) * 4
    wh = torch.rand(*shape, 2, generator=gen, dtype=f64) * 3 + 0.5
    target = torch.cat((xy, xy + wh), dim=-1)
    shift = torch.randn(*shape, 2, generator=gen, dtype=f64) * 1.5
    if same_aspect:
        scale = torch.exp(torch.randn(*shape, 1, generator=gen, dtype=f64) * 0.4).expand_as(wh)
    else:
        scale = torch.exp(torch.randn(*shape, 2, generator=gen, dtype=f64) * 0.4)
    pred_xy = xy + shift
    pred = torch.cat((pred_xy, pred_xy + wh * scale), dim=-1)
    return pred, target


def _from_xyxy(boxes: torch.Tensor, box_format: str) -> torch.Tensor:
    # written out here, not taken from the library
    x1, y1, x2, y2 = boxes.unbind(-1)
    if box_format == "xywh":
        return torch.stack((x1, y1, x2 - x1, y2 - y1), dim=-1)
    if box_format == "cxcywh":
        return torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1), dim=-1)
    return boxes


def _to_xyxy(boxes: torch.Tensor, box_format: str) -> torch.Tensor:
    a, b, c, d = boxes.unbind(-1)
    if box_format == "xywh":
        return torch.stack((a, b, a + c, b + d), dim=-1)
    if box_format == "cxcywh":
        return torch.stack((a - c / 2, b - d / 2, a + c / 2, b + d / 2), dim=-1)
    return boxes


def _make(box_format: str = "xyxy", shape=(2, 3), same_aspect: bool = False):
    def make_inputs(gen: torch.Generator, dtype: torch.dtype):
        pred, target = _random_xyxy(gen, shape, same_aspect)
        return _from_xyxy(pred, box_format).to(dtype), _from_xyxy(target, box_format).to(dtype)

    return make_inputs


def _rect_area(x1, y1, x2, y2):
    return (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)


def reference_box_loss(pred, target, kind="giou", box_format="xyxy", eps=1e-7):
    """The float64 loss of every kind, from the papers' definitions, for regular boxes."""
    a = _to_xyxy(pred.double(), box_format)
    b = _to_xyxy(target.double(), box_format)
    ax1, ay1, ax2, ay2 = a.unbind(-1)
    bx1, by1, bx2, by2 = b.unbind(-1)
    area_a, area_b = _rect_area(ax1, ay1, ax2, ay2), _rect_area(bx1, by1, bx2, by2)
    # the intersection is the rectangle between the larger lower corner and the smaller upper one
    inter = _rect_area(
        torch.max(ax1, bx1), torch.max(ay1, by1), torch.min(ax2, bx2), torch.min(ay2, by2)
    )
    union = area_a + area_b - inter
    iou = (inter + eps) / (union + eps)
    if kind == "iou":
        return 1 - iou
    # C, the smallest rectangle holding both
    cx1, cy1 = torch.min(ax1, bx1), torch.min(ay1, by1)
    cx2, cy2 = torch.max(ax2, bx2), torch.max(ay2, by2)
    if kind == "giou":
        area_c = _rect_area(cx1, cy1, cx2, cy2)
        # GIoU = IoU - |C \ (A u B)| / |C|
        return 1 - (iou - (area_c - union) / (area_c + eps))
    rho2 = ((ax1 + ax2) / 2 - (bx1 + bx2) / 2) ** 2 + ((ay1 + ay2) / 2 - (by1 + by2) / 2) ** 2
    c2 = (cx2 - cx1) ** 2 + (cy2 - cy1) ** 2
    diou = 1 - iou + rho2 / (c2 + eps)
    if kind == "diou":
        return diou
    wa, ha, wb, hb = ax2 - ax1, ay2 - ay1, bx2 - bx1, by2 - by1
    if kind == "ciou":
        v = 4 / math.pi**2 * (torch.atan(wb / hb) - torch.atan(wa / ha)) ** 2
        alpha = v / (1 - iou + v + eps)
        return diou + alpha * v
    if kind == "eiou":
        return (
            diou
            + (wa - wb) ** 2 / ((cx2 - cx1) ** 2 + eps)
            + (ha - hb) ** 2 / ((cy2 - cy1) ** 2 + eps)
        )
    raise ValueError(kind)


def _empty(dtype: torch.dtype):
    return torch.zeros(0, 4, dtype=dtype), torch.zeros(0, 4, dtype=dtype)


def _extreme(dtype: torch.dtype):
    # huge and far-apart boxes (areas up to (2 * 6e4)^2, beyond float16), a point, a zero-height
    # and an inverted box. Corners are multiples of big / 2 so that no box collapses when rounded
    # to float16 or bfloat16 (6e4 - 1 rounds to 6e4 in float16, 1e4 - 1 to 1e4 in bfloat16).
    big = 6e4 if dtype == torch.float16 else 1e4
    pred = torch.tensor(
        [
            [-big, -big, big, big],
            [0.0, 0.0, 1.0, 1.0],
            [5.0, 5.0, 3.0, 3.0],  # inverted
            [2.0, 2.0, 2.0, 2.0],  # a point
            [0.0, 0.0, big, 0.0],  # zero height
        ],
        dtype=dtype,
    )
    target = torch.tensor(
        [
            [big / 2, big / 2, big, big],
            [-big, -big, -big / 2, -big / 2],
            [0.0, 0.0, 2.0, 2.0],
            [2.0, 2.0, 2.0, 2.0],
            [0.0, 0.0, 1.0, 1.0],
        ],
        dtype=dtype,
    )
    return pred, target


def _batch_shape(inputs):
    return tuple(inputs[0].shape[:-1])


def _reference(kind: str):
    return lambda pred, target, **options: reference_box_loss(pred, target, kind=kind, **options)


_common = dict(
    none_shape=_batch_shape,
    make_empty=_empty,
    make_extreme=_extreme,
    grad_inputs=(0, 1),
)

# --- 3D boxes (..., 6): x1, y1, z1, x2, y2, z2 ---------------------------------------------------


def _random_xyzxyz(gen: torch.Generator, shape: tuple[int, ...]):
    """As :func:`_random_xyxy` with a third axis: overlapping, nested and disjoint cuboids."""
    f64 = torch.float64
    lo = torch.rand(*shape, 3, generator=gen, dtype=f64) * 4
    size = torch.rand(*shape, 3, generator=gen, dtype=f64) * 3 + 0.5
    shift = torch.randn(*shape, 3, generator=gen, dtype=f64) * 1.5
    scale = torch.exp(torch.randn(*shape, 3, generator=gen, dtype=f64) * 0.4)
    target = torch.cat((lo, lo + size), dim=-1)
    pred = torch.cat((lo + shift, lo + shift + size * scale), dim=-1)
    return pred, target


def _from_xyzxyz(boxes: torch.Tensor, box_format: str) -> torch.Tensor:
    x1, y1, z1, x2, y2, z2 = boxes.unbind(-1)
    if box_format == "xywh":
        return torch.stack((x1, y1, z1, x2 - x1, y2 - y1, z2 - z1), dim=-1)
    if box_format == "cxcywh":
        return torch.stack(
            ((x1 + x2) / 2, (y1 + y2) / 2, (z1 + z2) / 2, x2 - x1, y2 - y1, z2 - z1), dim=-1
        )
    return boxes


def _to_xyzxyz(boxes: torch.Tensor, box_format: str) -> torch.Tensor:
    a, b, c, d, e, f = boxes.unbind(-1)
    if box_format == "xywh":
        return torch.stack((a, b, c, a + d, b + e, c + f), dim=-1)
    if box_format == "cxcywh":
        return torch.stack((a - d / 2, b - e / 2, c - f / 2, a + d / 2, b + e / 2, c + f / 2), -1)
    return boxes


def _make3d(box_format: str = "xyxy", shape=(2, 3)):
    def make_inputs(gen: torch.Generator, dtype: torch.dtype):
        pred, target = _random_xyzxyz(gen, shape)
        return _from_xyzxyz(pred, box_format).to(dtype), _from_xyzxyz(target, box_format).to(dtype)

    return make_inputs


def _cuboid_volume(x1, y1, z1, x2, y2, z2):
    return (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0) * (z2 - z1).clamp(min=0)


def reference_box_loss_3d(pred, target, kind="giou", box_format="xyxy", eps=1e-7):
    """The float64 IoU / GIoU / DIoU / EIoU of cuboids written out axis by axis, from the 2D
    definitions with volumes for areas, the 3D diagonal and one EIoU size term per axis."""
    a = _to_xyzxyz(pred.double(), box_format)
    b = _to_xyzxyz(target.double(), box_format)
    ax1, ay1, az1, ax2, ay2, az2 = a.unbind(-1)
    bx1, by1, bz1, bx2, by2, bz2 = b.unbind(-1)
    vol_a = _cuboid_volume(ax1, ay1, az1, ax2, ay2, az2)
    vol_b = _cuboid_volume(bx1, by1, bz1, bx2, by2, bz2)
    inter = _cuboid_volume(
        torch.max(ax1, bx1), torch.max(ay1, by1), torch.max(az1, bz1),
        torch.min(ax2, bx2), torch.min(ay2, by2), torch.min(az2, bz2),
    )  # fmt: skip
    union = vol_a + vol_b - inter
    iou = (inter + eps) / (union + eps)
    if kind == "iou":
        return 1 - iou
    cx1, cy1, cz1 = torch.min(ax1, bx1), torch.min(ay1, by1), torch.min(az1, bz1)
    cx2, cy2, cz2 = torch.max(ax2, bx2), torch.max(ay2, by2), torch.max(az2, bz2)
    if kind == "giou":
        vol_c = _cuboid_volume(cx1, cy1, cz1, cx2, cy2, cz2)
        return 1 - (iou - (vol_c - union) / (vol_c + eps))
    rho2 = (
        ((ax1 + ax2) / 2 - (bx1 + bx2) / 2) ** 2
        + ((ay1 + ay2) / 2 - (by1 + by2) / 2) ** 2
        + ((az1 + az2) / 2 - (bz1 + bz2) / 2) ** 2
    )
    c2 = (cx2 - cx1) ** 2 + (cy2 - cy1) ** 2 + (cz2 - cz1) ** 2
    diou = 1 - iou + rho2 / (c2 + eps)
    if kind == "diou":
        return diou
    if kind == "eiou":
        return (
            diou
            + ((ax2 - ax1) - (bx2 - bx1)) ** 2 / ((cx2 - cx1) ** 2 + eps)
            + ((ay2 - ay1) - (by2 - by1)) ** 2 / ((cy2 - cy1) ** 2 + eps)
            + ((az2 - az1) - (bz2 - bz1)) ** 2 / ((cz2 - cz1) ** 2 + eps)
        )
    raise ValueError(kind)


def _empty3d(dtype: torch.dtype):
    return torch.zeros(0, 6, dtype=dtype), torch.zeros(0, 6, dtype=dtype)


def _extreme3d(dtype: torch.dtype):
    # the 2D extreme pairs with their x span repeated as the depth: huge (volumes up to
    # (1.2e5)^3, far beyond float16), far apart, inverted, a point, a zero-height cuboid
    pred, target = _extreme(dtype)
    return (
        torch.cat((pred[:, :2], pred[:, :1], pred[:, 2:], pred[:, 2:3]), dim=-1),
        torch.cat((target[:, :2], target[:, :1], target[:, 2:], target[:, 2:3]), dim=-1),
    )


def _reference3d(kind: str):
    return lambda pred, target, **options: reference_box_loss_3d(pred, target, kind=kind, **options)


_common3d = dict(
    none_shape=_batch_shape, make_empty=_empty3d, make_extreme=_extreme3d, grad_inputs=(0, 1)
)

CASES: list[LossCase] = [
    LossCase(
        "iou", VF.iou_loss, visionloss.IoULoss, _make(), reference=_reference("iou"), **_common
    ),
    LossCase(
        "giou",
        VF.giou_loss,
        visionloss.GIoULoss,
        _make(),
        reference=_reference("giou"),
        compile=True,
        **_common,
    ),
    LossCase(
        "diou",
        VF.diou_loss,
        visionloss.DIoULoss,
        _make(shape=(7,)),
        reference=_reference("diou"),
        options={"eps": 1e-9},
        **_common,
    ),
    # CIoU's alpha is a weight without gradient (torchvision's convention), so the analytic
    # gradient is on purpose not the derivative of the value where the aspect ratios differ, and
    # the sweep's gradcheck would fail there. These pairs share their aspect ratio (v = 0, and
    # alpha * v is flat to 4th order); test_boxes.py checks the aspect term and its gradient.
    LossCase(
        "ciou",
        VF.ciou_loss,
        visionloss.CIoULoss,
        _make(same_aspect=True),
        reference=_reference("ciou"),
        compile=True,
        **_common,
    ),
    LossCase(
        "eiou", VF.eiou_loss, visionloss.EIoULoss, _make(), reference=_reference("eiou"), **_common
    ),
    LossCase(
        "box_iou_xywh_eiou",
        VF.box_iou_loss,
        visionloss.BoxIoULoss,
        _make("xywh", shape=(4, 2)),
        reference=reference_box_loss,
        options={"kind": "eiou", "box_format": "xywh"},
        **_common,
    ),
    LossCase(
        "box_iou_cxcywh_giou",
        VF.box_iou_loss,
        visionloss.BoxIoULoss,
        _make("cxcywh", shape=(5,)),
        reference=reference_box_loss,
        options={"kind": "giou", "box_format": "cxcywh"},
        **_common,
    ),
    # 3D boxes (..., 6), issue 19: GIoU as MONAI's BoxGIoULoss, DIoU with the 3D diagonal, and
    # the per-axis formats through box_iou_loss
    LossCase(
        "giou_3d",
        VF.giou_loss,
        visionloss.GIoULoss,
        _make3d(),
        reference=_reference3d("giou"),
        compile=True,
        **_common3d,
    ),
    LossCase(
        "diou_3d",
        VF.diou_loss,
        visionloss.DIoULoss,
        _make3d(shape=(7,)),
        reference=_reference3d("diou"),
        **_common3d,
    ),
    LossCase(
        "box_iou_3d_cxcywh_eiou",
        VF.box_iou_loss,
        visionloss.BoxIoULoss,
        _make3d("cxcywh", shape=(4, 2)),
        reference=reference_box_loss_3d,
        options={"kind": "eiou", "box_format": "cxcywh"},
        **_common3d,
    ),
]
