"""Helpers shared by the dense and pointwise Triton kernels (``cross_entropy``, ``focal``,
``pointwise``): device and dtype coverage, the elementwise operand layout, numerically careful
``log1p`` / ``expm1`` / ``pow`` in plain ``tl`` operations (no libdevice, so that the same code
runs compiled and under the interpreter, on triton 3.x).

Elementwise launches read every operand in place with its strides: the operands are broadcast
to the output's shape (zero strides), the dimensions are put in the output's memory order and
adjacent dimensions that are contiguous for every operand are merged; at most
:data:`MAX_ELEMENTWISE_DIMS` dimensions remain (one for contiguous or channels_last tensors of
the same layout: the kernel then addresses them as flat arrays, the sizes and strides equal to 1
being specialised by triton).
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Sequence
from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from .. import reference_backward

__all__ = [
    "FLOAT_DTYPES",
    "INT_DTYPES",
    "MAX_ELEMENTWISE_DIMS",
    "ElementwiseLayout",
    "LseLoss",
    "class_blocks",
    "device_reason",
    "elementwise_layout",
    "elementwise_offsets",
    "expm1",
    "launch_lse_backward",
    "launch_lse_forward",
    "log1p",
    "output_like",
    "powf",
    "split_float",
    "triton_dtype",
]

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
INT_DTYPES = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
MAX_ELEMENTWISE_DIMS = 4


def device_reason(*tensors: Tensor) -> str | None:
    """Why these tensors' device is not covered (CUDA, or CPU under ``TRITON_INTERPRET=1``)."""
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        return f"tensors on several devices ({', '.join(sorted(map(str, devices)))})"
    device = tensors[0].device
    if device.type == "cuda":
        return None
    if device.type == "cpu" and os.environ.get("TRITON_INTERPRET") == "1":
        return None
    return f"{device.type} tensors (CUDA, or CPU under TRITON_INTERPRET=1)"


def triton_dtype(dtype: torch.dtype) -> Any:
    """The kernels' math dtype: float64 for float64, float32 for everything else."""
    return tl.float64 if dtype == torch.float64 else tl.float32


def split_float(value: float) -> tuple[float, float]:
    """``(hi, lo)``: ``hi`` the float32 rounding of ``value``, ``lo`` the float32 rounding of the
    rest. Triton passes Python floats as float32 scalars; ``hi + lo`` summed in float64 inside a
    kernel gives ``value`` to about 48 bits (in float32, ``hi`` itself)."""
    hi = _to_float32(value)
    return hi, _to_float32(value - hi) if math.isfinite(hi) else 0.0


def _to_float32(value: float) -> float:
    try:
        result: float = struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        return math.copysign(math.inf, value)
    return result


def output_like(x: Tensor, shape: Sequence[int], dtype: torch.dtype) -> Tensor:
    """A new tensor of ``shape``: ``x``'s strides where ``x`` has that shape and is dense and
    non-overlapping (channels_last stays channels_last), contiguous otherwise."""
    if tuple(x.shape) == tuple(shape):
        return torch.empty_like(x, dtype=dtype)  # preserve_format
    return torch.empty(tuple(shape), dtype=dtype, device=x.device)


class ElementwiseLayout:
    """Sizes ``(D0, D1, D2, D3)`` and each operand's four strides after broadcasting, putting
    the dimensions in the first operand's memory order and merging contiguous ones."""

    def __init__(self, sizes: list[int], strides: list[list[int]], flat: bool) -> None:
        self.sizes = sizes
        self.strides = strides
        #: one dimension left: the kernels address ``offset * stride`` (no index arithmetic)
        self.flat = flat

    def args(self, k: int) -> list[int]:
        return self.strides[k]


