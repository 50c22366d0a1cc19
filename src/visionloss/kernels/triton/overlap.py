r"""Triton kernels for the overlap statistics ``(I, P, G, V)`` of the Dice / Jaccard / Tversky family.

Same arguments and values as :func:`visionloss.kernels.overlap.overlap_statistics_reference`:
``input`` ``(N, C, S)`` (any strides, read in place), ``target`` ``(N, S)`` class ids or
``(N, C, S)`` probabilities / 0-1 integers, the four per-sample, per-class sums

.. math::
    I_{nc} = \sum_s v\, p\, g, \quad P_{nc} = \sum_s v\, p \;(\text{or } v\, p^2), \quad
    G_{nc} = \sum_s v\, g, \quad V_{nc} = \sum_s v

stacked as ``(4, N, C)`` in the compute dtype (float32 for half, bfloat16 and float32 inputs,
float64 for float64).

Two kernels, one pass over the logits each:

* forward: a program owns one sample, one block of classes (all of them for softmax, which needs
  every class of a pixel) and a contiguous chunk of positions, which it walks in tiles of
  ``(BLOCK_C, BLOCK_S)``; per tile it applies the activation (softmax over the class axis of the
  tile, padded classes at ``-inf``), decodes the target (equality with the class index for ids:
  no one-hot in memory) and adds the tile's four class sums into registers. It writes one partial
  sum per (statistic, sample, class, chunk) into a ``(4, N, C, chunks)`` buffer, which torch sums
  over the chunks: a fixed order, so the result is bitwise deterministic (no atomics). The
  number of chunks depends only on the shape and the device (about 16 programs per SM).
* backward: one program per tile; it recomputes the activation from the logits (the softmax
  from the tile's own max and sum: all classes are in registers, so this costs no memory traffic
  and nothing per pixel needs saving), forms ``u = dL/dp`` from the incoming ``(4, N, C)``
  gradient (only ``I`` and ``P`` depend on the input) and writes the gradient w.r.t. ``input``:
  softmax ``p (u - \sum_k p_k u_k)``, sigmoid ``u p (1 - p)``, exp ``u p``, identity ``u``.

Saved for backward: ``input`` and ``target`` (the caller's tensors), nothing else.

Coverage (:func:`covers`): CUDA tensors, or CPU tensors under ``TRITON_INTERPRET=1``; input
float16/bfloat16/float32/float64; ids targets of any integer (or bool) dtype, dense targets of any
real dtype; softmax with at most :data:`MAX_SOFTMAX_CLASSES` classes (the elementwise activations
have no class limit); at most 65535 samples. Class ids outside ``[0, C)`` (other than
``ignore_index``) count in ``P`` and ``V`` but in no class's ``I`` or ``G`` (the reference's
gather would fail on them; the data checks upstream reject them). A differentiated backward
(``create_graph=True``) returns the reference's gradient as a graph (recomputed from the saved
inputs), so second derivatives are exact, as on the fused path.

Typing note: ``@triton.jit`` is untyped (triton ships no type information, and annotations on
kernel parameters change triton's specialisation), so each kernel carries
``# type: ignore[untyped-decorator]`` on its decorator and ``[no-untyped-def]`` on its ``def``.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from ..._core import compute_dtype
from ..overlap import ACTIVATIONS, _reference_grad

__all__ = ["MAX_SOFTMAX_CLASSES", "covers", "overlap_statistics_triton"]

#: Softmax loads every class of a pixel block at once (padded to a power of two): above this
#: count the tile no longer fits the registers, and the call is not covered.
MAX_SOFTMAX_CLASSES = 256

# Launch configuration (module attributes so that a benchmark can try others).
#: elements of one (BLOCK_C, BLOCK_S) tile: 2048 at 4 warps is 16 per thread; ptxas (sm_90) then
#: gives the forward 64-170 registers and the backward about 80-115, no spills (4096 spills
#: at 32 classes)
TILE_ELEMENTS = 2048
#: the class block of the elementwise activations (softmax takes all classes)
MAX_BLOCK_C = 16
#: forward programs aimed at per streaming multiprocessor (each walks a chunk of positions)
PROGRAMS_PER_SM = 16
#: forward programs aimed at in the interpreter (CPU)
INTERPRET_PROGRAMS = 8
NUM_WARPS = 4

_ACTIVATION_CODE = {"softmax": 0, "sigmoid": 1, "identity": 2, "exp": 3}
_INPUT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_INT_DTYPES = (torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)
_MAX_GRID_Y = 65535


# --- kernels -----------------------------------------------------------------------------------


@triton.jit  # type: ignore[untyped-decorator]
def _probabilities(  # type: ignore[no-untyped-def]
    x_ptr,
    n,
    offs_c,
    offs_s,
    mask_c,
    mask_s,
    sxn,
    sxc,
    sxs,
    ACTIVATION: tl.constexpr,
    DTYPE: tl.constexpr,
):
    """The activated ``(BLOCK_C, BLOCK_S)`` tile; finite where masked out (padded classes of a
    softmax are 0)."""
    mask = mask_c[:, None] & mask_s[None, :]
    ptrs = x_ptr + n * sxn + offs_c[:, None].to(tl.int64) * sxc + offs_s[None, :] * sxs
    x = tl.load(ptrs, mask=mask, other=0.0).to(DTYPE)
    if ACTIVATION == 0:
        # softmax over the class axis; positions past S read 0, so their column stays finite
        x = tl.where(mask_c[:, None], x, float("-inf"))
        peak = tl.max(x, axis=0)
        e = tl.exp(x - peak[None, :])
        p = e * (1.0 / tl.sum(e, axis=0))[None, :]
    elif ACTIVATION == 1:
        p = 1.0 / (1.0 + tl.exp(-x))
    elif ACTIVATION == 3:
        p = tl.exp(x)
    else:
        p = x
    return p


@triton.jit  # type: ignore[untyped-decorator]
def _dense_target(  # type: ignore[no-untyped-def]
    t_ptr,
    n,
    offs_c,
    offs_s,
    mask_c,
    mask_s,
    stn,
    stc,
    sts,
    ignore_index,
    HAS_IGNORE: tl.constexpr,
    DTYPE: tl.constexpr,
):
    """``(g, v)`` of an ``(N, C, S)`` target tile: the target (0 where ignored) and the validity,
    both in the compute dtype."""
    mask = mask_c[:, None] & mask_s[None, :]
    raw = tl.load(
        t_ptr + n * stn + offs_c[:, None].to(tl.int64) * stc + offs_s[None, :] * sts,
        mask=mask,
        other=0,
    )
    if HAS_IGNORE:
        valid = mask & (raw.to(tl.int64) != ignore_index)
        g = tl.where(valid, raw, 0).to(DTYPE)
    else:
        valid = mask
        g = raw.to(DTYPE)
    return g, valid.to(DTYPE)


@triton.jit  # type: ignore[untyped-decorator]
def _index_target(  # type: ignore[no-untyped-def]
    t_ptr,
    n,
    offs_c,
    offs_s,
    mask_s,
    stn,
    sts,
    ignore_index,
    HAS_IGNORE: tl.constexpr,
):
    """``(hit, valid)`` of an ``(N, S)`` class-id tile: ``hit[c, s]`` = the position is valid
    and of class ``c`` (the one-hot, only ever in registers); ``valid[s]``."""
    raw = tl.load(t_ptr + n * stn + offs_s * sts, mask=mask_s, other=0).to(tl.int64)
    valid = mask_s
    if HAS_IGNORE:
        valid = valid & (raw != ignore_index)
    hit = (raw[None, :] == offs_c[:, None]) & valid[None, :]
    return hit, valid


@triton.jit  # type: ignore[untyped-decorator]
def _forward_kernel(  # type: ignore[no-untyped-def]
    x_ptr,
    t_ptr,
    part_ptr,
    N,
    C,
    S,
    ITERS,
    CHUNKS,
    ignore_index,
    sxn,
    sxc,
    sxs,
    stn,
    stc,
    sts,
    ACTIVATION: tl.constexpr,
    DENSE: tl.constexpr,
    HAS_IGNORE: tl.constexpr,
    SQUARED: tl.constexpr,
    DTYPE: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_S: tl.constexpr,
):
    chunk = tl.program_id(0)
    n = tl.program_id(1).to(tl.int64)
    offs_c = tl.program_id(2) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask_c = offs_c < C
    inter = tl.zeros([BLOCK_C], dtype=DTYPE)
    pred = tl.zeros([BLOCK_C], dtype=DTYPE)
    tsum = tl.zeros([BLOCK_C], dtype=DTYPE)
    count = tl.zeros([BLOCK_C], dtype=DTYPE)
    first = chunk.to(tl.int64) * ITERS * BLOCK_S
    for i in range(ITERS):
        offs_s = first + i * BLOCK_S + tl.arange(0, BLOCK_S)
        mask_s = offs_s < S
        p = _probabilities(
            x_ptr, n, offs_c, offs_s, mask_c, mask_s, sxn, sxc, sxs, ACTIVATION, DTYPE
        )
        if DENSE:
            g, v = _dense_target(
                t_ptr,
                n,
                offs_c,
                offs_s,
                mask_c,
                mask_s,
                stn,
                stc,
                sts,
                ignore_index,
                HAS_IGNORE,
                DTYPE,
            )
            # as the reference: p g with g = 0 where ignored (a NaN in p still shows)
            inter += tl.sum(p * g, axis=1)
            pv = p * v
            count += tl.sum(v, axis=1)
        else:
            hit, valid = _index_target(
                t_ptr, n, offs_c, offs_s, mask_s, stn, sts, ignore_index, HAS_IGNORE
            )
            v = valid.to(DTYPE)
            g = hit.to(DTYPE)
            # the target class's probability only (as the reference's gather)
            inter += tl.sum(tl.where(hit, p, 0.0), axis=1)
            pv = p * v[None, :]  # a product, not a select: NaN at ignored positions propagates
            count += tl.sum(v, axis=0)
        if SQUARED:
            # V-Net: P = sum p^2 and G = sum g^2 (g^2 = g for 0/1 targets)
            pv = pv * p
            g = g * g
        pred += tl.sum(pv, axis=1)
        tsum += tl.sum(g, axis=1)
    # partial sums at [k, n, c, chunk] of a contiguous (4, N, C, CHUNKS) buffer
    out = part_ptr + (n * C + offs_c) * CHUNKS + chunk
    plane = N * C * CHUNKS
    tl.store(out, inter, mask=mask_c)
    tl.store(out + plane, pred, mask=mask_c)
    tl.store(out + 2 * plane, tsum, mask=mask_c)
    tl.store(out + 3 * plane, count, mask=mask_c)


@triton.jit  # type: ignore[untyped-decorator]
def _backward_kernel(  # type: ignore[no-untyped-def]
    x_ptr,
    t_ptr,
    gi_ptr,
    gp_ptr,
    out_ptr,
    C,
    S,
    ignore_index,
    sxn,
    sxc,
    sxs,
    stn,
    stc,
    sts,
    son,
    soc,
    sos,
    ACTIVATION: tl.constexpr,
    DENSE: tl.constexpr,
    HAS_IGNORE: tl.constexpr,
    SQUARED: tl.constexpr,
    DTYPE: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_S: tl.constexpr,
):
    offs_s = tl.program_id(0).to(tl.int64) * BLOCK_S + tl.arange(0, BLOCK_S)
    n = tl.program_id(1).to(tl.int64)
    offs_c = tl.program_id(2) * BLOCK_C + tl.arange(0, BLOCK_C)
    mask_s = offs_s < S
    mask_c = offs_c < C
    p = _probabilities(x_ptr, n, offs_c, offs_s, mask_c, mask_s, sxn, sxc, sxs, ACTIVATION, DTYPE)
    # dL/dI and dL/dP of this sample: (N, C) contiguous, compute dtype
    grad_inter = tl.load(gi_ptr + n * C + offs_c, mask=mask_c, other=0.0)
    grad_pred = tl.load(gp_ptr + n * C + offs_c, mask=mask_c, other=0.0)
    dpred = 2.0 * grad_pred[:, None] * p if SQUARED else grad_pred[:, None]
    # u = dL/dp = v (gP q' + gI g), q' = 1 (or 2 p when squared)
    if DENSE:
        g, v = _dense_target(
            t_ptr,
            n,
            offs_c,
            offs_s,
            mask_c,
            mask_s,
            stn,
            stc,
            sts,
            ignore_index,
            HAS_IGNORE,
            DTYPE,
        )
        u = (dpred + grad_inter[:, None] * g) * v
    else:
        hit, valid = _index_target(
            t_ptr, n, offs_c, offs_s, mask_s, stn, sts, ignore_index, HAS_IGNORE
        )
        u = dpred * valid.to(DTYPE)[None, :] + tl.where(hit, grad_inter[:, None], 0.0)
    if ACTIVATION == 0:
        # padded classes have p = 0 and u = 0: they add nothing to the dot product
        dot = tl.sum(p * u, axis=0)
        dx = p * (u - dot[None, :])
    elif ACTIVATION == 1:
        dx = u * p * (1.0 - p)
    elif ACTIVATION == 3:
        dx = u * p
    else:
        dx = u
    mask = mask_c[:, None] & mask_s[None, :]
    ptrs = out_ptr + n * son + offs_c[:, None].to(tl.int64) * soc + offs_s[None, :] * sos
    tl.store(ptrs, dx.to(out_ptr.dtype.element_ty), mask=mask)


# --- launchers ---------------------------------------------------------------------------------


def _stats_dtype(input: Tensor, target: Tensor) -> torch.dtype:
    # the reference's rule: the widest floating dtype of input and (a floating) target
    return compute_dtype(input, target if target.is_floating_point() else None)


def _triton_dtype(dtype: torch.dtype) -> Any:
    return tl.float64 if dtype == torch.float64 else tl.float32


def _blocks(num_classes: int, activation: str) -> tuple[int, int]:
    """``(BLOCK_C, BLOCK_S)``: all classes for softmax, at most MAX_BLOCK_C otherwise; the
    positions fill the tile (powers of two, 16 to 1024)."""
    block_c = triton.next_power_of_2(num_classes)
    if activation != "softmax":
        block_c = min(block_c, MAX_BLOCK_C)
    block_s = max(16, min(1024, TILE_ELEMENTS // block_c))
    return block_c, triton.next_power_of_2(block_s)


@cache
def _sm_count(index: int) -> int:
    return int(torch.cuda.get_device_properties(index).multi_processor_count)


def _target_programs(device: torch.device) -> int:
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return _sm_count(index) * PROGRAMS_PER_SM
    return INTERPRET_PROGRAMS


def _target_args(target: Tensor, dense: bool) -> tuple[Tensor, int, int, int, bool]:
    """``target`` as the kernels read it (bool viewed as uint8) and its ``(n, c, s)`` strides."""
    if target.dtype == torch.bool:
        target = target.view(torch.uint8)
    if dense:
        stn, stc, sts = target.stride()
    else:
        (stn, sts), stc = target.stride(), 0
    return target, stn, stc, sts, dense


def _has_ignore(target: Tensor, ignore_index: int | None) -> bool:
    # as the reference: floating and bool dense targets have nothing to ignore
    if ignore_index is None:
        return False
    return target.dim() == 2 or not (target.is_floating_point() or target.dtype == torch.bool)


def _forward(
    input: Tensor, target: Tensor, activation: str, ignore_index: int | None, squared: bool
) -> Tensor:
    n, c, size = input.shape
    dtype = _stats_dtype(input, target)
    if n == 0 or c == 0 or size == 0:
        return torch.zeros(4, n, c, dtype=dtype, device=input.device)
    block_c, block_s = _blocks(c, activation)
    class_blocks = triton.cdiv(c, block_c)
    tiles = triton.cdiv(size, block_s)
    # chunks of whole tiles: about the device's worth of programs, at most one per tile
    chunks = max(1, min(tiles, triton.cdiv(_target_programs(input.device), n * class_blocks)))
    iters = triton.cdiv(tiles, chunks)
    chunks = triton.cdiv(tiles, iters)
    partial = torch.empty(4, n, c, chunks, dtype=dtype, device=input.device)
    t, stn, stc, sts, dense = _target_args(target, target.dim() == 3)
    _forward_kernel[(chunks, n, class_blocks)](
        input,
        t,
        partial,
        n,
        c,
        size,
        iters,
        chunks,
        ignore_index if ignore_index is not None else 0,
        *input.stride(),
        stn,
        stc,
        sts,
        ACTIVATION=_ACTIVATION_CODE[activation],
        DENSE=dense,
        HAS_IGNORE=_has_ignore(target, ignore_index),
        SQUARED=bool(squared),
        DTYPE=_triton_dtype(dtype),
        BLOCK_C=block_c,
        BLOCK_S=block_s,
        num_warps=NUM_WARPS,
    )
    # a fixed-order sum over the chunks: deterministic, no atomics
    return partial.sum(-1)


def _backward(
    input: Tensor,
    target: Tensor,
    grad: Tensor,
    activation: str,
    ignore_index: int | None,
    squared: bool,
) -> Tensor:
    n, c, size = input.shape
    dtype = _stats_dtype(input, target)
    # input's strides when it is dense and non-overlapping (channels_last stays channels_last)
    grad_input = torch.empty_like(input)
    if grad_input.numel() == 0:
        return grad_input
    grad = grad.to(dtype)
    grad_inter, grad_pred = grad[0].contiguous(), grad[1].contiguous()
    block_c, block_s = _blocks(c, activation)
    t, stn, stc, sts, dense = _target_args(target, target.dim() == 3)
    grid = (triton.cdiv(size, block_s), n, triton.cdiv(c, block_c))
    _backward_kernel[grid](
        input,
        t,
        grad_inter,
        grad_pred,
        grad_input,
        c,
        size,
        ignore_index if ignore_index is not None else 0,
        *input.stride(),
        stn,
        stc,
        sts,
        *grad_input.stride(),
        ACTIVATION=_ACTIVATION_CODE[activation],
        DENSE=dense,
        HAS_IGNORE=_has_ignore(target, ignore_index),
        SQUARED=bool(squared),
        DTYPE=_triton_dtype(dtype),
        BLOCK_C=block_c,
        BLOCK_S=block_s,
        num_warps=NUM_WARPS,
    )
    return grad_input


class _TritonOverlapStatistics(torch.autograd.Function):
    """Saves the caller's ``input`` and ``target`` only; the backward recomputes the activation."""

    @staticmethod
    def forward(
        input: Tensor, target: Tensor, activation: str, ignore_index: int | None, squared: bool
    ) -> Tensor:
        return _forward(input, target, activation, ignore_index, squared)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        input, target, activation, ignore_index, squared = inputs
        ctx.save_for_backward(input, target)
        ctx.activation, ctx.ignore_index, ctx.squared = activation, ignore_index, squared

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        if not ctx.needs_input_grad[0]:
            return (None,) * 5
        input, target = ctx.saved_tensors
        if torch.is_grad_enabled():
            # differentiated backward (create_graph=True): the reference's gradient as a graph,
            # so that second derivatives are exact
            return (_reference_grad(ctx, input, target, ctx.activation, grad),) + (None,) * 4
        grad_input = _backward(input, target, grad, ctx.activation, ctx.ignore_index, ctx.squared)
        return (grad_input, None, None, None, None)


