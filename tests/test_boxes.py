"""Boxes family: geometry by hand, torchvision's formulas, formats, degenerate boxes, properties.

The generic sweep (test_contract.py) covers reductions, weights, module == function, gradcheck,
empty input, half/bf16, extreme boxes and compile for the rows of tests/catalogue/boxes.py; here
are the facts specific to box losses. torchvision cannot be imported in this environment, so its
``ops.generalized_box_iou_loss``, ``ops.distance_box_iou_loss`` and ``ops.complete_box_iou_loss``
(torchvision 0.15+) are transcribed below as the reference; EIoU is written from Zhang et al.
2022, eq. (8).
"""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import visionloss
import visionloss.functional as VF
from catalogue.boxes import _from_xyxy, _random_xyxy, reference_box_loss

KINDS = ["iou", "giou", "diou", "ciou", "eiou"]
FORMATS = ["xyxy", "xywh", "cxcywh"]
FUNCTIONS = {
    "iou": VF.iou_loss,
    "giou": VF.giou_loss,
    "diou": VF.diou_loss,
    "ciou": VF.ciou_loss,
    "eiou": VF.eiou_loss,
}
MODULES = {
    "iou": visionloss.IoULoss,
    "giou": visionloss.GIoULoss,
    "diou": visionloss.DIoULoss,
    "ciou": visionloss.CIoULoss,
    "eiou": visionloss.EIoULoss,
}
F64 = torch.float64


# --- torchvision's formulas, transcribed (torchvision/ops/_utils.py, giou_loss.py, diou_loss.py,
# --- ciou_loss.py), the unreduced loss; EIoU from the paper on top of DIoU ---------------------


def tv_loss_inter_union(boxes1, boxes2):
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    xkis1, ykis1 = torch.max(x1, x1g), torch.max(y1, y1g)
    xkis2, ykis2 = torch.min(x2, x2g), torch.min(y2, y2g)
    intsctk = torch.zeros_like(x1)
    mask = (ykis2 > ykis1) & (xkis2 > xkis1)
    intsctk[mask] = (xkis2[mask] - xkis1[mask]) * (ykis2[mask] - ykis1[mask])
    unionk = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - intsctk
    return intsctk, unionk


def tv_giou(boxes1, boxes2, eps):
    intsctk, unionk = tv_loss_inter_union(boxes1, boxes2)
    iouk = intsctk / (unionk + eps)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    xc1, yc1 = torch.min(x1, x1g), torch.min(y1, y1g)
    xc2, yc2 = torch.max(x2, x2g), torch.max(y2, y2g)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    miouk = iouk - ((area_c - unionk) / (area_c + eps))
    return 1 - miouk


def tv_diou_iou(boxes1, boxes2, eps):
    intsct, union = tv_loss_inter_union(boxes1, boxes2)
    iou = intsct / (union + eps)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    xc1, yc1 = torch.min(x1, x1g), torch.min(y1, y1g)
    xc2, yc2 = torch.max(x2, x2g), torch.max(y2, y2g)
    diagonal_distance_squared = ((xc2 - xc1) ** 2) + ((yc2 - yc1) ** 2) + eps
    x_p, y_p = (x2 + x1) / 2, (y2 + y1) / 2
    x_g, y_g = (x1g + x2g) / 2, (y1g + y2g) / 2
    centers_distance_squared = ((x_p - x_g) ** 2) + ((y_p - y_g) ** 2)
    loss = 1 - iou + (centers_distance_squared / diagonal_distance_squared)
    return loss, iou


def tv_ciou(boxes1, boxes2, eps, alpha_grad=False):
    diou_loss, iou = tv_diou_iou(boxes1, boxes2, eps)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    w_pred, h_pred = x2 - x1, y2 - y1
    w_gt, h_gt = x2g - x1g, y2g - y1g
    v = (4 / (torch.pi**2)) * torch.pow((torch.atan(w_gt / h_gt) - torch.atan(w_pred / h_pred)), 2)
    with torch.set_grad_enabled(alpha_grad and torch.is_grad_enabled()):
        alpha = v / (1 - iou + v + eps)
    return diou_loss + alpha * v


def paper_eiou(boxes1, boxes2, eps):
    # Zhang et al. 2022: L_EIoU = L_IoU + L_dis + L_asp, L_asp = rho^2(w, w_gt)/C_w^2 + ...(h)
    diou, _ = tv_diou_iou(boxes1, boxes2, eps)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    cw = torch.max(x2, x2g) - torch.min(x1, x1g)
    ch = torch.max(y2, y2g) - torch.min(y1, y1g)
    return (
        diou
        + ((x2 - x1) - (x2g - x1g)) ** 2 / (cw**2 + eps)
        + ((y2 - y1) - (y2g - y1g)) ** 2 / (ch**2 + eps)
    )


def tv_reference(kind, boxes1, boxes2, eps):
    if kind == "iou":
        inter, union = tv_loss_inter_union(boxes1, boxes2)
        return 1 - inter / (union + eps)
    if kind == "giou":
        return tv_giou(boxes1, boxes2, eps)
    if kind == "diou":
        return tv_diou_iou(boxes1, boxes2, eps)[0]
    if kind == "ciou":
        return tv_ciou(boxes1, boxes2, eps)
    return paper_eiou(boxes1, boxes2, eps)


def _random_pairs(seed, shape=(64,), same_aspect=False):
    return _random_xyxy(torch.Generator().manual_seed(seed), shape, same_aspect)


# --- values ---------------------------------------------------------------------------------------


def _all_kinds(pred, target, eps=1e-12):
    pred, target = torch.tensor(pred, dtype=F64), torch.tensor(target, dtype=F64)
    return {k: VF.box_iou_loss(pred, target, kind=k, eps=eps).item() for k in KINDS}


def test_hand_computed_quarter_size_box_inside():
    # target (1,1)-(3,3) inside pred (0,0)-(4,4): I = 4, U = 16, IoU 0.25, loss 0.75. The
    # enclosing box is pred itself (|C| = U: no GIoU penalty), same centres (no DIoU penalty),
    # both squares (v = 0); EIoU adds (4-2)^2/4^2 twice = 0.5.
    got = _all_kinds([0.0, 0.0, 4.0, 4.0], [1.0, 1.0, 3.0, 3.0])
    expected = {"iou": 0.75, "giou": 0.75, "diou": 0.75, "ciou": 0.75, "eiou": 1.25}
    assert got == pytest.approx(expected, abs=1e-10)


