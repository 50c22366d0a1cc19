r"""Triton kernels of binary cross-entropy with logits (torch's ``binary_cross_entropy_with_logits``).

Same arguments and values as :func:`visionloss.kernels.bce.bce_with_logits` (and its reference):

.. math::
    \ell = (1 - y)\, x + l_w\, \mathrm{softplus}(-x), \qquad l_w = 1 + (w_+ - 1)\, y,

with :math:`w_+` the ``pos_weight`` (1 without it), a tensor broadcastable to ``x`` read in place
(zero strides). :math:`\mathrm{softplus}(-x) = \max(-x, 0) + \log(1 + e^{-|x|})`, torch's own
form (exact for :math:`|x|` up to 1e4, no overflow). One kernel writes the loss, one the gradient
w.r.t. ``x``, :math:`g\,[(1 - y) - l_w\, \sigma(-x)]` (:math:`p - y` without ``pos_weight``), with
:math:`\sigma(-x)` from the same :math:`e^{-|x|}` (no cancellation). This is the sigmoid focal
kernel's loss at ``gamma = 0`` plus the positive weight, which that kernel does not take; a
separate kernel keeps the focal one free of a branch its callers never use. Saved for backward:
the inputs only. Float math in float32 for half inputs (float64 for float64).

Coverage (:func:`covers`): CUDA tensors (or CPU under ``TRITON_INTERPRET=1``), ``x``
float16/bfloat16/float32/float64, a float ``target`` of ``x``'s shape that does not require grad
(the reference differentiates the target), ``pos_weight`` ``None`` or a floating tensor
broadcastable to ``x`` (not differentiated: the dispatcher gives a differentiated one to the
reference), at most 4 dimensions after merging strides. Once-differentiable; a differentiated
backward recomputes the reference (:func:`~visionloss.kernels.reference_backward`).
"""

from __future__ import annotations

from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from ..._core import compute_dtype
from .. import reference_backward
from ._common import (
    FLOAT_DTYPES,
    device_reason,
    elementwise_layout,
    elementwise_offsets,
    log1p,
    output_like,
    triton_dtype,
)

__all__ = ["bce_with_logits", "covers"]

#: elements per program
BLOCK = 1024
NUM_WARPS = 4


@triton.jit  # type: ignore[untyped-decorator]
def _bce_parts(x, y, w_ptr, pid, mask, D1, D2, D3, sw0, sw1, sw2, sw3,  # type: ignore[no-untyped-def]
               HAS_PW: tl.constexpr, DTYPE: tl.constexpr, FLAT: tl.constexpr,
               BLOCK: tl.constexpr):  # fmt: skip
    """``(loss, dloss/dx)`` of one block."""
    e = tl.exp(-tl.abs(x))
    r = 1.0 / (1.0 + e)
    # sigma(-x): r where x < 0, e r where x >= 0 (both from one exp, neither cancels)
    q = tl.where(x >= 0.0, e * r, r)
    softplus_neg = tl.maximum(-x, 0.0) + log1p(e)
    if HAS_PW:
        o = elementwise_offsets(pid, D1, D2, D3, sw0, sw1, sw2, sw3, FLAT, BLOCK)
        w = tl.load(w_ptr + o, mask=mask, other=1.0).to(DTYPE)
        lw = 1.0 + (w - 1.0) * y
    else:
        lw = tl.full(x.shape, 1.0, DTYPE)
    loss = (1.0 - y) * x + lw * softplus_neg
    slope = (1.0 - y) - lw * q
    return loss, slope


