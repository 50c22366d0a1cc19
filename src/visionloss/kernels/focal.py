"""Fused focal losses: the forward computes the loss, the backward recomputes its derivative.

A composition of torch ops keeps every elementwise intermediate for backward (for the sigmoid focal
loss: the two sigmoids, the cross-entropy, the modulating factor and their products, each the size
of the logits). These Functions keep only their inputs (the logits in their own dtype and the
target as given) plus, for the softmax form, the maximum logit and the log-sum of each position (two
``(N, *)`` statistics), and recompute the rest in one backward pass from the analytic derivative.

The formulas (:func:`sigmoid_focal_terms`, :func:`softmax_focal_terms`) are the specification: the
plain PyTorch path of :func:`visionloss.functional.focal_loss` differentiates them with autograd;
the fused Functions evaluate the same quantities in fewer passes over the logits (tests check
values and gradients against the specification). The price of keeping nothing is recomputing the
sigmoid / softmax in backward: on CPU the fused forward+backward takes about 1.2-1.5x the time of
the plain composition. Notation: :math:`p = \\sigma(x)`, :math:`m = 1 - p_t` the
probability of the wrong answer, :math:`\\gamma` the focusing parameter.

Stability of :math:`m^\\gamma` for :math:`\\gamma < 1`: its derivative :math:`\\gamma m^{\\gamma-1}`
is infinite at :math:`m = 0` (a confidently right prediction), although the derivative of the whole
loss is 0 there. The backwards below never form :math:`m^{\\gamma - 1}`: they multiply
:math:`m^\\gamma` by a bounded ratio (:math:`p(1-p)/m \\le 1`, :math:`\\log p_t / (1 - p_t) \\le -1`),
so they are finite for every :math:`\\gamma \\ge 0`; the plain formulas use a safe power with a zero
gradient at :math:`m = 0` for the same reason.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = [
    "binary_target",
    "focal_of_log_p",
    "safe_pow",
    "sigmoid_focal",
    "sigmoid_focal_terms",
    "softmax_focal",
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


def _one_minus_pt(p: Tensor, y: Tensor) -> Tensor:
    """``1 - p_t = y (1 - p) + (1 - y) p = p + y - 2 p y``, two passes."""
    return torch.addcmul(p + y, p, y, value=-2.0)


def _class_index(target: Tensor, ignore_index: int | None) -> Tensor:
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


class _SigmoidFocal(torch.autograd.Function):
    # Speed: every pass over the logits counts, so the formulas avoid `where`, comparisons and
    # log-sigmoid (each several times the cost of an arithmetic pass on CPU): one sigmoid, one
    # exp and one log1p for the BCE, and 1 - p for the other probability (its absolute error, one ulp of 1, only
    # touches terms already below 1e-7 of the cross-entropy they multiply).

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, target: Tensor, alpha: Alpha, gamma: float, ignore_index: int | None
    ) -> Tensor:
        dtype = _compute(x)
        xf, y = x.to(dtype), binary_target(target, ignore_index, dtype)
        ctx.save_for_backward(x, target, alpha if isinstance(alpha, Tensor) else None)
        ctx.alpha, ctx.gamma, ctx.ignore_index = alpha, gamma, ignore_index
        if gamma == 0:
            # torch's own op: equal to binary_cross_entropy_with_logits to the last bit
            loss = F.binary_cross_entropy_with_logits(xf, y, reduction="none")
        else:
            loss = _bce_with_logits(xf, y)
            loss = loss.mul_(_one_minus_pt(torch.sigmoid(xf), y).pow_(gamma))
        if alpha is not None:
            loss = loss.mul_(_alpha_t(alpha, y))
        return loss

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, target, alpha_tensor = ctx.saved_tensors
        alpha = alpha_tensor if alpha_tensor is not None else ctx.alpha
        gamma = ctx.gamma
        dtype = _compute(x)
        xf, y = x.to(dtype), binary_target(target, ctx.ignore_index, dtype)
        p = torch.sigmoid(xf)
        # the target's gradient multiplies (1 - p_t)^gamma by x: there 1 - p must keep its
        # relative precision where p rounds to 1, so it is a second sigmoid
        precise = ctx.needs_input_grad[1]
        q = torch.sigmoid(-xf) if precise else 1 - p
        scale = grad if alpha is None else grad * _alpha_t(alpha, y)
        ce = m_safe = m = None
        if gamma != 0:
            # 1 - p_t, as a sum of products (no cancellation) when its precision matters
            m = torch.addcmul(q * y, p, 1 - y) if precise else _one_minus_pt(p, y)
            # m = 0 only where p q = 0 too, and m^gamma = 0 multiplies whatever the ratio is
            m_safe = m.clamp(min=torch.finfo(dtype).tiny)
            ce = _bce_with_logits(xf, y)
            scale = scale * m.pow(gamma)
        grad_x = grad_y = None
        if ctx.needs_input_grad[0]:
            # d/dx = a_t [gamma m^(gamma-1) dm/dx ce + m^gamma (p - y)], dm/dx = (1 - 2y) p q;
            # m^(gamma-1) p q is formed as m^gamma (p q / m), p q / m <= 1: finite for gamma < 1
            inner = p - y
            if gamma != 0:
                ratio = (p * q).div_(m_safe)
                ratio = torch.addcmul(ratio, ratio, y, value=-2.0)  # times (1 - 2y)
                inner = inner.addcmul_(ratio, ce, value=gamma)
            grad_x = (scale * inner).to(x.dtype)
        if ctx.needs_input_grad[1]:
            # d/dy = d(a_t)/dy m^gamma ce + a_t [gamma m^(gamma-1) (q - p) ce - m^gamma x];
            # ce / m is bounded where m -> 0 (ce ~ m there)
            inner = -xf
            if gamma != 0:
                inner = inner.addcmul_(ce / m_safe, q - p, value=gamma)
            g = scale * inner
            if alpha is not None:
                ce = _bce_with_logits(xf, y) if ce is None else ce
                mod = 1.0 if m is None else m.pow(gamma)
                g = g + grad * (2 * alpha - 1) * mod * ce
            grad_y = g.to(target.dtype)
        return grad_x, grad_y, None, None, None


def sigmoid_focal(
    x: Tensor, target: Tensor, *, alpha: Alpha, gamma: float, ignore_index: int | None
) -> Tensor:
    """Elementwise sigmoid focal loss keeping only ``x`` and ``target`` for backward.

    ``x`` in any floating dtype (half and bfloat16 are computed in float32, the result is float32);
    ``target`` float probabilities, bool, or 0/1 integers where ``ignore_index`` entries count as 0
    (mask them out of the reduction). ``alpha``: ``None``, a number or a tensor broadcastable to
    ``x`` (not differentiated).
    """
    if isinstance(alpha, Tensor):
        alpha = alpha.detach()
    return _SigmoidFocal.apply(x, target, alpha, gamma, ignore_index)


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
    # Forward: torch's log-softmax kernel (the values of the plain path, bit for bit), then the
    # maximum logit and log-sum of each position read off it, two (N, 1, *) statistics; the
    # (N, C, *) log-probabilities are dropped. Backward: the log-probabilities and the softmax
    # recomputed as (x - max) - log-sum, the order log_softmax uses, so that p_y near 1 keeps
    # its precision.

    @staticmethod
    def forward(
        ctx: Any, x: Tensor, target: Tensor, alpha: Alpha, gamma: float, ignore_index: int | None
    ) -> Tensor:
        dtype = _compute(x)
        log_probs = F.log_softmax(x, dim=1, dtype=dtype)
        x_max = x.amax(1, keepdim=True).to(dtype)
        log_sum = -log_probs.amax(1, keepdim=True)  # log p at the largest logit is -log-sum
        ctx.save_for_backward(
            x, target, x_max, log_sum, alpha if isinstance(alpha, Tensor) else None
        )
        ctx.alpha, ctx.gamma, ctx.ignore_index = alpha, gamma, ignore_index
        if target.is_floating_point():
            return _focal_value_sum(log_probs, target.to(dtype), alpha, gamma)
        index = _class_index(target, ignore_index)
        log_pt = log_probs.gather(1, index.unsqueeze(1)).squeeze(1)
        loss = _focal_value(log_pt, gamma)
        return loss if alpha is None else _class_alpha(alpha, index) * loss

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, target, x_max, log_sum, alpha_tensor = ctx.saved_tensors
        alpha = alpha_tensor if alpha_tensor is not None else ctx.alpha
        dtype = _compute(x)
        log_probs = torch.sub(x, x_max).sub_(log_sum)  # promotes half/bfloat16 to dtype
        grad_x = grad_y = None
        if not target.is_floating_point():
            index = _class_index(target, ctx.ignore_index)
            idx = index.unsqueeze(1)
            log_pt = log_probs.gather(1, idx)  # (N, 1, *)
            _, slope = _softmax_focal_grad_factor(log_pt, torch.exp(log_pt), ctx.gamma)
            coef = (grad * _class_alpha(alpha, index)).unsqueeze(1) * slope
            # d l / d x_c = coef (1[c = y] - softmax_c), in place on the log-probabilities
            grad_x = log_probs.exp_().mul_(-coef).scatter_add_(1, idx, coef)
            return grad_x.to(x.dtype), None, None, None, None
        y = target.to(dtype)
        softmax = torch.exp(log_probs)
        value, slope = _softmax_focal_grad_factor(log_probs, softmax, ctx.gamma)
        if isinstance(alpha, Tensor):
            a = _per_class(alpha, log_probs)
            value, slope = a * value, a * slope
        elif alpha is not None:
            value, slope = alpha * value, alpha * slope
        g = grad.unsqueeze(1)
        if ctx.needs_input_grad[0]:
            # l = sum_c y_c f(lp_c): d l / d x_k = w_k - softmax_k sum_c w_c, w_c = y_c f'(lp_c)
            w = g * y * slope
            grad_x = (w - softmax * w.sum(1, keepdim=True)).to(x.dtype)
        if ctx.needs_input_grad[1]:
            grad_y = (g * value).to(target.dtype)
        return grad_x, grad_y, None, None, None


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


def softmax_focal(
    x: Tensor, target: Tensor, *, alpha: Alpha, gamma: float, ignore_index: int | None
) -> Tensor:
    """Softmax focal loss per position ``(N, *)`` of logits ``(N, C, *)``, keeping only the inputs
    and two ``(N, *)`` statistics (maximum logit, log-sum) for backward.

    ``target``: ``(N, *)`` integer class ids (``ignore_index`` entries are computed as class 0: mask
    them out of the reduction) or ``(N, C, *)`` probabilities. ``alpha``: ``None``, a number or a
    ``(C,)`` tensor (not differentiated).
    """
    if isinstance(alpha, Tensor):
        alpha = alpha.detach()
    return _SoftmaxFocal.apply(x, target, alpha, gamma, ignore_index)