def test_hand_computed_disjoint_boxes():
    # unit squares at x in [0,1] and [2,3]: IoU 0. C = [0,3]x[0,1]: |C| = 3, |A u B| = 2, so
    # GIoU = 1 - 0 + |C \ (A u B)|/|C| = 1 + 1/3 (Rezatofighi et al.'s definition). Centres 2
    # apart, C's diagonal^2 = 9 + 1: DIoU = 1 + 4/10. Same sizes: CIoU = EIoU = DIoU.
    got = _all_kinds([0.0, 0.0, 1.0, 1.0], [2.0, 0.0, 3.0, 1.0])
    expected = {"iou": 1.0, "giou": 4 / 3, "diou": 1.4, "ciou": 1.4, "eiou": 1.4}
    assert got == pytest.approx(expected, abs=1e-10)


def test_hand_computed_partial_overlap():
    # 2x2 squares shifted by (1,1): I = 1, U = 4 + 4 - 1 = 7, IoU 1/7. C = 3x3 = 9, so the GIoU
    # penalty is (9-7)/9. rho^2 = 1 + 1 = 2, c^2 = 9 + 9 = 18: DIoU penalty 1/9. Same sizes.
    got = _all_kinds([0.0, 0.0, 2.0, 2.0], [1.0, 1.0, 3.0, 3.0])
    diou = 6 / 7 + 1 / 9
    expected = {"iou": 6 / 7, "giou": 6 / 7 + 2 / 9, "diou": diou, "ciou": diou, "eiou": diou}
    assert got == pytest.approx(expected, abs=1e-10)


def test_hand_computed_aspect_terms():
    # a 2x1 box against a 1x2 box sharing the corner (0,0): I = 1, U = 3, IoU 1/3. C = 2x2:
    # centres (1, .5) and (.5, 1), rho^2 = .5, c^2 = 8. v = 4/pi^2 (atan 2 - atan 1/2)^2,
    # alpha = v / (2/3 + v). EIoU: (2-1)^2/2^2 + (1-2)^2/2^2 = 1/2.
    got = _all_kinds([0.0, 0.0, 2.0, 1.0], [0.0, 0.0, 1.0, 2.0])
    diou = 2 / 3 + 0.5 / 8
    v = 4 / math.pi**2 * (math.atan(2.0) - math.atan(0.5)) ** 2
    alpha = v / (2 / 3 + v)
    assert got["diou"] == pytest.approx(diou, abs=1e-10)
    assert got["ciou"] == pytest.approx(diou + alpha * v, abs=1e-10)
    assert got["eiou"] == pytest.approx(diou + 0.5, abs=1e-10)


@pytest.mark.parametrize("box_format", FORMATS)
@pytest.mark.parametrize("kind", KINDS)
def test_matches_torchvision_formulas_float64(kind, box_format):
    # random pairs (overlapping, nested, disjoint), given in each format, against torchvision's
    # formulas on the xyxy boxes. With eps = 1e-12 the two IoU conventions, (I+eps)/(U+eps) and
    # torchvision's I/(U+eps), agree to 1e-12; at the default eps they differ by at most
    # eps * (U - I) / U^2 <= 1e-7 / U.
    pred, target = _random_pairs(seed=len(kind) + 10 * len(box_format), shape=(8, 16))
    pred_f, target_f = _from_xyxy(pred, box_format), _from_xyxy(target, box_format)
    ours = VF.box_iou_loss(
        pred_f, target_f, kind=kind, box_format=box_format, eps=1e-12, reduction="none"
    )
    torch.testing.assert_close(ours, tv_reference(kind, pred, target, 1e-12), rtol=1e-9, atol=1e-10)
    ours = VF.box_iou_loss(pred_f, target_f, kind=kind, box_format=box_format, reduction="none")
    _, union = tv_loss_inter_union(pred, target)
    bound = 1.5e-7 / union.clamp(max=1) + 1e-12
    assert ((ours - tv_reference(kind, pred, target, 1e-7)).abs() <= bound).all()


@pytest.mark.parametrize("kind", KINDS)
def test_same_boxes_in_three_formats_give_the_same_loss(kind):
    pred, target = _random_pairs(seed=3, shape=(5, 7))
    losses = [
        FUNCTIONS[kind](
            _from_xyxy(pred, fmt), _from_xyxy(target, fmt), box_format=fmt, reduction="none"
        )
        for fmt in FORMATS
    ]
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(losses[2], losses[0], rtol=1e-12, atol=1e-12)
    # and BoxIoULoss(kind) and the named function and Module agree
    module = MODULES[kind](box_format="xywh", reduction="none")
    generic = visionloss.BoxIoULoss(kind=kind, box_format="xywh", reduction="none")
    pw, tw = _from_xyxy(pred, "xywh"), _from_xyxy(target, "xywh")
    torch.testing.assert_close(module(pw, tw), losses[1], rtol=0, atol=0)
    torch.testing.assert_close(generic(pw, tw), losses[1], rtol=0, atol=0)


# --- gradients ------------------------------------------------------------------------------------


@pytest.mark.parametrize("box_format", FORMATS)
@pytest.mark.parametrize("kind", ["iou", "giou", "diou", "eiou"])
def test_gradcheck_float64(kind, box_format):
    # overlapping and disjoint pairs, gradients for both pred and target
    pred, target = _random_pairs(seed=5, shape=(6,))
    pred = _from_xyxy(pred, box_format).requires_grad_(True)
    target = _from_xyxy(target, box_format).requires_grad_(True)

    def fn(p, t):
        return VF.box_iou_loss(p, t, kind=kind, box_format=box_format, reduction="sum")

    assert torch.autograd.gradcheck(fn, (pred, target), eps=1e-6, atol=1e-6)


