r"""Box-regression losses per pair (IoU, GIoU, DIoU, CIoU, EIoU), 2D ``(..., 4)`` and 3D ``(..., 6)``.

:func:`box_loss_reference` is the specification (plain torch, differentiated by autograd): it
keeps every intermediate of the geometry for backward (about 2.5 times the memory of
torchvision's formula). :class:`_BoxLoss` computes the same values and keeps only the two box
tensors as the caller passed them (their dtype, their format): its backward recomputes the
geometry and applies the analytic gradient below. :func:`box_loss` is the op's one dispatch
point (reference, fused Function, or the Triton kernel of :mod:`visionloss.kernels.triton.boxes`).

Boxes are handled as two ``(..., D)`` halves, lower and upper corners (``D = 2`` or ``3``), so
that one torch op serves every axis. With :math:`i_k` the sides of the intersection,
:math:`s^p_k, s^t_k` the sides of the boxes, :math:`c_k` those of the enclosing box,
:math:`I = \prod i_k`, :math:`A = \prod s^p_k`, :math:`B = \prod s^t_k`, :math:`U = A + B - I`,
:math:`C = \prod c_k`, :math:`\mathrm{IoU} = (I + \epsilon)/(U + \epsilon)`:

.. math::
    \frac{\partial \mathrm{IoU}}{\partial I} = \frac{1 + \mathrm{IoU}}{U + \epsilon}, \quad
    \frac{\partial \mathrm{IoU}}{\partial A} = -\frac{\mathrm{IoU}}{U + \epsilon}, \quad
    \frac{\partial}{\partial C}\frac{C - U}{C + \epsilon} = \frac{U + \epsilon}{(C + \epsilon)^2},
    \quad \frac{\partial}{\partial U}\frac{C - U}{C + \epsilon} = -\frac{1}{C + \epsilon}

then through the products to the sides, and from the sides to the corners with torch's own
conventions at ties: ``minimum``/``maximum`` of equal values send half the gradient to each,
``clamp(min=0)`` passes it at 0 (so the fused gradients equal autograd's of the reference
everywhere, degenerate and identical boxes included). CIoU's :math:`\alpha` is a constant of the
gradient (the reference detaches it), its :math:`v` is differentiated.
"""

from __future__ import annotations

import importlib
import math
from typing import Any

import torch
from torch import Tensor

from .._core import compute_dtype
from . import backend_for, has_triton, reference_backward, triton_covers

TRITON_MODULE = "visionloss.kernels.triton.boxes"

__all__ = ["BOX_LOSS_KINDS", "box_loss", "box_loss_reference", "pairwise_iou", "to_corners"]

BOX_LOSS_KINDS: tuple[str, ...] = ("iou", "giou", "diou", "ciou", "eiou")
_CIOU_SCALE = 4 / math.pi**2


# --- shared pieces ------------------------------------------------------------------------------


def to_corners(boxes: Tensor, box_format: str, axis: int = -1) -> tuple[Tensor, Tensor]:
    """Lower and upper corners (``D`` entries along ``axis``) of boxes with ``2D`` entries there,
    in ``box_format``: "xyxy" (corners), "xywh" (lower corner and sizes) or "cxcywh" (centre
    and sizes), in any dimension ``D``."""
    d = boxes.shape[axis] // 2
    a, b = boxes.narrow(axis, 0, d), boxes.narrow(axis, d, d)
    if box_format == "xyxy":
        return a, b
    if box_format == "xywh":
        return a, a + b
    half = 0.5 * b
    return a - half, a + half


def _sides(lo: Tensor, hi: Tensor) -> tuple[Tensor, Tensor]:
    # An inverted side (hi < lo) becomes the empty side at its centre. min/max against the centre
    # leave a regular side bit for bit unchanged (the rounded midpoint lies in [lo, hi]).
    mid = 0.5 * (lo + hi)
    return torch.minimum(lo, mid), torch.maximum(hi, mid)


def _prod(x: Tensor, axis: int) -> Tensor:
    """The product of the ``D`` (2 or 3) entries along ``axis`` (a box's area or volume)."""
    out = x.select(axis, 0) * x.select(axis, 1)
    return out * x.select(axis, 2) if x.shape[axis] == 3 else out