@triton.jit  # type: ignore[untyped-decorator]
def _bce_forward_kernel(  # type: ignore[no-untyped-def]
    x_ptr, t_ptr, w_ptr, out_ptr, numel, D1, D2, D3,
    sx0, sx1, sx2, sx3, st0, st1, st2, st3, sw0, sw1, sw2, sw3, so0, so1, so2, so3,
    HAS_PW: tl.constexpr, DTYPE: tl.constexpr, FLAT: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    mask = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK) < numel
    x = tl.load(x_ptr + elementwise_offsets(pid, D1, D2, D3, sx0, sx1, sx2, sx3, FLAT, BLOCK), mask=mask, other=0)
    t = tl.load(t_ptr + elementwise_offsets(pid, D1, D2, D3, st0, st1, st2, st3, FLAT, BLOCK), mask=mask, other=0)
    loss, _ = _bce_parts(
        x.to(DTYPE), t.to(DTYPE), w_ptr, pid, mask, D1, D2, D3, sw0, sw1, sw2, sw3,
        HAS_PW, DTYPE, FLAT, BLOCK,
    )  # fmt: skip
    o = elementwise_offsets(pid, D1, D2, D3, so0, so1, so2, so3, FLAT, BLOCK)
    tl.store(out_ptr + o, loss.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit  # type: ignore[untyped-decorator]
def _bce_backward_kernel(  # type: ignore[no-untyped-def]
    x_ptr, t_ptr, w_ptr, g_ptr, dx_ptr, numel, D1, D2, D3,
    sx0, sx1, sx2, sx3, st0, st1, st2, st3, sw0, sw1, sw2, sw3, sg0, sg1, sg2, sg3,
    so0, so1, so2, so3,
    HAS_PW: tl.constexpr, DTYPE: tl.constexpr, FLAT: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    mask = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK) < numel
    x = tl.load(x_ptr + elementwise_offsets(pid, D1, D2, D3, sx0, sx1, sx2, sx3, FLAT, BLOCK), mask=mask, other=0)
    t = tl.load(t_ptr + elementwise_offsets(pid, D1, D2, D3, st0, st1, st2, st3, FLAT, BLOCK), mask=mask, other=0)
    g = tl.load(g_ptr + elementwise_offsets(pid, D1, D2, D3, sg0, sg1, sg2, sg3, FLAT, BLOCK), mask=mask, other=0)
    _, slope = _bce_parts(
        x.to(DTYPE), t.to(DTYPE), w_ptr, pid, mask, D1, D2, D3, sw0, sw1, sw2, sw3,
        HAS_PW, DTYPE, FLAT, BLOCK,
    )  # fmt: skip
    o = elementwise_offsets(pid, D1, D2, D3, so0, so1, so2, so3, FLAT, BLOCK)
    tl.store(dx_ptr + o, (slope * g.to(DTYPE)).to(dx_ptr.dtype.element_ty), mask=mask)


def _reference(x: Tensor, target: Tensor, pos_weight: Tensor | None) -> Tensor:
    from ..bce import bce_with_logits_reference

    return bce_with_logits_reference(x, target, pos_weight=pos_weight)


def _launch(x: Tensor, target: Tensor, pos_weight: Tensor | None, grad: Tensor | None) -> Tensor:
    if grad is None:
        out = output_like(x, x.shape, compute_dtype(x, target, pos_weight))
    else:
        out = output_like(x, x.shape, x.dtype)
    numel = out.numel()
    if numel == 0:
        return out
    w = x if pos_weight is None else pos_weight
    operands = [out, x, target, w] + ([] if grad is None else [grad])
    layout = elementwise_layout(x.shape, operands)
    if layout is None and grad is not None:  # an odd upstream gradient: read a contiguous copy
        grad = grad.contiguous()
        operands[-1] = grad
        layout = elementwise_layout(x.shape, operands)
    assert layout is not None  # covers() checked the inputs
    _, d1, d2, d3 = layout.sizes
    common = dict(
        HAS_PW=pos_weight is not None,
        DTYPE=triton_dtype(compute_dtype(x, target, pos_weight)),
        FLAT=layout.flat,
        BLOCK=BLOCK,
        num_warps=NUM_WARPS,
    )
    grid = (triton.cdiv(numel, BLOCK),)
    if grad is None:
        _bce_forward_kernel[grid](
            x, target, w, out, numel, d1, d2, d3,
            *layout.args(1), *layout.args(2), *layout.args(3), *layout.args(0), **common,
        )  # fmt: skip
    else:
        _bce_backward_kernel[grid](
            x, target, w, grad, out, numel, d1, d2, d3,
            *layout.args(1), *layout.args(2), *layout.args(3), *layout.args(4),
            *layout.args(0), **common,
        )  # fmt: skip
    return out


class _TritonBCE(torch.autograd.Function):
    """Saves ``x``, ``target`` and ``pos_weight`` (the inputs) only."""

    @staticmethod
    def forward(x: Tensor, target: Tensor, pos_weight: Tensor | None) -> Tensor:
        return _launch(x, target, pos_weight, None)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        x, target, pos_weight = inputs
        ctx.save_for_backward(x, target, pos_weight)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        if not ctx.needs_input_grad[0]:
            return None, None, None
        x, target, pos_weight = ctx.saved_tensors
        if torch.is_grad_enabled():
            # differentiated backward: the reference's gradient as a graph (exact second order)
            (grad_x,) = reference_backward(
                lambda v: _reference(v, target, pos_weight), [x], [True], grad
            )
            return grad_x, None, None
        return _launch(x, target, pos_weight, grad), None, None


def _not_covered(x: Tensor, target: Tensor, pos_weight: Tensor | None) -> str | None:
    if x.dtype not in FLOAT_DTYPES:
        return f"input dtype {x.dtype}"
    if target.dtype not in FLOAT_DTYPES:
        return f"target of dtype {target.dtype} (expected a float target)"
    if target.requires_grad:
        return "a target that requires grad"
    if tuple(target.shape) != tuple(x.shape):
        return f"target of shape {tuple(target.shape)} for input {tuple(x.shape)}"
    tensors = [x, target]
    if pos_weight is not None:
        if pos_weight.dtype not in FLOAT_DTYPES:
            return f"pos_weight of dtype {pos_weight.dtype}"
        try:
            shape = torch.broadcast_shapes(pos_weight.shape, x.shape)
        except RuntimeError:
            shape = None
        if shape != x.shape:
            return f"pos_weight of shape {tuple(pos_weight.shape)} for input {tuple(x.shape)}"
        tensors.append(pos_weight)
    out = torch.empty_like(x, device="meta")
    w = x if pos_weight is None else pos_weight
    if elementwise_layout(x.shape, [out, x, target, w]) is None:
        return "inputs whose strides leave more than 4 dimensions after merging"
    return device_reason(*tensors)


def covers(x: Tensor, target: Tensor, *, pos_weight: Tensor | None) -> bool:
    """Whether :func:`bce_with_logits` runs this call (the dispatcher's ``covered``)."""
    return _not_covered(x, target, pos_weight) is None


def bce_with_logits(x: Tensor, target: Tensor, *, pos_weight: Tensor | None) -> Tensor:
    """:func:`visionloss.kernels.bce.bce_with_logits` in two Triton kernels: the elementwise loss
    in the compute dtype (float32 for half and bfloat16), the gradient w.r.t. ``x`` in ``x``'s
    dtype. Saves the inputs only.

    Raises:
        NotImplementedError: a call :func:`covers` rejects.
    """
    why = _not_covered(x, target, pos_weight)
    if why is not None:
        raise NotImplementedError(f"bce_with_logits (triton) does not cover {why}")
    if pos_weight is not None:
        pos_weight = pos_weight.detach()
    result: Tensor = _TritonBCE.apply(x, target, pos_weight)
    return result