def test_ciou_gradient_treats_alpha_as_a_constant():
    # aspect ratios differ, so alpha * v matters. Our gradient equals torchvision's (alpha
    # without gradient), which is the derivative of diou + alpha0 * v with alpha0 frozen at the
    # point (gradcheck), and differs from the gradient through alpha.
    pred, target = _random_pairs(seed=6, shape=(8,))
    pred.requires_grad_(True)
    (ours,) = torch.autograd.grad(VF.ciou_loss(pred, target, eps=1e-12, reduction="sum"), pred)
    (tv,) = torch.autograd.grad(tv_ciou(pred, target, 1e-12).sum(), pred)
    torch.testing.assert_close(ours, tv, rtol=1e-6, atol=1e-9)
    (through_alpha,) = torch.autograd.grad(
        tv_ciou(pred, target, 1e-12, alpha_grad=True).sum(), pred
    )
    assert (ours - through_alpha).abs().max() > 1e-3

    def aspect_v(p):
        x1, y1, x2, y2 = p.unbind(-1)
        x1g, y1g, x2g, y2g = target.unbind(-1)
        diff = torch.atan((x2g - x1g) / (y2g - y1g)) - torch.atan((x2 - x1) / (y2 - y1))
        return 4 / math.pi**2 * diff**2

    with torch.no_grad():
        _, iou0 = tv_diou_iou(pred, target, 1e-12)
        v0 = aspect_v(pred)
        alpha0 = v0 / (1 - iou0 + v0 + 1e-12)

    def frozen(p):
        return (tv_diou_iou(p, target, 1e-12)[0] + alpha0 * aspect_v(p)).sum()

    assert torch.autograd.gradcheck(frozen, (pred,), eps=1e-6, atol=1e-6)
    (frozen_grad,) = torch.autograd.grad(frozen(pred), pred)
    torch.testing.assert_close(ours, frozen_grad, rtol=1e-6, atol=1e-9)


# --- degenerate boxes -----------------------------------------------------------------------------

DEGENERATE = [
    # (pred, target, what)
    ([2.0, 2.0, 2.0, 2.0], [0.0, 0.0, 4.0, 4.0], "point inside a box"),
    ([2.0, 2.0, 2.0, 2.0], [2.0, 2.0, 2.0, 2.0], "identical points"),
    ([2.0, 2.0, 2.0, 2.0], [5.0, 7.0, 5.0, 7.0], "two distinct points"),
    ([0.0, 1.0, 5.0, 1.0], [1.0, 1.0, 6.0, 1.0], "two overlapping segments"),
    ([0.0, 0.0, 5.0, 0.0], [0.0, 0.0, 1.0, 1.0], "zero height against a box"),
    ([0.0, 0.0, 0.0, 5.0], [0.0, 0.0, 1.0, 1.0], "zero width against a box"),
    ([5.0, 5.0, 3.0, 3.0], [0.0, 0.0, 2.0, 2.0], "inverted against a box"),
    ([3.0, 3.0, 1.0, 1.0], [3.0, 3.0, 1.0, 1.0], "identical inverted boxes"),
    ([4.0, 0.0, 0.0, 4.0], [0.0, 0.0, 4.0, 4.0], "x inverted, same corners"),
    ([0.0, 0.0, 1.0, 1.0], [1e6, 1e6, 1e6 + 1, 1e6 + 1], "far apart"),
    ([-1e4, -1e4, 1e4, 1e4], [0.0, 0.0, 1e-3, 1e-3], "huge against tiny"),
]


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("kind", KINDS)
def test_degenerate_boxes_give_finite_values_and_grads(kind, dtype):
    pred = torch.tensor([p for p, _, _ in DEGENERATE], dtype=dtype, requires_grad=True)
    target = torch.tensor([t for _, t, _ in DEGENERATE], dtype=dtype, requires_grad=True)
    loss = VF.box_iou_loss(pred, target, kind=kind, reduction="none")
    assert torch.isfinite(loss).all(), [
        w for (_, _, w), ok in zip(DEGENERATE, loss, strict=True) if ok
    ]
    upper = {"iou": 1, "giou": 2, "diou": 2, "ciou": 3, "eiou": 4}[kind]
    assert ((loss >= 0) & (loss <= upper)).all()
    grad_p, grad_t = torch.autograd.grad(loss.sum(), (pred, target))
    assert torch.isfinite(grad_p).all() and torch.isfinite(grad_t).all()
    # the bound on CIoU's aspect gradient (heights floored at sqrt(eps)) keeps these within the
    # float16 range even for points and segments
    if kind in ("diou", "ciou", "eiou"):
        assert grad_p[[0, 2, 4, 5, 6]].abs().max() < 6e4


def test_far_apart_boxes_saturate():
    # unit boxes 1e4 apart: IoU 0; GIoU's and DIoU's penalties tend to 1
    pred = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    target = torch.tensor([[1e4, 1e4, 1e4 + 1, 1e4 + 1]])
    for kind in ("giou", "diou", "ciou", "eiou"):
        loss = VF.box_iou_loss(pred, target, kind=kind)
        assert 1.999 < loss.item() < 2.0 + 1e-6, kind


@pytest.mark.parametrize("kind", KINDS)
def test_inverted_box_is_the_empty_box_at_its_centre(kind):
    target = torch.tensor([[0.0, 0.0, 3.0, 2.0], [0.0, 0.0, 3.0, 2.0]], dtype=F64)
    inverted = torch.tensor([[5.0, 1.0, 3.0, 4.0], [1.0, 3.0, 2.0, 1.0]], dtype=F64)
    empty = torch.tensor([[4.0, 1.0, 4.0, 4.0], [1.0, 2.0, 2.0, 2.0]], dtype=F64)
    torch.testing.assert_close(
        VF.box_iou_loss(inverted, target, kind=kind, reduction="none"),
        VF.box_iou_loss(empty, target, kind=kind, reduction="none"),
        rtol=0,
        atol=0,
    )
    # swapping the corners of a box is not the same box: its IoU with the original is ~0
    box = torch.tensor([0.0, 0.0, 4.0, 4.0])
    swapped = torch.tensor([4.0, 4.0, 0.0, 0.0])
    assert VF.box_iou_loss(swapped, box, kind=kind).item() > 0.99


@pytest.mark.parametrize("kind", KINDS)
def test_empty_batch_with_leading_dims(kind):
    pred = torch.zeros(2, 0, 4, requires_grad=True)
    target = torch.zeros(2, 0, 4)
    assert FUNCTIONS[kind](pred, target, reduction="none").shape == (2, 0)
    loss = FUNCTIONS[kind](pred, target)
    assert loss.item() == 0.0
    loss.backward()
    assert pred.grad is not None and pred.grad.shape == (2, 0, 4)


# --- properties -----------------------------------------------------------------------------------

coord = st.floats(-1e3, 1e3, allow_nan=False, width=32)
box = st.tuples(coord, coord, coord, coord)


