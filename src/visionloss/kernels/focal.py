"""Fused focal losses: the forward computes the loss, the backward recomputes its derivative.

A composition of torch ops keeps every elementwise intermediate for backward (for the sigmoid focal
loss: the two sigmoids, the cross-entropy, the modulating factor and their products, each the size
of the logits). These Functions keep only their inputs (the logits in their own dtype and the
target as given) plus, for the softmax form, the maximum logit and the log-sum of each position (two
``(N, *)`` statistics), and recompute the rest in one backward pass from the analytic derivative.

The formulas (:func:`sigmoid_focal_terms`, :func:`softmax_focal_terms`) are the specification:
the references (:func:`sigmoid_focal_reference`, :func:`softmax_focal_reference`) differentiate
them with autograd; the fused Functions evaluate the same quantities in fewer passes over the
logits (tests check values and gradients against the specification). :func:`sigmoid_focal` and
:func:`softmax_focal` are the ops' one dispatch points (:func:`visionloss.kernels.backend_for`). The price of keeping nothing is recomputing the
sigmoid / softmax in backward; it is paid back by making fewer, cache-resident passes: the sigmoid
form runs block by block (:data:`_BLOCK`) with one sigmoid and one log1p in each direction, so on
CPU its forward+backward takes about half the time of the plain composition; the softmax form is
about as fast as the plain one (log-softmax forward, one exp in backward). Notation: :math:`p = \\sigma(x)`, :math:`m = 1 - p_t` the
probability of the wrong answer, :math:`\\gamma` the focusing parameter.

Stability of :math:`m^\\gamma` for :math:`\\gamma < 1`: its derivative :math:`\\gamma m^{\\gamma-1}`
is infinite at :math:`m = 0` (a confidently right prediction), although the derivative of the whole
loss is 0 there. The backwards below never form :math:`m^{\\gamma - 1}`: they multiply
:math:`m^\\gamma` by a bounded ratio (:math:`p(1-p)/m \\le 1`, :math:`\\log p_t / (1 - p_t) \\le -1`),
so they are finite for every :math:`\\gamma \\ge 0`; the plain formulas use a safe power with a zero
gradient at :math:`m = 0` for the same reason.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core import compute_dtype
from . import backend_for, has_triton, reference_backward, triton_covers
from ._library import FusedOp

TRITON_MODULE = "visionloss.kernels.triton.focal"

__all__ = [
    "binary_target",
    "focal_of_log_p",
    "safe_pow",
    "sigmoid_focal",
    "sigmoid_focal_reference",
    "sigmoid_focal_terms",
    "softmax_focal",
    "softmax_focal_reference",
    "softmax_focal_terms",
]

Alpha = float | Tensor | None


def safe_pow(base: Tensor, gamma: float) -> Tensor:
    """``base ** gamma`` for ``base`` in ``[0, 1]`` with a finite gradient at 0 for any ``gamma >= 0``.

    For ``gamma < 1`` the gradient ``gamma * base**(gamma - 1)`` is infinite at 0 (and overflows for
    subnormal bases); there the value is set to 0 with a zero gradient: the focal loss multiplies it
    by a cross-entropy that vanishes at the same point, so the true derivative of the loss is 0.
    """
    if gamma == 0:
        return torch.ones_like(base)
    if gamma >= 1:
        return base.pow(gamma)
    tiny = torch.finfo(base.dtype).tiny
    positive = base > tiny
    safe = torch.where(positive, base, torch.ones((), dtype=base.dtype, device=base.device))
    return torch.where(
        positive, safe.pow(gamma), torch.zeros((), dtype=base.dtype, device=base.device)
    )


def _alpha_t(alpha: Alpha, y: Tensor) -> Tensor | float:
    """``alpha y + (1 - alpha)(1 - y)``: alpha for positives, 1 - alpha for negatives (interpolated)."""
    if alpha is None:
        return 1.0
    # alpha y + (1 - alpha)(1 - y) = (2 alpha - 1) y + 1 - alpha, two passes
    return (y * (2 * alpha - 1)).add_(1 - alpha)


def sigmoid_focal_terms(x: Tensor, y: Tensor, alpha: Alpha, gamma: float) -> Tensor:
    """Elementwise sigmoid focal loss of logits ``x`` and (soft) targets ``y``, as torchvision's.

    .. math::
        \\ell = \\alpha_t\\, m^\\gamma\\, \\mathrm{BCE}(x, y), \\quad
        m = y\\,\\sigma(-x) + (1 - y)\\,\\sigma(x), \\quad \\alpha_t = \\alpha y + (1 - \\alpha)(1 - y)

    ``BCE`` is computed from the logits (softplus form, never the log of a probability);
    :math:`m = 1 - p_t` from two sigmoids, a convex combination of positive numbers, so it has full
    relative precision even where :math:`p_t` rounds to 1 (``1 - sigmoid(x)`` would cancel).
    """
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    if gamma == 0:
        loss = ce
    else:
        m = y * torch.sigmoid(-x) + (1 - y) * torch.sigmoid(x)
        loss = safe_pow(m, gamma) * ce
    if alpha is not None:
        loss = _alpha_t(alpha, y) * loss
    return loss


def focal_of_log_p(log_p: Tensor, gamma: float) -> Tensor:
    """``-(1 - p)^gamma log p`` elementwise from ``log p``; ``1 - p = -expm1(log p)`` is accurate
    where ``p`` is close to 1 (``1 - exp`` would cancel)."""
    if gamma == 0:
        return -log_p
    return -safe_pow(-torch.expm1(log_p), gamma) * log_p


def softmax_focal_terms(log_probs: Tensor, target: Tensor, *, alpha: Alpha, gamma: float) -> Tensor:
    """Softmax focal loss per position from log-probabilities ``(N, C, *)``; the result is ``(N, *)``.

    .. math::
        \\ell = -\\alpha_y (1 - p_y)^\\gamma \\log p_y \\ \\text{(class ids)}, \\qquad
        \\ell = -\\sum_c y_c\\, \\alpha_c (1 - p_c)^\\gamma \\log p_c \\ \\text{(probabilities)}

    ``target``: ``(N, *)`` int64 class ids in ``[0, C)`` or ``(N, C, *)`` float probabilities.
    ``alpha``: ``None``, a number, or a ``(C,)`` tensor indexed by the target class.
    """
    if not target.is_floating_point():
        log_pt = log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
        loss = focal_of_log_p(log_pt, gamma)
        return loss if alpha is None else _class_alpha(alpha, target) * loss
    term = target * focal_of_log_p(log_probs, gamma)
    if isinstance(alpha, Tensor):
        term = _per_class(alpha, log_probs) * term
    elif alpha is not None:
        term = alpha * term
    return term.sum(1)


def _class_alpha(alpha: Alpha, index: Tensor) -> Tensor | float:
    """The alpha of each position's target class."""
    if isinstance(alpha, Tensor):
        return alpha[index]
    return 1.0 if alpha is None else alpha


