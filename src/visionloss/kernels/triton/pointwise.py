r"""Triton kernels of the pointwise regression losses: log-cosh, Charbonnier, Huber, Smooth L1.

Each loss is elementwise in :math:`d = x - y`; one kernel writes the loss (one read of ``input``
and ``target``, one write), one kernel writes the gradient(s) (one read of each input and of the
incoming gradient, one write per differentiated input). Saved for backward: the caller's
``input`` and ``target`` only. Math in float32 (float64 for float64 inputs); the loss has the
compute dtype (float32 for half and bfloat16 inputs, as the library's ``compute_dtype``), each
gradient its input's dtype.

.. math::
    \text{log-cosh: } \log\cosh d, \ \partial = \tanh d \qquad
    \text{Charbonnier: } \sqrt{d^2 + \epsilon^2} - \epsilon, \ \partial = d / \sqrt{d^2 + \epsilon^2}

    \text{Huber: } \tfrac12 d^2 \ (|d| \le \delta), \ \delta (|d| - \tfrac12\delta) \qquad
    \text{Smooth L1: } \tfrac{d^2}{2\beta} \ (|d| < \beta), \ |d| - \tfrac12\beta

Log-cosh is the function of :func:`visionloss.kernels.pointwise.log_cosh_stable`, computed here
in registers as two branches (a select costs nothing in a kernel, unlike on the CPU): ``log1p(2
sinh(|d|/2)^2)`` up to ``|d| = 2``, ``|d| + log1p(exp(-2|d|)) - log 2`` beyond, with ``sinh`` from
an accurate ``expm1`` (no cancellation for tiny residuals) and ``tanh = -expm1(-2|d|) / (1 +
exp(-2|d|))``. Huber and Smooth L1 are torch's ``F.huber_loss`` / ``F.smooth_l1_loss`` (``beta=0``
is the L1 loss, its gradient ``sign(d)``), Charbonnier the formula of
``visionloss.functional.charbonnier_loss``.

Coverage (:func:`covers`): CUDA tensors (or CPU under ``TRITON_INTERPRET=1``) of the same shape,
``input`` float16/bfloat16/float32/float64, ``target`` of any real dtype, at most four
dimensions left after merging the contiguous ones (any contiguous or channels_last pair has one).
Once-differentiable: a second derivative raises.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
import triton
import triton.language as tl
from torch import Tensor

from ..._core import compute_dtype
from .. import reference_backward
from ..pointwise import log_cosh_stable
from ._common import (
    FLOAT_DTYPES,
    INT_DTYPES,
    device_reason,
    elementwise_layout,
    elementwise_offsets,
    expm1,
    log1p,
    output_like,
    split_float,
    triton_dtype,
)

__all__ = ["OPS", "charbonnier", "covers", "huber", "log_cosh", "smooth_l1"]

#: the ops of this module and their code in the kernels (4: Smooth L1 with beta = 0, the L1 loss)
OPS = {"log_cosh": 0, "charbonnier": 1, "huber": 2, "smooth_l1": 3}

#: elements per program
BLOCK = 2048
NUM_WARPS = 8
_LOG2 = math.log(2.0)


# --- kernels -----------------------------------------------------------------------------------


@triton.jit  # type: ignore[untyped-decorator]
def _value(d, param, OP: tl.constexpr):  # type: ignore[no-untyped-def]
    a = tl.abs(d)
    if OP == 0:
        # log-cosh: small form log1p(2 sinh(h)^2), h = |d|/2 <= 1, sinh from expm1
        h = 0.5 * tl.minimum(a, 2.0)
        em = expm1(h)
        sinh = 0.5 * (em + em / (em + 1.0))
        small = log1p(2.0 * sinh * sinh)
        large = a + log1p(tl.exp(-2.0 * a)) - 0.6931471805599453
        out = tl.where(a <= 2.0, small, large)
    elif OP == 1:
        out = tl.sqrt(d * d + param * param) - param
    elif OP == 2:
        out = tl.where(a <= param, 0.5 * d * d, param * (a - 0.5 * param))
    elif OP == 3:
        out = tl.where(a < param, 0.5 * d * d / param, a - 0.5 * param)
    else:
        out = a
    # NaN propagates through every branch above (comparisons with NaN pick a NaN operand)
    return out


@triton.jit  # type: ignore[untyped-decorator]
def _slope(d, param, OP: tl.constexpr):  # type: ignore[no-untyped-def]
    if OP == 0:
        a = tl.abs(d)
        e = tl.exp(-2.0 * a)
        t = -expm1(-2.0 * a) / (1.0 + e)
        out = tl.where(d < 0.0, -t, t)
        out = tl.where(d == d, out, d)  # NaN stays NaN
    elif OP == 1:
        out = d / tl.sqrt(d * d + param * param)
    elif OP == 2:
        out = tl.where(d < -param, -param, tl.where(d > param, param, d))
    elif OP == 3:
        out = tl.where(d < -param, -1.0, tl.where(d > param, 1.0, d / param))
    else:
        out = tl.where(d > 0.0, 1.0, tl.where(d < 0.0, -1.0, d * 0.0))
    return out


@triton.jit  # type: ignore[untyped-decorator]
def _forward_kernel(  # type: ignore[no-untyped-def]
    x_ptr,
    y_ptr,
    out_ptr,
    numel,
    param_hi,
    param_lo,
    D1,
    D2,
    D3,
    sx0,
    sx1,
    sx2,
    sx3,
    sy0,
    sy1,
    sy2,
    sy3,
    so0,
    so1,
    so2,
    so3,
    OP: tl.constexpr,
    DTYPE: tl.constexpr,
    FLAT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    mask = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK) < numel
    x = tl.load(
        x_ptr + elementwise_offsets(pid, D1, D2, D3, sx0, sx1, sx2, sx3, FLAT, BLOCK),
        mask=mask,
        other=0,
    )
    y = tl.load(
        y_ptr + elementwise_offsets(pid, D1, D2, D3, sy0, sy1, sy2, sy3, FLAT, BLOCK),
        mask=mask,
        other=0,
    )
    d = x.to(DTYPE) - y.to(DTYPE)
    out = _value(d, tl.cast(param_hi, DTYPE) + tl.cast(param_lo, DTYPE), OP)
    o = elementwise_offsets(pid, D1, D2, D3, so0, so1, so2, so3, FLAT, BLOCK)
    tl.store(out_ptr + o, out.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit  # type: ignore[untyped-decorator]
def _backward_kernel(  # type: ignore[no-untyped-def]
    x_ptr,
    y_ptr,
    g_ptr,
    gx_ptr,
    gy_ptr,
    numel,
    param_hi,
    param_lo,
    D1,
    D2,
    D3,
    sx0,
    sx1,
    sx2,
    sx3,
    sy0,
    sy1,
    sy2,
    sy3,
    sg0,
    sg1,
    sg2,
    sg3,
    sa0,
    sa1,
    sa2,
    sa3,
    sb0,
    sb1,
    sb2,
    sb3,
    OP: tl.constexpr,
    NEED_X: tl.constexpr,
    NEED_Y: tl.constexpr,
    DTYPE: tl.constexpr,
    FLAT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    mask = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK) < numel
    x = tl.load(
        x_ptr + elementwise_offsets(pid, D1, D2, D3, sx0, sx1, sx2, sx3, FLAT, BLOCK),
        mask=mask,
        other=0,
    )
    y = tl.load(
        y_ptr + elementwise_offsets(pid, D1, D2, D3, sy0, sy1, sy2, sy3, FLAT, BLOCK),
        mask=mask,
        other=0,
    )
    g = tl.load(
        g_ptr + elementwise_offsets(pid, D1, D2, D3, sg0, sg1, sg2, sg3, FLAT, BLOCK),
        mask=mask,
        other=0,
    )
    d = x.to(DTYPE) - y.to(DTYPE)
    gx = g.to(DTYPE) * _slope(d, tl.cast(param_hi, DTYPE) + tl.cast(param_lo, DTYPE), OP)
    if NEED_X:
        o = elementwise_offsets(pid, D1, D2, D3, sa0, sa1, sa2, sa3, FLAT, BLOCK)
        tl.store(gx_ptr + o, gx.to(gx_ptr.dtype.element_ty), mask=mask)
    if NEED_Y:
        o = elementwise_offsets(pid, D1, D2, D3, sb0, sb1, sb2, sb3, FLAT, BLOCK)
        tl.store(gy_ptr + o, (-gx).to(gy_ptr.dtype.element_ty), mask=mask)


# --- launchers ---------------------------------------------------------------------------------


def _op_code(op: str, param: float) -> int:
    return 4 if op == "smooth_l1" and param == 0 else OPS[op]


def _loss_dtype(input: Tensor, target: Tensor) -> torch.dtype:
    return compute_dtype(input, target if target.is_floating_point() else None)


def _as_read(t: Tensor) -> Tensor:
    return t.view(torch.uint8) if t.dtype == torch.bool else t


def _forward(input: Tensor, target: Tensor, op: str, param: float) -> Tensor:
    dtype = _loss_dtype(input, target)
    out = output_like(input, input.shape, dtype)
    numel = out.numel()
    if numel == 0:
        return out
    layout = elementwise_layout(input.shape, [out, input, target])
    assert layout is not None  # covers() checked it
    _, d1, d2, d3 = layout.sizes
    _forward_kernel[(triton.cdiv(numel, BLOCK),)](
        input,
        _as_read(target),
        out,
        numel,
        *split_float(param),
        d1,
        d2,
        d3,
        *layout.args(1),
        *layout.args(2),
        *layout.args(0),
        OP=_op_code(op, param),
        DTYPE=triton_dtype(dtype),
        FLAT=layout.flat,
        BLOCK=BLOCK,
        num_warps=NUM_WARPS,
    )
    return out


def _backward(
    input: Tensor, target: Tensor, grad: Tensor, op: str, param: float, need_x: bool, need_y: bool
) -> tuple[Tensor | None, Tensor | None]:
    dtype = _loss_dtype(input, target)
    grad_x = output_like(input, input.shape, input.dtype) if need_x else None
    grad_y = output_like(target, input.shape, target.dtype) if need_y else None
    numel = input.numel()
    if numel == 0:
        return grad_x, grad_y
    first = grad_x if grad_x is not None else grad_y
    assert first is not None
    operands = [first, input, target, grad, grad_x if grad_x is not None else first]
    operands.append(grad_y if grad_y is not None else first)
    layout = elementwise_layout(input.shape, operands)
    if layout is None:  # an odd upstream gradient: read it as a contiguous copy
        grad = grad.contiguous()
        operands[3] = grad
        layout = elementwise_layout(input.shape, operands)
    assert layout is not None
    _, d1, d2, d3 = layout.sizes
    _backward_kernel[(triton.cdiv(numel, BLOCK),)](
        input,
        _as_read(target),
        grad,
        grad_x if grad_x is not None else first,
        grad_y if grad_y is not None else first,
        numel,
        *split_float(param),
        d1,
        d2,
        d3,
        *layout.args(1),
        *layout.args(2),
        *layout.args(3),
        *layout.args(4),
        *layout.args(5),
        OP=_op_code(op, param),
        NEED_X=need_x,
        NEED_Y=need_y,
        DTYPE=triton_dtype(dtype),
        FLAT=layout.flat,
        BLOCK=BLOCK,
        num_warps=NUM_WARPS,
    )
    return grad_x, grad_y


class _TritonPointwise(torch.autograd.Function):
    """Saves the caller's ``input`` and ``target`` only; the backward recomputes ``d``."""

    @staticmethod
    def forward(input: Tensor, target: Tensor, op: str, param: float) -> Tensor:
        return _forward(input, target, op, param)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        input, target, op, param = inputs
        ctx.save_for_backward(input, target)
        ctx.op, ctx.param = op, param

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        input, target = ctx.saved_tensors
        need_x = bool(ctx.needs_input_grad[0])
        need_y = bool(ctx.needs_input_grad[1]) and target.is_floating_point()
        if not (need_x or need_y):
            return None, None, None, None
        if torch.is_grad_enabled():
            # differentiated backward: the reference's gradient as a graph (exact second order)
            def reference(x: Tensor, y: Tensor) -> Tensor:
                return _reference(x, y, ctx.op, ctx.param)

            grads = reference_backward(reference, [input, target], [need_x, need_y], grad)
            return grads[0], grads[1], None, None
        grad_x, grad_y = _backward(input, target, grad, ctx.op, ctx.param, need_x, need_y)
        return grad_x, grad_y, None, None


