r"""Triton kernels of two pointwise losses with parameters: the Gaussian NLL and Barron's loss.

Gaussian NLL of ``target`` under ``N(mean, exp(logvar))`` (``logvar`` broadcast to ``mean``'s
shape, read with zero strides), :func:`visionloss.kernels.pointwise.gaussian_nll_reference`:

.. math::
    \ell = \tfrac12 \left(v + (y - \mu)^2 e^{-\max(v, v_{\min})}\right) [+ \tfrac12 \log 2\pi],
    \quad \partial_\mu = (\mu - y) e^{-\max(v, v_{\min})}, \quad
    \partial_v = \tfrac12 - \tfrac12 (y - \mu)^2 e^{-v} [v \ge v_{\min}]

Barron's general loss for a number ``alpha`` and ``scale`` (:func:`visionloss.kernels.pointwise.
robust_reference`): one kernel per branch that ``alpha`` selects (a constexpr), ``z = (d/c)^2``:

.. math::
    \rho = \tfrac12 z \ (\alpha = 2), \quad \log(1 + \tfrac z2) \ (0), \quad
    1 - e^{-z/2} \ (-\infty), \quad e^{z/2} - 1 \ (+\infty), \quad
    \tfrac{b}{a}\,\mathrm{expm1}\!\left(\tfrac a2 \mathrm{log1p}(z/b)\right) \ \text{otherwise},

    \partial_x \rho = \frac{d}{c^2} \times 1, \ \frac{1}{1 + z/2}, \ e^{-z/2}, \ e^{z/2}, \
    (1 + z/b)^{a/2 - 1}

with ``b = max(|alpha - 2|, eps)`` and ``|a| = max(|alpha|, eps)`` as the reference clamps them.

One kernel writes the loss (one read of each input, one write), one the gradients (one read of
each input and of the incoming gradient, one write per differentiated input). Saved for
backward: the inputs only. Math in float32 (float64 for float64 inputs); the loss has the compute
dtype (float32 for half and bfloat16), each gradient its input's dtype. A broadcast ``logvar``'s
gradient is written at ``mean``'s shape in the compute dtype and summed to ``logvar``'s shape by
torch (deterministic: no atomics).

Coverage (:func:`covers`): CUDA tensors (or CPU under ``TRITON_INTERPRET=1``), floating
inputs, ``target`` (and ``logvar``) broadcastable to ``mean``'s (``input``'s) shape without
growing it, strides that merge to at most four dimensions; for the robust loss, ``alpha`` and
``scale`` numbers (a tensor, e.g. a learnt ``alpha``, is not covered: the reference runs).
A differentiated backward (``create_graph=True``) returns the reference's gradient as a graph.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from ..._core import compute_dtype
from .. import reference_backward
from ..pointwise import _min_logvar, _robust_constants, gaussian_nll_reference, robust_reference
from ._common import (
    FLOAT_DTYPES,
    device_reason,
    elementwise_layout,
    elementwise_offsets,
    expm1,
    log1p,
    output_like,
    split_float,
    triton_dtype,
)

__all__ = ["covers", "gaussian_nll", "robust", "robust_branch"]

#: elements per program
BLOCK = 2048
NUM_WARPS = 8
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


# --- kernels -----------------------------------------------------------------------------------


@triton.jit  # type: ignore[untyped-decorator]
def _load(ptr, pid, D1, D2, D3, s0, s1, s2, s3, mask, DTYPE: tl.constexpr, FLAT: tl.constexpr,  # type: ignore[no-untyped-def]
          BLOCK: tl.constexpr):
    offs = elementwise_offsets(pid, D1, D2, D3, s0, s1, s2, s3, FLAT, BLOCK)
    return tl.load(ptr + offs, mask=mask, other=0).to(DTYPE)


@triton.jit  # type: ignore[untyped-decorator]
def _store(ptr, value, pid, D1, D2, D3, s0, s1, s2, s3, mask, FLAT: tl.constexpr,  # type: ignore[no-untyped-def]
           BLOCK: tl.constexpr):
    offs = elementwise_offsets(pid, D1, D2, D3, s0, s1, s2, s3, FLAT, BLOCK)
    tl.store(ptr + offs, value.to(ptr.dtype.element_ty), mask=mask)


@triton.jit  # type: ignore[untyped-decorator]
def _nll_forward_kernel(  # type: ignore[no-untyped-def]
    mu_ptr, y_ptr, v_ptr, out_ptr, numel, v_min, const,
    D1, D2, D3,
    sm0, sm1, sm2, sm3, sy0, sy1, sy2, sy3, sv0, sv1, sv2, sv3, so0, so1, so2, so3,
    DTYPE: tl.constexpr, FLAT: tl.constexpr, BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    mask = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK) < numel
    mu = _load(mu_ptr, pid, D1, D2, D3, sm0, sm1, sm2, sm3, mask, DTYPE, FLAT, BLOCK)
    y = _load(y_ptr, pid, D1, D2, D3, sy0, sy1, sy2, sy3, mask, DTYPE, FLAT, BLOCK)
    v = _load(v_ptr, pid, D1, D2, D3, sv0, sv1, sv2, sv3, mask, DTYPE, FLAT, BLOCK)
    d = y - mu
    # `where`, not maximum: a NaN log-variance stays NaN inside the exp too
    precision = tl.exp(-tl.where(v < v_min, v_min, v))
    out = 0.5 * (v + d * d * precision) + const
    _store(out_ptr, out, pid, D1, D2, D3, so0, so1, so2, so3, mask, FLAT, BLOCK)


@triton.jit  # type: ignore[untyped-decorator]
def _nll_backward_kernel(  # type: ignore[no-untyped-def]
    mu_ptr, y_ptr, v_ptr, g_ptr, gmu_ptr, gy_ptr, gv_ptr, numel, v_min,
    D1, D2, D3,
    sm0, sm1, sm2, sm3, sy0, sy1, sy2, sy3, sv0, sv1, sv2, sv3, sg0, sg1, sg2, sg3,
    sa0, sa1, sa2, sa3, sb0, sb1, sb2, sb3, sc0, sc1, sc2, sc3,
    NEED_MU: tl.constexpr, NEED_Y: tl.constexpr, NEED_V: tl.constexpr,
    DTYPE: tl.constexpr, FLAT: tl.constexpr, BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    mask = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK) < numel
    mu = _load(mu_ptr, pid, D1, D2, D3, sm0, sm1, sm2, sm3, mask, DTYPE, FLAT, BLOCK)
    y = _load(y_ptr, pid, D1, D2, D3, sy0, sy1, sy2, sy3, mask, DTYPE, FLAT, BLOCK)
    v = _load(v_ptr, pid, D1, D2, D3, sv0, sv1, sv2, sv3, mask, DTYPE, FLAT, BLOCK)
    g = _load(g_ptr, pid, D1, D2, D3, sg0, sg1, sg2, sg3, mask, DTYPE, FLAT, BLOCK)
    r = mu - y
    precision = tl.exp(-tl.where(v < v_min, v_min, v))
    if NEED_MU or NEED_Y:
        gmu = g * r * precision
        if NEED_MU:
            _store(gmu_ptr, gmu, pid, D1, D2, D3, sa0, sa1, sa2, sa3, mask, FLAT, BLOCK)
        if NEED_Y:
            _store(gy_ptr, -gmu, pid, D1, D2, D3, sb0, sb1, sb2, sb3, mask, FLAT, BLOCK)
    if NEED_V:
        # the clamp's gradient: the exp term depends on v only where v >= v_min
        active = tl.where(v < v_min, 0.0, r * r * precision)
        gv = g * (0.5 - 0.5 * active)
        _store(gv_ptr, gv, pid, D1, D2, D3, sc0, sc1, sc2, sc3, mask, FLAT, BLOCK)


@triton.jit  # type: ignore[untyped-decorator]
def _robust_value(d, c, a, b, OP: tl.constexpr):  # type: ignore[no-untyped-def]
    x = d / c
    z = x * x
    if OP == 0:
        out = 0.5 * z
    elif OP == 1:
        out = log1p(0.5 * z)
    elif OP == 2:
        out = -expm1(-0.5 * z)
    elif OP == 3:
        out = expm1(0.5 * z)
    else:
        out = (b / a) * expm1(0.5 * a * log1p(z / b))
    return out


@triton.jit  # type: ignore[untyped-decorator]
def _robust_slope(d, c, a, b, OP: tl.constexpr):  # type: ignore[no-untyped-def]
    x = d / c
    z = x * x
    if OP == 0:
        factor = 1.0
    elif OP == 1:
        factor = 1.0 / (1.0 + 0.5 * z)
    elif OP == 2:
        factor = tl.exp(-0.5 * z)
    elif OP == 3:
        factor = tl.exp(0.5 * z)
    else:
        factor = tl.exp((0.5 * a - 1.0) * log1p(z / b))
    return factor * (x / c)


@triton.jit  # type: ignore[untyped-decorator]
def _robust_forward_kernel(  # type: ignore[no-untyped-def]
    x_ptr, y_ptr, out_ptr, numel, c_hi, c_lo, a_hi, a_lo, b_hi, b_lo,
    D1, D2, D3,
    sx0, sx1, sx2, sx3, sy0, sy1, sy2, sy3, so0, so1, so2, so3,
    OP: tl.constexpr, DTYPE: tl.constexpr, FLAT: tl.constexpr, BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    mask = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK) < numel
    x = _load(x_ptr, pid, D1, D2, D3, sx0, sx1, sx2, sx3, mask, DTYPE, FLAT, BLOCK)
    y = _load(y_ptr, pid, D1, D2, D3, sy0, sy1, sy2, sy3, mask, DTYPE, FLAT, BLOCK)
    c = tl.cast(c_hi, DTYPE) + tl.cast(c_lo, DTYPE)
    a = tl.cast(a_hi, DTYPE) + tl.cast(a_lo, DTYPE)
    b = tl.cast(b_hi, DTYPE) + tl.cast(b_lo, DTYPE)
    out = _robust_value(x - y, c, a, b, OP)
    _store(out_ptr, out, pid, D1, D2, D3, so0, so1, so2, so3, mask, FLAT, BLOCK)


@triton.jit  # type: ignore[untyped-decorator]
def _robust_backward_kernel(  # type: ignore[no-untyped-def]
    x_ptr, y_ptr, g_ptr, gx_ptr, gy_ptr, numel, c_hi, c_lo, a_hi, a_lo, b_hi, b_lo,
    D1, D2, D3,
    sx0, sx1, sx2, sx3, sy0, sy1, sy2, sy3, sg0, sg1, sg2, sg3,
    sa0, sa1, sa2, sa3, sb0, sb1, sb2, sb3,
    OP: tl.constexpr, NEED_X: tl.constexpr, NEED_Y: tl.constexpr,
    DTYPE: tl.constexpr, FLAT: tl.constexpr, BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    mask = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK) < numel
    x = _load(x_ptr, pid, D1, D2, D3, sx0, sx1, sx2, sx3, mask, DTYPE, FLAT, BLOCK)
    y = _load(y_ptr, pid, D1, D2, D3, sy0, sy1, sy2, sy3, mask, DTYPE, FLAT, BLOCK)
    g = _load(g_ptr, pid, D1, D2, D3, sg0, sg1, sg2, sg3, mask, DTYPE, FLAT, BLOCK)
    c = tl.cast(c_hi, DTYPE) + tl.cast(c_lo, DTYPE)
    a = tl.cast(a_hi, DTYPE) + tl.cast(a_lo, DTYPE)
    b = tl.cast(b_hi, DTYPE) + tl.cast(b_lo, DTYPE)
    gx = g * _robust_slope(x - y, c, a, b, OP)
    if NEED_X:
        _store(gx_ptr, gx, pid, D1, D2, D3, sa0, sa1, sa2, sa3, mask, FLAT, BLOCK)
    if NEED_Y:
        _store(gy_ptr, -gx, pid, D1, D2, D3, sb0, sb1, sb2, sb3, mask, FLAT, BLOCK)


# --- launchers ---------------------------------------------------------------------------------


def _layout(shape: torch.Size, operands: list[Tensor], odd: int = -1) -> tuple[Any, list[Any]]:
    """The merged layout and the launch's size arguments; the operand at index ``odd`` (an
    upstream gradient, whose strides covers() could not check) is replaced by a contiguous copy
    when its strides do not merge. The outputs are never copied: they are written."""
    layout = elementwise_layout(shape, operands)
    if layout is None and odd >= 0:
        operands[odd] = operands[odd].contiguous()
        layout = elementwise_layout(shape, operands)
    if layout is None:  # covers() checked the inputs and output; cannot happen
        raise RuntimeError("nll_robust: operands whose strides do not merge to 4 dimensions")
    _, d1, d2, d3 = layout.sizes
    return layout, [d1, d2, d3]


def _strides(layout: Any, count: int) -> list[int]:
    return [s for k in range(count) for s in layout.args(k)]


def _nll_forward(mean: Tensor, target: Tensor, logvar: Tensor, full: bool) -> Tensor:
    dtype = compute_dtype(mean, target, logvar)
    out = output_like(mean, mean.shape, dtype)
    numel = out.numel()
    if numel == 0:
        return out
    operands = [out, mean, target, logvar]
    layout, sizes = _layout(mean.shape, operands)
    _nll_forward_kernel[(triton.cdiv(numel, BLOCK),)](
        mean, target, logvar, out, numel, _min_logvar(dtype), _HALF_LOG_2PI if full else 0.0,
        *sizes,
        *layout.args(1), *layout.args(2), *layout.args(3), *layout.args(0),
        DTYPE=triton_dtype(dtype), FLAT=layout.flat, BLOCK=BLOCK, num_warps=NUM_WARPS,
    )
    return out


def _nll_backward(
    mean: Tensor, target: Tensor, logvar: Tensor, grad: Tensor, needs: tuple[bool, bool, bool]
) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    dtype = compute_dtype(mean, target, logvar)
    shape = mean.shape
    grad_mean = output_like(mean, shape, mean.dtype) if needs[0] else None
    grad_target = output_like(target, shape, target.dtype) if needs[1] else None
    full_logvar = tuple(logvar.shape) == tuple(shape)
    # a broadcast logvar: its gradient at mean's shape in the compute dtype, summed below
    grad_logvar = (
        output_like(logvar if full_logvar else mean, shape, logvar.dtype if full_logvar else dtype)
        if needs[2]
        else None
    )
    if mean.numel() == 0:
        if grad_logvar is not None and not full_logvar:
            grad_logvar = grad_logvar.sum_to_size(logvar.shape).to(logvar.dtype)
        return grad_mean, grad_target, grad_logvar
    written = [t for t in (grad_mean, grad_target, grad_logvar) if t is not None]
    first = written[0]
    outs = [t if t is not None else first for t in (grad_mean, grad_target, grad_logvar)]
    operands = [first, mean, target, logvar, grad, *outs]
    layout, sizes = _layout(shape, operands, odd=4)
    grad = operands[4]
    _nll_backward_kernel[(triton.cdiv(mean.numel(), BLOCK),)](
        mean, target, logvar, grad, *outs, mean.numel(), _min_logvar(dtype),
        *sizes,
        *_strides(layout, 8)[4:],
        NEED_MU=needs[0], NEED_Y=needs[1], NEED_V=needs[2],
        DTYPE=triton_dtype(dtype), FLAT=layout.flat, BLOCK=BLOCK, num_warps=NUM_WARPS,
    )
    if grad_logvar is not None and not full_logvar:
        grad_logvar = grad_logvar.sum_to_size(logvar.shape).to(logvar.dtype)
    return grad_mean, grad_target, grad_logvar


class _TritonGaussianNLL(torch.autograd.Function):
    """Saves ``mean``, ``target`` and ``logvar`` only; the backward recomputes the rest."""

    @staticmethod
    def forward(mean: Tensor, target: Tensor, logvar: Tensor, full: bool) -> Tensor:
        return _nll_forward(mean, target, logvar, full)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        mean, target, logvar, full = inputs
        ctx.save_for_backward(mean, target, logvar)
        ctx.full = full

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        mean, target, logvar = ctx.saved_tensors
        needs = (
            bool(ctx.needs_input_grad[0]),
            bool(ctx.needs_input_grad[1]),
            bool(ctx.needs_input_grad[2]),
        )
        if not any(needs):
            return None, None, None, None
        if torch.is_grad_enabled():
            # differentiated backward: the reference's gradient as a graph (exact second order)
            grads = reference_backward(
                lambda m, t, v: gaussian_nll_reference(m, t, v, ctx.full),
                [mean, target, logvar],
                needs,
                grad,
            )
            return grads[0], grads[1], grads[2], None
        return (*_nll_backward(mean, target, logvar, grad, needs), None)


#: the branch codes of the robust kernels, by alpha
_L2, _CAUCHY, _WELSCH, _POS_INF, _GENERAL = range(5)


def robust_branch(alpha: float) -> int:
    """The kernels' code of the branch ``alpha`` selects (0: L2, 1: Cauchy, 2: Welsch, 3:
    ``+inf``, 4: the general formula)."""
    if alpha == 2.0:
        return _L2
    if alpha == 0.0:
        return _CAUCHY
    if alpha == -math.inf:
        return _WELSCH
    if alpha == math.inf:
        return _POS_INF
    return _GENERAL


def _robust_params(alpha: float, scale: float, dtype: torch.dtype) -> list[float]:
    a, b = _robust_constants(alpha, dtype) if robust_branch(alpha) == _GENERAL else (1.0, 1.0)
    return [*split_float(scale), *split_float(a), *split_float(b)]


def _robust_forward(input: Tensor, target: Tensor, alpha: float, scale: float) -> Tensor:
    dtype = compute_dtype(input, target)
    out = output_like(input, input.shape, dtype)
    numel = out.numel()
    if numel == 0:
        return out
    layout, sizes = _layout(input.shape, [out, input, target])
    _robust_forward_kernel[(triton.cdiv(numel, BLOCK),)](
        input, target, out, numel, *_robust_params(alpha, scale, dtype),
        *sizes,
        *layout.args(1), *layout.args(2), *layout.args(0),
        OP=robust_branch(alpha), DTYPE=triton_dtype(dtype), FLAT=layout.flat, BLOCK=BLOCK,
        num_warps=NUM_WARPS,
    )
    return out


def _robust_backward(
    input: Tensor, target: Tensor, grad: Tensor, alpha: float, scale: float, needs: tuple[bool, bool]
) -> tuple[Tensor | None, Tensor | None]:
    dtype = compute_dtype(input, target)
    grad_x = output_like(input, input.shape, input.dtype) if needs[0] else None
    grad_y = output_like(target, input.shape, target.dtype) if needs[1] else None
    numel = input.numel()
    if numel == 0:
        return grad_x, grad_y
    first = grad_x if grad_x is not None else grad_y
    assert first is not None  # the caller returns early when no gradient is needed
    outs = [grad_x if grad_x is not None else first, grad_y if grad_y is not None else first]
    operands = [first, input, target, grad, *outs]
    layout, sizes = _layout(input.shape, operands, odd=3)
    grad = operands[3]
    _robust_backward_kernel[(triton.cdiv(numel, BLOCK),)](
        input, target, grad, *outs, numel, *_robust_params(alpha, scale, dtype),
        *sizes,
        *_strides(layout, 6)[4:],
        OP=robust_branch(alpha), NEED_X=needs[0], NEED_Y=needs[1],
        DTYPE=triton_dtype(dtype), FLAT=layout.flat, BLOCK=BLOCK, num_warps=NUM_WARPS,
    )
    return grad_x, grad_y


class _TritonRobust(torch.autograd.Function):
    """Saves ``input`` and ``target`` only; ``alpha`` and ``scale`` are numbers."""

    @staticmethod
    def forward(input: Tensor, target: Tensor, alpha: float, scale: float) -> Tensor:
        return _robust_forward(input, target, alpha, scale)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        input, target, alpha, scale = inputs
        ctx.save_for_backward(input, target)
        ctx.alpha, ctx.scale = alpha, scale

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        input, target = ctx.saved_tensors
        needs = (bool(ctx.needs_input_grad[0]), bool(ctx.needs_input_grad[1]))
        if not any(needs):
            return None, None, None, None
        if torch.is_grad_enabled():
            grads = reference_backward(
                lambda x, y: robust_reference(x, y, ctx.alpha, ctx.scale),
                [input, target],
                needs,
                grad,
            )
            return grads[0], grads[1], None, None
        grad_x, grad_y = _robust_backward(input, target, grad, ctx.alpha, ctx.scale, needs)
        return grad_x, grad_y, None, None


# --- the public entry points -------------------------------------------------------------------


def _not_covered(op: str, first: Tensor, *others: Any) -> str | None:
    tensors = [first, *(t for t in others if isinstance(t, Tensor))]
    if op == "robust" and any(isinstance(t, Tensor) for t in others[1:]):
        return "a tensor alpha or scale (numbers only)"
    if op == "robust" and not all(isinstance(t, int | float) for t in others[1:]):
        return "alpha and scale that are not numbers"
    for t in tensors:
        if t.dtype not in FLOAT_DTYPES:
            return f"dtype {t.dtype}"
    for t in tensors[1:]:
        try:
            shape = torch.broadcast_shapes(t.shape, first.shape)
        except RuntimeError:
            shape = None
        if shape != first.shape:
            return f"an operand of shape {tuple(t.shape)} for {tuple(first.shape)}"
    device = device_reason(*tensors)
    if device is not None:
        return device
    out = torch.empty_like(first, device="meta")
    if elementwise_layout(first.shape, [out, *tensors]) is None:
        return "inputs whose strides leave more than 4 dimensions after merging"
    return None


def covers(op: str, first: Tensor, *others: Any) -> bool:
    """Whether this module runs the call (the dispatcher's ``covered``): ``("gaussian_nll", mean,
    target, logvar)`` or ``("robust", input, target, alpha, scale)``; see the module's
    docstring."""
    return _not_covered(op, first, *others) is None


def gaussian_nll(mean: Tensor, target: Tensor, logvar: Tensor, *, full: bool) -> Tensor:
    """:func:`visionloss.kernels.pointwise.gaussian_nll` in one Triton kernel each way; saves the
    three inputs only."""
    why = _not_covered("gaussian_nll", mean, target, logvar)
    if why is not None:
        raise NotImplementedError(f"gaussian_nll (triton) does not cover {why}")
    result: Tensor = _TritonGaussianNLL.apply(mean, target, logvar, bool(full))
    return result


def robust(input: Tensor, target: Tensor, *, alpha: float, scale: float) -> Tensor:
    """:func:`visionloss.kernels.pointwise.robust` for numbers ``alpha`` and ``scale`` in one
    Triton kernel each way; saves ``input`` and ``target`` only."""
    why = _not_covered("robust", input, target, alpha, scale)
    if why is not None:
        raise NotImplementedError(f"robust (triton) does not cover {why}")
    result: Tensor = _TritonRobust.apply(input, target, float(alpha), float(scale))
    return result