def _per_class(values: Tensor, like: Tensor) -> Tensor:
    """A ``(C,)`` tensor viewed as ``(1, C, 1, ...)`` to broadcast against ``like`` ``(N, C, *)``."""
    return values.view((1, -1) + (1,) * (like.dim() - 2))


def binary_target(target: Tensor, ignore_index: int | None, dtype: torch.dtype) -> Tensor:
    """The float target of a sigmoid loss: integer targets equal to ``ignore_index`` become 0."""
    if target.is_floating_point() or target.dtype == torch.bool or ignore_index is None:
        return target.to(dtype)
    # 0/1 ids (checked): ``== 1`` maps the ignored value to 0 in one pass (cheaper than `where`)
    return (target == 1).to(dtype)


def _class_index(target: Tensor, ignore_index: int | None) -> Tensor:
    """Class ids with ``ignore_index`` replaced by the valid id 0 (the loss there is masked).

    Only ``ignore_index`` is replaced: any other id out of ``[0, C)`` (possible with the data
    checks off) stays, and the gather raises on it as torch's cross-entropy does, rather than
    being read as class 0 (a clamp would).
    """
    if ignore_index is None:
        return target.long()
    zero = torch.zeros((), dtype=target.dtype, device=target.device)
    return torch.where(target != ignore_index, target, zero).long()


def _compute(x: Tensor) -> torch.dtype:
    return torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype


def _bce_with_logits(x: Tensor, y: Tensor) -> Tensor:
    """The BCE of a logit, ``max(x, 0) - x y + log1p(exp(-|x|))``.

    For 0/1 targets no term cancels another, so an easy example keeps its relative precision
    (torch's ``(1 - y) x - logsigmoid(x)`` loses it for easy negatives: at x = -10 in float32,
    ``-10 + 10.0000454`` keeps two digits). Seven passes, in place where possible.
    """
    return torch.addcmul(x.clamp(min=0), x, y, value=-1.0).add_(x.abs().neg_().exp_().log1p_())


def _bce_from_p(x: Tensor, y: Tensor, low: Tensor) -> Tensor:
    """:func:`_bce_with_logits` from ``low = min(p, 1 - p)``, ``p = sigmoid(x)`` (overwritten).

    One transcendental: ``log1p(exp(-|x|)) = -log1p(-min(p, 1 - p))``. ``min(p, 1 - p)`` is
    ``p`` itself where ``x < 0``, so the BCE of an easy negative keeps its relative precision;
    where ``x > 0`` it is ``1 - p`` (absolute error one ulp of 1), which only an easy
    positive's BCE sees, and its ``1 - p_t`` (the same ``1 - p``) already has that error.
    """
    log_max = low.neg_().log1p_()  # log max(p, 1 - p) = -log1p(exp(-|x|))
    return torch.clamp_min(x, 0).addcmul_(x, y, value=-1.0).sub_(log_max)


def _pow_(base: Tensor, exponent: float) -> Tensor:
    """``base ** exponent`` in place; integer exponents 1 and 2 without ``pow`` (it is ~30 times
    the cost of a product for a float exponent on CPU)."""
    if exponent == 1:
        return base
    if exponent == 2:
        return base.square_()
    return base.pow_(exponent)


