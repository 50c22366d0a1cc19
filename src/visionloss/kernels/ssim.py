"""Fused SSIM statistics: the per-image, per-channel mean SSIM and contrast-structure terms, with
an analytic backward that keeps the five blurred maps instead of every intermediate.

With :math:`G` the valid Gaussian filtering (one 1-D convolution per spatial axis, the same
window for every channel), the local statistics are :math:`\\mu_x = Gx`, :math:`\\mu_y = Gy`,
:math:`e_{xx} = G(x^2)`, :math:`e_{yy} = G(y^2)`, :math:`e_{xy} = G(xy)`, and per position

.. math::
    \\sigma_x^2 = [e_{xx} - \\mu_x^2]_+,\\quad \\sigma_{xy} = e_{xy} - \\mu_x\\mu_y,\\quad
    l = \\frac{2\\mu_x\\mu_y + C_1}{\\mu_x^2 + \\mu_y^2 + C_1},\\quad
    cs = \\frac{2\\sigma_{xy} + C_2}{\\sigma_x^2 + \\sigma_y^2 + C_2},\\quad s = l\\, cs.

The op returns :math:`\\bar s` and :math:`\\overline{cs}`, the means over positions. Its
gradient goes back through the same linear filter: with per-position coefficient maps
:math:`a_x, a_y` (on :math:`\\mu`), :math:`b_x, b_y` (on :math:`e_{xx}, e_{yy}`) and :math:`c`
(on :math:`e_{xy}`), the chain rule through :math:`e_{xx} = G(x^2)` and :math:`e_{xy} = G(xy)`
gives

.. math::
    \\frac{\\partial L}{\\partial x} = G^\\top a_x + 2x\\, G^\\top b_x + y\\, G^\\top c, \\qquad
    \\frac{\\partial L}{\\partial y} = G^\\top a_y + 2y\\, G^\\top b_y + x\\, G^\\top c,

where :math:`G^\\top` is the transposed (full) convolution with the same, symmetric window. The
five coefficient maps are filtered together, one transposed convolution per axis, as the five
statistics are in the forward. The reference (:func:`ssim_cs_reference`) is the plain
composition differentiated by autograd, which keeps about eight maps of the filtered size;
the fused Function keeps the five blurred maps (one tensor) and the inputs.
:func:`ssim_cs` is the op's one dispatch point.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.dtypes import autocast_off
from . import backend_for, has_triton, reference_backward, triton_covers
from ._library import FusedOp

TRITON_MODULE = "visionloss.kernels.triton.ssim"

__all__ = ["gaussian_blur", "gaussian_blur_transpose", "ssim_cs", "ssim_cs_reference"]


def _axis_kernel(window: Tensor, channels: int, spatial: int, axis: int) -> Tensor:
    shape = [1] * spatial
    shape[axis] = window.shape[0]
    # the same 1-D kernel for every channel: an expanded view, groups=channels
    return window.reshape(1, 1, *shape).expand(channels, 1, *shape)


def gaussian_blur(x: Tensor, window: Tensor) -> Tensor:
    """Valid filtering of ``(N, K, *spatial)`` (2 or 3 spatial axes) with the 1-D ``window`` along
    every spatial axis, one grouped convolution per axis."""
    spatial = x.dim() - 2
    conv = F.conv2d if spatial == 2 else F.conv3d
    channels = x.shape[1]
    with autocast_off(x):  # the filter in the compute dtype, not autocast's bfloat16
        for axis in range(spatial):
            x = conv(x, _axis_kernel(window, channels, spatial, axis), groups=channels)
    return x


def gaussian_blur_transpose(g: Tensor, window: Tensor) -> Tensor:
    """The adjoint of :func:`gaussian_blur`: a full (transposed) convolution per axis, from the
    filtered size back to the input size."""
    spatial = g.dim() - 2
    conv_t = F.conv_transpose2d if spatial == 2 else F.conv_transpose3d
    channels = g.shape[1]
    with autocast_off(g):
        for axis in reversed(range(spatial)):
            g = conv_t(g, _axis_kernel(window, channels, spatial, axis), groups=channels)
    return g


def _stack_maps(x: Tensor, y: Tensor) -> Tensor:
    # the five maps in one tensor, so that each axis of the filter is one convolution call
    return torch.cat([x, y, x * x, y * y, x * y], dim=1)


def ssim_cs_reference(
    x: Tensor, y: Tensor, window: Tensor, c1: float, c2: float
) -> tuple[Tensor, Tensor]:
    """The specification: per-image, per-channel mean SSIM and contrast-structure term, each
    ``(N, C)``, of ``(N, C, *spatial)`` images, differentiated by autograd."""
    stats = gaussian_blur(_stack_maps(x, y), window)
    mu_x, mu_y, e_xx, e_yy, e_xy = stats.chunk(5, dim=1)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    # E[x^2] - mu^2 can come out slightly negative by rounding on flat regions; a variance is
    # >= 0, and the clamp keeps the denominator >= C2 > 0, so the map is finite for any input.
    var_x = torch.clamp(e_xx - mu_xx, min=0)
    var_y = torch.clamp(e_yy - mu_yy, min=0)
    cov = e_xy - mu_xy
    cs_map = (2 * cov + c2) / (var_x + var_y + c2)
    ssim_map = (2 * mu_xy + c1) / (mu_xx + mu_yy + c1) * cs_map
    return ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


def _grad_maps(
    stats: Tensor, grad_ssim: Tensor | None, grad_cs: Tensor | None, c1: float, c2: float
) -> Tensor:
    """The five coefficient maps ``(a_x, a_y, b_x, b_y, c)``, stacked like the statistics: the
    gradient of ``sum(grad_ssim * mean(s) + grad_cs * mean(cs))`` w.r.t. ``mu_x, mu_y, e_xx,
    e_yy, e_xy``."""
    mu_x, mu_y, e_xx, e_yy, e_xy = stats.chunk(5, dim=1)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    raw_x, raw_y = e_xx - mu_xx, e_yy - mu_yy
    # clamp's gradient passes where its argument is >= 0 (torch's rule), as in the reference
    keep_x, keep_y = (raw_x >= 0).to(stats.dtype), (raw_y >= 0).to(stats.dtype)
    inv_b2 = 1 / (torch.clamp(raw_x, min=0) + torch.clamp(raw_y, min=0) + c2)
    cs = (2 * (e_xy - mu_xy) + c2) * inv_b2
    positions = math.prod(stats.shape[2:])
    view = (stats.shape[0], stats.shape[1] // 5) + (1,) * (stats.dim() - 2)
    # d/d(var) of s = l cs and of cs: -s / B2 and -cs / B2; d/d(cov): 2 l / B2 and 2 / B2
    if grad_ssim is not None:
        g_s = (grad_ssim / positions).reshape(view)
        inv_b1 = 1 / (mu_xx + mu_yy + c1)
        lum = (2 * mu_xy + c1) * inv_b1
        d_var = -(g_s * lum * cs) * inv_b2
        d_cov = 2 * g_s * lum * inv_b2
        if grad_cs is not None:
            g_c = (grad_cs / positions).reshape(view)
            d_var = d_var - g_c * cs * inv_b2
            d_cov = d_cov + 2 * g_c * inv_b2
        # s through l directly: ds/dmu_x = cs * 2 (mu_y - mu_x l) / B1
        direct = 2 * g_s * cs * inv_b1
        a_x = direct * (mu_y - mu_x * lum)
        a_y = direct * (mu_x - mu_y * lum)
    else:
        if grad_cs is None:
            return torch.zeros_like(stats)
        g_c = (grad_cs / positions).reshape(view)
        d_var = -(g_c * cs) * inv_b2
        d_cov = 2 * g_c * inv_b2
        a_x = a_y = torch.zeros_like(mu_x)
    b_x, b_y = d_var * keep_x, d_var * keep_y
    # var_x = e_xx - mu_x^2 and cov = e_xy - mu_x mu_y add to mu_x's coefficient
    a_x = a_x - 2 * mu_x * b_x - mu_y * d_cov
    a_y = a_y - 2 * mu_y * b_y - mu_x * d_cov
    return torch.cat([a_x, a_y, b_x, b_y, d_cov], dim=1)


def ssim_cs_from_stats(stats: Tensor, c1: float, c2: float) -> tuple[Tensor, Tensor]:
    """The mean SSIM and contrast-structure terms per ``(N, C)`` from the five blurred maps
    (``mu_x, mu_y, E[x^2], E[y^2], E[xy]`` stacked along dim 1): the reference's operations in
    its order, so that every path gives the same bits."""
    mu_x, mu_y, e_xx, e_yy, e_xy = stats.chunk(5, dim=1)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    # the clamp keeps a variance >= 0 against rounding
    var_x = torch.clamp(e_xx - mu_xx, min=0)
    var_y = torch.clamp(e_yy - mu_yy, min=0)
    cs_map = (2 * (e_xy - mu_xy) + c2) / (var_x + var_y + c2)
    ssim_map = (2 * mu_xy + c1) / (mu_xx + mu_yy + c1) * cs_map
    return ssim_map.flatten(2).mean(-1), cs_map.flatten(2).mean(-1)


def differentiated_backward(
    saved: tuple[Tensor, Tensor, Tensor, Tensor],
    grad_ssim: Tensor | None,
    grad_cs: Tensor | None,
    c1: float,
    c2: float,
    needs: tuple[bool, bool],
) -> list[Tensor | None]:
    """The backward of an SSIM/CS Function when it is itself differentiated
    (``create_graph=True``): the reference's gradient as a graph, in the compute dtype of the
    images, so that second derivatives are exact. ``saved``: ``(x, y, window, stats)``."""
    x, y, window, stats = saved
    zeros = torch.zeros(stats.shape[0], x.shape[1], dtype=stats.dtype, device=x.device)
    grad = torch.stack(
        [zeros if grad_ssim is None else grad_ssim, zeros if grad_cs is None else grad_cs]
    )

    def reference(x: Tensor, y: Tensor) -> Tensor:
        dtype = stats.dtype  # the maps' dtype: the images' compute dtype
        return torch.stack(ssim_cs_reference(x.to(dtype), y.to(dtype), window, c1, c2))

    return reference_backward(reference, (x, y), needs, grad)


class _SSIMCS(torch.autograd.Function):
    # Outputs: mean SSIM, mean CS and, marked non-differentiable, the five blurred maps that the
    # analytic backward needs (a forward without ctx can only hand them over as outputs).

    @staticmethod
    def forward(
        x: Tensor, y: Tensor, window: Tensor, c1: float, c2: float
    ) -> tuple[Tensor, Tensor, Tensor]:
        stats = gaussian_blur(_stack_maps(x, y), window)
        return (*ssim_cs_from_stats(stats, c1, c2), stats)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        x, y, window, c1, c2 = inputs
        stats = output[2]
        ctx.mark_non_differentiable(stats)
        ctx.set_materialize_grads(False)
        # x and y are the caller's tensors (no copy): the backward multiplies by them
        ctx.save_for_backward(x, y, window, stats)
        ctx.c1, ctx.c2 = c1, c2

    @staticmethod
    def backward(
        ctx: Any, grad_ssim: Tensor | None, grad_cs: Tensor | None, *_: Tensor | None
    ) -> tuple[Tensor | None, ...]:
        x, y, window, stats = ctx.saved_tensors
        need_x, need_y = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if (grad_ssim is None and grad_cs is None) or not (need_x or need_y):
            return None, None, None, None, None
        c1, c2 = ctx.c1, ctx.c2
        if torch.is_grad_enabled():
            grad_x, grad_y = differentiated_backward(
                (x, y, window, stats), grad_ssim, grad_cs, c1, c2, (need_x, need_y)
            )
            return grad_x, grad_y, None, None, None
        grad_x, grad_y = _ssim_cs_grads(x, y, window, stats, grad_ssim, grad_cs, c1, c2, need_y)
        return (grad_x if need_x else None), grad_y, None, None, None


def _ssim_cs_grads(
    x: Tensor,
    y: Tensor,
    window: Tensor,
    stats: Tensor,
    grad_ssim: Tensor | None,
    grad_cs: Tensor | None,
    c1: float,
    c2: float,
    need_y: bool,
) -> tuple[Tensor, Tensor | None]:
    """The gradients of :class:`_SSIMCS` (``y``'s only if ``need_y``): eager Function and
    custom op."""
    back = gaussian_blur_transpose(_grad_maps(stats, grad_ssim, grad_cs, c1, c2), window)
    t_ax, t_ay, t_bx, t_by, t_c = back.chunk(5, dim=1)
    grad_x = t_ax + 2 * x * t_bx + y * t_c
    grad_y = t_ay + 2 * y * t_by + x * t_c if need_y else None
    return grad_x, grad_y


# --- the Function as custom ops, for torch.compile (kernels/_library.py) ----------------------
# Two ops: the usual one differentiates x only (the target image, y, rarely requires grad: its
# gradient is not computed), the other both images.


def _ssim_cs_fake(
    x: Tensor, y: Tensor, window: Tensor, c1: float, c2: float
) -> tuple[Tensor, Tensor, Tensor]:
    n, channels = x.shape[0], x.shape[1]
    # valid filtering: each spatial axis loses len(window) - 1 positions
    shrink = window.shape[0] - 1
    filtered = tuple(size - shrink for size in x.shape[2:])
    return (
        x.new_empty((n, channels)),
        x.new_empty((n, channels)),
        x.new_empty((n, 5 * channels, *filtered)),
    )


def _ssim_cs_op_backward(
    saved: tuple[Tensor, ...], grads: tuple[Tensor, ...], c1: float, c2: float
) -> tuple[Tensor]:
    x, y, window, stats = saved
    grad_x, _ = _ssim_cs_grads(x, y, window, stats, grads[0], grads[1], c1, c2, False)
    return (grad_x,)


def _ssim_cs_op_backward_both(
    saved: tuple[Tensor, ...], grads: tuple[Tensor, ...], c1: float, c2: float
) -> tuple[Tensor, Tensor]:
    x, y, window, stats = saved
    grad_x, grad_y = _ssim_cs_grads(x, y, window, stats, grads[0], grads[1], c1, c2, True)
    assert grad_y is not None  # need_y
    return grad_x, grad_y


def _ssim_cs_op(name: str, backward: Any, differentiable: tuple[int, ...]) -> FusedOp:
    return FusedOp(
        name,
        tensors="Tensor x, Tensor y, Tensor window",
        options="float c1, float c2",
        outputs=3,
        forward=_SSIMCS.forward,
        fake=_ssim_cs_fake,
        save=lambda args, out: (args[0], args[1], args[2], out[2]),
        backward=backward,
        differentiable=differentiable,
        grad_outputs=2,
    )


#: ``visionloss::ssim_cs`` (x differentiated) and ``visionloss::ssim_cs_both``: save x, y, the
#: window and the five blurred maps, as the Function
_SSIM_CS_OP = _ssim_cs_op("ssim_cs", _ssim_cs_op_backward, (0,))
_SSIM_CS_BOTH_OP = _ssim_cs_op("ssim_cs_both", _ssim_cs_op_backward_both, (0, 1))


def ssim_cs(x: Tensor, y: Tensor, window: Tensor, c1: float, c2: float) -> tuple[Tensor, Tensor]:
    """Per-image, per-channel mean SSIM and contrast-structure term ``(N, C)`` of ``(N, C, H, W)``
    or ``(N, C, D, H, W)`` images in one floating dtype, under the valid Gaussian filter
    ``window`` (1-D, normalised), with the constants ``c1 = (k1 L)^2`` and ``c2 = (k2 L)^2``:
    the op's one dispatch point.

    The fused path keeps the five blurred maps (one tensor of five times the filtered size) and
    the inputs for backward; its second derivative is the reference's
    (:func:`~visionloss.kernels.reference_backward`). The reference
    (``VISIONLOSS_KERNELS=reference``, and under ``torch.func`` transforms) is
    :func:`ssim_cs_reference`.
    """
    backend = backend_for(
        "ssim",
        x,
        has_triton=has_triton(TRITON_MODULE),
        covered=triton_covers(TRITON_MODULE, x, x, y, window),
    )
    if backend == "reference":
        return ssim_cs_reference(x, y, window, c1, c2)
    if backend == "triton":
        triton_result: tuple[Tensor, Tensor] = importlib.import_module(
            TRITON_MODULE
        ).ssim_cs_triton(x, y, window, c1, c2)
        return triton_result
    op = _SSIM_CS_BOTH_OP if y.requires_grad else _SSIM_CS_OP
    if op.usable():  # compiling: the custom op keeps the saved set lean
        y_arg = y if y.requires_grad else y.detach()
        ssim, cs, _ = op(x, y_arg, window.detach(), float(c1), float(c2))
        return ssim, cs
    ssim, cs, _ = _SSIMCS.apply(x, y, window.detach(), float(c1), float(c2))
    return ssim, cs
