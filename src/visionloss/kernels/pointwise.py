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
import torch.nn.functional as F
from torch import Tensor

from . import backend_for, has_triton, triton_covers

TRITON_MODULE = "visionloss.kernels.triton.pointwise"

__all__ = ["log_cosh", "log_cosh_reference", "log_cosh_stable"]

_LOG2 = math.log(2.0)


def log_cosh_stable(diff: Tensor) -> Tensor:
    """``log(cosh(diff))`` without overflow for large ``|diff|`` or cancellation for small.

    Large: ``|d| + log1p(exp(-2|d|)) - log 2`` (``cosh`` itself overflows beyond ~89 in float32).
    Small: ``log1p(2 sinh(d/2)^2)``, since ``cosh d - 1 = 2 sinh^2(d/2)`` is exact where the large
    form subtracts nearly equal numbers (it returns 0 for ``d = 1e-4`` in float32).
    """
    abs_diff = diff.abs()
    # the small form only sees |d| <= 2, so its sinh never overflows (and never sends NaN
    # gradients through the branch that `where` discards)
    half = 0.5 * torch.clamp(abs_diff, max=2.0)
    small = torch.log1p(2.0 * torch.sinh(half) ** 2)
    large = abs_diff + F.softplus(-2.0 * abs_diff) - _LOG2
    return torch.where(abs_diff <= 2.0, small, large)


class _LogCosh(torch.autograd.Function):
    @staticmethod
    def forward(input: Tensor, target: Tensor) -> Tensor:
        return log_cosh_stable(input - target)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Tensor, Tensor], output: Tensor) -> None:
        ctx.save_for_backward(*inputs)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:
        input, target = ctx.saved_tensors
        # d/dd log(cosh(d)) = tanh(d)
        grad_input = grad * torch.tanh(input - target)
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
