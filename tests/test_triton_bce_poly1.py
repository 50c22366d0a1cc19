"""The Triton kernels of binary cross-entropy with logits (``kernels/triton/bce.py``) and of Poly-1
with class ids (the cross-entropy kernels with the Poly-1 term) against their references
(torch's own ``binary_cross_entropy_with_logits``, ``kernels.poly1.poly1_ids_reference``) differentiated by autograd (in
float64, or on the float32 cast of a half / bfloat16 input), on CPU under the Triton interpreter
(``TRITON_INTERPRET=1``, set before triton is imported). Shapes are small and odd (37: partial
blocks) because the interpreter is slow.
"""

from __future__ import annotations

import importlib

import pytest
import torch

import visionloss.functional as VF
from triton_interpreter import import_interpreted
from visionloss._core.memory import saved_bytes
from visionloss.kernels import set_kernels
from visionloss.kernels.bce import bce_with_logits_reference
from visionloss.kernels.poly1 import poly1_ids, poly1_ids_reference

bce = import_interpreted("visionloss.kernels.triton.bce")

pytestmark = pytest.mark.usefixtures("triton_interpreter")

F64 = dict(rtol=1e-12, atol=1e-12)
SHAPE = (3, 4, 37)


def _inputs(gen, dtype=torch.float64):
    x = torch.randn(SHAPE, generator=gen, dtype=torch.float64) * 4
    x[0, 0, :4] = torch.tensor([60.0, -60.0, 1e4, -1e4])  # extreme logits stay finite
    y = torch.rand(SHAPE, generator=gen, dtype=torch.float64)
    y[1] = (y[1] > 0.5).double()  # hard 0/1 targets and soft ones
    return x.to(dtype).requires_grad_(True), y


def _grad(out, x, grad_out):
    (grad,) = torch.autograd.grad(out, x, grad_out)
    return grad