@given(st.lists(box, min_size=1, max_size=8), st.sampled_from(FORMATS))
def test_identical_boxes_give_exactly_zero(boxes, box_format):
    # any boxes: regular, zero-area, inverted; float32 and float64
    for dtype in (torch.float32, F64):
        b = torch.tensor(boxes, dtype=dtype)
        for kind in KINDS:
            loss = VF.box_iou_loss(b, b.clone(), kind=kind, box_format=box_format, reduction="none")
            assert (loss == 0).all(), (kind, loss)


regular = st.tuples(
    st.floats(-100, 100), st.floats(-100, 100), st.floats(0.1, 50), st.floats(0.1, 50)
)


@given(
    st.lists(st.tuples(regular, regular), min_size=1, max_size=8),
    st.floats(0.05, 20),
    st.floats(-50, 50),
)
def test_symmetric_scale_and_translation_invariant_ordered_and_bounded(pairs, scale, shift):
    pred = torch.tensor([p for p, _ in pairs], dtype=F64)  # xywh, positive sizes
    target = torch.tensor([t for _, t in pairs], dtype=F64)
    losses = {}
    for kind in KINDS:
        loss = VF.box_iou_loss(
            pred, target, kind=kind, box_format="xywh", eps=1e-14, reduction="none"
        )
        swapped = VF.box_iou_loss(
            target, pred, kind=kind, box_format="xywh", eps=1e-14, reduction="none"
        )
        torch.testing.assert_close(loss, swapped, rtol=1e-12, atol=1e-12)
        moved = torch.tensor([scale, scale, scale, scale], dtype=F64)
        offset = torch.tensor([shift, shift, 0.0, 0.0], dtype=F64)
        transformed = VF.box_iou_loss(
            pred * moved + offset,
            target * moved + offset,
            kind=kind,
            box_format="xywh",
            eps=1e-14,
            reduction="none",
        )
        torch.testing.assert_close(transformed, loss, rtol=1e-7, atol=1e-9)
        losses[kind] = loss
    tol = 1e-12
    assert (losses["iou"] >= -tol).all() and (losses["iou"] <= 1 + tol).all()
    assert (losses["giou"] >= losses["iou"] - tol).all() and (losses["giou"] < 2).all()
    assert (losses["diou"] >= losses["iou"] - tol).all() and (losses["diou"] < 2).all()
    assert (losses["ciou"] >= losses["diou"] - tol).all() and (losses["ciou"] < 3).all()
    assert (losses["eiou"] >= losses["diou"] - tol).all() and (losses["eiou"] < 4).all()


# --- precision, weights, integer targets, compile -------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("kind", KINDS)
def test_low_precision_areas_beyond_float16_range(kind, dtype):
    # 300 x 400 pixel boxes: areas 1.2e5 overflow float16 (65504) unless upcast first
    pred = torch.tensor([[0.0, 0.0, 300.0, 400.0], [10.0, 20.0, 310.0, 380.0]], dtype=dtype)
    target = torch.tensor([[20.0, 10.0, 330.0, 390.0], [0.0, 0.0, 512.0, 512.0]], dtype=dtype)
    got = FUNCTIONS[kind](pred, target, reduction="none")
    assert got.dtype == torch.float32
    expected = reference_box_loss(pred.double(), target.double(), kind=kind)
    torch.testing.assert_close(got, expected.float(), rtol=1e-5, atol=1e-6)


def test_weight_broadcasts_to_the_batch_shape():
    pred, target = _random_pairs(seed=8, shape=(2, 3))
    weight = torch.tensor([0.5, 0.0, 2.0], dtype=F64)  # one weight per box slot, (3,) -> (2, 3)
    none = VF.giou_loss(pred, target, reduction="none")
    got = VF.giou_loss(pred, target, weight=weight)
    torch.testing.assert_close(got, (none * weight).sum() / (2 * weight.sum()))
    with pytest.raises(
        ValueError,
        match=r"weight: expected a shape broadcastable to the unreduced loss \(2, 3\), got \(4,\)",
    ):
        VF.giou_loss(pred, target, weight=torch.ones(4, dtype=F64))


def test_integer_target_is_cast():
    pred = torch.tensor([[0.5, 0.5, 10.0, 12.0]])
    target = torch.tensor([[0, 1, 10, 11]])
    torch.testing.assert_close(VF.diou_loss(pred, target), VF.diou_loss(pred, target.float()))


def test_compile_fullgraph_with_format_weight_and_none():
    torch._dynamo.reset()
    pred, target = (t.float() for t in _random_pairs(seed=9, shape=(4, 5)))
    pred, target = _from_xyxy(pred, "cxcywh"), _from_xyxy(target, "cxcywh")
    weight = torch.rand(4, 5, generator=torch.Generator().manual_seed(0))

    def fn(p, t, w):
        return VF.box_iou_loss(p, t, kind="eiou", box_format="cxcywh", weight=w, reduction="none")

    compiled = torch.compile(fn, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(pred, target, weight), fn(pred, target, weight))


def test_compiled_ciou_backward_matches_eager():
    # the detached alpha survives tracing: same gradient compiled and eager
    torch._dynamo.reset()
    pred, target = (t.float() for t in _random_pairs(seed=10, shape=(16,)))
    compiled = torch.compile(VF.ciou_loss, fullgraph=True, backend="aot_eager")
    grads = []
    for fn in (compiled, VF.ciou_loss):
        p = pred.clone().requires_grad_(True)
        grads.append(torch.autograd.grad(fn(p, target), p)[0])
    torch.testing.assert_close(grads[0], grads[1])


# --- box formats ----------------------------------------------------------------------------------