def _scale_(out: Tensor, alpha: Alpha, y: Tensor, grad: Tensor | None, factor: float) -> Tensor:
    """``out *= factor * alpha_t * grad`` in place, ``alpha_t = alpha y + (1 - alpha)(1 - y)``.

    A number ``alpha < 1`` is applied as ``(1 - alpha) (1 + c y)``, ``c = (2 alpha - 1) / (1 -
    alpha)``: one ``addcmul_`` and the constant folded into the last product. A ``grad`` that is
    one value broadcast (the backward of a sum or a mean) is folded in as that value.
    """
    if isinstance(alpha, Tensor) or alpha == 1:
        out = out.mul_(_alpha_t(alpha, y))
    elif alpha is not None:
        out = out.addcmul_(out, y, value=(2 * alpha - 1) / (1 - alpha))
        factor = factor * (1 - alpha)
    if grad is not None and (grad.dim() == 0 or all(s == 0 for s in grad.stride())):
        return out.mul_(grad.as_strided((), ()) * factor)  # one pass for grad and constants
    if grad is not None:
        out = out.mul_(grad)
    return out if factor == 1 else out.mul_(factor)


# Elements per block of the CPU sigmoid Function (1 MiB of float32): its half-dozen temporaries
# then stay in cache, so that only the inputs and the result travel to memory. On 2 threads,
# 50000x80 logits: 2-3x faster than whole-tensor passes; blocks of 2^16 to 2^20 are within 10%.
_BLOCK = 1 << 18


def _blocks(x: Tensor, alpha: Alpha) -> list[tuple[int, int]]:
    """``[start, end)`` ranges of the flattened ``x``: one for a GPU, a small input, a tensor
    ``alpha`` (broadcast against the whole shape) or while compiling (one graph, no loop)."""
    n = x.numel()
    if (
        x.device.type != "cpu"
        or n <= _BLOCK
        or isinstance(alpha, Tensor)
        or torch.compiler.is_compiling()
    ):
        return [(0, n)]
    return [(s, min(s + _BLOCK, n)) for s in range(0, n, _BLOCK)]


def _sigmoid_focal_value(x: Tensor, y: Tensor, alpha: Alpha, gamma: float) -> Tensor:
    """The elementwise loss in a new tensor: one sigmoid, one log1p and in-place arithmetic on
    two temporaries (``x`` and ``y`` are only read)."""
    if gamma == 0:
        # torch's own op: equal to binary_cross_entropy_with_logits to the last bit
        loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    else:
        p = torch.sigmoid(x)
        q = torch.rsub(p, 1)
        loss = _bce_from_p(x, y, torch.minimum(p, q, out=q))
        # 1 - p_t = p - 2 p y + y, in place on p
        loss = loss.mul_(_pow_(p.addcmul_(p, y, value=-2.0).add_(y), gamma))
    return _scale_(loss, alpha, y, None, 1.0)


class _SigmoidFocal(torch.autograd.Function):
    # Speed: every pass over the logits counts. On CPU a transcendental costs ~5 arithmetic
    # passes, and `where`, log-sigmoid, softplus and `pow` with a float exponent ~20: forward
    # and backward each take one sigmoid and one log1p (the BCE from the sigmoid, see
    # `_bce_from_p`), the rest is in-place arithmetic on at most three temporaries, block by
    # block (`_BLOCK`). 1 - p_t is p + y - 2 p y (its absolute error, one ulp of 1, only touches
    # terms already below 1e-7 of the cross-entropy they multiply) except for the target's
    # gradient.

    @staticmethod
    def forward(
        x: Tensor, target: Tensor, alpha: Alpha, gamma: float, ignore_index: int | None
    ) -> Tensor:
        dtype = _compute(x)
        blocks = _blocks(x, alpha)
        if len(blocks) == 1:
            y = binary_target(target, ignore_index, dtype)
            return _sigmoid_focal_value(x.to(dtype), y, alpha, gamma)
        loss = torch.empty(x.shape, dtype=dtype, device=x.device)
        flat_x, flat_t, flat_loss = x.reshape(-1), target.reshape(-1), loss.view(-1)
        for s, e in blocks:
            y = binary_target(flat_t[s:e], ignore_index, dtype)
            flat_loss[s:e] = _sigmoid_focal_value(flat_x[s:e].to(dtype), y, alpha, gamma)
        return loss

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        x, target, alpha, gamma, ignore_index = inputs
        ctx.save_for_backward(x, target, alpha if isinstance(alpha, Tensor) else None)
        ctx.alpha, ctx.gamma, ctx.ignore_index = alpha, gamma, ignore_index

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, target, alpha_tensor = ctx.saved_tensors
        alpha = alpha_tensor if alpha_tensor is not None else ctx.alpha
        gamma, ignore_index = ctx.gamma, ctx.ignore_index
        dtype = _compute(x)
        if torch.is_grad_enabled() and any(ctx.needs_input_grad[:2]):
            # the backward is being differentiated (create_graph=True): the reference's
            # gradient as a graph, so that second derivatives are exact
            def reference(x: Tensor, target: Tensor) -> Tensor:
                return sigmoid_focal_reference(
                    x, target, alpha=alpha, gamma=gamma, ignore_index=ignore_index
                )

            grads = reference_backward(reference, (x, target), ctx.needs_input_grad, grad)
            return grads[0], grads[1], None, None, None
        if ctx.needs_input_grad[1]:
            xf, y = x.to(dtype), binary_target(target, ignore_index, dtype)
            grad_x, grad_y = _sigmoid_focal_grads_precise(
                grad, xf, y, alpha, gamma, ctx.needs_input_grad[0]
            )
            grad_x = None if grad_x is None else grad_x.to(x.dtype)
            return grad_x, grad_y.to(target.dtype), None, None, None
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        grad_x = _sigmoid_focal_backward_x(grad, x, target, alpha, gamma, ignore_index)
        return grad_x, None, None, None, None