def elementwise_layout(shape: Sequence[int], operands: Sequence[Tensor]) -> ElementwiseLayout | None:
    """The merged layout of ``operands`` (each broadcastable to ``shape``; the first one, the
    output, decides the order), or ``None`` when more than :data:`MAX_ELEMENTWISE_DIMS`
    dimensions remain."""
    shape = list(shape)
    all_strides = [list(t.expand(shape).stride()) for t in operands]
    dims = [d for d in range(len(shape)) if shape[d] != 1]
    # the output's memory order: largest stride first (stable: ties keep the logical order)
    dims.sort(key=lambda d: -all_strides[0][d])
    sizes: list[int] = []
    strides: list[list[int]] = [[] for _ in operands]
    for d in dims:
        if sizes and all(
            strides[k][-1] == all_strides[k][d] * shape[d] for k in range(len(operands))
        ):
            sizes[-1] *= shape[d]
            for k in range(len(operands)):
                strides[k][-1] = all_strides[k][d]
            continue
        sizes.append(shape[d])
        for k in range(len(operands)):
            strides[k].append(all_strides[k][d])
    if len(sizes) > MAX_ELEMENTWISE_DIMS:
        return None
    flat = len(sizes) <= 1
    pad = MAX_ELEMENTWISE_DIMS - len(sizes)
    # leading dims of size 1 (their strides never multiply a non-zero index)
    sizes = [1] * pad + sizes
    strides = [[0] * pad + s for s in strides]
    return ElementwiseLayout(sizes, strides, flat)


# --- device functions ---------------------------------------------------------------------------


@triton.jit
def log1p(x):  # type: ignore[no-untyped-def]
    """``log(1 + x)`` for ``x > -1`` to full relative precision (Kahan's trick: the rounding
    error of ``1 + x`` is divided out)."""
    u = 1.0 + x
    d = u - 1.0
    safe = tl.where(d == 0.0, 1.0, d)
    return tl.where(d == 0.0, x, tl.log(u) * (x / safe))


@triton.jit
def expm1(x):  # type: ignore[no-untyped-def]
    """``exp(x) - 1`` to full relative precision near 0 (Kahan's trick)."""
    u = tl.exp(x)
    d = u - 1.0
    lu = tl.log(u)
    good = (d != 0.0) & (lu != 0.0) & (d != -1.0) & (u != float("inf"))
    safe_lu = tl.where(good, lu, 1.0)
    return tl.where(good, d * (x / safe_lu), tl.where(d == 0.0, x, d))


@triton.jit
def powf(base, exponent):  # type: ignore[no-untyped-def]
    """``base ** exponent`` for ``base >= 0`` and ``exponent > 0`` (0 at 0)."""
    positive = base > 0.0
    safe = tl.where(positive, base, 1.0)
    return tl.where(positive, tl.exp(exponent * tl.log(safe)), 0.0)


@triton.jit  # type: ignore[untyped-decorator]
def elementwise_offsets(  # type: ignore[no-untyped-def]
    pid, D1, D2, D3, s0, s1, s2, s3, FLAT: tl.constexpr, BLOCK: tl.constexpr
):
    """Element offsets of program ``pid``'s block for one operand of the merged 4-d layout."""
    offs = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    if FLAT:
        result = offs * s3
    else:
        i3 = offs % D3
        rest = offs // D3
        i2 = rest % D2
        rest = rest // D2
        i1 = rest % D1
        i0 = rest // D1
        result = i0 * s0 + i1 * s1 + i2 * s2 + i3 * s3
    return result


class LseLoss(torch.autograd.Function):
    """The autograd Function of a Triton loss over a class dimension whose forward saves the two
    inputs (the caller's tensors) and one log-sum-exp per position: cross-entropy with class ids
    or probabilities, softmax focal. ``cfg`` carries the op: ``cfg.run_forward(x, t) -> (loss,
    lse)`` and ``cfg.run_backward(x, t, lse, grad) -> grad_x`` launch its kernels;
    ``cfg.reference(x, t)`` is its specification, whose gradient a differentiated backward
    (``create_graph=True``) returns as a graph, so that second derivatives are exact."""

    @staticmethod
    def forward(x: Tensor, t: Tensor, cfg: Any) -> tuple[Tensor, Tensor]:
        result: tuple[Tensor, Tensor] = cfg.run_forward(x, t)
        return result

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
        x, t, cfg = inputs
        ctx.save_for_backward(x, t, output[1])
        ctx.cfg = cfg
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    def backward(ctx: Any, grad: Tensor, grad_lse: Tensor | None) -> tuple[Tensor | None, ...]:
        del grad_lse  # the lse is an internal output, never differentiated
        if not ctx.needs_input_grad[0]:
            return None, None, None
        x, t, lse = ctx.saved_tensors
        if torch.is_grad_enabled():
            (grad_x,) = reference_backward(lambda v: ctx.cfg.reference(v, t), [x], [True], grad)
            return grad_x, None, None
        grad_input: Tensor = ctx.cfg.run_backward(x, t, lse, grad)
        return grad_input, None, None