def test_box_convert_values_and_round_trips():
    xyxy = torch.tensor([[1.0, 2.0, 4.0, 8.0], [-1.0, 0.5, 0.0, 2.5]])
    xywh = torch.tensor([[1.0, 2.0, 3.0, 6.0], [-1.0, 0.5, 1.0, 2.0]])
    cxcywh = torch.tensor([[2.5, 5.0, 3.0, 6.0], [-0.5, 1.5, 1.0, 2.0]])
    given_ = {"xyxy": xyxy, "xywh": xywh, "cxcywh": cxcywh}
    for a in FORMATS:
        for b in FORMATS:
            torch.testing.assert_close(VF.box_convert(given_[a], a, b), given_[b])
    torch.testing.assert_close(VF.xywh_to_xyxy(xywh), xyxy)
    torch.testing.assert_close(VF.xyxy_to_xywh(xyxy), xywh)
    torch.testing.assert_close(VF.cxcywh_to_xyxy(cxcywh), xyxy)
    torch.testing.assert_close(VF.xyxy_to_cxcywh(xyxy), cxcywh)
    # dtype and leading dims kept; same format gives a copy
    half = xyxy.half().reshape(1, 2, 4)
    assert VF.box_convert(half, "xyxy", "cxcywh").dtype == torch.float16
    assert VF.box_convert(half, "xyxy", "cxcywh").shape == (1, 2, 4)
    same = VF.box_convert(xyxy, "xyxy", "xyxy")
    assert torch.equal(same, xyxy) and same.data_ptr() != xyxy.data_ptr()


def test_box_convert_gradcheck():
    boxes = torch.rand(3, 4, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda b: VF.box_convert(b, "cxcywh", "xywh"), (boxes,))


# --- bad input ------------------------------------------------------------------------------------


class TestBadInput:
    @pytest.mark.parametrize("kind", KINDS)
    def test_last_dim_not_four_or_six(self, kind):
        with pytest.raises(
            ValueError,
            match=r"pred: expected 2D boxes \(\.\.\., 4\) or 3D boxes \(\.\.\., 6\), got \(3, 5\)",
        ):
            FUNCTIONS[kind](torch.zeros(3, 5), torch.zeros(3, 5))
        with pytest.raises(
            ValueError, match=r"pred: expected 2D boxes \(\.\.\., 4\) or .*, got \(\)"
        ):
            FUNCTIONS[kind](torch.tensor(1.0), torch.tensor(1.0))

    @pytest.mark.parametrize("kind", KINDS)
    def test_shape_mismatch(self, kind):
        with pytest.raises(
            ValueError, match=r"target: expected the same shape as pred \(3, 4\), got \(2, 4\)"
        ):
            FUNCTIONS[kind](torch.zeros(3, 4), torch.zeros(2, 4))
        with pytest.raises(
            ValueError, match=r"target: expected the same shape as pred \(3, 4\), got \(3, 5\)"
        ):
            FUNCTIONS[kind](torch.zeros(3, 4), torch.zeros(3, 5))

    def test_types(self):
        with pytest.raises(
            TypeError, match="pred: expected a floating-point tensor, got dtype torch.int64"
        ):
            VF.giou_loss(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 4))
        with pytest.raises(TypeError, match="target: expected a torch.Tensor, got list"):
            VF.giou_loss(torch.zeros(4), [0.0, 0.0, 1.0, 1.0])
        with pytest.raises(TypeError, match="boxes: expected a torch.Tensor, got list"):
            VF.box_convert([0.0, 0.0, 1.0, 1.0], "xyxy", "xywh")

    def test_options(self):
        x = torch.zeros(2, 4)
        with pytest.raises(
            ValueError,
            match="kind: expected one of 'iou', 'giou', 'diou', 'ciou', 'eiou', got 'siou'",
        ):
            VF.box_iou_loss(x, x, kind="siou")
        with pytest.raises(
            ValueError, match="box_format: expected one of 'xyxy', 'xywh', 'cxcywh', got 'yolo'"
        ):
            VF.ciou_loss(x, x, box_format="yolo")
        with pytest.raises(ValueError, match=r"eps: expected a value in \(0.0, inf\], got 0.0"):
            VF.iou_loss(x, x, eps=0.0)
        with pytest.raises(TypeError, match="eps: expected a real number, got None"):
            VF.iou_loss(x, x, eps=None)
        with pytest.raises(ValueError, match="kind: expected one of .*, got 'GIoU'"):
            visionloss.BoxIoULoss(kind="GIoU")
        with pytest.raises(ValueError, match="box_format: expected one of .*, got 'ccwh'"):
            visionloss.EIoULoss(box_format="ccwh")
        with pytest.raises(ValueError, match=r"eps: expected a value in \(0.0, inf\], got -1.0"):
            visionloss.DIoULoss(eps=-1.0)
        with pytest.raises(
            ValueError, match="in_fmt: expected one of 'xyxy', 'xywh', 'cxcywh', got 'xyzw'"
        ):
            VF.box_convert(x, "xyzw", "xyxy")
        with pytest.raises(
            ValueError, match=r"boxes: expected 2D boxes \(\.\.\., 4\) or .*, got \(4, 2\)"
        ):
            VF.box_convert(torch.zeros(4, 2), "xyxy", "xywh")


def test_module_repr_and_defaults():
    module = visionloss.BoxIoULoss()
    # the repr is generated from the options object (LossModule.extra_repr, field order)
    assert repr(module) == "BoxIoULoss(box_format='xyxy', eps=1e-07, kind='giou', reduction='mean')"
    assert "box_format='cxcywh'" in repr(visionloss.CIoULoss(box_format="cxcywh"))
    pred, target = _random_pairs(seed=11, shape=(5,))
    torch.testing.assert_close(module(pred, target), VF.giou_loss(pred, target))
    torch.testing.assert_close(VF.box_iou_loss(pred, target), VF.giou_loss(pred, target))


def test_specs_declare_the_family():
    from visionloss.losses import boxes

    names = [spec.name for spec in boxes.SPECS]
    assert names == ["box_iou", "iou", "giou", "diou", "ciou", "eiou"]
    for spec in boxes.SPECS:
        assert spec.family == "boxes" and spec.module is not None and spec.module.spec is spec
        assert spec.function.__name__ == f"{spec.name}_loss"
        assert spec.module.__doc__.startswith(inspect.cleandoc(spec.function.__doc__))
        assert set(inspect.signature(spec.module).parameters) == set(spec.options.names())
        assert "__init__" not in vars(spec.module)
    # the single-kind Modules take no kind; box_convert is a helper, not a loss
    with pytest.raises(TypeError, match="kind"):
        visionloss.GIoULoss(kind="iou")
    assert all(spec.function is not VF.box_convert for spec in boxes.SPECS)


# --- the fused Function of kernels/boxes.py (issue 18): equal to the reference, saves nothing ---

import itertools  # noqa: E402

from visionloss import kernels as _kernels  # noqa: E402
from visionloss.kernels.boxes import _BoxLoss, box_loss_reference  # noqa: E402