@pytest.mark.parametrize("pos_weight", ["none", "per_channel", "full"])
def test_matches_reference_float64(gen, pos_weight):
    x, y = _inputs(gen)
    pw = {
        "none": None,
        "per_channel": torch.rand(4, 1, generator=gen, dtype=torch.float64) * 3,  # zero strides
        "full": torch.rand(SHAPE, generator=gen, dtype=torch.float64) * 3,
    }[pos_weight]
    grad_out = torch.randn(SHAPE, generator=gen, dtype=torch.float64)
    ours = bce.bce_with_logits(x, y, pos_weight=pw)
    ref = bce_with_logits_reference(x, y, pos_weight=pw)
    assert ours.dtype == torch.float64 and torch.isfinite(ours).all()
    torch.testing.assert_close(ours, ref, **F64)
    torch.testing.assert_close(_grad(ours, x, grad_out), _grad(ref, x, grad_out), **F64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_low_precision_computes_in_float32(gen, dtype):
    x, y = _inputs(gen, dtype)
    y32 = y.float()
    pw = torch.linspace(0.5, 2.0, 4).view(4, 1)
    grad_out = torch.randn(SHAPE, generator=gen)
    ours = bce.bce_with_logits(x, y32, pos_weight=pw)
    assert ours.dtype == torch.float32
    ref = bce_with_logits_reference(x, y32, pos_weight=pw)  # casts x to float32 itself
    torch.testing.assert_close(ours, ref, rtol=1e-6, atol=1e-5)
    grad = _grad(ours, x, grad_out)
    assert grad.dtype == dtype
    torch.testing.assert_close(grad, _grad(ref, x, grad_out))


def test_strided_and_channels_last(gen):
    x = torch.randn(2, 3, 5, 7, generator=gen, dtype=torch.float64)
    y = torch.rand(2, 3, 5, 7, generator=gen, dtype=torch.float64)
    pw = torch.rand(3, 1, 1, generator=gen, dtype=torch.float64) + 0.5
    cases = [
        (x.to(memory_format=torch.channels_last), y),
        (x.transpose(2, 3), y.transpose(2, 3).contiguous()),
        (x[:, :, ::2], y[:, :, ::2]),
    ]
    for xi, yi in cases:
        xi = xi.detach().requires_grad_(True)
        grad_out = torch.randn(xi.shape, generator=gen, dtype=torch.float64).transpose(0, 1)
        grad_out = grad_out.contiguous().transpose(0, 1)  # a non-contiguous upstream gradient
        p = pw if xi.shape[-1] == 7 else None
        ours = bce.bce_with_logits(xi, yi, pos_weight=p)
        ref = bce_with_logits_reference(xi, yi, pos_weight=p)
        torch.testing.assert_close(ours, ref, **F64)
        torch.testing.assert_close(_grad(ours, xi, grad_out), _grad(ref, xi, grad_out), **F64)


def test_saves_only_inputs(gen):
    x, y = _inputs(gen, torch.float32)
    y, pw = y.float(), torch.full((4, 1), 2.0)
    assert saved_bytes(lambda: bce.bce_with_logits(x, y, pos_weight=pw), [x, y, pw]) == 0


def test_second_derivative_is_the_references(gen):
    x, y = _inputs(gen)
    pw = torch.rand(4, 1, generator=gen, dtype=torch.float64) + 0.5
    weights = torch.randn(SHAPE, generator=gen, dtype=torch.float64)
    v = torch.randn(SHAPE, generator=gen, dtype=torch.float64)
    results = []
    for run in (bce.bce_with_logits, bce_with_logits_reference):
        (grad,) = torch.autograd.grad(run(x, y, pos_weight=pw), x, weights, create_graph=True)
        (hvp,) = torch.autograd.grad(grad, x, v)
        results.append((grad, hvp))
    torch.testing.assert_close(results[0], results[1], **F64)


def test_nan_propagates_and_empty(gen):
    x = torch.tensor([0.0, float("nan"), 2.0])
    assert bce.bce_with_logits(x, torch.ones(3), pos_weight=None).isnan().tolist() == [
        False,
        True,
        False,
    ]
    empty = torch.zeros(0, 3, requires_grad=True)
    out = bce.bce_with_logits(empty, torch.zeros(0, 3), pos_weight=None)
    assert out.shape == (0, 3)
    out.sum().backward()
    assert empty.grad is not None and empty.grad.shape == (0, 3)


def test_not_covered(gen, monkeypatch):
    x = torch.randn(2, 3, 7, generator=gen)
    y = torch.rand(2, 3, 7, generator=gen)
    assert bce.covers(x, y, pos_weight=None)
    cases = [
        (lambda: bce.bce_with_logits(x, y.long(), pos_weight=None), "target of dtype"),
        (lambda: bce.bce_with_logits(x, y.clone().requires_grad_(True), pos_weight=None), "grad"),
        (lambda: bce.bce_with_logits(x, y[:, :1], pos_weight=None), "shape"),
        (lambda: bce.bce_with_logits(x, y, pos_weight=torch.ones(4)), "pos_weight"),
        (lambda: bce.bce_with_logits(x, y, pos_weight=torch.ones(3, dtype=torch.long)), "dtype"),
        (lambda: bce.bce_with_logits(x.to(torch.complex64), y, pos_weight=None), "dtype"),
    ]
    for run, match in cases:
        with pytest.raises(NotImplementedError, match=match):
            run()
    monkeypatch.delenv("TRITON_INTERPRET")
    assert not bce.covers(x, y, pos_weight=None)
    with pytest.raises(NotImplementedError, match="cpu"):
        bce.bce_with_logits(x, y, pos_weight=None)


def test_forced_triton_backend_runs_the_loss_through_the_kernel(gen, monkeypatch):
    """VISIONLOSS_KERNELS=triton sends ``binary_cross_entropy`` through the kernel (interpreted
    on CPU), options included (pos_weight, label smoothing, ignored integer targets): the same
    values and gradients as the reference backend; an uncovered call raises."""
    calls = []
    original = bce.bce_with_logits
    monkeypatch.setattr(
        bce, "bce_with_logits", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    x = torch.randn(3, 2, 5, generator=gen, dtype=torch.float64)
    t = torch.randint(0, 2, (3, 2, 5), generator=gen)
    t[0, 0, 0] = -100
    options = dict(pos_weight=[2.0], label_smoothing=0.1)
    results = {}
    try:
        for backend in ("triton", "reference"):
            set_kernels(backend)
            xi = x.clone().requires_grad_(True)
            value = VF.binary_cross_entropy(xi, t, **options)
            (grad,) = torch.autograd.grad(value * 1.7, xi)
            results[backend] = (value, grad)
        set_kernels("triton")
        soft = torch.rand(3, 2, 5, generator=gen, dtype=torch.float64, requires_grad=True)
        with pytest.raises(NotImplementedError, match="does not cover"):
            VF.binary_cross_entropy(x, soft)
    finally:
        set_kernels("auto")
    assert calls, "the triton backend did not run the kernel"
    torch.testing.assert_close(results["triton"], results["reference"])


# --- Poly-1 with class ids (the cross-entropy kernels with the POLY term) ------------------------

ce = importlib.import_module("visionloss.kernels.triton.cross_entropy")


def _poly_inputs(gen, shape=(3, 5, 37), dtype=torch.float64):
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * 3
    ids = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=gen)
    # p_y -> 1 at the first position of sample 0 (the 1 - p_t term's precision)
    first = (0, slice(None)) + (0,) * (len(shape) - 2)
    x[first] = 0.0
    x[(0, 0) + (0,) * (len(shape) - 2)] = 40.0
    ids[(0,) + (0,) * (len(shape) - 2)] = 0
    return x.to(dtype).requires_grad_(True), ids


@pytest.mark.parametrize("shape", [(3, 5, 37), (6, 7), (1, 4, 3, 4, 5)], ids=["1d", "rows", "3d"])
@pytest.mark.parametrize("weighted", [False, True], ids=["", "class_weight"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("epsilon", [1.0, -0.5])
def test_poly1_matches_reference(gen, shape, weighted, smoothing, epsilon):
    x, ids = _poly_inputs(gen, shape)
    w = None
    if weighted:
        w = torch.rand(shape[1], generator=gen, dtype=torch.float64) + 0.1
        w[1] = 0.0  # a class of weight 0
    options = dict(class_weight=w, label_smoothing=smoothing, epsilon=epsilon)
    grad_out = torch.randn(ids.shape, generator=gen, dtype=torch.float64)
    ours = ce.poly1_ids_triton(x, ids, **options)
    ref = poly1_ids_reference(x, ids, **options)
    torch.testing.assert_close(ours, ref, **F64)
    torch.testing.assert_close(_grad(ours, x, grad_out), _grad(ref, x, grad_out), **F64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_poly1_low_precision(gen, dtype):
    x, ids = _poly_inputs(gen, dtype=dtype)
    grad_out = torch.randn(ids.shape, generator=gen)
    ours = ce.poly1_ids_triton(x, ids, label_smoothing=0.1, dtype=torch.float32)
    assert ours.dtype == torch.float32
    ref = poly1_ids_reference(x, ids, label_smoothing=0.1, dtype=torch.float32)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    grad = _grad(ours, x, grad_out)
    assert grad.dtype == dtype
    torch.testing.assert_close(grad, _grad(ref, x, grad_out))


def test_poly1_channels_last_saved_memory_and_second_derivative(gen):
    x = torch.randn(2, 4, 5, 3, generator=gen, dtype=torch.float64)
    x = x.to(memory_format=torch.channels_last).requires_grad_(True)
    ids = torch.randint(0, 4, (2, 5, 3), generator=gen)
    grad_out = torch.randn(ids.shape, generator=gen, dtype=torch.float64)
    ours = ce.poly1_ids_triton(x, ids, epsilon=2.0)
    ref = poly1_ids_reference(x, ids, epsilon=2.0)
    torch.testing.assert_close(ours, ref, **F64)
    torch.testing.assert_close(_grad(ours, x, grad_out), _grad(ref, x, grad_out), **F64)
    # the inputs and one float64 log-sum-exp per position
    kept = saved_bytes(lambda: ce.poly1_ids_triton(x, ids, epsilon=2.0), [x, ids])
    assert kept == ids.numel() * 8
    v = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    hvps = []
    for run in (ce.poly1_ids_triton, poly1_ids_reference):
        (grad,) = torch.autograd.grad(run(x, ids, epsilon=2.0), x, grad_out, create_graph=True)
        hvps.append(torch.autograd.grad(grad, x, v)[0])
    torch.testing.assert_close(hvps[0], hvps[1], **F64)


def test_poly1_not_covered_and_forced_backend(gen, monkeypatch):
    x, ids = _poly_inputs(gen, (2, 3, 7))
    with pytest.raises(NotImplementedError, match="dtype"):
        ce.poly1_ids_triton(x, ids.float())
    calls = []
    original = ce.poly1_ids_triton
    monkeypatch.setattr(ce, "poly1_ids_triton", lambda *a, **k: calls.append(1) or original(*a, **k))
    t = ids.clone()
    t[0, 0] = -100
    options = dict(epsilon=1.5, label_smoothing=0.1, class_weight=[1.0, 2.0, 0.5])
    results = {}
    try:
        for backend in ("triton", "reference"):
            set_kernels(backend)
            xi = x.detach().clone().requires_grad_(True)
            value = VF.poly1_loss(xi, t, **options)
            (grad,) = torch.autograd.grad(value * 1.7, xi)
            results[backend] = (value, grad)
        set_kernels("triton")
        # every call of the public loss is covered; the op refuses what the kernel does not take
        with pytest.raises(NotImplementedError, match="does not cover"):
            poly1_ids(x, ids.float())
    finally:
        set_kernels("auto")
    assert calls, "the triton backend did not run the kernel"
    torch.testing.assert_close(results["triton"], results["reference"])
