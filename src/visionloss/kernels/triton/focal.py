r"""Triton kernels of the focal losses: sigmoid (elementwise) and softmax with class ids.

Same arguments and values as :func:`visionloss.kernels.focal.sigmoid_focal` /
:func:`~visionloss.kernels.focal.softmax_focal` (and their references).

**Sigmoid focal**, elementwise (torchvision's formula, soft targets allowed):

.. math::
    \ell = \alpha_t\, m^\gamma\, \mathrm{BCE}(x, y), \quad m = y\,\sigma(-x) + (1 - y)\,\sigma(x),
    \quad \alpha_t = \alpha y + (1 - \alpha)(1 - y)

one kernel writes the loss (reads ``x``, ``target`` and a tensor ``alpha`` in place, broadcast by
zero strides), one writes the gradient w.r.t. ``x``,
:math:`g\,\alpha_t\, m^{\gamma-1}[\gamma (1 - 2y)\, p q\, \mathrm{BCE} + m (p - y)]` (for
:math:`0 < \gamma < 1`: :math:`m^\gamma [\gamma (1 - 2y) (p q / m)\, \mathrm{BCE} + p - y]`,
:math:`pq/m \le 1`: finite for every :math:`\gamma \ge 0`). ``p`` and ``q = 1 - p`` both come from
one ``exp(-|x|)``, so neither cancels; the BCE is ``max(x, 0) - x y + log1p(exp(-|x|))``.
Integer targets with ``ignore_index`` decode as ``target == 1`` (the reference's
``binary_target``). Saved for backward: the inputs only.

**Softmax focal**, class ids ``(N, *)`` of logits ``(N, C, *)``:
:math:`\ell = -\alpha_y (1 - p_y)^\gamma \log p_y` with ``ignore_index`` positions computed as
class 0 (the reference's ``_class_index``: mask them in the reduction). The forward walks the
classes with the online log-sum-exp of the cross-entropy kernel and saves one ``lse`` per
position; the backward gathers ``x_y``, forms the slope :math:`s = \partial \ell / \partial
\log p_y` and writes :math:`g\, s\, ([c = y] - p_c)` in one pass.

Coverage (:func:`covers`): CUDA tensors (or CPU under ``TRITON_INTERPRET=1``), ``x``
float16/bfloat16/float32/float64, ``gamma >= 0``; sigmoid: ``target`` of ``x``'s shape, any real
dtype, not requiring grad (the fused path differentiates the target), ``alpha`` ``None``, a
number or a floating tensor broadcastable to ``x``; softmax: integer class ids (probability
targets are not covered), ``alpha`` ``None``, a number or a ``(C,)`` floating tensor. ``alpha``
is not differentiated (as on the fused path). Once-differentiable.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from ..._core import compute_dtype
from .. import focal as _focal_reference
from .. import reference_backward
from ._common import (
    FLOAT_DTYPES,
    INT_DTYPES,
    LseLoss,
    device_reason,
    elementwise_layout,
    elementwise_offsets,
    expm1,
    launch_lse_backward,
    launch_lse_forward,
    log1p,
    output_like,
    powf,
    split_float,
    triton_dtype,
)
from .cross_entropy import _blocks, _row_stats, _views

__all__ = ["covers", "sigmoid_focal", "softmax_focal"]

Alpha = float | Tensor | None

#: elements per program of the sigmoid kernels
BLOCK = 1024
NUM_WARPS = 4


# --- device functions ---------------------------------------------------------------------------


@triton.jit  # type: ignore[untyped-decorator]
def _modulator(m, gamma, GAMMA_MODE: tl.constexpr):  # type: ignore[no-untyped-def]
    """``m ** gamma`` (modes: 0 gamma = 0, 1 gamma = 1, 2 gamma = 2, else general)."""
    if GAMMA_MODE == 0:
        out = tl.full(m.shape, 1.0, m.dtype)
    elif GAMMA_MODE == 1:
        out = m
    elif GAMMA_MODE == 2:
        out = m * m
    else:
        out = powf(m, gamma)
    return out


@triton.jit
def _sigmoid_parts(x, y):  # type: ignore[no-untyped-def]
    """``(p, q, ce, m)``: sigmoid, 1 - sigmoid, the BCE of a logit and 1 - p_t."""
    e = tl.exp(-tl.abs(x))
    r = 1.0 / (1.0 + e)
    positive = x >= 0.0
    p = tl.where(positive, r, e * r)
    q = tl.where(positive, e * r, r)
    ce = tl.maximum(x, 0.0) - x * y + log1p(e)
    m = y * q + (1.0 - y) * p
    return p, q, ce, m


@triton.jit  # type: ignore[untyped-decorator]
def _sigmoid_target(t, TARGET_EQ_ONE: tl.constexpr, DTYPE: tl.constexpr):  # type: ignore[no-untyped-def]
    return (t == 1).to(DTYPE) if TARGET_EQ_ONE else t.to(DTYPE)


@triton.jit  # type: ignore[untyped-decorator]
def _sigmoid_alpha(a_ptr, pid, y, alpha_hi, alpha_lo, mask, D1, D2, D3, sa0, sa1, sa2, sa3,  # type: ignore[no-untyped-def]
                   ALPHA_MODE: tl.constexpr, DTYPE: tl.constexpr, FLAT: tl.constexpr,
                   BLOCK: tl.constexpr):
    """``alpha_t = alpha y + (1 - alpha)(1 - y)`` (mode 1: a number, 2: a tensor)."""
    if ALPHA_MODE == 1:
        alpha = tl.cast(alpha_hi, DTYPE) + tl.cast(alpha_lo, DTYPE)
    else:
        o = elementwise_offsets(pid, D1, D2, D3, sa0, sa1, sa2, sa3, FLAT, BLOCK)
        alpha = tl.load(a_ptr + o, mask=mask, other=0.0).to(DTYPE)
    return y * (2.0 * alpha - 1.0) + (1.0 - alpha)


@triton.jit  # type: ignore[untyped-decorator]
def _sigmoid_forward_kernel(  # type: ignore[no-untyped-def]
    x_ptr, t_ptr, a_ptr, out_ptr, numel, alpha_hi, alpha_lo, gamma_hi, gamma_lo, D1, D2, D3,
    sx0, sx1, sx2, sx3, st0, st1, st2, st3, sa0, sa1, sa2, sa3, so0, so1, so2, so3,
    TARGET_EQ_ONE: tl.constexpr, ALPHA_MODE: tl.constexpr, GAMMA_MODE: tl.constexpr,
    DTYPE: tl.constexpr, FLAT: tl.constexpr,
    BLOCK: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    mask = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK) < numel
    x = tl.load(x_ptr + elementwise_offsets(pid, D1, D2, D3, sx0, sx1, sx2, sx3, FLAT, BLOCK), mask=mask, other=0)
    t = tl.load(t_ptr + elementwise_offsets(pid, D1, D2, D3, st0, st1, st2, st3, FLAT, BLOCK), mask=mask, other=0)
    x = x.to(DTYPE)
    y = _sigmoid_target(t, TARGET_EQ_ONE, DTYPE)
    gamma = tl.cast(gamma_hi, DTYPE) + tl.cast(gamma_lo, DTYPE)
    _, _, ce, m = _sigmoid_parts(x, y)
    loss = _modulator(m, gamma, GAMMA_MODE) * ce
    if ALPHA_MODE != 0:
        loss = loss * _sigmoid_alpha(
            a_ptr, pid, y, alpha_hi, alpha_lo, mask, D1, D2, D3, sa0, sa1, sa2, sa3,
            ALPHA_MODE, DTYPE, FLAT, BLOCK,
        )  # fmt: skip
    o = elementwise_offsets(pid, D1, D2, D3, so0, so1, so2, so3, FLAT, BLOCK)
    tl.store(out_ptr + o, loss.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit  # type: ignore[untyped-decorator]
def _sigmoid_backward_kernel(  # type: ignore[no-untyped-def]
    x_ptr, t_ptr, a_ptr, g_ptr, dx_ptr, numel, alpha_hi, alpha_lo, gamma_hi, gamma_lo,
    D1, D2, D3, sx0, sx1, sx2, sx3, st0, st1, st2, st3, sa0, sa1, sa2, sa3,
    sg0, sg1, sg2, sg3, so0, so1, so2, so3,
    TARGET_EQ_ONE: tl.constexpr, ALPHA_MODE: tl.constexpr, GAMMA_MODE: tl.constexpr,
    DTYPE: tl.constexpr, FLAT: tl.constexpr,
    BLOCK: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    mask = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK) < numel
    x = tl.load(x_ptr + elementwise_offsets(pid, D1, D2, D3, sx0, sx1, sx2, sx3, FLAT, BLOCK), mask=mask, other=0)
    t = tl.load(t_ptr + elementwise_offsets(pid, D1, D2, D3, st0, st1, st2, st3, FLAT, BLOCK), mask=mask, other=0)
    g = tl.load(g_ptr + elementwise_offsets(pid, D1, D2, D3, sg0, sg1, sg2, sg3, FLAT, BLOCK), mask=mask, other=0)
    x = x.to(DTYPE)
    y = _sigmoid_target(t, TARGET_EQ_ONE, DTYPE)
    gamma = tl.cast(gamma_hi, DTYPE) + tl.cast(gamma_lo, DTYPE)
    p, q, ce, m = _sigmoid_parts(x, y)
    if GAMMA_MODE == 0:
        d = p - y
    elif GAMMA_MODE == 4:
        # 0 < gamma < 1: m^gamma [gamma (1 - 2y) (p q / m) ce + (p - y)], p q / m <= 1
        ratio = p * q / tl.where(m > 0.0, m, 1.0)
        d = powf(m, gamma) * (gamma * (1.0 - 2.0 * y) * ratio * ce + (p - y))
    else:
        # gamma >= 1: m^(gamma - 1) [gamma (1 - 2y) p q ce + m (p - y)]
        inner = gamma * (1.0 - 2.0 * y) * (p * q) * ce + m * (p - y)
        if GAMMA_MODE == 1:
            d = inner
        elif GAMMA_MODE == 2:
            d = m * inner
        else:
            d = powf(m, gamma - 1.0) * inner
    d = d * g.to(DTYPE)
    if ALPHA_MODE != 0:
        d = d * _sigmoid_alpha(
            a_ptr, pid, y, alpha_hi, alpha_lo, mask, D1, D2, D3, sa0, sa1, sa2, sa3,
            ALPHA_MODE, DTYPE, FLAT, BLOCK,
        )  # fmt: skip
    o = elementwise_offsets(pid, D1, D2, D3, so0, so1, so2, so3, FLAT, BLOCK)
    tl.store(dx_ptr + o, d.to(dx_ptr.dtype.element_ty), mask=mask)


@triton.jit  # type: ignore[untyped-decorator]
def _class_ids(t_ptr, n, offs_s, mask_s, syn, sys, ignore_index, IGNORE_MODE: tl.constexpr):  # type: ignore[no-untyped-def]
    """Class ids with ``ignore_index`` read as 0 (mode 1: any negative id, 2: equality)."""
    y = tl.load(t_ptr + n * syn + offs_s * sys, mask=mask_s, other=0).to(tl.int64)
    if IGNORE_MODE == 1:
        y = tl.maximum(y, 0)
    elif IGNORE_MODE == 2:
        y = tl.where(y == ignore_index, 0, y)
    return y


@triton.jit  # type: ignore[untyped-decorator]
def _class_alpha(a_ptr, y, mask_s, C, alpha_hi, alpha_lo, ALPHA_MODE: tl.constexpr,  # type: ignore[no-untyped-def]
                 DTYPE: tl.constexpr):
    if ALPHA_MODE == 1:
        alpha = tl.zeros(y.shape, DTYPE) + (tl.cast(alpha_hi, DTYPE) + tl.cast(alpha_lo, DTYPE))
    else:
        ok = mask_s & (y >= 0) & (y < C)
        alpha = tl.load(a_ptr + tl.where(ok, y, 0), mask=ok, other=0.0).to(DTYPE)
    return alpha


@triton.jit  # type: ignore[untyped-decorator]
def _softmax_forward_kernel(  # type: ignore[no-untyped-def]
    x_ptr, t_ptr, a_ptr, loss_ptr, lse_ptr, C, S, S_BLOCKS, ignore_index,
    alpha_hi, alpha_lo, gamma_hi, gamma_lo, sxn, sxc, sxs, syn, sys,
    IGNORE_MODE: tl.constexpr, ALPHA_MODE: tl.constexpr, GAMMA_MODE: tl.constexpr,
    DTYPE: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_S: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    n = (pid // S_BLOCKS).to(tl.int64)
    offs_s = (pid % S_BLOCKS).to(tl.int64) * BLOCK_S + tl.arange(0, BLOCK_S)
    mask_s = offs_s < S
    y = _class_ids(t_ptr, n, offs_s, mask_s, syn, sys, ignore_index, IGNORE_MODE)
    m, total, x_y, _, _ = _row_stats(
        x_ptr, a_ptr, n * sxn, offs_s, mask_s, y, C, sxc, sxs,
        False, False, DTYPE, BLOCK_C, BLOCK_S,
    )  # fmt: skip
    log_total = tl.log(total)
    log_pt = (x_y - m) - log_total  # log_softmax's order
    if GAMMA_MODE == 0:
        loss = -log_pt
    else:
        gamma = tl.cast(gamma_hi, DTYPE) + tl.cast(gamma_lo, DTYPE)
        loss = -_modulator(-expm1(log_pt), gamma, GAMMA_MODE) * log_pt
    if ALPHA_MODE != 0:
        loss = loss * _class_alpha(a_ptr, y, mask_s, C, alpha_hi, alpha_lo, ALPHA_MODE, DTYPE)
    out = n * S + offs_s
    tl.store(loss_ptr + out, loss.to(loss_ptr.dtype.element_ty), mask=mask_s)
    tl.store(lse_ptr + out, m + log_total, mask=mask_s)


@triton.jit  # type: ignore[untyped-decorator]
def _softmax_backward_kernel(  # type: ignore[no-untyped-def]
    x_ptr, t_ptr, a_ptr, lse_ptr, g_ptr, dx_ptr, C, S, S_BLOCKS, ignore_index,
    alpha_hi, alpha_lo, gamma_hi, gamma_lo, sxn, sxc, sxs, syn, sys, sgn, sgs, son, soc, sos,
    IGNORE_MODE: tl.constexpr, ALPHA_MODE: tl.constexpr, GAMMA_MODE: tl.constexpr,
    DTYPE: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_S: tl.constexpr,
):  # fmt: skip
    pid = tl.program_id(0)
    n = (pid // S_BLOCKS).to(tl.int64)
    offs_s = (pid % S_BLOCKS).to(tl.int64) * BLOCK_S + tl.arange(0, BLOCK_S)
    mask_s = offs_s < S
    y = _class_ids(t_ptr, n, offs_s, mask_s, syn, sys, ignore_index, IGNORE_MODE)
    lse = tl.load(lse_ptr + n * S + offs_s, mask=mask_s, other=0.0)
    g = tl.load(g_ptr + n * sgn + offs_s * sgs, mask=mask_s, other=0.0).to(DTYPE)
    ok = mask_s & (y >= 0) & (y < C)
    x_y = tl.load(
        x_ptr + n * sxn + tl.where(ok, y, 0) * sxc + offs_s * sxs, mask=ok, other=0.0
    ).to(DTYPE)
    log_pt = x_y - lse
    if GAMMA_MODE == 0:
        slope = tl.full([BLOCK_S], -1.0, DTYPE)
    else:
        gamma = tl.cast(gamma_hi, DTYPE) + tl.cast(gamma_lo, DTYPE)
        u = -expm1(log_pt)  # 1 - p_y, accurate near p_y = 1
        # f'(l) = (1 - p)^gamma (gamma p l / (1 - p) - 1): no (1 - p)^(gamma - 1) is formed
        ratio = log_pt / tl.where(u > 0.0, u, 1.0)
        slope = _modulator(u, gamma, GAMMA_MODE) * (gamma * tl.exp(log_pt) * ratio - 1.0)
    if ALPHA_MODE != 0:
        slope = slope * _class_alpha(a_ptr, y, mask_s, C, alpha_hi, alpha_lo, ALPHA_MODE, DTYPE)
    coef = g * slope
    for c0 in range(0, C, BLOCK_C):
        offs_c = c0 + tl.arange(0, BLOCK_C)
        mask_c = offs_c < C
        mask = mask_c[:, None] & mask_s[None, :]
        ptrs = x_ptr + n * sxn + offs_c[:, None].to(tl.int64) * sxc + offs_s[None, :] * sxs
        x = tl.load(ptrs, mask=mask, other=0.0).to(DTYPE)
        p = tl.exp(x - lse[None, :])
        hit = tl.where(offs_c[:, None] == y[None, :], 1.0, 0.0)
        dx = coef[None, :] * (hit - p)
        out = dx_ptr + n * son + offs_c[:, None].to(tl.int64) * soc + offs_s[None, :] * sos
        tl.store(out, dx.to(dx_ptr.dtype.element_ty), mask=mask)


# --- launchers ---------------------------------------------------------------------------------


def _gamma_mode(gamma: float, *, sigmoid: bool) -> int:
    if gamma == 0:
        return 0
    if gamma == 1:
        return 1
    if gamma == 2:
        return 2
    if gamma < 1 and sigmoid:
        return 4
    return 3


def _alpha_mode(alpha: Alpha) -> int:
    return 0 if alpha is None else 2 if isinstance(alpha, Tensor) else 1


def _alpha_scalars(alpha: Alpha) -> tuple[float, float]:
    return split_float(float(alpha)) if isinstance(alpha, (int, float)) else (0.0, 0.0)


def _out_dtype(x: Tensor, alpha: Alpha) -> torch.dtype:
    # the reference: compute_dtype(x), promoted by a tensor alpha's dtype
    return compute_dtype(x, alpha if isinstance(alpha, Tensor) else None)


def _as_read(t: Tensor) -> Tensor:
    return t.view(torch.uint8) if t.dtype == torch.bool else t


class _SigmoidCfg:
    def __init__(self, alpha: Alpha, gamma: float, target: Tensor, ignore_index: int | None,
                 out_dtype: torch.dtype) -> None:  # fmt: skip
        self.alpha = alpha
        self.scalars = (*_alpha_scalars(alpha), *split_float(gamma))
        eq_one = not (target.is_floating_point() or target.dtype == torch.bool) and (
            ignore_index is not None
        )
        self.constexprs = dict(
            TARGET_EQ_ONE=eq_one,
            ALPHA_MODE=_alpha_mode(alpha),
            GAMMA_MODE=_gamma_mode(gamma, sigmoid=True),
            DTYPE=triton_dtype(out_dtype),
        )
        self.out_dtype = out_dtype
        #: the loss in plain torch, ``(x, target) -> loss``, for differentiated backwards
        self.reference: Callable[[Tensor, Tensor], Tensor] = functools.partial(
            _focal_reference.sigmoid_focal_reference,
            alpha=alpha, gamma=gamma, ignore_index=ignore_index,
        )  # fmt: skip


def _sigmoid_forward(x: Tensor, target: Tensor, cfg: _SigmoidCfg) -> Tensor:
    out = output_like(x, x.shape, cfg.out_dtype)
    numel = out.numel()
    if numel == 0:
        return out
    alpha = cfg.alpha if isinstance(cfg.alpha, Tensor) else x
    layout = elementwise_layout(x.shape, [out, x, target, alpha])
    assert layout is not None  # covers() checked it
    _, d1, d2, d3 = layout.sizes
    _sigmoid_forward_kernel[(triton.cdiv(numel, BLOCK),)](
        x, _as_read(target), alpha, out, numel, *cfg.scalars, d1, d2, d3,
        *layout.args(1), *layout.args(2), *layout.args(3), *layout.args(0),
        **cfg.constexprs, FLAT=layout.flat,
        BLOCK=BLOCK, num_warps=NUM_WARPS,
    )  # fmt: skip
    return out


def _sigmoid_backward(x: Tensor, target: Tensor, grad: Tensor, cfg: _SigmoidCfg) -> Tensor:
    grad_x = output_like(x, x.shape, x.dtype)
    numel = grad_x.numel()
    if numel == 0:
        return grad_x
    alpha = cfg.alpha if isinstance(cfg.alpha, Tensor) else x
    layout = elementwise_layout(x.shape, [grad_x, x, target, alpha, grad])
    if layout is None:  # an odd upstream gradient: read it as a contiguous copy
        grad = grad.contiguous()
        layout = elementwise_layout(x.shape, [grad_x, x, target, alpha, grad])
    assert layout is not None
    _, d1, d2, d3 = layout.sizes
    _sigmoid_backward_kernel[(triton.cdiv(numel, BLOCK),)](
        x, _as_read(target), alpha, grad, grad_x, numel, *cfg.scalars, d1, d2, d3,
        *layout.args(1), *layout.args(2), *layout.args(3), *layout.args(4), *layout.args(0),
        **cfg.constexprs, FLAT=layout.flat,
        BLOCK=BLOCK, num_warps=NUM_WARPS,
    )  # fmt: skip
    return grad_x


class _TritonSigmoidFocal(torch.autograd.Function):
    """Saves ``x`` and ``target`` only (and a tensor ``alpha``, the caller's)."""

    @staticmethod
    def forward(x: Tensor, target: Tensor, cfg: _SigmoidCfg) -> Tensor:
        return _sigmoid_forward(x, target, cfg)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        x, target, cfg = inputs
        ctx.save_for_backward(x, target)
        ctx.cfg = cfg

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        if not ctx.needs_input_grad[0]:
            return None, None, None
        x, target = ctx.saved_tensors
        if torch.is_grad_enabled():
            # differentiated backward: the reference's gradient as a graph (exact second order)
            (grad_x,) = reference_backward(
                lambda v: ctx.cfg.reference(v, target), [x], [True], grad
            )
            return grad_x, None, None
        return _sigmoid_backward(x, target, grad, ctx.cfg), None, None


class _SoftmaxCfg:
    def __init__(self, alpha: Alpha, gamma: float, ignore_index: int | None,
                 out_dtype: torch.dtype) -> None:  # fmt: skip
        self.alpha = alpha
        #: the per-class alpha the kernels read (a number is a scalar of theirs)
        self.alpha_tensor = alpha if isinstance(alpha, Tensor) else None
        ignore_mode = 0 if ignore_index is None else 1 if ignore_index < 0 else 2
        self.scalars = (
            ignore_index if ignore_index is not None else 0,
            *_alpha_scalars(alpha),
            *split_float(gamma),
        )
        self.constexprs = dict(
            IGNORE_MODE=ignore_mode,
            ALPHA_MODE=_alpha_mode(alpha),
            GAMMA_MODE=_gamma_mode(gamma, sigmoid=False),
            DTYPE=triton_dtype(out_dtype),
        )
        self.out_dtype = out_dtype
        #: the loss in plain torch, ``(x, ids) -> loss``, for differentiated backwards
        self.reference: Callable[[Tensor, Tensor], Tensor] = functools.partial(
            _focal_reference.softmax_focal_reference,
            alpha=alpha, gamma=gamma, ignore_index=ignore_index,
        )  # fmt: skip
        self.math_dtype = torch.float64 if out_dtype == torch.float64 else torch.float32

    def run_forward(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        return launch_lse_forward(
            _softmax_forward_kernel, x, t, self.alpha_tensor, self, _blocks(x), NUM_WARPS
        )

    def run_backward(self, x: Tensor, t: Tensor, lse: Tensor, grad: Tensor) -> Tensor:
        return launch_lse_backward(
            _softmax_backward_kernel, x, t, lse, grad, self.alpha_tensor, self, _blocks(x),
            NUM_WARPS,
        )  # fmt: skip


# --- the public entry points -------------------------------------------------------------------


def _not_covered(x: Tensor, target: Tensor, alpha: Alpha, gamma: float, softmax: bool) -> str | None:
    if x.dtype not in FLOAT_DTYPES:
        return f"input dtype {x.dtype}"
    if not gamma >= 0:
        return f"gamma={gamma}"
    tensors = [x, target]
    if isinstance(alpha, Tensor):
        if alpha.dtype not in FLOAT_DTYPES:
            return f"alpha of dtype {alpha.dtype}"
        tensors.append(alpha)
    if softmax:
        if target.dtype not in INT_DTYPES or target.dtype == torch.bool:
            return f"target of dtype {target.dtype} (class ids; probability targets are not covered)"
        if x.dim() < 2 or x.shape[1] < 1:
            return f"input of shape {tuple(x.shape)} (expected (N, C, *))"
        if isinstance(alpha, Tensor) and tuple(alpha.shape) != (x.shape[1],):
            return f"alpha of shape {tuple(alpha.shape)} (expected ({x.shape[1]},))"
    else:
        if target.dtype not in FLOAT_DTYPES + INT_DTYPES:
            return f"target of dtype {target.dtype}"
        if target.requires_grad:
            return "a target that requires grad"
        if tuple(target.shape) != tuple(x.shape):
            return f"target of shape {tuple(target.shape)} for input {tuple(x.shape)}"
        if isinstance(alpha, Tensor):
            try:
                shape = torch.broadcast_shapes(alpha.shape, x.shape)
            except RuntimeError:
                shape = None
            if shape != x.shape:
                return f"alpha of shape {tuple(alpha.shape)} for input {tuple(x.shape)}"
        out = torch.empty_like(x, device="meta")
        alpha_like = alpha if isinstance(alpha, Tensor) else x
        if elementwise_layout(x.shape, [out, x, target, alpha_like]) is None:
            return "inputs whose strides leave more than 4 dimensions after merging"
    return device_reason(*tensors)


def covers(x: Tensor, target: Tensor, *, alpha: Alpha, gamma: float, softmax: bool) -> bool:
    """Whether :func:`softmax_focal` (``softmax=True``) or :func:`sigmoid_focal` runs this call
    (the dispatcher's ``covered``); see the module's docstring."""
    return _not_covered(x, target, alpha, gamma, softmax) is None


def sigmoid_focal(
    x: Tensor, target: Tensor, *, alpha: Alpha, gamma: float, ignore_index: int | None
) -> Tensor:
    """:func:`visionloss.kernels.focal.sigmoid_focal` in two Triton kernels: the elementwise
    loss in the compute dtype (float32 for half and bfloat16), the gradient w.r.t. ``x`` in
    ``x``'s dtype. Saves the inputs only.

    Raises:
        NotImplementedError: a call :func:`covers` rejects.
    """
    why = _not_covered(x, target, alpha, gamma, False)
    if why is not None:
        raise NotImplementedError(f"sigmoid_focal (triton) does not cover {why}")
    if isinstance(alpha, Tensor):
        alpha = alpha.detach()
    cfg = _SigmoidCfg(alpha, float(gamma), target, ignore_index, _out_dtype(x, alpha))
    result: Tensor = _TritonSigmoidFocal.apply(x, target, cfg)
    return result


def softmax_focal(
    x: Tensor, target: Tensor, *, alpha: Alpha, gamma: float, ignore_index: int | None
) -> Tensor:
    """:func:`visionloss.kernels.focal.softmax_focal` with class ids in two Triton kernels: the
    loss per position ``(N, *)`` in the compute dtype (``ignore_index`` positions computed as
    class 0), the gradient w.r.t. ``x`` in ``x``'s dtype. Saves the inputs and one float per
    position.

    Raises:
        NotImplementedError: a call :func:`covers` rejects (probability targets among them).
        ValueError: ``target`` of the wrong shape.
    """
    why = _not_covered(x, target, alpha, gamma, True)
    if why is not None:
        raise NotImplementedError(f"softmax_focal (triton) does not cover {why}")
    if isinstance(alpha, Tensor):
        alpha = alpha.detach().contiguous()
    cfg = _SoftmaxCfg(alpha, float(gamma), ignore_index, _out_dtype(x, alpha))
    xv, tv = _views(x, target.detach())
    loss, _ = LseLoss.apply(xv, tv, cfg)
    result: Tensor = loss.squeeze(0) if x.dim() == 2 else loss.view(x.shape[0], *x.shape[2:])
    return result
