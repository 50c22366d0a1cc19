"""Triton kernel of the SSIM statistics (:mod:`visionloss.kernels.ssim`): the separable Gaussian
filter of the five maps (x, y, x², y², xy), forward, and its adjoint in the backward.

One kernel filters a contiguous tensor along one axis with a 1-D window: viewed as
``(B, L, S)`` (``B`` the sizes before the axis, ``S`` after it), every output element is
``sum_k w[k] * src[b, i + k - offset, s]`` over the in-range taps, in float32 (float64 for
float64 tensors). The forward runs it once per spatial axis, ``offset = 0`` (valid filtering),
on the five maps stacked in one tensor; the backward runs it once per axis with
``offset = K - 1`` and the window reversed (the transposed, full convolution) on the five
coefficient maps of the analytic gradient. The per-position SSIM and CS arithmetic between the
passes is the fused Function's (:func:`~visionloss.kernels.ssim._grad_maps`), in torch.
Saved for backward: the inputs and the five blurred maps (float32), as the fused Function.
Deterministic: every output element is one program's sum in a fixed order (no atomics).
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from ..ssim import _grad_maps, _stack_maps, differentiated_backward, ssim_cs_from_stats
from ._common import FLOAT_DTYPES, device_reason

__all__ = ["covers", "filter_axis", "ssim_cs_triton"]

_BLOCK = 512
#: one launch addresses its elements with int32 offsets
_MAX_ELEMENTS = 2**31 - 1


@triton.jit  # type: ignore[untyped-decorator]
def _filter_axis_kernel(  # type: ignore[no-untyped-def]
    src,
    dst,
    window,
    total,
    length_in,
    length_out,
    inner,
    offset,
    K: tl.constexpr,
    BLOCK: tl.constexpr,
    MATH: tl.constexpr,
):
    idx = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    valid = idx < total
    s = idx % inner
    rest = idx // inner
    i = rest % length_out
    b = rest // length_out
    base = b * (length_in * inner) + s
    acc = tl.zeros([BLOCK], dtype=MATH)
    for k in range(K):
        j = i + k - offset
        inside = valid & (j >= 0) & (j < length_in)
        value = tl.load(src + base + j * inner, mask=inside, other=0.0).to(MATH)
        acc += tl.load(window + k).to(MATH) * value
    tl.store(dst + idx, acc.to(dst.dtype.element_ty), mask=valid)


def _math(dtype: torch.dtype) -> Any:
    return tl.float64 if dtype == torch.float64 else tl.float32


def filter_axis(src: Tensor, window: Tensor, axis: int, *, transpose: bool = False) -> Tensor:
    """``src`` filtered along ``axis`` by the 1-D ``window``: valid (length ``L - K + 1``), or
    its adjoint with ``transpose=True`` (full, length ``L + K - 1``, the window reversed)."""
    src = src.contiguous()
    size = window.shape[0]
    length_in = src.shape[axis]
    length_out = length_in + size - 1 if transpose else length_in - size + 1
    shape = list(src.shape)
    shape[axis] = length_out
    dst = torch.empty(shape, dtype=src.dtype, device=src.device)
    inner = 1
    for extent in shape[axis + 1 :]:
        inner *= extent
    taps = (window.flip(0) if transpose else window).to(src.dtype).contiguous()
    total = dst.numel()
    if total == 0:
        return dst
    grid = (triton.cdiv(total, _BLOCK),)
    _filter_axis_kernel[grid](
        src,
        dst,
        taps,
        total,
        length_in,
        length_out,
        inner,
        size - 1 if transpose else 0,
        K=size,
        BLOCK=_BLOCK,
        MATH=_math(src.dtype),
    )
    return dst


def _blur(maps: Tensor, window: Tensor, *, transpose: bool = False) -> Tensor:
    axes = range(2, maps.dim())
    for axis in reversed(axes) if transpose else axes:
        maps = filter_axis(maps, window, axis, transpose=transpose)
    return maps


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


class _SSIMCSTriton(torch.autograd.Function):
    @staticmethod
    def forward(
        x: Tensor, y: Tensor, window: Tensor, c1: float, c2: float
    ) -> tuple[Tensor, Tensor, Tensor]:
        dtype = _compute_dtype(x.dtype)
        # float32 maps for half inputs: x² and xy of float16 lose digits (and overflow past 256)
        stats = _blur(_stack_maps(x.to(dtype), y.to(dtype)), window)
        return (*ssim_cs_from_stats(stats, c1, c2), stats)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        x, y, window, c1, c2 = inputs
        stats = output[2]
        ctx.mark_non_differentiable(stats)
        ctx.set_materialize_grads(False)
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
        grad_ssim = None if grad_ssim is None else grad_ssim.to(stats.dtype)
        grad_cs = None if grad_cs is None else grad_cs.to(stats.dtype)
        back = _blur(_grad_maps(stats, grad_ssim, grad_cs, c1, c2), window, transpose=True)
        t_ax, t_ay, t_bx, t_by, t_c = back.chunk(5, dim=1)
        xs, ys = x.to(stats.dtype), y.to(stats.dtype)
        grad_x = (t_ax + 2 * xs * t_bx + ys * t_c).to(x.dtype) if need_x else None
        grad_y = (t_ay + 2 * ys * t_by + xs * t_c).to(y.dtype) if need_y else None
        return grad_x, grad_y, None, None, None


def _not_covered(x: Tensor, y: Tensor, window: Tensor) -> str | None:
    reason = device_reason(x, y, window)
    if reason is not None:
        return reason
    if x.dtype not in FLOAT_DTYPES or y.dtype != x.dtype:
        return f"dtypes {x.dtype} and {y.dtype} (one of {FLOAT_DTYPES} for both)"
    if x.dim() not in (4, 5) or x.shape != y.shape:
        return f"shapes {tuple(x.shape)} and {tuple(y.shape)} (the same 4-D or 5-D shape)"
    if window.dim() != 1 or any(size < window.shape[0] for size in x.shape[2:]):
        return f"window of shape {tuple(window.shape)} (1-D, no longer than any spatial size)"
    if 5 * x.numel() > _MAX_ELEMENTS:
        return f"{x.numel()} elements (int32 offsets: at most {_MAX_ELEMENTS // 5})"
    return None


def covers(x: Tensor, y: Tensor, window: Tensor) -> bool:
    """Whether :func:`ssim_cs_triton` runs this call: CUDA tensors (or CPU ones under
    ``TRITON_INTERPRET=1``), ``x`` and ``y`` of one float dtype and one 4-D or 5-D shape, a 1-D
    window no longer than any spatial size, at most ``(2**31 - 1) / 5`` elements per image
    tensor."""
    return _not_covered(x, y, window) is None


def ssim_cs_triton(
    x: Tensor, y: Tensor, window: Tensor, c1: float, c2: float
) -> tuple[Tensor, Tensor]:
    """:func:`~visionloss.kernels.ssim.ssim_cs_reference` with the filter in Triton: mean SSIM
    and CS ``(N, C)`` in the compute dtype (float32 for half and bfloat16 inputs). Gradients
    have the inputs' dtypes.

    Raises:
        NotImplementedError: a call that :func:`covers` rejects.
    """
    reason = _not_covered(x, y, window)
    if reason is not None:
        raise NotImplementedError(f"ssim's Triton kernel does not cover {reason}")
    ssim, cs, _ = _SSIMCSTriton.apply(x, y, window.detach(), float(c1), float(c2))
    return ssim, cs
