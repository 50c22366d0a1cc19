"""Fused pointwise losses: the forward computes the loss, the backward recomputes its derivative.

A composition of torch ops keeps every elementwise intermediate for backward (for log-cosh:
the difference, its absolute value, the softplus argument). These Functions keep only their two
inputs and recompute the derivative in one pass.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import torch
from torch import Tensor

from . import backend_for, has_triton, triton_covers

TRITON_MODULE = "visionloss.kernels.triton.pointwise"

__all__ = ["log_cosh", "log_cosh_reference", "log_cosh_stable"]

_LOG2 = math.log(2.0)


#: beyond this |d|, log(cosh(d)) - log(cosh(_LOG_COSH_KNEE)) equals |d| - _LOG_COSH_KNEE to within
#: 2 exp(-2 * 20) ~ 1e-17, below float64's resolution there (eps * 20 ~ 4e-15)
_LOG_COSH_KNEE = 20.0


def log_cosh_stable(diff: Tensor) -> Tensor:
    """``log(cosh(diff))`` without overflow for large ``|diff|`` or cancellation for small.

    One expression, accurate on both ranges: with ``a = |d|`` and ``m = min(a, 20)``,
    ``cosh(m) - 1 = 2 sinh(m/2)^2`` exactly, so

        ``log(cosh(d)) = log1p(2 sinh(m/2)^2) + (a - m)``.

    ``sinh`` and ``log1p`` keep full relative precision for tiny ``d`` (the ``|d| +
    log1p(exp(-2|d|)) - log 2`` form returns 0 for ``d = 1e-4`` in float32); the clamp keeps
    ``sinh(m/2)^2`` finite (``cosh`` overflows beyond ~89 in float32), and beyond 20 the loss
    grows as ``|d|`` up to ``exp(-40)``. Two transcendental passes (``sinh``, ``log1p``) where
    computing both the small and the large form and selecting with ``where`` took five and a
    select. The gradient, ``sinh(m)/cosh(m) = tanh(d)`` below the knee and 1 beyond, is exact.
    """
    abs_diff = diff.abs()
    half = 0.5 * torch.clamp(abs_diff, max=_LOG_COSH_KNEE)
    return torch.log1p(2.0 * torch.sinh(half) ** 2) + (abs_diff - 2.0 * half)


def _log_cosh_inplace(diff: Tensor) -> Tensor:
    """:func:`log_cosh_stable` computed in place, overwriting ``diff`` (the fused forward owns it
    and runs without autograd): the same operations with two buffers instead of eight (on CPU a
    fresh multi-megabyte buffer costs page faults, as much as a cheap elementwise pass)."""
    abs_diff = diff.abs_()
    value = torch.clamp(abs_diff, max=_LOG_COSH_KNEE).mul_(0.5)
    abs_diff.sub_(value, alpha=2.0)  # the excess over the knee
    value.sinh_()
    value.mul_(value).mul_(2.0).log1p_()
    return value.add_(abs_diff)


class _LogCosh(torch.autograd.Function):
    @staticmethod
    def forward(input: Tensor, target: Tensor) -> Tensor:
        return _log_cosh_inplace(input - target)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, Tensor], output: Tensor) -> None:
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:
        input, target = ctx.saved_tensors
        # d/dd log(cosh(d)) = tanh(d)
        grad_input = (input - target).tanh_().mul_(grad)
        return (
            grad_input if ctx.needs_input_grad[0] else None,
            -grad_input if ctx.needs_input_grad[1] else None,
        )


def log_cosh_reference(input: Tensor, target: Tensor) -> Tensor:
    """The specification: the stable formula, differentiated by autograd (keeps intermediates)."""
    return log_cosh_stable(input - target)


def log_cosh(input: Tensor, target: Tensor) -> Tensor:
    """Elementwise ``log(cosh(input - target))``: the op's one dispatch point.

    The fused path keeps only the inputs for backward; there is no Triton kernel for it yet.
    """
    backend = backend_for(
        "log_cosh",
        input,
        has_triton=has_triton(TRITON_MODULE),
        covered=triton_covers(TRITON_MODULE, input, input, target),
    )
    if backend == "reference":
        return log_cosh_reference(input, target)
    if backend == "triton":
        triton_result: Tensor = importlib.import_module(TRITON_MODULE).log_cosh(input, target)
        return triton_result
    result: Tensor = _LogCosh.apply(input, target)
    return result