def class_blocks(
    num_classes: int,
    size: int,
    class_stride: int,
    *,
    tile: int,
    max_block_c: int,
    max_row_block_c: int,
) -> tuple[int, int]:
    """``(BLOCK_C, BLOCK_S)``, powers of two, for ``(N, C, S)`` logits of a loss over classes:
    up to ``max_row_block_c`` classes per chunk when the classes are the contiguous axis
    (``(N, C)`` rows), up to ``max_block_c`` when the positions are (maps), about ``tile``
    elements per tile, and no more positions than there are."""
    if class_stride == 1 and num_classes > 1:
        block_c = min(triton.next_power_of_2(num_classes), max_row_block_c)
        block_s = max(1, tile // block_c)
    else:
        block_c = min(triton.next_power_of_2(num_classes), max_block_c)
        block_s = max(16, min(1024, tile // block_c))
    block_s = min(block_s, max(1, triton.next_power_of_2(size)))
    return block_c, block_s


def launch_lse_forward(
    kernel: Any,
    x: Tensor,
    target: Tensor,
    per_class: Tensor | None,
    cfg: Any,
    blocks: tuple[int, int],
    num_warps: int,
) -> tuple[Tensor, Tensor]:
    """Launch the forward ``kernel`` of a :class:`LseLoss` op on ``(N, C, S)`` logits: one
    program per ``(sample, block of positions)``; returns the ``(N, S)`` loss (``cfg.out_dtype``)
    and log-sum-exp (``cfg.math_dtype``). ``per_class``: the ``(C,)`` tensor the kernel reads
    (class weights, focal alpha; the logits stand in for an absent one, which the kernel does not
    read); ``cfg`` gives ``scalars`` and ``constexprs``."""
    n, c, size = x.shape
    loss = torch.empty(n, size, dtype=cfg.out_dtype, device=x.device)
    lse = torch.empty(n, size, dtype=cfg.math_dtype, device=x.device)
    if loss.numel() == 0:
        return loss, lse
    block_c, block_s = blocks
    s_blocks = triton.cdiv(size, block_s)
    kernel[(n * s_blocks,)](
        x, target, x if per_class is None else per_class, loss, lse, c, size, s_blocks, *cfg.scalars,
        *x.stride(), *target.stride(),
        **cfg.constexprs, BLOCK_C=block_c, BLOCK_S=block_s, num_warps=num_warps,
    )  # fmt: skip
    return loss, lse


def launch_lse_backward(
    kernel: Any,
    x: Tensor,
    target: Tensor,
    lse: Tensor,
    grad: Tensor,
    per_class: Tensor | None,
    cfg: Any,
    blocks: tuple[int, int],
    num_warps: int,
    **extra: Any,
) -> Tensor:
    """Launch the backward ``kernel`` of a :class:`LseLoss` op (the forward's grid); returns
    the gradient of the logits. ``extra``: more constexprs of that kernel."""
    n, c, size = x.shape
    grad_x = torch.empty_like(x)
    if grad_x.numel() == 0:
        return grad_x
    block_c, block_s = blocks
    s_blocks = triton.cdiv(size, block_s)
    kernel[(n * s_blocks,)](
        x, target, x if per_class is None else per_class, lse, grad, grad_x, c, size, s_blocks, *cfg.scalars,
        *x.stride(), *target.stride(), *grad.stride(), *grad_x.stride(),
        **cfg.constexprs, **extra, BLOCK_C=block_c, BLOCK_S=block_s, num_warps=num_warps,
    )  # fmt: skip
    return grad_x