# --- the public entry points -------------------------------------------------------------------


def _not_covered(input: Tensor, target: Tensor) -> str | None:
    if input.dtype not in FLOAT_DTYPES:
        return f"input dtype {input.dtype}"
    if target.dtype not in FLOAT_DTYPES + INT_DTYPES:
        return f"target dtype {target.dtype}"
    if tuple(input.shape) != tuple(target.shape):
        return f"target of shape {tuple(target.shape)} for input {tuple(input.shape)}"
    device = device_reason(input, target)
    if device is not None:
        return device
    # the output takes the input's strides (when dense) or is contiguous, as this meta tensor
    out = torch.empty_like(input, device="meta")
    if elementwise_layout(input.shape, [out, input, target]) is None:
        return "inputs whose strides leave more than 4 dimensions after merging"
    return None


def covers(input: Tensor, target: Tensor) -> bool:
    """Whether the functions of this module run this call (the dispatcher's ``covered``):
    CUDA tensors (or CPU under ``TRITON_INTERPRET=1``) of one shape, ``input`` float16,
    bfloat16, float32 or float64, ``target`` of a real dtype, strides that merge to at most four
    dimensions."""
    return _not_covered(input, target) is None


def _reference(input: Tensor, target: Tensor, op: str, param: float) -> Tensor:
    """The elementwise loss in plain torch, in the compute dtype (for differentiated backwards)."""
    dtype = _loss_dtype(input, target)
    d = input.to(dtype) - target.to(dtype)
    if op == "log_cosh":
        return log_cosh_stable(d)
    if op == "charbonnier":
        return torch.sqrt(d * d + param * param) - param
    if op == "huber":
        return F.huber_loss(d, torch.zeros_like(d), reduction="none", delta=param)
    return F.smooth_l1_loss(d, torch.zeros_like(d), reduction="none", beta=param)