def _sigmoid_focal_backward_x(
    grad: Tensor, x: Tensor, target: Tensor, alpha: Alpha, gamma: float, ignore_index: int | None
) -> Tensor:
    """The logits' gradient of :class:`_SigmoidFocal` in ``x``'s dtype, block by block on CPU
    (eager Function and custom op)."""
    dtype = _compute(x)
    blocks = _blocks(x, alpha)
    if len(blocks) == 1:
        y = binary_target(target, ignore_index, dtype)
        return _sigmoid_focal_grad_x(grad, x.to(dtype), y, alpha, gamma).to(x.dtype)
    # a grad that is one value broadcast (the backward of a sum or mean) stays one value
    scalar = grad.dim() == 0 or all(s == 0 for s in grad.stride())
    flat_g = grad.as_strided((), ()) if scalar else grad.reshape(-1)
    grad_x = torch.empty_like(x, memory_format=torch.contiguous_format)
    flat_x, flat_t, flat_grad = x.reshape(-1), target.reshape(-1), grad_x.view(-1)
    for s, e in blocks:
        y = binary_target(flat_t[s:e], ignore_index, dtype)
        g = flat_g if scalar else flat_g[s:e]
        flat_grad[s:e] = _sigmoid_focal_grad_x(g, flat_x[s:e].to(dtype), y, alpha, gamma)
    return grad_x


def _sigmoid_focal_grad_x(grad: Tensor, x: Tensor, y: Tensor, alpha: Alpha, gamma: float) -> Tensor:
    """``d loss / d x`` times ``grad`` in a new tensor, in place on three temporaries.

    ``d/dx = a_t [gamma m^(gamma-1) dm/dx ce + m^gamma (p - y)]`` with ``m = 1 - p_t``,
    ``dm/dx = h p q``, ``h = 1 - 2 y``, ``q = 1 - p``. For ``gamma >= 1`` it is formed as
    ``gamma a_t m^(gamma-1) [h p q ce + m (p - y) / gamma]``; for ``gamma < 1`` as
    ``a_t m^gamma [gamma h (p q ce / m) + (p - y)]``, ``p q / m <= 1``: finite for every gamma
    (``m^(gamma-1)`` is never formed).
    """
    p = torch.sigmoid(x)
    if gamma == 0:
        return _scale_(p.sub_(y), alpha, y, grad, 1.0)
    low = torch.rsub(p, 1)
    ce = _bce_from_p(x, y, torch.minimum(p, low, out=low))
    # p q = p - p^2 (1 - p to one ulp of 1, like the rest), in the freed buffer
    t = torch.addcmul(p, p, p, value=-1.0, out=low).mul_(ce)  # p q ce
    t = t.addcmul_(t, y, value=-2.0)  # h p q ce
    m = torch.addcmul(y, p, y, value=-2.0, out=ce).add_(p)  # 1 - p_t, in ce's buffer
    d = p.sub_(y)  # p - y
    if gamma >= 1:
        t = t.addcmul_(m, d, value=1 / gamma)
        if gamma != 1:
            t = t.mul_(_pow_(m, gamma - 1))
        return _scale_(t, alpha, y, grad, gamma)
    # m = 0 only where p q = 0 too, and m^gamma = 0 multiplies whatever the ratio is
    t = t.div_(torch.clamp_min(m, torch.finfo(m.dtype).tiny)).mul_(gamma).add_(d)
    return _scale_(t.mul_(m.pow_(gamma)), alpha, y, grad, 1.0)


