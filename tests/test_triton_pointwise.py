"""The Triton kernels of the pointwise regression losses (log-cosh, Charbonnier, Huber, Smooth L1,
Gaussian NLL, Barron's robust loss) against the plain PyTorch references, on CPU under the Triton
interpreter (``TRITON_INTERPRET=1``, set before triton is imported). The properties every kernel
shares (extreme inputs, determinism, saved memory, NaN, empty, second derivatives) are swept in
``tests/test_triton_dense.py`` too.

Expected values: the references of ``visionloss.kernels.pointwise`` (or torch's own
``F.huber_loss``, ``F.smooth_l1_loss``) differentiated by autograd in float64, or on the float32
cast of a half / bfloat16 input. Shapes are small and odd (37: partial blocks) because the
interpreter is slow.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from triton_interpreter import import_interpreted
from visionloss._core.memory import saved_bytes
from visionloss.kernels.pointwise import (
    gaussian_nll_reference,
    log_cosh_reference,
    robust_reference,
)

pw = import_interpreted("visionloss.kernels.triton.pointwise")
nr = import_interpreted("visionloss.kernels.triton.nll_robust")

pytestmark = pytest.mark.usefixtures("triton_interpreter")

F64 = dict(rtol=1e-12, atol=1e-12)


def _grads(out, inputs, grad_out):
    return torch.autograd.grad(out, inputs, grad_out)


def _logits(gen, shape, dtype=torch.float64, scale=3.0):
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * scale
    return x.to(dtype).requires_grad_(True)


# --- pointwise ---------------------------------------------------------------------------------


def _charbonnier_ref(x, y, eps):
    d = x - y
    return torch.sqrt(d * d + eps * eps) - eps


POINTWISE = {
    "log_cosh": (lambda x, y: pw.log_cosh(x, y), log_cosh_reference),
    "charbonnier": (
        lambda x, y: pw.charbonnier(x, y, eps=1e-3),
        lambda x, y: _charbonnier_ref(x, y, 1e-3),
    ),
    "huber": (
        lambda x, y: pw.huber(x, y, delta=0.7),
        lambda x, y: F.huber_loss(x, y, reduction="none", delta=0.7),
    ),
    "smooth_l1": (
        lambda x, y: pw.smooth_l1(x, y, beta=0.3),
        lambda x, y: F.smooth_l1_loss(x, y, reduction="none", beta=0.3),
    ),
    "l1": (
        lambda x, y: pw.smooth_l1(x, y, beta=0.0),
        lambda x, y: F.smooth_l1_loss(x, y, reduction="none", beta=0.0),
    ),
}


@pytest.mark.parametrize("op", list(POINTWISE))
def test_pointwise_matches_reference(gen, op):
    ours_fn, ref_fn = POINTWISE[op]
    shape = (3, 5, 37)
    x = _logits(gen, shape)
    y = torch.randn(shape, generator=gen, dtype=torch.float64).requires_grad_(True)
    with torch.no_grad():  # residuals on both sides of every branch point, and tiny ones
        x.view(-1)[:8] = y.view(-1)[:8] + torch.tensor(
            [1e-5, -1e-4, 0.3, -0.3, 0.7, 2.0, -2.0, 0.0]
        )
    grad_out = torch.randn(shape, generator=gen, dtype=torch.float64)
    ours, ref = ours_fn(x, y), ref_fn(x, y)
    assert ours.dtype == torch.float64 and ours.shape == shape
    torch.testing.assert_close(ours, ref, **F64)
    torch.testing.assert_close(_grads(ours, (x, y), grad_out), _grads(ref, (x, y), grad_out), **F64)
    # only the input differentiated; an integer target
    t_int = torch.randint(-3, 3, shape, generator=gen)
    ours, ref = ours_fn(x, t_int), ref_fn(x, t_int.double())
    torch.testing.assert_close(ours, ref, **F64)
    torch.testing.assert_close(_grads(ours, x, grad_out), _grads(ref, x, grad_out), **F64)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_pointwise_low_precision(gen, dtype):
    shape = (2, 3, 37)
    x = _logits(gen, shape, dtype)
    y = torch.randn(shape, generator=gen).to(dtype)
    ref_x = x.detach().float().requires_grad_(True)
    grad_out = torch.randn(shape, generator=gen)
    eps = torch.finfo(dtype).eps
    for op, (ours_fn, ref_fn) in POINTWISE.items():
        ours = ours_fn(x, y)
        ref = ref_fn(ref_x, y.float())
        (grad,) = _grads(ours, x, grad_out)
        assert ours.dtype == torch.float32 and grad.dtype == dtype, op
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(
            grad.float(), _grads(ref, ref_x, grad_out)[0], rtol=2 * eps, atol=1e-6
        )


def test_log_cosh_tiny_residuals_keep_precision():
    d = torch.tensor([1e-4, 1e-3, 3e-2, 1.9, 2.1, 30.0, 100.0])
    ours = pw.log_cosh(d, torch.zeros(7))
    exact = log_cosh_reference(d.double(), torch.zeros(7, dtype=torch.float64))
    torch.testing.assert_close(ours.double(), exact, rtol=1e-6, atol=0)


def test_pointwise_strided(gen):
    x = _logits(gen, (2, 3, 4, 5)).detach().to(memory_format=torch.channels_last)
    x.requires_grad_(True)
    y = torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64)
    big = torch.randn(2, 3, 9, 5, generator=gen, dtype=torch.float64)
    grad_out = torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64)
    for target in (y, big[:, :, ::2][:, :, :4], y.transpose(2, 3).contiguous().transpose(2, 3)):
        ours = pw.huber(x, target, delta=1.0)
        ref = F.huber_loss(x, target, reduction="none")
        torch.testing.assert_close(ours, ref, **F64)
        (grad,) = _grads(ours, x, grad_out)
        torch.testing.assert_close((grad,), _grads(ref, x, grad_out), **F64)
        assert grad.is_contiguous(memory_format=torch.channels_last)
    # an expanded upstream gradient (the backward of a sum)
    ours = pw.log_cosh(x, y)
    (grad,) = _grads(ours.sum(), x, None)
    torch.testing.assert_close(grad, torch.tanh(x - y).detach(), **F64)


# --- Gaussian NLL ------------------------------------------------------------------------------


def _nll_inputs(gen, shape, logvar_shape, dtype=torch.float64):
    mean = _logits(gen, shape, dtype, scale=1.0)
    target = torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype).requires_grad_(True)
    logvar = (torch.randn(logvar_shape, generator=gen, dtype=torch.float64) * 2).to(dtype)
    return mean, target, logvar.requires_grad_(True)


@pytest.mark.parametrize("full", [True, False])
@pytest.mark.parametrize("logvar_shape", [(3, 5, 37), (1, 5, 1), ()], ids=["full", "channel", "scalar"])
def test_gaussian_nll_matches_reference(gen, full, logvar_shape):
    shape = (3, 5, 37)
    mean, target, logvar = _nll_inputs(gen, shape, logvar_shape)
    if logvar.shape == shape:
        with torch.no_grad():  # below the clamp (-709 in float64): the exp term stops there
            logvar.view(-1)[:2] = torch.tensor([-800.0, -709.0])
            target.view(-1)[0] = mean.view(-1)[0]  # a zero residual: finite, no 0 * inf
    grad_out = torch.randn(shape, generator=gen, dtype=torch.float64)
    ours = nr.gaussian_nll(mean, target, logvar, full=full)
    ref = gaussian_nll_reference(mean, target, logvar, full)
    assert ours.dtype == torch.float64 and ours.shape == shape
    torch.testing.assert_close(ours, ref, **F64)
    inputs = (mean, target, logvar)
    torch.testing.assert_close(_grads(ours, inputs, grad_out), _grads(ref, inputs, grad_out), **F64)
    # only logvar differentiated
    ours = nr.gaussian_nll(mean.detach(), target.detach(), logvar, full=full)
    ref = gaussian_nll_reference(mean.detach(), target.detach(), logvar, full)
    torch.testing.assert_close(_grads(ours, logvar, grad_out), _grads(ref, logvar, grad_out), **F64)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_gaussian_nll_low_precision(gen, dtype):
    shape = (2, 3, 37)
    mean, target, logvar = _nll_inputs(gen, shape, (1, 3, 1), dtype)
    refs = [t.detach().float().requires_grad_(True) for t in (mean, target, logvar)]
    grad_out = torch.randn(shape, generator=gen)
    ours = nr.gaussian_nll(mean, target, logvar, full=True)
    ref = gaussian_nll_reference(*refs, True)
    grads = _grads(ours, (mean, target, logvar), grad_out)
    assert ours.dtype == torch.float32 and all(g.dtype == dtype for g in grads)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    # a half gradient is the float32 one rounded once; logvar's is a float32 sum of 74 terms
    # (summed in another order than the reference's)
    rtol = 4 * torch.finfo(dtype).eps
    got_mean, got_target, got_logvar = grads
    want_mean, want_target, want_logvar = _grads(ref, refs, grad_out)
    torch.testing.assert_close(got_mean.float(), want_mean, rtol=rtol, atol=rtol)
    torch.testing.assert_close(got_target.float(), want_target, rtol=rtol, atol=rtol)
    tol = max(rtol, 1e-5)
    torch.testing.assert_close(got_logvar.float(), want_logvar, rtol=tol, atol=tol)


def test_gaussian_nll_strided(gen):
    mean = _logits(gen, (2, 3, 4, 5), scale=1.0).detach().to(memory_format=torch.channels_last)
    mean.requires_grad_(True)
    big = torch.randn(2, 3, 9, 5, generator=gen, dtype=torch.float64)
    target = big[:, :, ::2][:, :, :4]
    logvar = torch.randn(3, 1, 1, generator=gen, dtype=torch.float64).requires_grad_(True)
    ours = nr.gaussian_nll(mean, target, logvar, full=True)
    ref = gaussian_nll_reference(mean, target, logvar, True)
    torch.testing.assert_close(ours, ref, **F64)
    # an expanded upstream gradient (the backward of a sum)
    torch.testing.assert_close(
        _grads(ours.sum(), (mean, logvar), None), _grads(ref.sum(), (mean, logvar), None), **F64
    )
    ours = nr.gaussian_nll(mean, target, logvar, full=True)
    (grad,) = _grads(ours, mean, torch.ones_like(ours))
    assert grad.is_contiguous(memory_format=torch.channels_last)


# --- robust ------------------------------------------------------------------------------------

ALPHAS = [2.0, 0.0, -math.inf, math.inf, 1.0, -2.0, 0.5, 4.0, 2.0 + 1e-20]


@pytest.mark.parametrize("alpha", ALPHAS)
def test_robust_matches_reference(gen, alpha):
    shape = (3, 37)
    scale = 0.7 if alpha != math.inf else 3.0  # +inf: exp(z/2) stays finite
    x = _logits(gen, shape, scale=1.5)
    y = torch.randn(shape, generator=gen, dtype=torch.float64).requires_grad_(True)
    with torch.no_grad():
        x.view(-1)[:3] = y.view(-1)[:3] + torch.tensor([0.0, 1e-6, -1e-3])
    grad_out = torch.randn(shape, generator=gen, dtype=torch.float64)
    ours = nr.robust(x, y, alpha=alpha, scale=scale)
    ref = robust_reference(x, y, alpha, scale)
    torch.testing.assert_close(ours, ref, **F64)
    torch.testing.assert_close(_grads(ours, (x, y), grad_out), _grads(ref, (x, y), grad_out), **F64)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_robust_low_precision(gen, dtype):
    shape = (2, 37)
    x = _logits(gen, shape, dtype, scale=1.5)
    y = torch.randn(shape, generator=gen).to(dtype)
    ref_x = x.detach().float().requires_grad_(True)
    grad_out = torch.randn(shape, generator=gen)
    eps = torch.finfo(dtype).eps
    for alpha in (2.0, 0.0, -math.inf, 1.0, -2.0):
        ours = nr.robust(x, y, alpha=alpha, scale=0.8)
        ref = robust_reference(ref_x, y.float(), alpha, 0.8)
        (grad,) = _grads(ours, x, grad_out)
        assert ours.dtype == torch.float32 and grad.dtype == dtype
        torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(
            grad.float(), _grads(ref, ref_x, grad_out)[0], rtol=2 * eps, atol=1e-6
        )


def test_robust_strided(gen):
    x = _logits(gen, (2, 3, 4, 5)).detach().to(memory_format=torch.channels_last)
    x.requires_grad_(True)
    y = torch.randn(2, 3, 5, 4, generator=gen, dtype=torch.float64).transpose(2, 3)
    grad_out = torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64).transpose(0, 3)
    grad_out = grad_out.contiguous().transpose(0, 3)  # strides that merge with nothing else
    ours = nr.robust(x, y, alpha=-2.0, scale=1.0)
    ref = robust_reference(x, y, -2.0, 1.0)
    torch.testing.assert_close(ours, ref, **F64)
    torch.testing.assert_close(_grads(ours, x, grad_out), _grads(ref, x, grad_out), **F64)


# --- shared: memory, second order, NaN, coverage, the dispatch ---------------------------------


def _both(gen):
    """``(kernel, reference, inputs)``: each a function of the inputs, float64."""
    mean, target, logvar = _nll_inputs(gen, (3, 7), (1, 7))
    x = _logits(gen, (3, 7))
    return [
        (
            lambda m, t, v: nr.gaussian_nll(m, t, v, full=True),
            lambda m, t, v: gaussian_nll_reference(m, t, v, True),
            (mean, target, logvar),
        ),
        (
            lambda a, b: nr.robust(a, b, alpha=-2.0, scale=0.5),
            lambda a, b: robust_reference(a, b, -2.0, 0.5),
            (x, target),
        ),
        (
            lambda a, b: nr.robust(a, b, alpha=0.0, scale=0.5),
            lambda a, b: robust_reference(a, b, 0.0, 0.5),
            (x, target),
        ),
    ]


def test_saves_only_the_inputs(gen):
    for kernel, _, inputs in _both(gen):
        assert saved_bytes(lambda k=kernel, i=inputs: k(*i), inputs=inputs) == 0


def test_second_derivative_is_the_references(gen):
    for kernel, ref, inputs in _both(gen):
        torch.autograd.gradgradcheck(kernel, inputs)
        grads = torch.autograd.grad(kernel(*inputs).sum(), inputs, create_graph=True)
        expected = torch.autograd.grad(ref(*inputs).sum(), inputs, create_graph=True)
        second = torch.autograd.grad(sum((g * g).sum() for g in grads), inputs)
        second_ref = torch.autograd.grad(sum((g * g).sum() for g in expected), inputs)
        torch.testing.assert_close(second, second_ref, **F64)


def test_nan_propagates():
    nan = torch.tensor([float("nan"), 0.5, 1.0], dtype=torch.float64, requires_grad=True)
    zero = torch.zeros(3, dtype=torch.float64)
    for out in (
        nr.gaussian_nll(nan, zero, zero, full=True),
        nr.gaussian_nll(zero, zero, nan, full=True),
        nr.robust(nan, zero, alpha=1.0, scale=1.0),
    ):
        assert torch.isnan(out[0]) and torch.isfinite(out[1:]).all()
    (grad,) = _grads(nr.gaussian_nll(zero + 1.0, zero, nan, full=True), nan, torch.ones(3))
    assert torch.isnan(grad[0])


def test_empty():
    x = torch.zeros(0, 3, dtype=torch.float64, requires_grad=True)
    for out in (nr.gaussian_nll(x, x.detach(), x, full=True), nr.robust(x, x.detach(), alpha=1.0,
                                                                         scale=1.0)):
        assert out.shape == (0, 3)
        (grad,) = _grads(out.sum(), x, None)
        assert grad.shape == (0, 3)


def test_not_covered(gen):
    x = torch.randn(2, 3, dtype=torch.float64)
    assert nr.covers("robust", x, x, 1.0, 2.0)
    assert nr.covers("gaussian_nll", x, x, x[:1])
    assert not nr.covers("robust", x, x, torch.tensor(1.0), 2.0)
    assert not nr.covers("robust", x, x, 1.0, torch.tensor(2.0))
    assert not nr.covers("gaussian_nll", x, x, torch.zeros(3, 3, dtype=torch.float64))
    assert not nr.covers("gaussian_nll", x, x.to(torch.int64), x)
    with pytest.raises(NotImplementedError, match="alpha"):
        nr.robust(x, x, alpha=torch.tensor(1.0), scale=1.0)


@pytest.mark.parametrize(
    "loss,make",
    [
        (
            "gaussian_nll_loss",
            lambda g: (
                (
                    torch.randn(3, 7, generator=g, dtype=torch.float64),
                    torch.randn(3, 7, generator=g, dtype=torch.float64),
                    torch.randn(1, 7, generator=g, dtype=torch.float64),
                ),
                {},
            ),
        ),
        (
            "robust_loss",
            lambda g: (
                (
                    torch.randn(3, 7, generator=g, dtype=torch.float64),
                    torch.randn(3, 7, generator=g, dtype=torch.float64),
                ),
                {"alpha": -2.0, "scale": 0.5},
            ),
        ),
    ],
    ids=["gaussian_nll", "robust"],
)
def test_forced_triton_backend_runs_the_losses_through_the_kernels(gen, monkeypatch, loss, make):
    """VISIONLOSS_KERNELS=triton sends the losses through these kernels (interpreted on CPU):
    the same values and gradients as the reference backend."""
    import visionloss.functional as VF
    from visionloss.kernels import set_kernels

    monkeypatch.setenv("TRITON_INTERPRET", "1")
    calls = []
    for name in ("gaussian_nll", "robust"):
        original = getattr(nr, name)
        monkeypatch.setattr(nr, name, lambda *a, _f=original, **k: calls.append(1) or _f(*a, **k))
    inputs, options = make(gen)
    results = {}
    try:
        for backend in ("triton", "reference"):
            set_kernels(backend)
            leaves = [t.clone().requires_grad_(True) for t in inputs]
            value = getattr(VF, loss)(*leaves, **options)
            results[backend] = (value, *torch.autograd.grad(value * 1.7, leaves))
    finally:
        set_kernels("auto")
    assert calls, "the triton backend did not run a kernel"
    torch.testing.assert_close(results["triton"], results["reference"])


def test_forced_triton_backend_refuses_an_uncovered_call(monkeypatch):
    """A tensor alpha is not covered: NotImplementedError with the triton backend forced; a
    learnt (requires-grad) alpha takes the reference in every mode."""
    import visionloss.functional as VF
    from visionloss.kernels import set_kernels

    monkeypatch.setenv("TRITON_INTERPRET", "1")
    x, y = torch.randn(2, 5), torch.randn(2, 5)
    set_kernels("triton")
    try:
        with pytest.raises(NotImplementedError, match="robust"):
            VF.robust_loss(x, y, alpha=torch.tensor(1.0))
        learnt = torch.tensor(1.0, requires_grad=True)
        value = VF.robust_loss(x, y, alpha=learnt)
        (grad,) = torch.autograd.grad(value, learnt)
        assert torch.isfinite(grad)
        # five dimensions whose strides merge with nothing: beyond the kernels' four
        mean = torch.randn(2, 3, 2, 3, 2).permute(4, 3, 2, 1, 0)
        target = torch.randn(mean.shape)
        with pytest.raises(NotImplementedError, match="gaussian_nll"):
            VF.gaussian_nll_loss(mean, target, torch.zeros(()))
    finally:
        set_kernels("auto")