# --- the public entry points -------------------------------------------------------------------


def _not_covered(input: Tensor, target: Tensor, activation: str) -> str | None:
    """Why the kernels do not cover this call, or ``None``."""
    if activation not in ACTIVATIONS:
        return f"activation {activation!r} (expected one of {ACTIVATIONS})"
    if input.dtype not in _INPUT_DTYPES:
        return f"input dtype {input.dtype}"
    if input.dim() != 3:
        return f"input of {input.dim()} dims (expected (N, C, S))"
    if target.dim() == 2:
        if target.dtype not in _INT_DTYPES:
            return f"class-id target of dtype {target.dtype} (expected an integer dtype)"
    elif target.dim() == 3:
        if target.dtype not in _INT_DTYPES + _INPUT_DTYPES:
            return f"dense target of dtype {target.dtype}"
    else:
        return f"target of {target.dim()} dims (expected (N, S) or (N, C, S))"
    if input.device != target.device:
        return f"input on {input.device} and target on {target.device}"
    if input.device.type != "cuda" and not (
        input.device.type == "cpu" and os.environ.get("TRITON_INTERPRET") == "1"
    ):
        return f"{input.device.type} tensors (CUDA, or CPU under TRITON_INTERPRET=1)"
    if activation == "softmax" and input.shape[1] > MAX_SOFTMAX_CLASSES:
        return f"softmax over {input.shape[1]} classes (at most {MAX_SOFTMAX_CLASSES})"
    if input.shape[0] > _MAX_GRID_Y:
        return f"a batch of {input.shape[0]} samples (at most {_MAX_GRID_Y})"
    return None


