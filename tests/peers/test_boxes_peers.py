"""Boxes family against MONAI (written against monai 1.6.1).

MONAI's ``BoxGIoULoss`` is the only installed peer with a box IoU loss (kornia has none;
torchvision is not importable here, its formulas are transcribed in tests/test_boxes.py). Where
MONAI's conventions meet ours:

* it computes in float32 with ``eps = torch.finfo(float32).eps`` (1.19e-7) in
  ``I / (U + eps)`` and ``(C - U) / (C + eps)``; ours is ``(I + eps) / (U + eps)`` with eps 1e-7,
  so on boxes of area ~1 the two agree to a few 1e-7;
* its "StandardMode" for 2D boxes is xyxy; ``convert_box_mode`` names our "cxcywh" "ccwh";
* 3D boxes (issue 19): its StandardMode is "xyzxyz" (x1, y1, z1, x2, y2, z2), our "xyxy" read
  per axis; its "xyzwhd" and "cccwhd" are our "xywh" and "cxcywh" read per axis.
"""

from __future__ import annotations

import pytest
import torch

import visionloss.functional as VF

monai = pytest.importorskip("monai")
from monai.data.box_utils import convert_box_mode  # noqa: E402
from monai.losses import BoxGIoULoss  # noqa: E402


def _pairs(seed: int, n: int = 64, d: int = 2):
    # overlapping, nested and disjoint pairs, sizes 0.5 to 3.5, in d dimensions
    gen = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, d, generator=gen) * 4
    wh = torch.rand(n, d, generator=gen) * 3 + 0.5
    shift = torch.randn(n, d, generator=gen) * 1.5
    scale = torch.exp(torch.randn(n, d, generator=gen) * 0.4)
    target = torch.cat((xy, xy + wh), dim=-1)
    pred = torch.cat((xy + shift, xy + shift + wh * scale), dim=-1)
    return pred, target


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_giou_matches_monai(reduction):
    pred, target = _pairs(seed=0)
    ours = VF.giou_loss(pred, target, reduction=reduction)
    theirs = BoxGIoULoss(reduction=reduction)(pred, target)
    atol = 1e-6 if reduction != "sum" else 64e-6
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=atol)


def test_giou_matches_monai_on_disjoint_and_nested_boxes():
    pred = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 10.0, 1.0]])
    target = torch.tensor([[2.0, 0.0, 3.0, 1.0], [1.0, 1.0, 3.0, 3.0], [20.0, 5.0, 21.0, 30.0]])
    ours = VF.giou_loss(pred, target, reduction="none")
    theirs = BoxGIoULoss(reduction="none")(pred, target)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("ours", "theirs"), [("xyxy", "xyxy"), ("xywh", "xywh"), ("cxcywh", "ccwh")]
)
def test_box_convert_matches_monai(ours, theirs):
    pred, _ = _pairs(seed=1, n=16)
    for src_o, src_t in [("xyxy", "xyxy"), ("xywh", "xywh"), ("cxcywh", "ccwh")]:
        boxes = VF.box_convert(pred, "xyxy", src_o)
        torch.testing.assert_close(
            VF.box_convert(boxes, src_o, ours),
            convert_box_mode(boxes, src_mode=src_t, dst_mode=theirs),
            rtol=1e-6,
            atol=1e-6,
        )


# --- 3D boxes (issue 19) --------------------------------------------------------------------------


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_giou_values_and_gradients_match_monai_2d_and_3d(d, reduction):
    pred, target = _pairs(seed=2 + d, n=64, d=d)
    p_ours = pred.clone().requires_grad_(True)
    p_theirs = pred.clone().requires_grad_(True)
    ours = VF.giou_loss(p_ours, target, reduction=reduction)
    theirs = BoxGIoULoss(reduction=reduction)(p_theirs, target)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    grad = torch.linspace(0.5, 1.5, ours.numel()).reshape(ours.shape)
    (g_ours,) = torch.autograd.grad(ours, p_ours, grad)
    (g_theirs,) = torch.autograd.grad(theirs, p_theirs, grad)
    # the eps placements differ by ~1e-7 relative; the gradients agree as closely
    torch.testing.assert_close(g_ours, g_theirs, rtol=1e-4, atol=1e-6)


def test_3d_giou_matches_monai_on_disjoint_and_nested_cuboids():
    pred = torch.tensor(
        [[0.0, 0.0, 0.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 4.0, 4.0, 4.0],
         [0.0, 0.0, 0.0, 10.0, 1.0, 2.0]]
    )  # fmt: skip
    target = torch.tensor(
        [[2.0, 0.0, 0.0, 3.0, 1.0, 1.0], [1.0, 1.0, 1.0, 3.0, 3.0, 3.0],
         [20.0, 5.0, -3.0, 21.0, 30.0, -1.0]]
    )  # fmt: skip
    ours = VF.giou_loss(pred, target, reduction="none")
    theirs = BoxGIoULoss(reduction="none")(pred, target)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(("ours", "theirs"), [("xywh", "xyzwhd"), ("cxcywh", "cccwhd")])
def test_3d_formats_are_monais_per_axis_modes(ours, theirs):
    pred, target = _pairs(seed=5, n=16, d=3)
    converted_p = convert_box_mode(pred, src_mode="xyzxyz", dst_mode=theirs)
    converted_t = convert_box_mode(target, src_mode="xyzxyz", dst_mode=theirs)
    torch.testing.assert_close(VF.box_convert(pred, "xyxy", ours), converted_p)
    torch.testing.assert_close(
        VF.giou_loss(converted_p, converted_t, box_format=ours, reduction="none"),
        BoxGIoULoss(reduction="none")(pred, target),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize("d", [2, 3])
def test_pairwise_matrices_match_monai_box_iou_and_box_giou(d):
    from monai.data.box_utils import box_giou, box_iou

    a, _ = _pairs(seed=6, n=9, d=d)
    b, _ = _pairs(seed=7, n=5, d=d)
    # MONAI: I / (U + eps), eps = finfo(float32).eps; ours eps 1e-7
    torch.testing.assert_close(VF.box_iou(a, b), box_iou(a, b), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(VF.generalized_box_iou(a, b), box_giou(a, b), rtol=1e-5, atol=1e-6)
