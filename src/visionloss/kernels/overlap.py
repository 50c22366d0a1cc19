r"""Fused overlap statistics of the Dice / Jaccard / Tversky family.

Every overlap loss stands on four per-sample, per-class sums over the positions :math:`s`:

.. math::
    I_{nc} = \sum_s v_s\, p_{ncs}\, g_{ncs}, \quad
    P_{nc} = \sum_s v_s\, p_{ncs} \;(\text{or } p_{ncs}^2), \quad
    G_{nc} = \sum_s v_s\, g_{ncs}, \quad
    V_{nc} = \sum_s v_s

with :math:`p` the prediction after its activation, :math:`g` the target and :math:`v` the
validity mask (0 at ``ignore_index``). False positives and false negatives follow as
:math:`P - I` and :math:`G - I`.

Two implementations with the same values:

* :func:`overlap_statistics_reference`, plain PyTorch differentiated by autograd. It keeps the
  activated prediction (an ``(N, C, S)`` tensor) and a few same-sized intermediates for backward.
* :func:`overlap_statistics`, a ``torch.autograd.Function`` whose forward is the reference under
  no-grad and whose backward is analytic. It saves only the caller's ``input`` and ``target``
  (no copy, no one-hot, no activated prediction); the backward recomputes the softmax/sigmoid
  and the target decoding from them, so the bytes the autograd graph keeps for a Dice loss are
  the ``(N, C)`` statistics and nothing of the image's size.

Integer class targets are never expanded to a one-hot: the intersection gathers the
probability of the target class and adds it into ``(N, C)`` bins with ``scatter_add``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._core import compute_dtype, gather_classes

__all__ = ["ACTIVATIONS", "overlap_statistics", "overlap_statistics_reference"]

#: "softmax" over dim 1 (multiclass logits), "sigmoid" elementwise (binary/multilabel logits),
#: "identity" (probabilities), "exp" (log-probabilities, e.g. a ``log_softmax`` shared with CE).
ACTIVATIONS: tuple[str, ...] = ("softmax", "sigmoid", "identity", "exp")


def _activate(x: Tensor, activation: str) -> Tensor:
    if activation == "softmax":
        return torch.softmax(x, dim=1)
    if activation == "sigmoid":
        return torch.sigmoid(x)
    if activation == "exp":
        return torch.exp(x)
    return x


def _decode_index(target: Tensor, ignore_index: int | None) -> tuple[Tensor, Tensor | None]:
    """``(N, S)`` class ids -> (ids with ignored positions sent to class 0, validity or None)."""
    if ignore_index is None:
        return target.long(), None
    valid = target != ignore_index
    # class 0 is a safe placeholder for gather/scatter; `valid` removes it from every sum
    return torch.where(valid, target, 0).long(), valid


def _decode_dense(
    target: Tensor, ignore_index: int | None, dtype: torch.dtype
) -> tuple[Tensor, Tensor | None]:
    """``(N, C, S)`` target -> (float target, 0 at ignored positions; validity or None)."""
    if target.is_floating_point() or ignore_index is None or target.dtype == torch.bool:
        return target.to(dtype), None
    valid = target != ignore_index
    return torch.where(valid, target, 0).to(dtype), valid


def _sum_by_class(values: Tensor, index: Tensor, num_classes: int) -> Tensor:
    """``(N, S)`` values added into ``(N, C)`` bins by class id with ``scatter_add``.

    ``_core.sum_by_class`` for inputs that are already ``(N, S)``; that one reshapes with
    ``(N, -1)``, which torch refuses for an empty batch.
    """
    out = torch.zeros(values.shape[0], num_classes, dtype=values.dtype, device=values.device)
    return out.scatter_add_(1, index, values)


def _flat_index(index: Tensor, num_classes: int) -> Tensor:
    """The position of ``(n, index[n, s], s)`` in a contiguous ``(N, C, S)`` tensor, flattened.

    ``index_select``/``scatter_add_`` along this flat index move the same values as
    ``gather``/``scatter_add_`` along dim 1, several times faster on CPU (contiguous rows).
    """
    n, size = index.shape
    rows = torch.arange(n, device=index.device).unsqueeze(1) * (num_classes * size)
    # one (N, S) int64 buffer: the row/column offsets, then the class offset added in place
    return (rows + torch.arange(size, device=index.device)).add_(index, alpha=size).view(-1)


def _take_classes(values: Tensor, flat_index: Tensor) -> Tensor:
    """``gather_classes`` for a contiguous ``(N, C, S)`` tensor, through the flat index."""
    n, _, size = values.shape
    return values.view(-1).index_select(0, flat_index).view(n, size)


def _stats_dtype(input: Tensor, target: Tensor) -> torch.dtype:
    return compute_dtype(input, target if target.is_floating_point() else None)


def overlap_statistics_reference(
    input: Tensor,
    target: Tensor,
    *,
    activation: str,
    ignore_index: int | None,
    squared: bool,
    decoded: tuple[Tensor, Tensor | None] | None = None,
) -> Tensor:
    """The statistics ``(I, P, G, V)`` stacked into a ``(4, N, C)`` tensor, in plain PyTorch.

    Args:
        input: ``(N, C, S)`` logits, probabilities or log-probabilities (see :data:`ACTIVATIONS`),
            any floating dtype; half and bfloat16 are computed in float32.
        target: ``(N, S)`` integer class ids (softmax, identity and exp activations) or an
            ``(N, C, S)`` target of probabilities / 0-1 integers. It is a constant: no gradient
            flows to it.
        activation: one of :data:`ACTIVATIONS`.
        ignore_index: integer target value whose positions leave every sum (``None``: none).
        squared: :math:`P = \\sum p^2` instead of :math:`\\sum p`.
        decoded: optionally the target already decoded by the caller (e.g. by
            ``_core.prepare_dense_target``): ``(ids with ignored positions at 0, validity)`` or
            ``(float target with ignored positions at 0, validity)``, validity ``None`` when
            nothing is ignored. Saves decoding it again.
    """
    return _statistics(
        input, target.detach(), activation, ignore_index, squared, inplace=False, decoded=decoded
    )


def _statistics(
    input: Tensor,
    target: Tensor,
    activation: str,
    ignore_index: int | None,
    squared: bool,
    *,
    inplace: bool,
    decoded: tuple[Tensor, Tensor | None] | None = None,
) -> Tensor:
    # `inplace` (no autograd: the fused forward) reuses the activation's buffer for the masked
    # and squared prediction instead of allocating more (N, C, S) temporaries.
    dtype = _stats_dtype(input, target)
    n, c = input.shape[0], input.shape[1]
    x = input.to(dtype)
    if inplace and activation == "softmax" and target.dim() == 2:
        index, valid = decoded or _decode_index(target, ignore_index)
        return _fused_softmax_index_forward(x, index, valid, squared)
    p = _activate(x, activation)
    # never write into the caller's tensor (identity activation without a cast returns it)
    inplace = inplace and p is not input
    if target.dim() == 2:
        index, valid = decoded or _decode_index(target, ignore_index)
        if inplace:
            target_prob = _take_classes(p, _flat_index(index, c))
        else:
            target_prob = gather_classes(p, index)
        if valid is None:
            mask = torch.ones(index.shape, dtype=dtype, device=input.device)
        else:
            mask = valid.to(dtype)
            target_prob = target_prob * mask
            p = p.mul_(mask.unsqueeze(1)) if inplace else p * mask.unsqueeze(1)
        if squared:
            p = p.mul_(p) if inplace else p * p
        pred_sum = p.sum(-1)
        inter = _sum_by_class(target_prob, index, c)
        target_sum = _sum_by_class(mask, index, c)
        count = mask.sum(-1, keepdim=True).expand(n, c)
    else:
        g, valid = decoded or _decode_dense(target, ignore_index, dtype)
        g = g.to(dtype)
        inter = (p * g).sum(-1)  # g is 0 at ignored positions already
        if valid is None:
            count = torch.full((n, c), float(target.shape[-1]), dtype=dtype, device=input.device)
        else:
            mask = valid.to(dtype)
            p = p.mul_(mask) if inplace else p * mask
            count = mask.sum(-1)
        if squared:
            p = p.mul_(p) if inplace else p * p
        pred_sum = p.sum(-1)
        target_sum = g.sum(-1)
    return torch.stack((inter, pred_sum, target_sum, count))


def _softmax_parts(x: Tensor, valid: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
    """``softmax(x, 1) = e * r`` without the division: ``e = exp(x - max)`` ``(N, C, S)``,
    ``r = 1 / sum_c e`` ``(N, S)``, and ``w = r * valid`` (0 at ignored positions).

    Folding ``r`` and the mask into ``(N, S)`` factors saves the softmax's division pass and
    every masking pass over ``(N, C, S)``; ``e`` is in ``(0, 1]`` and ``sum_c e >= 1``, so
    nothing overflows (NaN/inf logits still propagate).
    """
    e = torch.sub(x, x.amax(1, keepdim=True)).exp_()  # one (N, C, S) buffer, not two
    r = e.sum(1).reciprocal_()
    return e, r, (r if valid is None else r * valid)


def _mat_vec(weights: Tensor, values: Tensor) -> Tensor:
    """``sum_s values[n, c, s] weights[n, s]`` as ``(N, C)``; the transposed batched product is the
    fast BLAS path (``bmm(values, weights[..., None])`` is ~10x slower on CPU)."""
    return torch.bmm(weights.unsqueeze(1), values.transpose(1, 2)).squeeze(1)


def _fused_softmax_index_forward(
    x: Tensor, index: Tensor, valid: Tensor | None, squared: bool
) -> Tensor:
    # the multiclass case with class ids, the common one: p = e * r, never normalised in place
    n, c = x.shape[0], x.shape[1]
    e, r, w = _softmax_parts(x, valid)
    target_prob = _take_classes(e, _flat_index(index, c)) * w  # p_t, 0 where ignored
    # sum_s v p (or v p^2 = v r^2 e^2)
    pred_sum = _mat_vec(w * r, e.square_()) if squared else _mat_vec(w, e)
    mask = torch.ones_like(r) if valid is None else valid.to(r.dtype)
    inter = _sum_by_class(target_prob, index, c)
    target_sum = _sum_by_class(mask, index, c)
    count = mask.sum(-1, keepdim=True).expand(n, c)
    return torch.stack((inter, pred_sum, target_sum, count))


def _fused_softmax_index_backward(
    x: Tensor, target: Tensor, grad_inter: Tensor, grad_pred: Tensor, ctx: Any
) -> Tensor:
    # dL/dp_cs = v_s (gP_c q'_cs + gI_c [c = t_s]), q' = 1 (2p if squared); through the softmax
    # dx_c = p_c (u_c - sum_k p_k u_k). With p = e r and w = v r, all the per-position factors
    # are (N, S) vectors and the (N, C, S) work is one addcmul and one multiply by e. The one-hot
    # part (c = t_s) is gathered as (N, S) and scattered back at the end.
    index, valid = _decode_index(target, ctx.ignore_index)
    e, r, w = _softmax_parts(x, valid)
    flat_index = _flat_index(index, x.shape[1])
    # v p_t gI_t: the target-class term, 0 where ignored
    on_target = _take_classes(e, flat_index) * w * grad_inter.gather(1, index)
    if ctx.squared:
        e2 = e * e
        # dot = sum_k p_k u_k / v = 2 r^2 (gP . e^2) + p_t gI_t
        dot = 2 * torch.bmm(grad_pred.unsqueeze(1), e2).squeeze(1) * (r * r) + on_target
        # dx = 2 gP_c e_c^2 r w - e w dot
        grad_input = e2.mul_((2 * grad_pred).unsqueeze(-1)).mul_((w * r).unsqueeze(1))
        grad_input.addcmul_(e, (w * dot).unsqueeze(1), value=-1)
    else:
        # dot = sum_k p_k u_k / v = r (gP . e) + p_t gI_t;  dx = e w (gP_c - dot)
        dot = torch.bmm(grad_pred.unsqueeze(1), e).squeeze(1) * r + on_target
        grad_input = torch.addcmul(
            (-(w * dot)).unsqueeze(1), grad_pred.unsqueeze(-1), w.unsqueeze(1)
        ).mul_(e)
    grad_input.view(-1).scatter_add_(0, flat_index, on_target.reshape(-1))
    return grad_input


class _OverlapStatistics(torch.autograd.Function):
    @staticmethod
    def forward(
        input: Tensor,
        target: Tensor,
        activation: str,
        ignore_index: int | None,
        squared: bool,
        decoded_target: Tensor | None,
        decoded_valid: Tensor | None,
    ) -> Tensor:
        decoded = None if decoded_target is None else (decoded_target, decoded_valid)
        return _statistics(
            input, target, activation, ignore_index, squared, inplace=True, decoded=decoded
        )

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        input, target, activation, ignore_index, squared = inputs[:5]
        # the caller's tensors only: the activation and the target decoding are recomputed
        ctx.save_for_backward(input, target)
        ctx.activation, ctx.ignore_index, ctx.squared = activation, ignore_index, squared

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        input, target = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return (None,) * 7
        dtype = _stats_dtype(input, target)
        grad = grad.to(dtype)
        # dL/dI and dL/dP; G and V do not depend on the input
        grad_inter, grad_pred = grad[0], grad[1]
        if ctx.activation == "softmax" and target.dim() == 2:
            grad_input = _fused_softmax_index_backward(
                input.to(dtype), target, grad_inter, grad_pred, ctx
            )
            return (grad_input.to(input.dtype),) + (None,) * 6
        p = _activate(input.to(dtype), ctx.activation)
        if target.dim() == 2:
            grad_input = _backward_index(p, target, grad_inter, grad_pred, ctx)
        else:
            grad_input = _backward_dense(p, target, grad_inter, grad_pred, ctx)
        return (grad_input.to(input.dtype),) + (None,) * 6


def _backward_index(
    p: Tensor, target: Tensor, grad_inter: Tensor, grad_pred: Tensor, ctx: Any
) -> Tensor:
    # probabilities ("identity") or log-probabilities ("exp") with class ids. dL/dp_cs = v_s
    # (gP_c q'_cs + gI_c [c = t_s]) with q' = 1 (or 2p if squared). The one-hot part lives on
    # the target class only: it is gathered as (N, S) and scattered back at the end, never
    # formed as (N, C, S). `p` is a fresh buffer for "exp": it is updated in place.
    activation, squared = ctx.activation, ctx.squared
    index, valid = _decode_index(target, ctx.ignore_index)
    mask = None if valid is None else valid.to(p.dtype)
    fresh = activation != "identity"
    if mask is not None:
        p = p.mul_(mask.unsqueeze(1)) if fresh else p * mask.unsqueeze(1)  # 0 where ignored
    grad_target_class = grad_inter.gather(1, index)  # gI of each position's class, (N, S)
    flat_index = _flat_index(index, p.shape[1])
    if activation == "identity":
        on_target = grad_target_class if mask is None else grad_target_class * mask
        scale = (2 * grad_pred).unsqueeze(-1) * p if squared else grad_pred.unsqueeze(-1)
        grad_input = scale * (torch.ones_like(p) if mask is None else mask.unsqueeze(1))
    else:
        # exp (log-probability input): d exp(x)/dx = p
        on_target = _take_classes(p, flat_index) * grad_target_class
        grad_input = (
            (2 * grad_pred).unsqueeze(-1) * p * p if squared else grad_pred.unsqueeze(-1) * p
        )
    # the one-hot term, added at each position's own class only
    grad_input = grad_input.contiguous()
    grad_input.view(-1).scatter_add_(0, flat_index, on_target.reshape(-1))
    return grad_input


def _backward_dense(
    p: Tensor, target: Tensor, grad_inter: Tensor, grad_pred: Tensor, ctx: Any
) -> Tensor:
    activation, squared = ctx.activation, ctx.squared
    g, valid = _decode_dense(target, ctx.ignore_index, p.dtype)
    scale = (2 * grad_pred).unsqueeze(-1) * p if squared else grad_pred.unsqueeze(-1)
    grad_p = torch.addcmul(scale, grad_inter.unsqueeze(-1), g)  # dL/dp
    if valid is not None:
        grad_p = grad_p.mul_(valid)
    if activation == "softmax":
        return grad_p.sub_((p * grad_p).sum(1, keepdim=True)).mul_(p)
    if activation == "sigmoid":
        return grad_p.mul_(p * (1 - p))
    if activation == "exp":
        return grad_p.mul_(p)
    return grad_p


def overlap_statistics(
    input: Tensor,
    target: Tensor,
    *,
    activation: str,
    ignore_index: int | None,
    squared: bool,
    decoded: tuple[Tensor, Tensor | None] | None = None,
) -> Tensor:
    """:func:`overlap_statistics_reference` with an analytic backward that saves only its inputs.

    Same arguments and values. Only ``input`` and ``target`` (the caller's tensors, not the
    ``decoded`` copies, which the forward uses and drops) are saved; the backward recomputes the
    activation (one softmax or sigmoid) and the target decoding from them and differentiates
    the four sums in closed form. The gradient is returned in ``input``'s dtype.
    """
    decoded_target, decoded_valid = decoded or (None, None)
    return _OverlapStatistics.apply(
        input, target, activation, ignore_index, squared, decoded_target, decoded_valid
    )