def _others(x: Tensor, axis: int) -> Tensor:
    """Per axis k, the product of the other axes' values (the derivative of :func:`_prod`)."""
    if x.shape[axis] == 2:
        return x.flip(axis)
    return x.roll(1, axis) * x.roll(2, axis)


def _loss(
    plo: Tensor, phi: Tensor, tlo: Tensor, thi: Tensor, kind: str, eps: float, axis: int
) -> Tensor:
    """The per-pair loss from the corners (``D`` entries along ``axis``), after :func:`_sides`."""
    size_p, size_t = phi - plo, thi - tlo  # >= 0 after _sides
    # overlap of the two spans, 0 for disjoint boxes (clamp: the gradient is 0 there, not NaN)
    inter = _prod((torch.minimum(phi, thi) - torch.maximum(plo, tlo)).clamp(min=0), axis)
    union = _prod(size_p, axis) + _prod(size_t, axis) - inter
    # eps in both terms: identical boxes (inter == union bit for bit) give exactly 1
    iou = (inter + eps) / (union + eps)
    if kind == "iou":
        return 1 - iou
    enclose = torch.maximum(phi, thi) - torch.minimum(plo, tlo)
    if kind == "giou":
        # |C \ (A u B)| / |C|, with C >= U so that the penalty lies in [0, 1)
        area_c = _prod(enclose, axis)
        return 1 - iou + (area_c - union) / (area_c + eps)
    # rho^2 / c^2: squared centre distance over the enclosing box's squared diagonal, <= 1; the
    # centre distance as a difference of corner sums (no rounding of the two centres separately)
    center = 0.5 * ((plo + phi) - (tlo + thi))
    enclose2 = enclose**2
    diou = 1 - iou + (center**2).sum(axis) / (enclose2.sum(axis) + eps)
    if kind == "diou":
        return diou
    if kind == "eiou":
        # size differences over the enclosing box's sides, each term <= 1
        return diou + ((size_p - size_t) ** 2 / (enclose2 + eps)).sum(axis)
    # ciou: v = 4/pi^2 (atan(w_t/h_t) - atan(w_p/h_p))^2 in [0, 1]. eps is added to areas, so
    # the length that matches it is sqrt(eps): heights are floored there, which bounds
    # d atan(w/h)/dw by 1/sqrt(eps) (about 3e3; a floor at eps would allow 1e7, inf once cast to
    # float16). A zero-height box gets atan(w/sqrt(eps)), near pi/2 for w > 0 and 0 for a point.
    min_h = math.sqrt(eps)
    aspect_p = torch.atan(size_p.select(axis, 0) / size_p.select(axis, 1).clamp(min=min_h))
    aspect_t = torch.atan(size_t.select(axis, 0) / size_t.select(axis, 1).clamp(min=min_h))
    v = _CIOU_SCALE * (aspect_t - aspect_p) ** 2
    # the trade-off factor is a weight, not a function to differentiate (torchvision, the
    # authors' code); no IoU > 0.5 gate
    v_const = v.detach()
    alpha = v_const / (1 - iou.detach() + v_const + eps)
    return diou + alpha * v


# --- the specification --------------------------------------------------------------------------


def box_loss_reference(
    pred: Tensor, target: Tensor, kind: str, box_format: str, eps: float
) -> Tensor:
    """The per-pair loss ``pred.shape[:-1]`` of boxes ``(..., 4)`` or ``(..., 6)``, in the compute
    dtype (float32 for half inputs), plain torch differentiated by autograd: the specification.
    ``kind="ciou"`` takes 2D boxes only."""
    dtype = compute_dtype(pred, target)
    # upcast before the format conversion and every area product (float16 areas overflow)
    plo, phi = _sides(*to_corners(pred.to(dtype), box_format))
    tlo, thi = _sides(*to_corners(target.to(dtype), box_format))
    return _loss(plo, phi, tlo, thi, kind, eps, -1)