def _sigmoid_focal_grads_precise(
    grad: Tensor, xf: Tensor, y: Tensor, alpha: Alpha, gamma: float, need_x: bool
) -> tuple[Tensor | None, Tensor]:
    """Both gradients when the target's is needed: it multiplies ``(1 - p_t)^gamma`` by ``x``,
    so ``1 - p`` must keep its relative precision where ``p`` rounds to 1 (a second sigmoid)."""
    dtype = xf.dtype
    p = torch.sigmoid(xf)
    q = torch.sigmoid(-xf)
    scale = grad if alpha is None else grad * _alpha_t(alpha, y)
    ce: Tensor | None = None
    m: Tensor | None = None
    m_safe: Tensor | None = None
    if gamma != 0:
        # 1 - p_t, as a sum of products (no cancellation)
        m = torch.addcmul(q * y, p, 1 - y)
        # m = 0 only where p q = 0 too, and m^gamma = 0 multiplies whatever the ratio is
        m_safe = m.clamp(min=torch.finfo(dtype).tiny)
        ce = _bce_with_logits(xf, y)
        scale = scale * m.pow(gamma)
    grad_x = None
    if need_x:
        # d/dx = a_t [gamma m^(gamma-1) dm/dx ce + m^gamma (p - y)], dm/dx = (1 - 2y) p q;
        # m^(gamma-1) p q is formed as m^gamma (p q / m), p q / m <= 1: finite for gamma < 1
        inner = p - y
        if m_safe is not None and ce is not None:  # gamma != 0
            ratio = (p * q).div_(m_safe)
            ratio = torch.addcmul(ratio, ratio, y, value=-2.0)  # times (1 - 2y)
            inner = inner.addcmul_(ratio, ce, value=gamma)
        grad_x = scale * inner
    # d/dy = d(a_t)/dy m^gamma ce + a_t [gamma m^(gamma-1) (q - p) ce - m^gamma x];
    # ce / m is bounded where m -> 0 (ce ~ m there)
    inner = -xf
    if m_safe is not None and ce is not None:  # gamma != 0
        inner = inner.addcmul_(ce / m_safe, q - p, value=gamma)
    grad_y = scale * inner
    if alpha is not None:
        ce = _bce_with_logits(xf, y) if ce is None else ce
        mod = 1.0 if m is None else m.pow(gamma)
        grad_y = grad_y + grad * (2 * alpha - 1) * mod * ce
    return grad_x, grad_y


def sigmoid_focal_reference(
    x: Tensor, target: Tensor, *, alpha: Alpha, gamma: float, ignore_index: int | None
) -> Tensor:
    """The specification: :func:`sigmoid_focal_terms` in the compute dtype, differentiated by
    autograd (keeps every elementwise intermediate)."""
    dtype = compute_dtype(x)
    y = binary_target(target, ignore_index, dtype)
    return sigmoid_focal_terms(x.to(dtype), y, alpha, gamma)


def sigmoid_focal(
    x: Tensor, target: Tensor, *, alpha: Alpha, gamma: float, ignore_index: int | None
) -> Tensor:
    """Elementwise sigmoid focal loss: the op's one dispatch point.

    ``x`` in any floating dtype (half and bfloat16 are computed in float32, the result is float32);
    ``target`` float probabilities, bool, or 0/1 integers where ``ignore_index`` entries count as 0
    (mask them out of the reduction). ``alpha``: ``None``, a number or a tensor broadcastable to
    ``x``. The fused path keeps only ``x`` and ``target`` for backward; its second derivative is
    the reference's (:func:`~visionloss.kernels.reference_backward`). The reference is
    :func:`sigmoid_focal_reference`; it also runs under ``torch.func`` transforms and when a
    tensor ``alpha`` requires grad (the fused path does not differentiate it). The Triton kernel
    (:mod:`visionloss.kernels.triton.focal`) takes CUDA calls it covers under ``auto``.
    """
    backend = backend_for(
        "sigmoid_focal",
        x,
        has_triton=has_triton(TRITON_MODULE),
        covered=triton_covers(TRITON_MODULE, x, x, target, alpha=alpha, gamma=gamma, softmax=False),
        constants=(alpha,),
    )
    if backend == "reference":
        return sigmoid_focal_reference(
            x, target, alpha=alpha, gamma=gamma, ignore_index=ignore_index
        )
    if backend == "triton":
        triton_result: Tensor = importlib.import_module(TRITON_MODULE).sigmoid_focal(
            x, target, alpha=alpha, gamma=gamma, ignore_index=ignore_index
        )
        return triton_result
    if _SIGMOID_FOCAL_OP.usable() and not target.requires_grad:
        # compiling: the custom op keeps the saved set lean (a differentiated target traces
        # the Function, whose backward also gives the target's gradient)
        compiled: Tensor = _SIGMOID_FOCAL_OP(
            x, target.detach(), *_op_alpha(alpha), float(gamma), ignore_index
        )
        return compiled
    if isinstance(alpha, Tensor):
        alpha = alpha.detach()
    result: Tensor = _SigmoidFocal.apply(x, target, alpha, gamma, ignore_index)
    return result


def _softmax_focal_grad_factor(log_p: Tensor, p: Tensor, gamma: float) -> tuple[Tensor, Tensor]:
    """``(f, f')`` at ``log p`` with ``f(l) = -(1 - e^l)^gamma l``, finite for every gamma >= 0."""
    u = -torch.expm1(log_p)  # 1 - p, accurate near p = 1
    if gamma == 0:
        return -log_p, -torch.ones_like(log_p)
    mod = u.pow(gamma)
    # f'(l) = gamma (1-p)^(gamma-1) p l - (1-p)^gamma = (1-p)^gamma (gamma p l / (1-p) - 1);
    # l / (1 - p) is in (-inf, -1] and tends to -1 as p -> 1: no (1-p)^(gamma-1) is formed
    # (at u = 0 the ratio comes out 0 instead of -1: it multiplies (1-p)^gamma = 0)
    ratio = log_p / u.clamp(min=torch.finfo(u.dtype).tiny)
    return -mod * log_p, mod * (gamma * p * ratio - 1)