def _fused_boxes(gen, n, d, dtype=torch.float64):
    lo = torch.rand(n, d, generator=gen, dtype=torch.float64) * 4
    size = torch.rand(n, d, generator=gen, dtype=torch.float64) * 3
    boxes = torch.cat([lo, lo + size], -1)
    boxes[0, d:] = boxes[0, :d]  # a point
    boxes[1, d] = boxes[1, 0] - 1  # an inverted side
    return boxes.to(dtype)


@pytest.mark.parametrize(
    "d,kind,box_format",
    [
        (d, k, f)
        for d, k, f in itertools.product(
            [2, 3], ["iou", "giou", "diou", "ciou", "eiou"], ["xyxy", "xywh", "cxcywh"]
        )
        if not (d == 3 and k == "ciou")
    ],
)
def test_fused_function_equals_reference_values_and_gradients(d, kind, box_format):
    gen = torch.Generator().manual_seed(7)
    pred, target = _fused_boxes(gen, 40, d), _fused_boxes(gen, 40, d)
    target[2] = pred[2]  # identical boxes: ties everywhere
    target[3, :d] = pred[3, :d]  # a shared corner
    target[4, 0] = pred[4, d]  # touching boxes
    pred.requires_grad_(True)
    target.requires_grad_(True)
    grad = torch.randn(40, generator=gen, dtype=torch.float64)
    ref = box_loss_reference(pred, target, kind, box_format, 1e-7)
    fused = _BoxLoss.apply(pred, target, kind, box_format, 1e-7)
    torch.testing.assert_close(fused, ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(
        torch.autograd.grad(fused, (pred, target), grad),
        torch.autograd.grad(ref, (pred, target), grad),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-8)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_fused_function_low_precision_computes_in_float32(dtype):
    gen = torch.Generator().manual_seed(3)
    pred = _fused_boxes(gen, 30, 2, dtype).reshape(5, 6, 4).requires_grad_(True)
    target = _fused_boxes(gen, 30, 2, dtype).reshape(5, 6, 4)
    for kind in ("giou", "ciou"):
        fused = _BoxLoss.apply(pred, target, kind, "cxcywh", 1e-7)
        ref = box_loss_reference(pred, target, kind, "cxcywh", 1e-7)
        assert fused.dtype == torch.float32 and fused.shape == (5, 6)
        torch.testing.assert_close(fused, ref)
        (g_fused,) = torch.autograd.grad(fused.sum(), pred)
        (g_ref,) = torch.autograd.grad(ref.sum(), pred)
        assert g_fused.dtype == dtype
        torch.testing.assert_close(g_fused, g_ref)


def test_fused_function_double_backward_is_the_references():
    gen = torch.Generator().manual_seed(5)
    pred = _fused_boxes(gen, 6, 2)[2:].requires_grad_(True)
    target = _fused_boxes(gen, 6, 2)[2:].requires_grad_(True)
    # (CIoU's detached alpha makes its gradient a non-conservative field: no gradgradcheck)
    for kind in ("giou", "diou", "eiou"):
        assert torch.autograd.gradgradcheck(
            lambda p, t, kind=kind: _BoxLoss.apply(p, t, kind, "xyxy", 1e-7), (pred, target)
        )


@pytest.mark.parametrize("loss", [VF.giou_loss, VF.ciou_loss, VF.eiou_loss])
def test_fused_path_saves_nothing_but_the_boxes(monkeypatch, loss):
    monkeypatch.setattr(_kernels, "_backend", "fused")
    gen = torch.Generator().manual_seed(1)
    pred = _fused_boxes(gen, 64, 2, torch.float32).requires_grad_(True)
    target = _fused_boxes(gen, 64, 2, torch.float32)
    saved = []

    def pack(t):
        saved.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = loss(pred, target, reduction="none")
    assert all(t is pred or t is target for t in saved)
    out.sum().backward()
    ref = box_loss_reference(
        pred.detach().requires_grad_(True), target, loss.__name__[:4], "xyxy", 1e-7
    )
    assert torch.isfinite(pred.grad).all() and ref.shape == out.shape


def test_fused_path_empty_and_nan(monkeypatch):
    monkeypatch.setattr(_kernels, "_backend", "fused")
    empty = torch.zeros(0, 4, requires_grad=True)
    loss = VF.giou_loss(empty, torch.zeros(0, 4))
    loss.backward()
    assert loss.item() == 0.0 and empty.grad.shape == (0, 4)
    pred = torch.tensor([[0.0, 0.0, float("nan"), 1.0]], requires_grad=True)
    value = VF.ciou_loss(pred, torch.tensor([[0.0, 0.0, 1.0, 1.0]]))
    value.backward()
    assert value.isnan() and pred.grad.isnan().any()


# --- 3D boxes (..., 6), issue 19 -------------------------------------------------------------------

KINDS_3D = ["iou", "giou", "diou", "eiou"]


def _all_kinds_3d(pred, target):
    p = torch.tensor(pred, dtype=torch.float64)
    t = torch.tensor(target, dtype=torch.float64)
    return {k: FUNCTIONS[k](p, t, eps=1e-12).item() for k in KINDS_3D}


def test_hand_computed_3d_cube_inside():
    # target [1,3]^3 inside pred [0,4]^3: I = 8, U = 64, IoU 1/8. C = pred (no GIoU penalty),
    # same centres (no DIoU penalty); EIoU adds (4-2)^2/4^2 once per axis = 3/4.
    got = _all_kinds_3d([0.0, 0.0, 0.0, 4.0, 4.0, 4.0], [1.0, 1.0, 1.0, 3.0, 3.0, 3.0])
    expected = {"iou": 7 / 8, "giou": 7 / 8, "diou": 7 / 8, "eiou": 7 / 8 + 3 / 4}
    assert got == pytest.approx(expected, abs=1e-10)


def test_hand_computed_3d_partial_overlap():
    # 2x2x2 cubes shifted by (1,1,1): I = 1, U = 8 + 8 - 1 = 15, IoU 1/15. C = 3^3 = 27: GIoU
    # penalty (27-15)/27. rho^2 = 3, the 3D diagonal c^2 = 27: DIoU penalty 1/9. Same sizes.
    got = _all_kinds_3d([0.0, 0.0, 0.0, 2.0, 2.0, 2.0], [1.0, 1.0, 1.0, 3.0, 3.0, 3.0])
    diou = 14 / 15 + 1 / 9
    expected = {"iou": 14 / 15, "giou": 14 / 15 + 12 / 27, "diou": diou, "eiou": diou}
    assert got == pytest.approx(expected, abs=1e-10)


def test_3d_cuboid_flat_in_z_is_the_2d_box_for_iou_and_giou():
    # equal depths and z spans: every volume is the area times the depth, so the IoU and the GIoU
    # are the 2D ones (the DIoU is not: the 3D diagonal includes the depth)
    pred, target = _random_pairs(seed=4, shape=(20,))
    z = torch.zeros(20, 1, dtype=pred.dtype)
    lift = lambda b: torch.cat((b[:, :2], z, b[:, 2:], z + 2.5), dim=-1)  # noqa: E731
    for kind in ("iou", "giou"):
        torch.testing.assert_close(
            FUNCTIONS[kind](lift(pred), lift(target), reduction="none"),
            FUNCTIONS[kind](pred, target, reduction="none"),
        )


@pytest.mark.parametrize("kind", KINDS_3D)
def test_3d_formats_are_read_per_axis(kind):
    from catalogue.boxes import _from_xyzxyz, _random_xyzxyz, reference_box_loss_3d

    pred, target = _random_xyzxyz(torch.Generator().manual_seed(9), (12,))
    expected = reference_box_loss_3d(pred, target, kind=kind)
    for box_format in FORMATS:
        p, t = _from_xyzxyz(pred, box_format), _from_xyzxyz(target, box_format)
        torch.testing.assert_close(VF.box_convert(pred, "xyxy", box_format), p)
        torch.testing.assert_close(VF.box_convert(p, box_format, "xyxy"), pred)
        got = VF.box_iou_loss(p, t, kind=kind, box_format=box_format, reduction="none")
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_3d_ciou_raises_naming_the_argument():
    boxes = torch.rand(3, 6)
    with pytest.raises(ValueError, match=r"kind='ciou' \(ciou_loss\): CIoU is defined for 2D"):
        VF.ciou_loss(boxes, boxes)
    with pytest.raises(ValueError, match=r"kind='ciou'.*3D boxes \(3, 6\)"):
        VF.box_iou_loss(boxes, boxes, kind="ciou")
    with pytest.raises(ValueError, match=r"kind='ciou'"):
        visionloss.CIoULoss()(boxes, boxes)


def test_2d_and_3d_boxes_cannot_be_mixed():
    match = r"pred and target: boxes of one dimension expected, got 2D \(\.\.\., 4\) boxes"
    with pytest.raises(ValueError, match=match):
        VF.giou_loss(torch.zeros(3, 4), torch.zeros(3, 6))
    with pytest.raises(ValueError, match=r"got 3D \(\.\.\., 6\) boxes \(2, 6\) and 2D"):
        VF.box_iou_loss(torch.zeros(2, 6), torch.zeros(2, 4), kind="diou")


@pytest.mark.parametrize("kind", KINDS_3D)
def test_3d_degenerate_cuboids_are_finite_and_identical_ones_give_zero(kind):
    pred = torch.tensor(
        [[0.0, 0.0, 0.0, 1.0, 1.0, 0.0], [5.0, 5.0, 5.0, 3.0, 3.0, 3.0],
         [2.0, 2.0, 2.0, 2.0, 2.0, 2.0], [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]],
        requires_grad=True,
    )  # fmt: skip
    target = torch.tensor(
        [[0.0, 0.0, 0.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 2.0, 2.0, 2.0],
         [2.0, 2.0, 2.0, 2.0, 2.0, 2.0], [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]]
    )  # fmt: skip
    loss = FUNCTIONS[kind](pred, target, reduction="none")
    assert torch.isfinite(loss).all()
    assert loss[2].item() == 0.0 and loss[3].item() == 0.0
    (grad,) = torch.autograd.grad(loss.sum(), pred)
    assert torch.isfinite(grad).all()


def test_3d_half_boxes_compute_in_float32_beyond_float16_volumes():
    # 40^3 = 64000 is near float16's max; the union of two such cubes is beyond it
    pred = torch.tensor([[0.0, 0.0, 0.0, 40.0, 40.0, 40.0]], dtype=torch.float16)
    target = torch.tensor([[20.0, 0.0, 0.0, 60.0, 40.0, 40.0]], dtype=torch.float16)
    loss = VF.giou_loss(pred, target)
    assert loss.dtype == torch.float32
    # I = 20*40*40 = 32000, U = 96000, C = 60*40*40 = U: GIoU = IoU = 1/3
    assert loss.item() == pytest.approx(2 / 3, abs=1e-6)


# --- pairwise (N, M) matrices: box_iou, generalized_box_iou (issue 19) ----------------------------


def _tv_box_area(boxes):
    # torchvision.ops.box_area, transcribed
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _tv_box_iou(boxes1, boxes2):
    # torchvision.ops.boxes._box_inter_union and box_iou (0.15+), transcribed line by line
    area1, area2 = _tv_box_area(boxes1), _tv_box_area(boxes2)
    lt = torch.max(boxes1[:, None, :2], boxes2[:, :2])
    rb = torch.min(boxes1[:, None, 2:], boxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    union = area1[:, None] + area2 - inter
    return inter / union, union


def _tv_generalized_box_iou(boxes1, boxes2):
    iou, union = _tv_box_iou(boxes1, boxes2)
    lti = torch.min(boxes1[:, None, :2], boxes2[:, :2])
    rbi = torch.max(boxes1[:, None, 2:], boxes2[:, 2:])
    whi = (rbi - lti).clamp(min=0)
    areai = whi[:, :, 0] * whi[:, :, 1]
    return iou - (areai - union) / areai


def _box_sets(seed, n, m, d=2):
    gen = torch.Generator().manual_seed(seed)

    def draw(k):
        lo = torch.rand(k, d, generator=gen, dtype=F64) * 6
        return torch.cat((lo, lo + torch.rand(k, d, generator=gen, dtype=F64) * 3 + 0.2), -1)

    return draw(n), draw(m)


@pytest.mark.parametrize("box_format", FORMATS)
def test_pairwise_matrices_match_torchvision_formulas_float64(box_format):
    a, b = _box_sets(0, 9, 13)
    iou_tv, _ = _tv_box_iou(a, b)
    giou_tv = _tv_generalized_box_iou(a, b)
    assert (iou_tv == 0).any() and (iou_tv > 0).any()  # disjoint and overlapping pairs
    fa, fb = _from_xyxy(a, box_format), _from_xyxy(b, box_format)
    iou = VF.box_iou(fa, fb, box_format=box_format)
    giou = VF.generalized_box_iou(fa, fb, box_format=box_format)
    assert iou.shape == giou.shape == (9, 13) and iou.dtype == F64
    # I / (U + eps) against I / U: eps / U relative, areas >= 0.04 here
    torch.testing.assert_close(iou, iou_tv, rtol=1e-5, atol=0)
    torch.testing.assert_close(giou, giou_tv, rtol=1e-5, atol=1e-6)
    assert torch.equal(iou == 0, iou_tv == 0)  # disjoint pairs exactly 0, as torchvision's


def test_pairwise_diagonal_is_the_elementwise_iou_and_giou():
    a, b = _box_sets(1, 17, 17)
    # within eps / (U + eps) of the losses' (I + eps) / (U + eps)
    torch.testing.assert_close(
        VF.box_iou(a, b).diagonal(), 1 - VF.iou_loss(a, b, reduction="none"), rtol=0, atol=1e-6
    )
    torch.testing.assert_close(
        VF.generalized_box_iou(a, b).diagonal(),
        1 - VF.giou_loss(a, b, reduction="none"),
        rtol=0,
        atol=1e-6,
    )
    a3, b3 = _box_sets(2, 11, 11, d=3)
    torch.testing.assert_close(
        VF.generalized_box_iou(a3, b3).diagonal(),
        1 - VF.giou_loss(a3, b3, reduction="none"),
        rtol=0,
        atol=1e-6,
    )


def test_pairwise_3d_matches_a_float64_cuboid_formula():
    a, b = _box_sets(3, 5, 7, d=3)
    size = lambda lo, hi: (hi - lo).clamp(min=0).prod(-1)  # noqa: E731
    inter = size(torch.max(a[:, None, :3], b[:, :3]), torch.min(a[:, None, 3:], b[:, 3:]))
    union = size(a[:, :3], a[:, 3:])[:, None] + size(b[:, :3], b[:, 3:]) - inter
    hull = size(torch.min(a[:, None, :3], b[:, :3]), torch.max(a[:, None, 3:], b[:, 3:]))
    torch.testing.assert_close(VF.box_iou(a, b, eps=1e-15), inter / union)
    torch.testing.assert_close(
        VF.generalized_box_iou(a, b, eps=1e-15), inter / union - (hull - union) / hull
    )


@pytest.mark.parametrize("fn", [VF.box_iou, VF.generalized_box_iou])
@pytest.mark.parametrize("d", [2, 3])
def test_pairwise_empty_sets(fn, d):
    a, b = _box_sets(4, 3, 2, d=d)
    assert fn(a[:0], b).shape == (0, 2)
    assert fn(a, b[:0]).shape == (3, 0)
    assert fn(a[:0].half(), b[:0].half()).dtype == torch.float32


def test_pairwise_degenerate_boxes():
    a = torch.tensor(
        [[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 2.0, 0.0], [3.0, 3.0, 1.0, 1.0], [0.0, 0.0, 2.0, 2.0]]
    )
    iou, giou = VF.box_iou(a, a), VF.generalized_box_iou(a, a)
    assert torch.isfinite(iou).all() and torch.isfinite(giou).all()
    # zero-area boxes (a point, a segment, an inverted box = the empty box at its centre)
    # overlap nothing: 0, including with themselves (torchvision's I/U gives NaN there)
    assert torch.equal(iou[:3], torch.zeros(3, 4))
    assert iou[3, 3].item() == pytest.approx(1.0, abs=1e-7)
    assert (giou <= 1).all() and (giou >= -1).all()  # -1: zero-area pairs far apart
    g = a.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(VF.generalized_box_iou(g, a).sum(), g)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int64])
