"""Fused softmax cross-entropy with class ids: log-softmax forward, analytic backward.

``F.cross_entropy`` keeps the ``(N, C, *)`` log-softmax for backward and runs two backward
kernels (the scatter of ``nll_loss`` into a zero tensor of that size, then the log-softmax
backward, slow along a strided class dim). This Function keeps the logits (the caller's tensor),
the class ids and one log-sum-exp per position, and computes the gradient in one expression,

.. math::
    \\frac{\\partial \\ell}{\\partial x_k} = g \\left( Q\\, p_k - q_k \\right), \\qquad
    \\ell = -\\sum_c q_c \\log p_c, \\quad Q = \\sum_c q_c,

with :math:`q = (1 - s)\\,\\mathrm{onehot}(y) + \\tfrac{s}{C} w / \\tilde w_y` (torch's label
smoothing with class weights :math:`w`, per unit of the target's weight :math:`\\tilde w_y`, which
the reduction applies). Values are those of
:func:`visionloss.losses.classification._cross_entropy_terms`, the plain specification.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["cross_entropy_ids"]


def _unit_weight(class_weight: Tensor, index: Tensor) -> Tensor:
    """``class_weight[y]`` with zeros replaced by 1 (those positions have weight 0 anyway)."""
    w_y = class_weight[index]
    return torch.where(w_y > 0, w_y, torch.ones_like(w_y))


class _CrossEntropyIds(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        index: Tensor,
        class_weight: Tensor | None,
        label_smoothing: float,
        dtype: torch.dtype,
    ) -> Tensor:
        # torch's log-softmax kernel: (x - max) - log(sum exp(x - max)), upcast inside
        log_probs = F.log_softmax(x, dim=1, dtype=dtype)
        # the log-sum-exp, read off at the largest logit, where log p is close to 0 (precise)
        lse = x.amax(1, keepdim=True).to(dtype) - log_probs.amax(1, keepdim=True)
        ctx.save_for_backward(x, index, lse, class_weight)
        ctx.label_smoothing, ctx.dtype = label_smoothing, dtype
        nll = -log_probs.gather(1, index.unsqueeze(1)).squeeze(1)
        s = label_smoothing
        if s == 0:
            return nll
        num_classes = x.shape[1]
        if class_weight is None:
            smooth = -log_probs.sum(1)
        else:
            smooth = -torch.einsum("nc...,c->n...", log_probs, class_weight)
            smooth = smooth / _unit_weight(class_weight, index)
        return (1 - s) * nll + (s / num_classes) * smooth

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, index, lse, class_weight = ctx.saved_tensors
        s, num_classes = ctx.label_smoothing, x.shape[1]
        g = grad.unsqueeze(1)
        idx = index.unsqueeze(1)
        # softmax recomputed from the logits and the log-sum-exp, then scaled in place
        out = torch.sub(x, lse).exp_()  # half/bfloat16 x promotes to the float32 lse
        if s == 0:
            return out.mul_(g).scatter_add_(1, idx, -g).to(x.dtype), None, None, None, None
        if class_weight is None:
            # Q = 1; q = (1 - s) onehot + s / C
            out.mul_(g).sub_(g * (s / num_classes))
        else:
            per_unit = (s / num_classes) / _unit_weight(class_weight, index).unsqueeze(1)
            total = (1 - s) + per_unit * class_weight.sum()
            shape = (1, -1) + (1,) * (x.dim() - 2)
            out.mul_(g * total).sub_((g * per_unit) * class_weight.view(shape))
        out.scatter_add_(1, idx, -(1 - s) * g)
        return out.to(x.dtype), None, None, None, None


def cross_entropy_ids(
    x: Tensor,
    index: Tensor,
    *,
    class_weight: Tensor | None = None,
    label_smoothing: float = 0.0,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Per-position cross-entropy ``(N, *)`` of logits ``(N, C, *)`` and class ids ``(N, *)`` in
    ``[0, C)``, per unit of ``class_weight[y]`` (weigh it in the reduction), computed in ``dtype``
    (default: the logits' dtype). Keeps ``x``, ``index`` and one ``(N, *)`` log-sum-exp for backward;
    ``class_weight`` is not differentiated.
    """
    dtype = dtype or x.dtype
    if class_weight is not None:
        class_weight = class_weight.detach().to(dtype)
    return _CrossEntropyIds.apply(x, index, class_weight, float(label_smoothing), dtype)