class _SoftmaxFocal(torch.autograd.Function):
    # Forward: torch's log-softmax kernel (the values of the plain path, bit for bit); the
    # (N, C, *) log-probabilities are dropped. Two (N, 1, *) statistics are kept.
    # Class ids: the maximum logit and the derivative of the position's loss with respect to
    # log p_y (alpha included), so that the backward is coef (1[c = y] - e_c / sum(e)),
    # e = exp(x - max): four passes over the logits (one exp, one sum), no log-probabilities, no
    # gather, and the precision of log_softmax's own order (x - max first).
    # Probabilities: the maximum logit and the log-sum; the backward recomputes the
    # log-probabilities as (x - max) - log-sum, the order log_softmax uses.

    @staticmethod
    def forward(
        x: Tensor,
        target: Tensor,
        alpha: Alpha,
        gamma: float,
        ignore_index: int | None,
        need_grad: bool,
    ) -> tuple[Tensor, Tensor, Tensor]:
        # returns the loss and the two statistics (marked non-differentiable; empty when no
        # gradient will be asked for)
        dtype = _compute(x)
        log_probs = F.log_softmax(x, dim=1, dtype=dtype)
        if target.is_floating_point():
            x_max = x.amax(1, keepdim=True).to(dtype)
            log_sum = -log_probs.amax(1, keepdim=True)  # log p at the largest logit is -log-sum
            return _focal_value_sum(log_probs, target.to(dtype), alpha, gamma), x_max, log_sum
        index = _class_index(target, ignore_index)
        idx = index.unsqueeze(1)
        log_pt = log_probs.gather(1, idx)  # (N, 1, *)
        del log_probs
        alpha_t = _class_alpha(alpha, idx)  # (N, 1, *) or a number
        if not need_grad:
            nothing = x.new_empty((0,), dtype=dtype)
            x_max, slope = nothing, nothing
            loss = _focal_value(log_pt, gamma)
        else:
            loss, slope = _softmax_focal_grad_factor(log_pt, torch.exp(log_pt), gamma)
            if alpha is not None:
                slope = slope * alpha_t
            x_max = x.amax(1, keepdim=True).to(dtype)
        loss = loss.squeeze(1)
        if alpha is not None:
            loss = loss.mul_(alpha_t.squeeze(1) if isinstance(alpha_t, Tensor) else alpha_t)
        return loss, x_max, slope

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, ...]) -> None:
        x, target, alpha, gamma, ignore_index, _ = inputs
        _, stat_a, stat_b = output
        ctx.mark_non_differentiable(stat_a, stat_b)
        ctx.set_materialize_grads(False)
        alpha_tensor = alpha if isinstance(alpha, Tensor) else None
        ctx.save_for_backward(x, target, stat_a, stat_b, alpha_tensor)
        ctx.alpha, ctx.gamma, ctx.ignore_index = alpha, gamma, ignore_index

    @staticmethod
    def backward(ctx: Any, grad: Tensor | None, *_: Tensor | None) -> tuple[Tensor | None, ...]:
        x, target, stat_a, stat_b, alpha_tensor = ctx.saved_tensors
        alpha = alpha_tensor if alpha_tensor is not None else ctx.alpha
        if grad is None or not any(ctx.needs_input_grad[:2]):
            return None, None, None, None, None, None
        if torch.is_grad_enabled():
            # the backward is being differentiated (create_graph=True): the reference's
            # gradient as a graph, so that second derivatives are exact
            def reference(x: Tensor, target: Tensor) -> Tensor:
                return softmax_focal_reference(
                    x, target, alpha=alpha, gamma=ctx.gamma, ignore_index=ctx.ignore_index
                )

            grads = reference_backward(reference, (x, target), ctx.needs_input_grad, grad)
            return grads[0], grads[1], None, None, None, None
        grad_x, grad_y = _softmax_focal_grads(
            grad,
            (x, target, stat_a, stat_b),
            alpha,
            ctx.gamma,
            ctx.ignore_index,
            ctx.needs_input_grad[0],
            ctx.needs_input_grad[1],
        )
        return grad_x, grad_y, None, None, None, None


def _softmax_focal_grads(
    grad: Tensor,
    saved: tuple[Tensor, ...],
    alpha: Alpha,
    gamma: float,
    ignore_index: int | None,
    need_x: bool,
    need_y: bool,
) -> tuple[Tensor | None, Tensor | None]:
    """The gradients of :class:`_SoftmaxFocal` from ``saved = (x, target, stat_a, stat_b)``
    (eager Function and custom op)."""
    x, target, stat_a, stat_b = saved
    dtype = _compute(x)
    grad_x = grad_y = None
    if not target.is_floating_point():
        x_max, slope = stat_a, stat_b
        idx = _class_index(target, ignore_index).unsqueeze(1)
        coef = grad.unsqueeze(1) * slope  # d loss / d log p_y, alpha included
        # d l / d x_c = coef (1[c = y] - softmax_c), softmax_c = e_c / sum(e), e = exp(x - max)
        # (the subtraction promotes half/bfloat16), in place on e
        e = torch.sub(x, x_max).exp_()
        grad_x = e.mul_(coef.div(e.sum(1, keepdim=True)).neg_()).scatter_add_(1, idx, coef)
        return grad_x.to(x.dtype), None
    x_max, log_sum = stat_a, stat_b
    log_probs = torch.sub(x, x_max).sub_(log_sum)  # promotes half/bfloat16 to dtype
    y = target.to(dtype)
    softmax = torch.exp(log_probs)
    value, slope = _softmax_focal_grad_factor(log_probs, softmax, gamma)
    if isinstance(alpha, Tensor):
        a = _per_class(alpha, log_probs)
        value, slope = a * value, a * slope
    elif alpha is not None:
        value, slope = alpha * value, alpha * slope
    g = grad.unsqueeze(1)
    if need_x:
        # l = sum_c y_c f(lp_c): d l / d x_k = w_k - softmax_k sum_c w_c, w_c = y_c f'(lp_c)
        w = g * y * slope
        grad_x = (w - softmax * w.sum(1, keepdim=True)).to(x.dtype)
    if need_y:
        grad_y = (g * value).to(target.dtype)
    return grad_x, grad_y