def test_pairwise_low_precision_and_integer_boxes_compute_in_float32(dtype):
    # 300-pixel boxes: areas of 9e4, beyond float16's 65504
    a = torch.tensor([[0, 0, 300, 300], [100, 100, 400, 400]]).to(dtype)
    b = torch.tensor([[0, 0, 300, 300], [150, 0, 450, 300], [500, 500, 600, 600]]).to(dtype)
    for fn in (VF.box_iou, VF.generalized_box_iou):
        got = fn(a, b)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, fn(a.float(), b.float()))
    iou = VF.box_iou(a, b)
    assert iou[0, 0].item() == pytest.approx(1.0, abs=1e-7)
    assert iou[0, 1].item() == pytest.approx(1 / 3, abs=1e-6)  # I = 150*300, U = 2*9e4 - I


def test_pairwise_gradcheck_float64():
    a, b = _box_sets(5, 3, 4)
    a.requires_grad_(True)
    b.requires_grad_(True)
    for fn in (VF.box_iou, VF.generalized_box_iou):
        assert torch.autograd.gradcheck(lambda x, y, fn=fn: fn(x, y, box_format="cxcywh"), (a, b))


def test_pairwise_bad_input():
    with pytest.raises(ValueError, match=r"boxes1: expected 2D boxes \(N, 4\) or 3D boxes \(N, 6\), got \(2, 3, 4\)"):
        VF.box_iou(torch.zeros(2, 3, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"boxes2: expected .* \(M, 6\), got \(3, 5\)"):
        VF.generalized_box_iou(torch.zeros(2, 4), torch.zeros(3, 5))
    with pytest.raises(ValueError, match="boxes1 and boxes2: boxes of one dimension expected"):
        VF.box_iou(torch.zeros(2, 4), torch.zeros(3, 6))
    with pytest.raises(ValueError, match="box_format: expected one of"):
        VF.box_iou(torch.zeros(2, 4), torch.zeros(3, 4), box_format="ccwh")
    with pytest.raises(TypeError, match="boxes2: expected a torch.Tensor, got list"):
        VF.box_iou(torch.zeros(2, 4), [[0.0, 0.0, 1.0, 1.0]])


def test_pairwise_helpers_are_not_registered_losses():
    assert "generalized_box_iou" not in visionloss.available_losses()
    # "box_iou" is box_iou_loss's registry name (DESIGN section 3), not the matrix
    assert visionloss.get_loss("box_iou") is VF.box_iou_loss