def _run(op: str, input: Tensor, target: Tensor, param: float) -> Tensor:
    why = _not_covered(input, target)
    if why is not None:
        raise NotImplementedError(f"{op} (triton) does not cover {why}")
    result: Tensor = _TritonPointwise.apply(input, target, op, float(param))
    return result


def log_cosh(input: Tensor, target: Tensor) -> Tensor:
    """:func:`visionloss.kernels.pointwise.log_cosh` (elementwise ``log(cosh(input - target))``)
    in one Triton kernel each way; saves ``input`` and ``target`` only."""
    return _run("log_cosh", input, target, 0.0)


def charbonnier(input: Tensor, target: Tensor, *, eps: float) -> Tensor:
    """Elementwise ``sqrt((input - target)^2 + eps^2) - eps`` (the unreduced
    ``visionloss.functional.charbonnier_loss``)."""
    return _run("charbonnier", input, target, eps)


def huber(input: Tensor, target: Tensor, *, delta: float) -> Tensor:
    """Elementwise Huber loss, ``F.huber_loss(input, target, reduction="none", delta=delta)``."""
    return _run("huber", input, target, delta)


def smooth_l1(input: Tensor, target: Tensor, *, beta: float) -> Tensor:
    """Elementwise Smooth L1 loss, ``F.smooth_l1_loss(input, target, reduction="none",
    beta=beta)`` (``beta=0``: the L1 loss)."""
    return _run("smooth_l1", input, target, beta)
