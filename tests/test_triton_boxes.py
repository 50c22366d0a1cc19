"""The Triton kernel of the box-regression losses (``visionloss.kernels.triton.boxes``) against
the plain PyTorch reference ``box_loss_reference`` differentiated by autograd, on CPU under the
Triton interpreter (``TRITON_INTERPRET=1``, set before triton is imported). Small batches: the
interpreter is slow.
"""

from __future__ import annotations

import pytest
import torch

import visionloss.functional as VF
from triton_interpreter import import_interpreted
from visionloss import kernels
from visionloss.kernels.boxes import box_loss_reference

tb = import_interpreted("visionloss.kernels.triton.boxes")

pytestmark = pytest.mark.usefixtures("triton_interpreter")

KINDS = ["iou", "giou", "diou", "ciou", "eiou"]


def _boxes(gen, n, dtype=torch.float64):
    lo = torch.rand(n, 2, generator=gen, dtype=torch.float64) * 4
    size = torch.rand(n, 2, generator=gen, dtype=torch.float64) * 3
    boxes = torch.cat([lo, lo + size], -1)
    boxes[0, 2:] = boxes[0, :2]  # a point
    boxes[1, 2] = boxes[1, 0] - 1  # an inverted side
    boxes[2, 3] = boxes[2, 1]  # zero height
    return boxes.to(dtype)


def _pair(gen, n=37, dtype=torch.float64):
    pred, target = _boxes(gen, n, dtype), _boxes(gen, n, dtype)
    target[3] = pred[3]  # identical
    target[4, :2] = pred[4, :2]  # a shared corner
    return pred, target


@pytest.mark.parametrize("box_format", ["xyxy", "xywh", "cxcywh"])
@pytest.mark.parametrize("kind", KINDS)
def test_matches_reference_float64(kind, box_format):
    gen = torch.Generator().manual_seed(11)
    pred, target = _pair(gen)
    pred.requires_grad_(True)
    target.requires_grad_(True)
    grad = torch.randn(37, generator=gen, dtype=torch.float64)
    out = tb.box_loss_triton(pred, target, kind=kind, box_format=box_format, eps=1e-7)
    ref = box_loss_reference(pred, target, kind, box_format, 1e-7)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    for a, b in zip(
        torch.autograd.grad(out, (pred, target), grad),
        torch.autograd.grad(ref, (pred, target), grad),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=1e-7, atol=1e-7)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_low_precision_in_float32(dtype):
    gen = torch.Generator().manual_seed(2)
    pred, target = _pair(gen, 24, dtype)
    pred = pred.reshape(4, 6, 4).requires_grad_(True)
    target = target.reshape(4, 6, 4)
    for kind in KINDS:
        out = tb.box_loss_triton(pred, target, kind=kind, box_format="cxcywh", eps=1e-7)
        ref = box_loss_reference(pred, target, kind, "cxcywh", 1e-7)
        assert out.dtype == torch.float32 and out.shape == (4, 6)
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
        (g,) = torch.autograd.grad(out.sum(), pred)
        (g_ref,) = torch.autograd.grad(ref.sum(), pred)
        assert g.dtype == dtype
        # one rounding of the gradient to the boxes' dtype apart (a bfloat16 ulp is 2^-8)
        tol = 1e-2 if dtype == torch.bfloat16 else 1e-3
        torch.testing.assert_close(g, g_ref, rtol=tol, atol=tol)


def test_non_contiguous_boxes_and_saved_tensors():
    gen = torch.Generator().manual_seed(4)
    wide = torch.rand(10, 9, generator=gen, dtype=torch.float64) * 3
    pred = wide[:, ::2].clone()[:, :4]  # a strided view: row stride 5
    pred[:, 2:] += 3
    pred.requires_grad_(True)
    target = torch.rand(4, 10, generator=gen, dtype=torch.float64).t()  # column-major
    target = target + torch.tensor([0.0, 0.0, 3.0, 3.0], dtype=torch.float64)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        out = tb.box_loss_triton(pred, target, kind="giou", box_format="xyxy", eps=1e-7)
    assert all(t is pred or t is target for t in saved)
    ref = box_loss_reference(pred, target, "giou", "xyxy", 1e-7)
    torch.testing.assert_close(out, ref)
    (g,) = torch.autograd.grad(out.sum(), pred)
    (g_ref,) = torch.autograd.grad(ref.sum(), pred)
    torch.testing.assert_close(g, g_ref)


def test_dispatch_forced_triton_and_covers(monkeypatch):
    monkeypatch.setattr(kernels, "_backend", "triton")
    gen = torch.Generator().manual_seed(9)
    pred, target = _pair(gen, 8, torch.float32)
    pred.requires_grad_(True)
    loss = VF.ciou_loss(pred, target)
    loss.backward()
    torch.testing.assert_close(loss, box_loss_reference(pred, target, "ciou", "xyxy", 1e-7).mean())
    assert not tb.covers(torch.zeros(2, 6), torch.zeros(2, 6), "giou")
    assert not tb.covers(torch.zeros(2, 4, dtype=torch.int64), torch.zeros(2, 4), "giou")
    empty = torch.zeros(0, 4, requires_grad=True)
    VF.giou_loss(empty, torch.zeros(0, 4)).backward()
    assert empty.grad.shape == (0, 4)


def test_nan_propagates_and_double_backward():
    pred = torch.tensor([[0.0, 0.0, float("nan"), 1.0], [0.0, 0.0, 2.0, 2.0]], requires_grad=True)
    target = torch.tensor([[0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 3.0, 3.0]])
    out = tb.box_loss_triton(pred, target, kind="diou", box_format="xyxy", eps=1e-7)
    assert out[0].isnan() and out[1].isfinite()
    p = pred.detach()[1:].double().requires_grad_(True)
    t = target[1:].double().requires_grad_(True)
    (g,) = torch.autograd.grad(
        tb.box_loss_triton(p, t, kind="giou", box_format="xyxy", eps=1e-7).sum(),
        p,
        create_graph=True,
    )
    (g_ref,) = torch.autograd.grad(
        box_loss_reference(p, t, "giou", "xyxy", 1e-7).sum(), p, create_graph=True
    )
    torch.testing.assert_close(
        torch.autograd.grad(g.sum(), p)[0], torch.autograd.grad(g_ref.sum(), p)[0]
    )
