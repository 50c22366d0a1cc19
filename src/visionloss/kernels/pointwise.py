"""Fused pointwise losses: the forward computes the loss, the backward recomputes its derivative.

A composition of torch ops keeps every elementwise intermediate for backward (for log-cosh:
the difference, its absolute value, the sinh). These Functions keep only their inputs and
recompute the derivative in a few passes: log-cosh, Gaussian NLL, and Barron's robust loss with a
number ``alpha`` and ``scale`` (a tensor ``alpha`` or ``scale`` takes the reference, which
differentiates them).
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import torch
from torch import Tensor

from . import backend_for, has_triton, reference_backward, triton_covers
from ._library import FusedOp

TRITON_MODULE = "visionloss.kernels.triton.pointwise"
TRITON_NLL_ROBUST = "visionloss.kernels.triton.nll_robust"

__all__ = [
    "charbonnier",
    "charbonnier_reference",
    "gaussian_nll",
    "gaussian_nll_reference",
    "log_cosh",
    "log_cosh_reference",
    "log_cosh_stable",
    "robust",
    "robust_reference",
]

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
        if torch.is_grad_enabled():
            # differentiated backward: the reference's gradient as a graph (exact second order)
            grads = reference_backward(
                log_cosh_reference, [input, target], ctx.needs_input_grad[:2], grad
            )
            return grads[0], grads[1]
        grad_input = _log_cosh_grad(input, target, grad)
        return (
            grad_input if ctx.needs_input_grad[0] else None,
            -grad_input if ctx.needs_input_grad[1] else None,
        )


def _log_cosh_grad(input: Tensor, target: Tensor, grad: Tensor) -> Tensor:
    # d/dd log(cosh(d)) = tanh(d)
    return (input - target).tanh_().mul_(grad)


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
    if _pick(_LOG_COSH_OPS, target).usable():  # compiling: the custom op keeps the saved set lean
        return _pair_op(_LOG_COSH_OPS, input, target)
    result: Tensor = _LogCosh.apply(input, target)
    return result


# --- Charbonnier ---------------------------------------------------------------------------------


def charbonnier_reference(input: Tensor, target: Tensor, eps: float) -> Tensor:
    """The specification: ``sqrt(d^2 + eps^2) - eps``, differentiated by autograd."""
    diff = input - target
    return torch.sqrt(diff * diff + eps * eps) - eps


class _Charbonnier(torch.autograd.Function):
    @staticmethod
    def forward(input: Tensor, target: Tensor, eps: float) -> Tensor:
        # in place on the one buffer this Function owns
        return (input - target).square_().add_(eps * eps).sqrt_().sub_(eps)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        input, target, eps = inputs
        ctx.save_for_backward(input, target)
        ctx.eps = eps

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        input, target = ctx.saved_tensors
        if torch.is_grad_enabled():
            grads = reference_backward(
                lambda x, y: charbonnier_reference(x, y, ctx.eps),
                [input, target],
                ctx.needs_input_grad[:2],
                grad,
            )
            return grads[0], grads[1], None
        grad_input = _charbonnier_grad(input, target, grad, ctx.eps)
        return (
            grad_input if ctx.needs_input_grad[0] else None,
            -grad_input if ctx.needs_input_grad[1] else None,
            None,
        )


def _charbonnier_grad(input: Tensor, target: Tensor, grad: Tensor, eps: float) -> Tensor:
    # d / sqrt(d^2 + eps^2)
    diff = input - target
    return (diff * diff).add_(eps * eps).rsqrt_().mul_(diff).mul_(grad)


def charbonnier(input: Tensor, target: Tensor, eps: float) -> Tensor:
    """Elementwise ``sqrt((input - target)^2 + eps^2) - eps``: the op's one dispatch point.

    The composition keeps the difference and the square root for backward; the fused path and
    the Triton kernel keep only the inputs.
    """
    backend = backend_for(
        "charbonnier",
        input,
        has_triton=has_triton(TRITON_MODULE),
        covered=triton_covers(TRITON_MODULE, input, input, target),
    )
    if backend == "reference":
        return charbonnier_reference(input, target, eps)
    if backend == "triton":
        module = importlib.import_module(TRITON_MODULE)
        triton_result: Tensor = module.charbonnier(input, target, eps=eps)
        return triton_result
    # compiling: the custom op keeps the saved set lean
    if _pick(_CHARBONNIER_OPS, target).usable():
        return _pair_op(_CHARBONNIER_OPS, input, target, float(eps))
    result: Tensor = _Charbonnier.apply(input, target, float(eps))
    return result


# --- Gaussian negative log-likelihood -------------------------------------------------------------

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _min_logvar(dtype: torch.dtype) -> float:
    # below -floor(log(max float)) (-88 in float32, -709 in float64) exp(-v) would reach inf and a
    # zero residual would give 0 * inf = NaN: v is clamped there inside the exp only
    return float(-math.floor(math.log(torch.finfo(dtype).max)))


def gaussian_nll_reference(mean: Tensor, target: Tensor, logvar: Tensor, full: bool) -> Tensor:
    """The specification: ``0.5 (v + (y - mu)^2 exp(-max(v, v_min))) (+ 0.5 log 2 pi)``.

    ``(y - mu)^2 e^{-v}``, not ``/ e^{v}``: ``e^{-v} -> 0`` (no ``inf / inf``) for large ``v``.
    """
    precision = torch.exp(-torch.clamp(logvar, min=_min_logvar(logvar.dtype)))
    loss = 0.5 * (logvar + (target - mean) ** 2 * precision)
    return loss + _HALF_LOG_2PI if full else loss


def _nll_half_precision(logvar: Tensor) -> Tensor:
    # 0.5 exp(-max(v, v_min)) as exp(-max(v, v_min) - log 2): the 0.5 costs no pass
    return torch.clamp(logvar, min=_min_logvar(logvar.dtype)).neg_().sub_(_LOG2).exp_()


class _GaussianNLL(torch.autograd.Function):
    @staticmethod
    def forward(mean: Tensor, target: Tensor, logvar: Tensor, full: bool) -> Tensor:
        loss = target - mean
        loss.square_().mul_(_nll_half_precision(logvar)).add_(logvar, alpha=0.5)
        return loss.add_(_HALF_LOG_2PI) if full else loss

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        mean, target, logvar, full = inputs
        ctx.save_for_backward(mean, target, logvar)
        ctx.full = full

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        mean, target, logvar = ctx.saved_tensors
        need_mean, need_target, need_logvar = ctx.needs_input_grad[:3]
        if torch.is_grad_enabled():
            grads = reference_backward(
                lambda m, t, v: gaussian_nll_reference(m, t, v, ctx.full),
                [mean, target, logvar],
                [need_mean, need_target, need_logvar],
                grad,
            )
            return grads[0], grads[1], grads[2], None
        grad_mean, grad_logvar = _gaussian_nll_grads(
            mean, target, logvar, grad, need_mean or need_target, need_logvar
        )
        grad_target = -grad_mean if need_target and grad_mean is not None else None
        return (grad_mean if need_mean else None), grad_target, grad_logvar, None


def _gaussian_nll_grads(
    mean: Tensor, target: Tensor, logvar: Tensor, grad: Tensor, need_mean: bool, need_logvar: bool
) -> tuple[Tensor | None, Tensor | None]:
    """The gradients in ``mean`` (``target``'s is its negative) and ``logvar``, those asked for."""
    # d/dmu = (mu - y) e^{-v}; d/dv = 0.5 - 0.5 (y - mu)^2 e^{-v}
    half_precision = _nll_half_precision(logvar)
    residual = mean - target
    grad_mean = grad_logvar = None
    if need_logvar:
        # 0.5 (y - mu)^2 e^{-v}, kept only where v >= v_min (the clamp's gradient, as the
        # reference's); the mask has logvar's shape (one value per channel, say)
        masked = torch.where(logvar >= _min_logvar(logvar.dtype), half_precision, 0.0)
        grad_logvar = (residual * residual).mul_(masked).sub_(0.5).mul_(grad).neg_()
        if grad_logvar.shape != logvar.shape:
            grad_logvar = grad_logvar.sum_to_size(logvar.shape)
    if need_mean:
        grad_mean = residual.mul_(half_precision).mul_(grad).mul_(2.0)
    return grad_mean, grad_logvar


def gaussian_nll(mean: Tensor, target: Tensor, logvar: Tensor, *, full: bool) -> Tensor:
    """Elementwise Gaussian NLL of ``target`` under ``N(mean, exp(logvar))`` (``mean`` and
    ``target`` of one shape, ``logvar`` broadcastable to it, all three in one floating dtype):
    the op's one dispatch point.

    The fused path keeps only the three inputs for backward (the composition keeps the residual,
    its square and the precision); the Triton kernel reads the inputs once each way.
    """
    backend = backend_for(
        "gaussian_nll",
        mean,
        has_triton=has_triton(TRITON_NLL_ROBUST),
        covered=triton_covers(TRITON_NLL_ROBUST, mean, "gaussian_nll", mean, target, logvar),
    )
    if backend == "reference":
        return gaussian_nll_reference(mean, target, logvar, full)
    if backend == "triton":
        module = importlib.import_module(TRITON_NLL_ROBUST)
        triton_result: Tensor = module.gaussian_nll(mean, target, logvar, full=full)
        return triton_result
    if _pick(_NLL_OPS, target).usable():  # compiling: the custom op keeps the saved set lean
        compiled: Tensor = _pick(_NLL_OPS, target)(
            mean, logvar, target if target.requires_grad else target.detach(), bool(full)
        )
        return compiled
    result: Tensor = _GaussianNLL.apply(mean, target, logvar, full)
    return result


# --- Barron's general robust loss -----------------------------------------------------------------


def robust_reference(
    input: Tensor, target: Tensor, alpha: float | Tensor, scale: float | Tensor
) -> Tensor:
    """The specification, every ``alpha`` at once (a tensor ``alpha`` may mix them), with the
    gradient in ``alpha`` and ``scale`` when they are tensors that require grad.

    The general case is ``(b/a) expm1(a/2 log1p(z/b))``, ``z = (d/c)^2``, ``b = max(|alpha -
    2|, eps)``, ``|a| = max(|alpha|, eps)``: accurate near ``alpha = 0`` (no ``pow(...) - 1``
    cancellation) and finite near 2; at ``alpha`` in ``{0, 2, +-inf}`` exactly, the closed-form
    limit.
    """
    dtype, device = input.dtype, input.device
    # a Python float goes straight to the compute dtype (not through float32)
    alpha = torch.as_tensor(alpha, dtype=dtype, device=device)
    scale = torch.as_tensor(scale, dtype=dtype, device=device)

    z = ((input - target) / scale) ** 2
    loss_two = 0.5 * z
    loss_zero = torch.log1p(0.5 * z)
    loss_neg_inf = -torch.expm1(-0.5 * z)
    # exp overflows for large z; feed it z only where alpha is +inf, so that the branch `where`
    # discards cannot send 0 * inf = NaN into the gradient.
    z_pos_inf = torch.where(alpha == torch.inf, z, torch.zeros((), dtype=dtype, device=device))
    loss_pos_inf = torch.expm1(0.5 * z_pos_inf)

    # General case with alpha kept finite and away from 0 and 2, so that this branch is finite
    # (with finite gradients) everywhere, including where `where` below selects a limit instead.
    eps = torch.finfo(dtype).eps
    one = torch.ones((), dtype=dtype, device=device)
    alpha_finite = torch.where(torch.isinf(alpha), one, alpha)
    b = torch.clamp((alpha_finite - 2).abs(), min=eps)
    a = torch.where(alpha_finite >= 0, one, -one) * torch.clamp(alpha_finite.abs(), min=eps)
    loss_general = (b / a) * torch.expm1(0.5 * a * torch.log1p(z / b))

    if alpha.requires_grad:
        # At alpha == 0 the value is the Cauchy limit; adding the zero-valued
        # (alpha - alpha.detach()) * d(rho)/d(alpha) gives the exact alpha-gradient there.
        dalpha_zero = 0.25 * loss_zero**2 - 0.5 * loss_zero + z / (2 * (z + 2))
        loss_zero = loss_zero + (alpha - alpha.detach()) * dalpha_zero

    return torch.where(
        alpha == -torch.inf,
        loss_neg_inf,
        torch.where(
            alpha == torch.inf,
            loss_pos_inf,
            torch.where(alpha == 0, loss_zero, torch.where(alpha == 2, loss_two, loss_general)),
        ),
    )


def _robust_constants(alpha: float, dtype: torch.dtype) -> tuple[float, float]:
    """``(a, b)`` of the general case for a number ``alpha``, clamped as the reference clamps."""
    eps = torch.finfo(dtype).eps
    b = max(abs(alpha - 2.0), eps)
    a = math.copysign(max(abs(alpha), eps), 1.0 if alpha >= 0 else -1.0)
    return a, b


def _robust_value(diff: Tensor, alpha: float, scale: float) -> Tensor:
    """The loss for a number ``alpha``, in place on ``diff`` (owned): only its own branch."""
    z = diff.div_(scale).square_()
    if alpha == 2.0:
        return z.mul_(0.5)
    if alpha == 0.0:
        return z.mul_(0.5).log1p_()
    if alpha == -math.inf:
        return z.mul_(-0.5).expm1_().neg_()
    if alpha == math.inf:
        return z.mul_(0.5).expm1_()
    a, b = _robust_constants(alpha, diff.dtype)
    return z.div_(b).log1p_().mul_(0.5 * a).expm1_().mul_(b / a)


def _robust_slope(diff: Tensor, alpha: float, scale: float) -> Tensor:
    """d(loss)/d(input) for a number ``alpha``, in place on ``diff`` (owned): ``d/c^2 times``
    ``1`` (2), ``1/(1 + z/2)`` (0), ``e^{-z/2}`` (-inf), ``e^{z/2}`` (+inf), ``(1 + z/b)^(a/2 - 1)``."""
    inv_c2 = 1.0 / (scale * scale)
    if alpha == 2.0:
        return diff.mul_(inv_c2)
    z = diff.mul(diff).mul_(inv_c2)
    if alpha == 0.0:
        factor = z.mul_(0.5).add_(1.0).reciprocal_()
    elif alpha == -math.inf:
        factor = z.mul_(-0.5).exp_()
    elif alpha == math.inf:
        factor = z.mul_(0.5).exp_()
    else:
        a, b = _robust_constants(alpha, diff.dtype)
        factor = z.div_(b).log1p_().mul_(0.5 * a - 1.0).exp_()
    return factor.mul_(diff).mul_(inv_c2)


def _robust_grad(input: Tensor, target: Tensor, grad: Tensor, alpha: float, scale: float) -> Tensor:
    return _robust_slope(input - target, alpha, scale).mul_(grad)


class _Robust(torch.autograd.Function):
    @staticmethod
    def forward(input: Tensor, target: Tensor, alpha: float, scale: float) -> Tensor:
        return _robust_value(input - target, alpha, scale)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        input, target, alpha, scale = inputs
        ctx.save_for_backward(input, target)
        ctx.alpha, ctx.scale = alpha, scale

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        input, target = ctx.saved_tensors
        if torch.is_grad_enabled():
            grads = reference_backward(
                lambda x, y: robust_reference(x, y, ctx.alpha, ctx.scale),
                [input, target],
                ctx.needs_input_grad[:2],
                grad,
            )
            return grads[0], grads[1], None, None
        grad_input = _robust_grad(input, target, grad, ctx.alpha, ctx.scale)
        return (
            grad_input if ctx.needs_input_grad[0] else None,
            -grad_input if ctx.needs_input_grad[1] else None,
            None,
            None,
        )


def robust(input: Tensor, target: Tensor, alpha: float | Tensor, scale: float | Tensor) -> Tensor:
    """Elementwise Barron loss of ``input - target`` (one shape, one floating dtype): the op's
    one dispatch point.

    With numbers ``alpha`` and ``scale``, the fused path and the Triton kernel compute only the
    branch that ``alpha`` selects and keep only the inputs for backward; a tensor ``alpha`` or
    ``scale`` (per channel, or learnt) takes the reference, which mixes the branches and
    differentiates them (with ``VISIONLOSS_KERNELS=triton`` forced and a tensor that does not
    require grad: ``NotImplementedError``).
    """
    numbers = not isinstance(alpha, Tensor) and not isinstance(scale, Tensor)
    backend = backend_for(
        "robust",
        input,
        has_triton=has_triton(TRITON_NLL_ROBUST),
        covered=numbers
        and triton_covers(TRITON_NLL_ROBUST, input, "robust", input, target, alpha, scale),
        constants=(alpha, scale) if not numbers else (),
    )
    if backend == "reference" or not numbers:
        return robust_reference(input, target, alpha, scale)
    if backend == "triton":
        module = importlib.import_module(TRITON_NLL_ROBUST)
        triton_result: Tensor = module.robust(input, target, alpha=alpha, scale=scale)
        return triton_result
    if _pick(_ROBUST_OPS, target).usable():  # compiling: the custom op keeps the saved set lean
        return _pair_op(_ROBUST_OPS, input, target, float(alpha), float(scale))
    result: Tensor = _Robust.apply(input, target, float(alpha), float(scale))
    return result


# --- the fused Functions as custom ops, for torch.compile (kernels/_library.py) ------------------
# Traced through, the Functions above let inductor's partitioner save a full-size intermediate
# (the difference, 4 MiB for a 1024x1024 float32 log-cosh) where the Function saves nothing but
# its inputs; the custom ops keep the Function's saved set. Each loss has two: one for a
# constant target (the usual case: its backward computes one gradient) and one that also
# differentiates the target (``<name>_target``).


def _pick(ops: tuple[FusedOp, FusedOp], target: Tensor) -> FusedOp:
    """``ops[1]`` (gradients in the target too) if ``target`` requires grad, else ``ops[0]``
    (each op is registered when its own ``usable`` is first asked, while tracing)."""
    return ops[1] if target.requires_grad else ops[0]


def _pair_op(ops: tuple[FusedOp, FusedOp], input: Tensor, target: Tensor, *options: Any) -> Tensor:
    """Run :func:`_pick`'s op, the target detached where it is a constant."""
    result: Tensor = _pick(ops, target)(
        input, target if target.requires_grad else target.detach(), *options
    )
    return result


def _pair_fake(input: Tensor, target: Tensor, *options: Any) -> Tensor:
    # the forward's result: the difference's shape, dtype and strides (computed in fake mode)
    return torch.empty_like(input - target)


def _as_grad(grad: Tensor, like: Tensor) -> Tensor:
    return grad.sum_to_size(like.shape).to(like.dtype)


def _pair_declare(name: str, options: str, forward: Any, grad: Any) -> tuple[FusedOp, FusedOp]:
    """The two custom ops of a loss of ``(input, target)`` whose gradient in ``input`` is
    ``grad(input, target, incoming, *options)`` and in ``target`` its negative."""

    def backward_input(
        saved: tuple[Tensor, ...], grads: tuple[Tensor, ...], *opts: Any
    ) -> tuple[Tensor]:
        input, target = saved
        return (_as_grad(grad(input, target, grads[0], *opts), input),)

    def backward_both(
        saved: tuple[Tensor, ...], grads: tuple[Tensor, ...], *opts: Any
    ) -> tuple[Tensor, Tensor]:
        input, target = saved
        grad_input = grad(input, target, grads[0], *opts)
        return _as_grad(grad_input, input), _as_grad(-grad_input, target)

    common: dict[str, Any] = dict(
        tensors="Tensor input, Tensor target",
        options=options,
        outputs=1,
        forward=forward,
        fake=_pair_fake,
        save=lambda args, out: (args[0], args[1]),
    )
    return (
        FusedOp(name, backward=backward_input, **common),
        FusedOp(f"{name}_target", backward=backward_both, differentiable=(0, 1), **common),
    )


#: ``visionloss::log_cosh`` (and ``log_cosh_target``): saves input and target only
_LOG_COSH_OPS = _pair_declare("log_cosh", "", _LogCosh.forward, _log_cosh_grad)
#: ``visionloss::charbonnier`` (and ``charbonnier_target``): saves input and target only
_CHARBONNIER_OPS = _pair_declare(
    "charbonnier", "float eps", _Charbonnier.forward, _charbonnier_grad
)
#: ``visionloss::robust`` (and ``robust_target``): saves input and target only
_ROBUST_OPS = _pair_declare("robust", "float alpha, float scale", _Robust.forward, _robust_grad)


def _nll_forward(mean: Tensor, logvar: Tensor, target: Tensor, full: bool) -> Tensor:
    # the op's tensors are (mean, logvar, target): the differentiable ones first
    return _GaussianNLL.forward(mean, target, logvar, full)


def _nll_fake(mean: Tensor, logvar: Tensor, target: Tensor, full: bool) -> Tensor:
    return torch.empty_like(target - mean)


def _nll_grads(saved: tuple[Tensor, ...], grads: tuple[Tensor, ...]) -> tuple[Tensor, Tensor]:
    mean, logvar, target = saved
    grad_mean, grad_logvar = _gaussian_nll_grads(mean, target, logvar, grads[0], True, True)
    if grad_mean is None or grad_logvar is None:  # pragma: no cover - both were asked for
        raise RuntimeError("gaussian_nll: a gradient was not computed")
    return grad_mean, grad_logvar.to(logvar.dtype)


def _nll_backward(
    saved: tuple[Tensor, ...], grads: tuple[Tensor, ...], full: bool
) -> tuple[Tensor, Tensor]:
    grad_mean, grad_logvar = _nll_grads(saved, grads)
    return _as_grad(grad_mean, saved[0]), grad_logvar


def _nll_backward_all(
    saved: tuple[Tensor, ...], grads: tuple[Tensor, ...], full: bool
) -> tuple[Tensor, Tensor, Tensor]:
    grad_mean, grad_logvar = _nll_grads(saved, grads)
    return _as_grad(grad_mean, saved[0]), grad_logvar, _as_grad(-grad_mean, saved[2])


_NLL_COMMON: dict[str, Any] = dict(
    tensors="Tensor mean, Tensor logvar, Tensor target",
    options="bool full",
    outputs=1,
    forward=_nll_forward,
    fake=_nll_fake,
    save=lambda args, out: (args[0], args[1], args[2]),
)
#: ``visionloss::gaussian_nll`` (constant target; gradients in mean and logvar) and
#: ``visionloss::gaussian_nll_target`` (all three): save the three inputs only
_NLL_OPS = (
    FusedOp("gaussian_nll", backward=_nll_backward, differentiable=(0, 1), **_NLL_COMMON),
    FusedOp(
        "gaussian_nll_target", backward=_nll_backward_all, differentiable=(0, 1, 2), **_NLL_COMMON
    ),
)
