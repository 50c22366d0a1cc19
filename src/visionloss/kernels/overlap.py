r"""Fused overlap statistics of the Dice / Jaccard / Tversky family.

Every overlap loss stands on four per-sample, per-class sums over the positions :math:`s`:

.. math::
    I_{nc} = \sum_s v_s\, p_{ncs}\, g_{ncs}, \quad
    P_{nc} = \sum_s v_s\, p_{ncs}, \quad
    G_{nc} = \sum_s v_s\, g_{ncs}, \quad
    V_{nc} = \sum_s v_s

(``squared=True``: :math:`P = \sum_s v_s p^2` and :math:`G = \sum_s v_s g^2`, V-Net's form; for
0/1 targets :math:`g^2 = g`)

with :math:`p` the prediction after its activation, :math:`g` the target and :math:`v` the
validity mask (0 at ``ignore_index``). False positives and false negatives follow as
:math:`P - I` and :math:`G - I`.

Implementations with the same values, chosen by :func:`overlap_statistics`, the op's one
dispatch point (:func:`visionloss.kernels.backend_for`, ``VISIONLOSS_KERNELS``):

* ``"reference"``: :func:`overlap_statistics_reference`, plain PyTorch differentiated by
  autograd. It keeps the activated prediction (an ``(N, C, S)`` tensor) and a few same-sized
  intermediates for backward.
* ``"triton"``: ``visionloss.kernels.triton.overlap.overlap_statistics_triton``, where that
  module exists (same arguments and values as the reference), imported when first chosen.
* ``"fused"`` (and ``"auto"`` without a Triton kernel): :func:`overlap_statistics_fused`,
  ``torch.autograd.Function``\ s with an analytic backward. They save
  the caller's ``input`` and ``target`` (no copy, no one-hot, no activated prediction) and,
  for the common softmax-with-class-ids case only, the per-position log-sum-exp ``(N, S)`` in
  the compute dtype (``1/C`` of the logits; ``+inf`` at ignored positions), from which the
  backward rebuilds the softmax with one subtraction and one exp instead of a full softmax.
  The other cases recompute the activation and the target decoding from the inputs.

Second derivatives: when the backward is itself differentiated (``create_graph=True``), the
fused and Triton backwards return the reference's gradient as a graph, recomputed from the
saved inputs (:func:`visionloss.kernels.reference_backward`), so they are exact.

Under ``torch.compile`` the same functions run as ``torch.library`` custom ops
(``visionloss::overlap_softmax_index``, ``visionloss::overlap_statistics``; on CUDA
``visionloss::overlap_triton``, which launches the Triton kernels; see
:mod:`visionloss.kernels._library`), so the compiled graph saves what the eager Function saves
(before: 6x more for multiclass Dice, the partitioner's choice). Eager calls keep the Functions.

Integer class targets are never expanded to a one-hot: the intersection gathers the
probability of the target class and adds it into ``(N, C)`` bins with ``scatter_add``.

Layout: the fused paths address ``(N, C, S)`` buffers through flat indices, so they compute in
the contiguous layout (:func:`_compute_layout`): an input of any strides (a channels_last image
reshaped to ``(N, C, S)``, a slice) is copied once into it, a contiguous one is used as is.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

import torch
from torch import Tensor

from .._core import compute_dtype, gather_classes, sum_by_class
from . import backend_for, get_kernels, has_triton, reference_backward, triton_covers
from ._library import FusedOp, triton_ready_while_tracing

__all__ = [
    "ACTIVATIONS",
    "overlap_statistics",
    "overlap_statistics_fused",
    "overlap_statistics_reference",
]

#: the module of the Triton implementation, where it exists
TRITON_MODULE = "visionloss.kernels.triton.overlap"

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


def _compute_layout(input: Tensor, dtype: torch.dtype) -> Tensor:
    """``input`` in the compute dtype and the contiguous ``(N, C, S)`` layout that the flat
    indices address: no copy when it is already so, one copy otherwise (channels_last images and
    volumes reshaped to ``(N, C, S)`` are not contiguous)."""
    # (not input.to(dtype, memory_format=...): for a 3-dim tensor of the same dtype, `to`
    # returns it unchanged whatever its strides)
    return input.contiguous().to(dtype)


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
    """``gather_classes`` for an ``(N, C, S)`` tensor, through the flat index (which addresses
    the contiguous layout: ``reshape`` copies a tensor of other strides into it)."""
    n, _, size = values.shape
    return values.reshape(-1).index_select(0, flat_index).view(n, size)


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
        squared: :math:`P = \\sum p^2` and :math:`G = \\sum g^2` instead of the plain sums
            (they differ for soft targets only).
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
    x = _compute_layout(input, dtype) if inplace else input.to(dtype)
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
        inter = sum_by_class(target_prob, index, c)
        target_sum = sum_by_class(mask, index, c)
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
        target_sum = (g * g).sum(-1) if squared else g.sum(-1)  # V-Net: G = sum g^2
    return torch.stack((inter, pred_sum, target_sum, count))


_LOG2E = 1.4426950408889634


def _exp_(values: Tensor) -> Tensor:
    """``exp`` in place. float32 goes through ``exp2(values * log2(e))``: on CPU torch's ``exp2``
    kernel is about twice as fast as its ``exp`` (the bulk of the fused path's time); the extra
    rounding of the product costs < 1e-6 relative for arguments down to -30. float64 (the
    reference tests) keeps ``exp``."""
    if values.dtype == torch.float32:
        return values.mul_(_LOG2E).exp2_()
    return values.exp_()


def _mat_vec(weights: Tensor, values: Tensor) -> Tensor:
    """``sum_s values[n, c, s] weights[n, s]`` as ``(N, C)``; the transposed batched product is the
    fast BLAS path (``bmm(values, weights[..., None])`` is ~10x slower on CPU)."""
    return torch.bmm(weights.unsqueeze(1), values.transpose(1, 2)).squeeze(1)


def _fused_softmax_index_forward(
    x: Tensor, index: Tensor, valid: Tensor | None, squared: bool
) -> tuple[Tensor, Tensor]:
    """The multiclass case with class ids, the common one: the statistics and the per-position
    log-sum-exp ``(N, S)`` that the backward rebuilds the softmax from (``+inf`` at ignored
    positions, so that the rebuilt probabilities are exactly 0 there).

    ``softmax(x, 1) = e * r`` with ``e = exp(x - max)`` ``(N, C, S)`` and ``r = 1 / sum_c e``
    ``(N, S)``: the division and every masking stay ``(N, S)`` factors ``w = r * valid``, so the
    ``(N, C, S)`` work is one max, one subtraction, one exp, one sum over classes and one
    matrix-vector product; ``e`` is in ``(0, 1]`` and ``sum_c e >= 1``, so nothing overflows
    (NaN/inf logits still propagate).
    """
    n, c = x.shape[0], x.shape[1]
    peak = x.amax(1, keepdim=True)
    e = _exp_(torch.sub(x, peak))  # one (N, C, S) buffer, updated in place
    r = e.sum(1).reciprocal_()
    # bool -> float through uint8: torch's direct bool conversion is ~5x slower on CPU
    mask = None if valid is None else valid.view(torch.uint8).to(r.dtype)
    w = r if mask is None else r * mask
    target_prob = _take_classes(e, _flat_index(index, c)).mul_(w)  # v p_t
    # sum_s v p (or v p^2 = v r^2 e^2)
    pred_sum = _mat_vec(w * r, e.square_()) if squared else _mat_vec(w, e)
    inter = sum_by_class(target_prob, index, c)
    if mask is None:
        target_sum = sum_by_class(torch.ones_like(r), index, c)
        count = torch.full((n, c), float(x.shape[-1]), dtype=x.dtype, device=x.device)
    else:
        target_sum = sum_by_class(mask, index, c)
        count = mask.sum(-1, keepdim=True).expand(n, c)
    # lse = max + log(sum e) = max - log(r); -log(w) is +inf where w = 0 (ignored positions)
    lse = torch.log(w).neg_().add_(peak.squeeze(1))
    return torch.stack((inter, pred_sum, target_sum, count)), lse


def _fused_softmax_index_backward(
    x: Tensor, lse: Tensor, index: Tensor, grad_inter: Tensor, grad_pred: Tensor, squared: bool
) -> Tensor:
    # dL/dp_cs = v_s (gP_c q'_cs + gI_c [c = t_s]), q' = 1 (2p if squared); through the softmax
    # dx_c = p_c (u_c - sum_k p_k u_k). p = exp(x - lse) is 0 at ignored positions (lse = +inf),
    # which removes them from every term, v included. The one-hot part (c = t_s) is gathered as
    # (N, S) and scattered back at the end, never formed as (N, C, S).
    p = _exp_(torch.sub(x, lse.unsqueeze(1)))
    flat_index = _flat_index(index, x.shape[1])
    # p_t gI_t: the target-class term, 0 where ignored
    on_target = _take_classes(p, flat_index).mul_(grad_inter.gather(1, index))
    if squared:
        p2 = p * p
        # dot = sum_k p_k u_k = 2 (gP . p^2) + p_t gI_t;  dx = 2 gP_c p_c^2 - p_c dot
        dot = torch.baddbmm(on_target.unsqueeze(1), grad_pred.unsqueeze(1), p2, alpha=2)
        grad_input = p2.mul_((2 * grad_pred).unsqueeze(-1)).addcmul_(p, dot, value=-1)
    else:
        # dot = sum_k p_k u_k = gP . p + p_t gI_t;  dx = p_c (gP_c - dot)
        dot = torch.baddbmm(on_target.unsqueeze(1), grad_pred.unsqueeze(1), p).squeeze(1)
        # in p's buffer, one class at a time: no second (N, C, S) allocation (on CPU, the page
        # faults of a fresh buffer cost about as much as the arithmetic)
        for k in range(p.shape[1]):
            p[:, k].mul_(torch.sub(grad_pred[:, k : k + 1], dot))
        grad_input = p
    grad_input.view(-1).scatter_add_(0, flat_index, on_target.reshape(-1))
    return grad_input


def _reference_grad(ctx: Any, input: Tensor, target: Tensor, activation: str, grad: Tensor) -> Tensor:
    """The input's gradient of :func:`overlap_statistics_reference` as a differentiable graph:
    the backward of the fused and Triton Functions when it is itself differentiated
    (``create_graph=True``), so that second derivatives are exact."""

    def reference(input: Tensor) -> Tensor:
        return overlap_statistics_reference(
            input, target, activation=activation, ignore_index=ctx.ignore_index,
            squared=ctx.squared,
        )

    (grad_input,) = reference_backward(reference, (input,), (True,), grad)
    assert grad_input is not None
    return grad_input


class _SoftmaxIndexStatistics(torch.autograd.Function):
    """Softmax over class logits with integer class ids. Saves the caller's ``input`` and
    ``target`` and the ``(N, S)`` log-sum-exp (``1/C`` of the logits' size, in the compute
    dtype); the backward rebuilds the softmax with one subtraction and one exp."""

    @staticmethod
    def forward(
        input: Tensor,
        target: Tensor,
        ignore_index: int | None,
        squared: bool,
        index: Tensor,
        valid: Tensor | None,
    ) -> tuple[Tensor, Tensor]:
        return _fused_softmax_index_forward(
            _compute_layout(input, _stats_dtype(input, target)), index, valid, squared
        )

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: tuple[Tensor, Tensor]) -> None:
        input, target, ignore_index, squared = inputs[:4]
        lse = output[1]
        ctx.mark_non_differentiable(lse)
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(input, target, lse)
        ctx.ignore_index, ctx.squared = ignore_index, squared

    @staticmethod
    def backward(ctx: Any, grad: Tensor | None, _: Tensor | None) -> tuple[Tensor | None, ...]:
        input, target, lse = ctx.saved_tensors
        if grad is None or not ctx.needs_input_grad[0]:
            return (None,) * 6
        if torch.is_grad_enabled():
            # differentiated backward (create_graph=True): the reference's gradient as a graph
            return (_reference_grad(ctx, input, target, "softmax", grad),) + (None,) * 5
        (grad_input,) = _softmax_index_backward(
            (input, target, lse), (grad,), ctx.ignore_index, ctx.squared
        )
        return (grad_input,) + (None,) * 5


def _softmax_index_backward(
    saved: tuple[Tensor, ...], grads: tuple[Tensor, ...], ignore_index: int | None, squared: bool
) -> tuple[Tensor]:
    """The analytic backward of :class:`_SoftmaxIndexStatistics` (eager Function and custom op)."""
    input, target, lse = saved
    grad = grads[0].to(lse.dtype)
    num_classes = input.shape[1]
    # any in-range class id will do at an ignored position: p is 0 there, so is its term
    index = target if ignore_index is None else target.clamp(0, num_classes - 1)
    grad_input = _fused_softmax_index_backward(
        _compute_layout(input, lse.dtype), lse, index.long(), grad[0], grad[1], squared
    )
    return (grad_input.to(input.dtype),)


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
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        input, target, activation, ignore_index, squared = inputs[:5]
        # the caller's tensors only: the activation and the target decoding are recomputed
        ctx.save_for_backward(input, target)
        ctx.activation, ctx.ignore_index, ctx.squared = activation, ignore_index, squared

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        input, target = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return (None,) * 7
        if torch.is_grad_enabled():
            # differentiated backward (create_graph=True): the reference's gradient as a graph
            return (_reference_grad(ctx, input, target, ctx.activation, grad),) + (None,) * 6
        (grad_input,) = _overlap_backward(
            (input, target), (grad,), ctx.activation, ctx.ignore_index, ctx.squared
        )
        return (grad_input,) + (None,) * 6


def _overlap_backward(
    saved: tuple[Tensor, ...],
    grads: tuple[Tensor, ...],
    activation: str,
    ignore_index: int | None,
    squared: bool,
) -> tuple[Tensor]:
    """The analytic backward of :class:`_OverlapStatistics` (eager Function and custom op)."""
    input, target = saved
    dtype = _stats_dtype(input, target)
    grad = grads[0].to(dtype)
    # dL/dI and dL/dP; G and V do not depend on the input
    grad_inter, grad_pred = grad[0], grad[1]
    if activation == "softmax" and target.dim() == 2:
        # (the Triton op's fallback, which saves no log-sum-exp): rebuild it, +inf where ignored
        x = _compute_layout(input, dtype)
        lse = torch.logsumexp(x, 1)
        if ignore_index is not None:
            lse = lse.masked_fill(target == ignore_index, float("inf"))
        return _softmax_index_backward((input, target, lse), grads, ignore_index, squared)
    p = _activate(_compute_layout(input, dtype), activation)
    if target.dim() == 2:
        grad_input = _backward_index(
            p, target, grad_inter, grad_pred, activation, ignore_index, squared
        )
    else:
        grad_input = _backward_dense(
            p, target, grad_inter, grad_pred, activation, ignore_index, squared
        )
    return (grad_input.to(input.dtype),)


def _backward_index(
    p: Tensor,
    target: Tensor,
    grad_inter: Tensor,
    grad_pred: Tensor,
    activation: str,
    ignore_index: int | None,
    squared: bool,
) -> Tensor:
    # probabilities ("identity") or log-probabilities ("exp") with class ids. dL/dp_cs = v_s
    # (gP_c q'_cs + gI_c [c = t_s]) with q' = 1 (or 2p if squared). The one-hot part lives on
    # the target class only: it is gathered as (N, S) and scattered back at the end, never
    # formed as (N, C, S). `p` is a fresh buffer for "exp": it is updated in place.
    index, valid = _decode_index(target, ignore_index)
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
    p: Tensor,
    target: Tensor,
    grad_inter: Tensor,
    grad_pred: Tensor,
    activation: str,
    ignore_index: int | None,
    squared: bool,
) -> Tensor:
    g, valid = _decode_dense(target, ignore_index, p.dtype)
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


# --- the same two Functions as custom ops, for torch.compile (kernels/_library.py) ------------


def _softmax_index_forward(
    input: Tensor,
    target: Tensor,
    index: Tensor,
    valid: Tensor | None,
    ignore_index: int | None,
    squared: bool,
) -> tuple[Tensor, Tensor]:
    return _SoftmaxIndexStatistics.forward(input, target, ignore_index, squared, index, valid)


def _softmax_index_fake(
    input: Tensor,
    target: Tensor,
    index: Tensor,
    valid: Tensor | None,
    ignore_index: int | None,
    squared: bool,
) -> tuple[Tensor, Tensor]:
    dtype = _stats_dtype(input, target)
    n, c, size = input.shape
    return input.new_empty((4, n, c), dtype=dtype), input.new_empty((n, size), dtype=dtype)


def _overlap_forward(
    input: Tensor,
    target: Tensor,
    decoded_target: Tensor | None,
    decoded_valid: Tensor | None,
    activation: str,
    ignore_index: int | None,
    squared: bool,
) -> Tensor:
    return _OverlapStatistics.forward(
        input, target, activation, ignore_index, squared, decoded_target, decoded_valid
    )


def _overlap_fake(
    input: Tensor,
    target: Tensor,
    decoded_target: Tensor | None,
    decoded_valid: Tensor | None,
    activation: str,
    ignore_index: int | None,
    squared: bool,
) -> Tensor:
    n, c = input.shape[0], input.shape[1]
    return input.new_empty((4, n, c), dtype=_stats_dtype(input, target))


#: ``visionloss::overlap_softmax_index``: saves input, target and the (N, S) log-sum-exp
_SOFTMAX_INDEX_OP = FusedOp(
    "overlap_softmax_index",
    tensors="Tensor input, Tensor target, Tensor index, Tensor? valid",
    options="int? ignore_index, bool squared",
    outputs=2,
    forward=_softmax_index_forward,
    fake=_softmax_index_fake,
    save=lambda args, out: (args[0], args[1], out[1]),
    backward=_softmax_index_backward,
)

#: ``visionloss::overlap_statistics``: saves input and target only
_OVERLAP_OP = FusedOp(
    "overlap_statistics",
    tensors="Tensor input, Tensor target, Tensor? decoded_target, Tensor? decoded_valid",
    options="str activation, int? ignore_index, bool squared",
    outputs=1,
    forward=_overlap_forward,
    fake=_overlap_fake,
    save=lambda args, out: (args[0], args[1]),
    backward=_overlap_backward,
)


def _triton_op_forward(
    input: Tensor,
    target: Tensor,
    activation: str,
    ignore_index: int | None,
    squared: bool,
    strict: bool,
) -> Tensor:
    # at run time (real tensors): the kernels where they cover the call; else the fused
    # forward with the same saved set (input, target), or, with "triton" forced, the error
    triton_module = importlib.import_module(TRITON_MODULE)
    if triton_module.covers(input, target, activation):
        result: Tensor = triton_module._forward(input, target, activation, ignore_index, squared)
        return result
    if strict:
        return triton_module.overlap_statistics_triton(  # type: ignore[no-any-return]
            input, target, activation=activation, ignore_index=ignore_index, squared=squared
        )  # raises NotImplementedError naming what is not covered
    return _statistics(input, target, activation, ignore_index, squared, inplace=True)


def _triton_op_backward(
    saved: tuple[Tensor, ...],
    grads: tuple[Tensor, ...],
    activation: str,
    ignore_index: int | None,
    squared: bool,
    strict: bool,
) -> tuple[Tensor]:
    input, target = saved
    triton_module = importlib.import_module(TRITON_MODULE)
    if triton_module.covers(input, target, activation):
        grad = triton_module._backward(input, target, grads[0], activation, ignore_index, squared)
        return (grad,)
    return _overlap_backward(saved, grads, activation, ignore_index, squared)


def _triton_op_fake(
    input: Tensor,
    target: Tensor,
    activation: str,
    ignore_index: int | None,
    squared: bool,
    strict: bool,
) -> Tensor:
    n, c = input.shape[0], input.shape[1]
    return input.new_empty((4, n, c), dtype=_stats_dtype(input, target))


#: ``visionloss::overlap_triton``: the Triton kernels for compiled callers; saves input, target
_TRITON_OP = FusedOp(
    "overlap_triton",
    tensors="Tensor input, Tensor target",
    options="str activation, int? ignore_index, bool squared, bool strict",
    outputs=1,
    forward=_triton_op_forward,
    fake=_triton_op_fake,
    save=lambda args, out: (args[0], args[1]),
    backward=_triton_op_backward,
)


def overlap_statistics_fused(
    input: Tensor,
    target: Tensor,
    *,
    activation: str,
    ignore_index: int | None,
    squared: bool,
    decoded: tuple[Tensor, Tensor | None] | None = None,
) -> Tensor:
    """:func:`overlap_statistics_reference` with an analytic backward that saves only its inputs.

    Same arguments and values. Saved for backward: ``input`` and ``target`` (the caller's
    tensors, not the ``decoded`` copies, which the forward uses and drops) and, for
    ``activation="softmax"`` with ``(N, S)`` class ids, the ``(N, S)`` log-sum-exp of the logits
    in the compute dtype (float32 for half inputs): 4 bytes per position for float32, e.g.
    0.5 MiB for an 8x6x128x128 batch. The backward rebuilds the softmax from it (or recomputes
    the sigmoid/identity/exp and the target decoding) and differentiates the four sums in
    closed form. The gradient is returned in ``input``'s dtype.
    """
    if activation == "softmax" and target.dim() == 2:
        index, valid = decoded or _decode_index(target, ignore_index)
        stats: Tensor
        if _SOFTMAX_INDEX_OP.usable():  # compiling: the custom op keeps the saved set lean
            stats, _ = _SOFTMAX_INDEX_OP(
                input, target.detach(), index.long(), valid, ignore_index, squared
            )
            return stats
        stats, _ = _SoftmaxIndexStatistics.apply(
            input, target, ignore_index, squared, index.long(), valid
        )
        return stats
    decoded_target, decoded_valid = decoded or (None, None)
    if _OVERLAP_OP.usable():  # compiling: the custom op keeps the saved set lean
        result: Tensor = _OVERLAP_OP(
            input, target.detach(), decoded_target, decoded_valid, activation, ignore_index,
            squared,
        )
        return result
    stats = _OverlapStatistics.apply(
        input, target, activation, ignore_index, squared, decoded_target, decoded_valid
    )
    return stats


def overlap_statistics(
    input: Tensor,
    target: Tensor,
    *,
    activation: str,
    ignore_index: int | None,
    squared: bool,
    decoded: tuple[Tensor, Tensor | None] | None = None,
) -> Tensor:
    """The statistics ``(I, P, G, V)`` as ``(4, N, C)``: the op's one dispatch point.

    Same arguments and values as :func:`overlap_statistics_reference`; the implementation is
    chosen by :func:`visionloss.kernels.backend_for` (``VISIONLOSS_KERNELS``): ``"reference"``,
    ``"fused"`` (:func:`overlap_statistics_fused`) or ``"triton"`` (the Triton kernel, where it
    exists; ``"auto"`` takes it on CUDA tensors, else the fused path). The loss families call
    this function and never branch on the backend.
    """
    kwargs: dict[str, Any] = dict(
        activation=activation, ignore_index=ignore_index, squared=squared, decoded=decoded
    )
    # while compiling, the kernels' coverage is checked at run time inside the custom op
    compiled_triton = (
        _TRITON_OP.usable()
        and triton_ready_while_tracing(TRITON_MODULE, input.device.type)
    )
    backend = backend_for(
        "overlap",
        input,
        has_triton=has_triton(TRITON_MODULE) or compiled_triton,
        covered=compiled_triton or triton_covers(TRITON_MODULE, input, input, target, activation),
        # measured on an H200 (docs/BENCHMARKS.md): the fused eager path is slower than the
        # plain composition on CUDA, so a call the kernel does not cover takes the reference
        fused_on_cuda=False,
    )
    if backend == "reference":
        return overlap_statistics_reference(input, target, **kwargs)
    if backend == "triton" and compiled_triton:
        compiled: Tensor = _TRITON_OP(
            input, target.detach(), activation, ignore_index, squared, get_kernels() == "triton"
        )
        return compiled
    if backend == "triton":
        triton_module = importlib.import_module(TRITON_MODULE)
        result: Tensor = triton_module.overlap_statistics_triton(input, target, **kwargs)
        return result
    return overlap_statistics_fused(input, target, **kwargs)