def pairwise_iou(
    boxes1: Tensor, boxes2: Tensor, box_format: str, eps: float, generalized: bool
) -> Tensor:
    """The ``(N, M)`` IoU (or GIoU) of every box of ``boxes1`` ``(N, 2D)`` with every box of
    ``boxes2`` ``(M, 2D)``, in the compute dtype: the elementwise geometry above, broadcast,
    with torchvision's ``I / (U + eps)``."""
    dtype = compute_dtype(boxes1, boxes2)
    lo1, hi1 = _sides(*to_corners(boxes1.to(dtype), box_format))
    lo2, hi2 = _sides(*to_corners(boxes2.to(dtype), box_format))
    lo1, hi1 = lo1.unsqueeze(-2), hi1.unsqueeze(-2)  # (N, 1, D)
    lo2, hi2 = lo2.unsqueeze(-3), hi2.unsqueeze(-3)  # (1, M, D)
    inter = _prod((torch.minimum(hi1, hi2) - torch.maximum(lo1, lo2)).clamp(min=0), -1)
    # the areas once per box, broadcast in the sum (the same op order as the elementwise loss)
    union = _prod(hi1 - lo1, -1) + _prod(hi2 - lo2, -1) - inter
    # I / (U + eps), not the losses' (I + eps) / (U + eps): a disjoint pair is exactly 0 here
    iou = inter / (union + eps)
    if not generalized:
        return iou
    area_c = _prod(torch.maximum(hi1, hi2) - torch.minimum(lo1, lo2), -1)
    return iou - (area_c - union) / (area_c + eps)


# --- the fused Function -------------------------------------------------------------------------
# It works on columns: boxes (..., 2D) -> one contiguous (2D, M) copy in the compute dtype, so that
# every op below runs on contiguous rows (the (..., D) halves of the reference are strided views,
# several times slower per element on CPU), and per-pair values (M,) broadcast against (D, M).


def _columns(boxes: Tensor, dtype: torch.dtype) -> Tensor:
    # stack of the unbound columns: about 3x faster on CPU than a transposing copy
    return torch.stack(boxes.reshape(-1, boxes.shape[-1]).unbind(1)).to(dtype)