# --- the two Functions as custom ops, for torch.compile (kernels/_library.py) ------------------
# ``alpha`` (a number, a tensor or None) is two arguments there: ``alpha_tensor`` and ``alpha``.


def _alpha_of(alpha_tensor: Tensor | None, alpha: float | None) -> Alpha:
    return alpha_tensor if alpha_tensor is not None else alpha


def _alpha_saved(saved: tuple[Tensor, ...], count: int, alpha: float | None) -> Alpha:
    # the saved tensors, then the alpha tensor when there is one
    return saved[count] if len(saved) > count else alpha


def _sigmoid_focal_op_forward(
    x: Tensor,
    target: Tensor,
    alpha_tensor: Tensor | None,
    alpha: float | None,
    gamma: float,
    ignore_index: int | None,
) -> Tensor:
    return _SigmoidFocal.forward(x, target, _alpha_of(alpha_tensor, alpha), gamma, ignore_index)


def _sigmoid_focal_op_fake(
    x: Tensor,
    target: Tensor,
    alpha_tensor: Tensor | None,
    alpha: float | None,
    gamma: float,
    ignore_index: int | None,
) -> Tensor:
    return x.new_empty(x.shape, dtype=_compute(x))


def _sigmoid_focal_op_backward(
    saved: tuple[Tensor, ...],
    grads: tuple[Tensor, ...],
    alpha: float | None,
    gamma: float,
    ignore_index: int | None,
) -> tuple[Tensor]:
    x, target = saved[:2]
    alpha_value = _alpha_saved(saved, 2, alpha)
    return (_sigmoid_focal_backward_x(grads[0], x, target, alpha_value, gamma, ignore_index),)