def covers(input: Tensor, target: Tensor, activation: str) -> bool:
    """Whether :func:`overlap_statistics_triton` runs this call (the dispatcher's ``covered``).

    CUDA tensors (or CPU tensors under ``TRITON_INTERPRET=1``); input float16, bfloat16, float32
    or float64, ``(N, C, S)``; target ``(N, S)`` integer ids or ``(N, C, S)`` of a real dtype;
    softmax over at most :data:`MAX_SOFTMAX_CLASSES` classes; at most 65535 samples.
    """
    return _not_covered(input, target, activation) is None


def overlap_statistics_triton(
    input: Tensor,
    target: Tensor,
    *,
    activation: str,
    ignore_index: int | None,
    squared: bool,
    decoded: tuple[Tensor, Tensor | None] | None = None,
) -> Tensor:
    """:func:`~visionloss.kernels.overlap.overlap_statistics_reference` in two Triton kernels.

    Same arguments and values: ``(4, N, C)`` stacked ``(I, P, G, V)`` in the compute dtype
    (float32 for half, bfloat16 and float32 inputs). ``decoded`` is accepted and ignored (the
    kernels decode the raw target in registers). ``input`` and ``target`` are read in place
    with their strides (no copy, channels_last included). Saved for backward: ``input`` and
    ``target`` only. The gradient w.r.t. ``input`` has ``input``'s dtype (and its strides when
    they are dense); the target gets none. Deterministic: two runs give bitwise equal results.

    Raises:
        NotImplementedError: a call that :func:`covers` rejects (e.g. softmax over more than
            :data:`MAX_SOFTMAX_CLASSES` classes, a CPU tensor without ``TRITON_INTERPRET=1``).
        ValueError: ``target``'s shape does not match ``input``'s.
    """
    del decoded  # the kernels decode the raw target themselves
    why = _not_covered(input, target, activation)
    if why is not None:
        raise NotImplementedError(f"overlap_statistics_triton does not cover {why}")
    n, c, size = input.shape
    expected = (n, size) if target.dim() == 2 else (n, c, size)
    if tuple(target.shape) != expected:
        raise ValueError(
            f"target: expected shape {expected} for input of shape {tuple(input.shape)}, "
            f"got {tuple(target.shape)}"
        )
    result: Tensor = _TritonOverlapStatistics.apply(
        input, target.detach(), activation, ignore_index, bool(squared)
    )
    return result