def _min_weights(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """The share of the gradient of ``minimum(a, b)`` going to ``a`` and to ``b``: torch's rule
    (half each at a tie, all to the smaller): ``(1 + sign(b - a)) / 2`` and the rest. (NaN gives
    NaN shares where torch gives 1: the gradient of such a pair is NaN either way.)"""
    wa = torch.sign(b - a).mul_(0.5).add_(0.5)
    return wa, 1 - wa


def _max_weights(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """As :func:`_min_weights` for ``maximum(a, b)`` (all to the larger)."""
    wa = torch.sign(a - b).mul_(0.5).add_(0.5)
    return wa, 1 - wa


def _sides_backward(lo: Tensor, hi: Tensor, g_lo: Tensor, g_hi: Tensor) -> tuple[Tensor, Tensor]:
    """Gradients of the raw corners from those of :func:`_sides`'s outputs."""
    mid = 0.5 * (lo + hi)
    w_lo, w_mid_lo = _min_weights(lo, mid)
    w_hi, w_mid_hi = _max_weights(hi, mid)
    g_mid = 0.5 * (g_lo * w_mid_lo + g_hi * w_mid_hi)
    return g_lo * w_lo + g_mid, g_hi * w_hi + g_mid


def _format_backward(g_lo: Tensor, g_hi: Tensor, box_format: str, like: Tensor) -> Tensor:
    """The gradient of boxes ``like`` (their shape and dtype) in ``box_format`` from those of
    their corners (columns ``(D, M)``)."""
    if box_format == "xywh":
        g_lo = g_lo + g_hi
    elif box_format == "cxcywh":
        g_lo, g_hi = g_lo + g_hi, 0.5 * (g_hi - g_lo)
    # one contiguous gradient of the boxes' shape (a strided view would be copied by the
    # gradient accumulation anyway)
    out = torch.empty(like.shape, dtype=like.dtype, device=like.device)
    n = like.shape[-1]
    flat = out.view(-1, n)
    flat[:, : n // 2].copy_(g_lo.t())
    flat[:, n // 2 :].copy_(g_hi.t())
    return out


def _fused_forward(pred: Tensor, target: Tensor, kind: str, box_format: str, eps: float) -> Tensor:
    dtype = compute_dtype(pred, target)
    plo, phi = _sides(*to_corners(_columns(pred, dtype), box_format, 0))
    tlo, thi = _sides(*to_corners(_columns(target, dtype), box_format, 0))
    return _loss(plo, phi, tlo, thi, kind, eps, 0).reshape(pred.shape[:-1])


def _fused_backward(
    pred: Tensor,
    target: Tensor,
    grad: Tensor,
    kind: str,
    box_format: str,
    eps: float,
    need_pred: bool,
    need_target: bool,
) -> tuple[Tensor | None, Tensor | None]:
    """The analytic gradient of :func:`box_loss_reference` (see the module docstring)."""
    dtype = compute_dtype(pred, target)
    plo_raw, phi_raw = to_corners(_columns(pred, dtype), box_format, 0)
    tlo_raw, thi_raw = to_corners(_columns(target, dtype), box_format, 0)
    plo, phi = _sides(plo_raw, phi_raw)
    tlo, thi = _sides(tlo_raw, thi_raw)
    g = grad.to(dtype).reshape(-1)
    size_p, size_t = phi - plo, thi - tlo
    w_hmin_p, w_hmin_t = _min_weights(phi, thi)
    w_lmax_p, w_lmax_t = _max_weights(plo, tlo)
    span = torch.minimum(phi, thi) - torch.maximum(plo, tlo)
    inter_sides = span.clamp(min=0)
    inter = _prod(inter_sides, 0)
    union = _prod(size_p, 0) + _prod(size_t, 0) - inter
    union_eps = union + eps
    iou = (inter + eps) / union_eps
    # per pair: d loss / d I and d loss / d A (= d loss / d B)
    g_inter = -(1 + iou) / union_eps
    g_area = iou / union_eps
    g_enclose: Tensor | None = None  # per axis, d loss / d c_k
    g_center: Tensor | None = None  # per axis, d loss / d (centre difference)_k
    g_size_p: Tensor | None = None  # extra per-axis terms of the sides (EIoU, CIoU)
    g_size_t: Tensor | None = None
    if kind != "iou":
        enclose = torch.maximum(phi, thi) - torch.minimum(plo, tlo)
        if kind == "giou":
            inv_c = 1 / (_prod(enclose, 0) + eps)
            g_inter = g_inter + inv_c
            g_area = g_area - inv_c
            g_enclose = (union_eps * inv_c * inv_c) * _others(enclose, 0)
        else:
            center = 0.5 * ((plo + phi) - (tlo + thi))
            enclose2 = enclose**2
            diag_eps = enclose2.sum(0) + eps
            rho2 = (center**2).sum(0)
            g_center = (2 / diag_eps) * center
            g_enclose = (-2 * rho2 / diag_eps**2) * enclose
            if kind == "eiou":
                diff = size_p - size_t
                den = enclose2 + eps
                g_size_p = 2 * diff / den
                g_size_t = -g_size_p
                g_enclose = g_enclose - 2 * enclose * diff**2 / den**2
            elif kind == "ciou":
                min_h = math.sqrt(eps)
                hp, ht = size_p[1], size_t[1]
                hp_c, ht_c = hp.clamp(min=min_h), ht.clamp(min=min_h)
                xp, xt = size_p[0] / hp_c, size_t[0] / ht_c
                delta = torch.atan(xt) - torch.atan(xp)
                v = _CIOU_SCALE * delta**2
                alpha = v / (1 - iou + v + eps)  # a constant of the gradient (detached)
                dv = alpha * (2 * _CIOU_SCALE) * delta  # d(alpha v)/d atan_t = -d/d atan_p
                # d atan(w / h)/dw = 1 / (h (1 + x^2)), d/dh = -x / (h (1 + x^2)); the clamp
                # passes the gradient where h >= sqrt(eps)
                tp = -dv / (hp_c * (1 + xp * xp))
                tt = dv / (ht_c * (1 + xt * xt))
                g_size_p = torch.stack((tp, torch.where(hp >= min_h, -xp * tp, 0.0)))
                g_size_t = torch.stack((tt, torch.where(ht >= min_h, -xt * tt, 0.0)))
    # per axis: intersection sides (clamp passes the gradient at 0 and above) and box sides
    g_span = torch.where(span >= 0, (g * g_inter) * _others(inter_sides, 0), 0.0)
    g_area_g = g * g_area
    gs_p = g_area_g * _others(size_p, 0)
    gs_t = g_area_g * _others(size_t, 0)
    if g_size_p is not None and g_size_t is not None:
        gs_p = gs_p + g * g_size_p
        gs_t = gs_t + g * g_size_t
    g_plo, g_phi = -gs_p - g_span * w_lmax_p, gs_p + g_span * w_hmin_p
    g_tlo, g_thi = -gs_t - g_span * w_lmax_t, gs_t + g_span * w_hmin_t
    if g_enclose is not None:
        ge = g * g_enclose
        w_cmax_p, w_cmax_t = _max_weights(phi, thi)
        w_cmin_p, w_cmin_t = _min_weights(plo, tlo)
        g_phi, g_thi = g_phi + ge * w_cmax_p, g_thi + ge * w_cmax_t
        g_plo, g_tlo = g_plo - ge * w_cmin_p, g_tlo - ge * w_cmin_t
    if g_center is not None:
        gc = 0.5 * g * g_center
        g_plo, g_phi = g_plo + gc, g_phi + gc
        g_tlo, g_thi = g_tlo - gc, g_thi - gc
    grad_pred = grad_target = None
    if need_pred:
        g_plo, g_phi = _sides_backward(plo_raw, phi_raw, g_plo, g_phi)
        grad_pred = _format_backward(g_plo, g_phi, box_format, pred)
    if need_target:
        g_tlo, g_thi = _sides_backward(tlo_raw, thi_raw, g_tlo, g_thi)
        grad_target = _format_backward(g_tlo, g_thi, box_format, target)
    return grad_pred, grad_target


class _BoxLoss(torch.autograd.Function):
    """Saves the caller's ``pred`` and ``target`` only; the backward recomputes the geometry."""

    @staticmethod
    def forward(pred: Tensor, target: Tensor, kind: str, box_format: str, eps: float) -> Tensor:
        return _fused_forward(pred, target, kind, box_format, eps)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        pred, target, kind, box_format, eps = inputs
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(pred, target)
        ctx.kind, ctx.box_format, ctx.eps = kind, box_format, eps

    @staticmethod
    def backward(ctx: Any, grad: Tensor | None) -> tuple[Tensor | None, ...]:
        pred, target = ctx.saved_tensors
        need_pred = bool(ctx.needs_input_grad[0])
        need_target = bool(ctx.needs_input_grad[1])
        if grad is None or not (need_pred or need_target):
            return None, None, None, None, None
        kind, box_format, eps = ctx.kind, ctx.box_format, ctx.eps
        if torch.is_grad_enabled():
            # the backward is being differentiated (create_graph=True): the reference's
            # gradient as a graph, so that second derivatives are exact
            def reference(p: Tensor, t: Tensor) -> Tensor:
                return box_loss_reference(p, t, kind, box_format, eps)

            grads = reference_backward(reference, (pred, target), (need_pred, need_target), grad)
            return grads[0], grads[1], None, None, None
        gp, gt = _fused_backward(pred, target, grad, kind, box_format, eps, need_pred, need_target)
        return gp, gt, None, None, None


# --- the dispatch -------------------------------------------------------------------------------


def box_loss(pred: Tensor, target: Tensor, *, kind: str, box_format: str, eps: float) -> Tensor:
    """The per-pair loss of boxes ``(..., 4)`` or ``(..., 6)`` (checked by the caller), of the
    batch shape, in the compute dtype: the op's one dispatch point.

    The fused path keeps only ``pred`` and ``target`` (the caller's tensors: nothing new) for
    backward; its second derivative is the reference's. On CPU, ``"auto"`` runs the reference
    (measured faster there); ``VISIONLOSS_KERNELS=fused`` forces the lean Function. The reference
    (``VISIONLOSS_KERNELS=reference``, ``torch.func`` transforms) is
    :func:`box_loss_reference`. The Triton kernel takes the CUDA calls it covers under ``auto``.
    """
    backend = backend_for(
        "box_loss",
        pred,
        has_triton=has_triton(TRITON_MODULE),
        covered=triton_covers(TRITON_MODULE, pred, pred, target, kind),
        # measured on CPU (bench --paths, 1 and 2 threads, a loaded machine): the fused
        # Function's recomputing backward is 1.2-1.6x the reference's time, so "auto" keeps the
        # reference there; VISIONLOSS_KERNELS=fused keeps its memory (nothing saved) available
        fused_on_cpu=False,
    )
    if backend == "reference":
        return box_loss_reference(pred, target, kind, box_format, eps)
    if backend == "triton":
        triton_result: Tensor = importlib.import_module(TRITON_MODULE).box_loss_triton(
            pred, target, kind=kind, box_format=box_format, eps=eps
        )
        return triton_result
    result: Tensor = _BoxLoss.apply(pred, target, kind, box_format, float(eps))
    return result