def _softmax_focal_op_forward(
    x: Tensor,
    target: Tensor,
    alpha_tensor: Tensor | None,
    alpha: float | None,
    gamma: float,
    ignore_index: int | None,
    need_grad: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    return _SoftmaxFocal.forward(
        x, target, _alpha_of(alpha_tensor, alpha), gamma, ignore_index, need_grad
    )


def _softmax_focal_op_fake(
    x: Tensor,
    target: Tensor,
    alpha_tensor: Tensor | None,
    alpha: float | None,
    gamma: float,
    ignore_index: int | None,
    need_grad: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    dtype = _compute(x)
    n, rest = x.shape[0], tuple(x.shape[2:])
    stats = (n, 1, *rest) if need_grad or target.is_floating_point() else (0,)
    return (
        x.new_empty((n, *rest), dtype=dtype),
        x.new_empty(stats, dtype=dtype),
        x.new_empty(stats, dtype=dtype),
    )


def _softmax_focal_op_backward(
    saved: tuple[Tensor, ...],
    grads: tuple[Tensor, ...],
    alpha: float | None,
    gamma: float,
    ignore_index: int | None,
    need_grad: bool,
) -> tuple[Tensor]:
    alpha_value = _alpha_saved(saved, 4, alpha)
    grad_x, _ = _softmax_focal_grads(
        grads[0], saved[:4], alpha_value, gamma, ignore_index, True, False
    )
    assert grad_x is not None  # need_x
    return (grad_x,)


def _with_alpha(saved: tuple[Tensor, ...], alpha_tensor: Tensor | None) -> tuple[Tensor, ...]:
    return saved if alpha_tensor is None else (*saved, alpha_tensor)


#: ``visionloss::sigmoid_focal``: saves x, target (and a tensor alpha), as the Function
_SIGMOID_FOCAL_OP = FusedOp(
    "sigmoid_focal",
    tensors="Tensor x, Tensor target, Tensor? alpha_tensor",
    options="float? alpha, float gamma, int? ignore_index",
    outputs=1,
    forward=_sigmoid_focal_op_forward,
    fake=_sigmoid_focal_op_fake,
    save=lambda args, out: _with_alpha((args[0], args[1]), args[2]),
    backward=_sigmoid_focal_op_backward,
)

#: ``visionloss::softmax_focal``: saves x, target, the two (N, 1, *) statistics (and a tensor
#: alpha), as the Function
_SOFTMAX_FOCAL_OP = FusedOp(
    "softmax_focal",
    tensors="Tensor x, Tensor target, Tensor? alpha_tensor",
    options="float? alpha, float gamma, int? ignore_index, bool need_grad",
    outputs=3,
    forward=_softmax_focal_op_forward,
    fake=_softmax_focal_op_fake,
    save=lambda args, out: _with_alpha((args[0], args[1], out[1], out[2]), args[2]),
    backward=_softmax_focal_op_backward,
)


def _op_alpha(alpha: Alpha) -> tuple[Tensor | None, float | None]:
    if isinstance(alpha, Tensor):
        return alpha.detach(), None
    return None, None if alpha is None else float(alpha)


def _focal_value(log_p: Tensor, gamma: float) -> Tensor:
    """``-(1 - p)^gamma log p`` for a forward without autograd (a plain power suffices)."""
    if gamma == 0:
        return -log_p
    return (-torch.expm1(log_p)).pow_(gamma).mul_(log_p).neg_()


def _focal_value_sum(log_probs: Tensor, y: Tensor, alpha: Alpha, gamma: float) -> Tensor:
    """``-sum_c y_c alpha_c (1 - p_c)^gamma log p_c`` over dim 1, without autograd."""
    term = _focal_value(log_probs, gamma).mul_(y) if gamma != 0 else -log_probs * y
    if isinstance(alpha, Tensor):
        term = term.mul_(_per_class(alpha, log_probs))
    elif alpha is not None:
        term = term.mul_(alpha)
    return term.sum(1)


def softmax_focal_reference(
    x: Tensor,
    target: Tensor,
    *,
    alpha: Alpha,
    gamma: float,
    ignore_index: int | None,
    index: Tensor | None = None,
) -> Tensor:
    """The specification: ``log_softmax`` in the compute dtype then :func:`softmax_focal_terms`,
    differentiated by autograd (keeps the ``(N, C, *)`` log-probabilities). ``index``: the
    class ids with ``ignore_index`` already replaced by 0, where the caller has them (saves two
    passes over the ids)."""
    dtype = compute_dtype(x)
    if target.is_floating_point():
        labels = target.to(dtype)
    else:
        labels = _class_index(target, ignore_index) if index is None else index
    log_probs = F.log_softmax(x, dim=1, dtype=dtype)
    return softmax_focal_terms(log_probs, labels, alpha=alpha, gamma=gamma)


def softmax_focal(
    x: Tensor,
    target: Tensor,
    *,
    alpha: Alpha,
    gamma: float,
    ignore_index: int | None,
    index: Tensor | None = None,
) -> Tensor:
    """Softmax focal loss per position ``(N, *)`` of logits ``(N, C, *)``: the op's one dispatch
    point.

    ``target``: ``(N, *)`` integer class ids (``ignore_index`` entries are computed as class 0: mask
    them out of the reduction) or ``(N, C, *)`` probabilities; ``index``, optional: those ids with
    ``ignore_index`` already replaced by 0 (:func:`~visionloss._core.prepare_dense_target`), which
    the reference then uses (the fused and Triton paths keep the caller's ``target``). ``alpha``: ``None``, a number or a
    ``(C,)`` tensor. The fused path keeps only the inputs and two ``(N, *)`` statistics (maximum
    logit, log-sum) for backward; its second derivative is the reference's
    (:func:`~visionloss.kernels.reference_backward`). The reference is
    :func:`softmax_focal_reference`; it also runs under ``torch.func`` transforms and when a
    tensor ``alpha`` requires grad (the fused path does not differentiate it). The Triton kernel
    (:mod:`visionloss.kernels.triton.focal`) takes CUDA calls with class ids it covers under
    ``auto``.
    """
    backend = backend_for(
        "softmax_focal",
        x,
        has_triton=has_triton(TRITON_MODULE),
        covered=triton_covers(TRITON_MODULE, x, x, target, alpha=alpha, gamma=gamma, softmax=True),
        # measured on CPU (AMD EPYC, 8x19x96x96, docs/BENCHMARKS.md): the reference takes 0.86x
        # the fused path's time at 1 thread and 0.80x at 2, so "auto" takes it on CPU; the fused
        # path (0.63 MiB saved vs 7.1) stays available with VISIONLOSS_KERNELS=fused
        fused_on_cpu=False,
        constants=(alpha,),
    )
    if backend == "reference":
        return softmax_focal_reference(
            x, target, alpha=alpha, gamma=gamma, ignore_index=ignore_index, index=index
        )
    if backend == "triton":
        triton_result: Tensor = importlib.import_module(TRITON_MODULE).softmax_focal(
            x, target, alpha=alpha, gamma=gamma, ignore_index=ignore_index
        )
        return triton_result
    if isinstance(alpha, Tensor):
        alpha = alpha.detach()
    need_grad = x.requires_grad and torch.is_grad_enabled()
    if _SOFTMAX_FOCAL_OP.usable() and not target.requires_grad:
        # compiling: the custom op keeps the saved set lean (a differentiated target traces
        # the Function, whose backward also gives the target's gradient)
        compiled: Tensor = _SOFTMAX_FOCAL_OP(
            x, target.detach(), *_op_alpha(alpha), float(gamma), ignore_index, need_grad
        )[0]
        return compiled
    result: Tensor = _SoftmaxFocal.apply(x, target, alpha, gamma, ignore_index, need_grad)[0]
    return result
