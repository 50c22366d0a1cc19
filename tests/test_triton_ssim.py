"""The Triton kernel of the SSIM statistics (``kernels/triton/ssim.py``: the separable Gaussian
filter of the five maps and its adjoint) against the plain PyTorch reference
(``kernels.ssim.ssim_cs_reference``, differentiated by autograd), on CPU under the Triton
interpreter (``TRITON_INTERPRET=1``, set before triton is imported).

Expected values: the reference in float64, or on the float32 cast of a half / bfloat16 input.
Images are tiny (9x10, 3-tap window; 5x6x7 volumes) because the interpreter is slow.
"""

from __future__ import annotations

import pytest
import torch

import visionloss.functional as VF
from triton_interpreter import import_interpreted
from visionloss._core.memory import saved_bytes
from visionloss.kernels import set_kernels
from visionloss.kernels.ssim import ssim_cs_reference

tk = import_interpreted("visionloss.kernels.triton.ssim")

pytestmark = pytest.mark.usefixtures("triton_interpreter")

C1, C2 = 1e-4, 9e-4
WINDOW = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)


def _pair(gen, shape, dtype):
    x = torch.rand(shape, generator=gen, dtype=torch.float64)
    y = (x + 0.3 * torch.rand(shape, generator=gen, dtype=torch.float64)).clamp(0, 1)
    return x.to(dtype).requires_grad_(True), y.to(dtype).requires_grad_(True)


def _run(op, x, y, window, grad_s, grad_c):
    s, c = op(x, y, window, C1, C2)
    gx, gy = torch.autograd.grad((s * grad_s).sum() + (c * grad_c).sum(), (x, y))
    return s, c, gx, gy


@pytest.mark.parametrize(
    ("dtype", "tol"),
    [
        (torch.float64, dict(rtol=1e-10, atol=1e-12)),
        (torch.float32, dict(rtol=1e-5, atol=1e-6)),
        (torch.bfloat16, dict(rtol=1e-5, atol=1e-6)),
        (torch.float16, dict(rtol=1e-5, atol=1e-6)),
    ],
)
@pytest.mark.parametrize("shape", [(2, 2, 9, 10), (1, 2, 5, 6, 7)])
def test_values_and_gradients_match_the_reference(gen, dtype, tol, shape):
    x, y = _pair(gen, shape, dtype)
    grad_s = torch.tensor([[1.5, -0.5]], dtype=torch.float64).expand(shape[0], 2)
    grad_c = torch.tensor([[0.25, 2.0]], dtype=torch.float64).expand(shape[0], 2)
    compute = torch.float64 if dtype == torch.float64 else torch.float32
    got = _run(tk.ssim_cs_triton, x, y, WINDOW.to(dtype), grad_s.to(compute), grad_c.to(compute))
    # the reference on the float32 cast of half inputs (the kernel's math dtype)
    xr = x.detach().to(compute).requires_grad_(True)
    yr = y.detach().to(compute).requires_grad_(True)
    window = WINDOW.to(dtype).to(compute)
    expected = _run(ssim_cs_reference, xr, yr, window, grad_s.to(compute), grad_c.to(compute))
    for name, a, b in zip(("ssim", "cs", "grad x", "grad y"), got, expected, strict=True):
        assert a.dtype == (compute if name in ("ssim", "cs") else dtype), name
        if a.dtype in (torch.float16, torch.bfloat16):
            # a half gradient: float32 math rounded once; torch's tolerances for that dtype
            torch.testing.assert_close(a, b.to(a.dtype), msg=name)
        else:
            torch.testing.assert_close(a, b, **tol, msg=name)


def test_non_contiguous_inputs_and_one_sided_gradient(gen):
    x, y = _pair(gen, (2, 3, 10, 9), torch.float32)
    xt = x.detach().transpose(2, 3).requires_grad_(True)  # (2, 3, 9, 10), not contiguous
    yt = y.detach().transpose(2, 3)
    s, c = tk.ssim_cs_triton(xt, yt, WINDOW.float(), C1, C2)
    (gx,) = torch.autograd.grad(s.sum(), (xt,))
    xr = xt.detach().contiguous().requires_grad_(True)
    sr, cr = ssim_cs_reference(xr, yt.contiguous(), WINDOW.float(), C1, C2)
    (gr,) = torch.autograd.grad(sr.sum(), (xr,))
    torch.testing.assert_close(s, sr)
    torch.testing.assert_close(c, cr)
    torch.testing.assert_close(gx, gr)


def test_double_backward_is_the_references(gen):
    x, y = _pair(gen, (1, 1, 4, 4), torch.float64)
    y = y.detach()
    assert torch.autograd.gradgradcheck(lambda a: tk.ssim_cs_triton(a, y, WINDOW, C1, C2)[0], (x,))


def test_saves_the_five_blurred_maps_only(gen):
    x, y = _pair(gen, (1, 2, 9, 10), torch.float32)
    saved = saved_bytes(lambda: tk.ssim_cs_triton(x, y, WINDOW.float(), C1, C2)[0], [x, y])
    assert saved == 5 * 2 * 7 * 8 * 4 + 3 * 4  # the float32 maps and the window's taps


def test_dispatch_runs_the_kernel_for_the_losses(gen):
    x, y = _pair(gen, (1, 2, 12, 13), torch.float32)
    results = []
    try:
        for backend in ("triton", "reference"):
            set_kernels(backend)
            a, b = x.detach().clone().requires_grad_(), y.detach()
            loss = VF.ssim_loss(a, b, window_size=3) + VF.ms_ssim_loss(
                a, b, window_size=3, scale_weights=[0.4, 0.6]
            )
            (grad,) = torch.autograd.grad(loss, (a,))
            results.append((loss, grad))
    finally:
        set_kernels("auto")
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])


def test_covers():
    x = torch.zeros(1, 1, 5, 5)
    assert tk.covers(x, x, torch.ones(3))
    assert not tk.covers(x, x.double(), torch.ones(3))
    assert not tk.covers(x, x, torch.ones(7))
    assert not tk.covers(x.long(), x.long(), torch.ones(3))
    with pytest.raises(NotImplementedError, match="does not cover"):
        tk.ssim_cs_triton(x, x, torch.ones(7), C1, C2)
