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
from ._library import FusedOp

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
# It works axis by axis on the boxes' columns as they lie: ``unbind(-1)`` gives ``2D`` strided
# views of the caller's tensor (no copy), every per-axis quantity is a list of ``D`` tensors of
# the batch size, and the products over the axes (areas, and their derivatives, the products of
# the *other* axes) are plain multiplications of list entries. The gradient of the boxes is
# written column by column into one tensor of their shape and dtype.

Axes = list[Tensor]


def _axes_columns(boxes: Tensor, dtype: torch.dtype, box_format: str) -> tuple[Axes, Axes]:
    """The raw lower and upper corners of ``boxes`` (``(..., 2D)``), one flat column per axis."""
    n = boxes.shape[-1]
    cols = boxes.reshape(-1, n).unbind(-1)
    if boxes.dtype != dtype:
        cols = tuple(c.to(dtype) for c in cols)
    a, b = list(cols[: n // 2]), list(cols[n // 2 :])
    if box_format == "xyxy":
        return a, b
    if box_format == "xywh":
        return a, [ak + bk for ak, bk in zip(a, b, strict=True)]
    halves = [0.5 * bk for bk in b]
    return [ak - hk for ak, hk in zip(a, halves, strict=True)], [ak + hk for ak, hk in zip(a, halves, strict=True)]


def _axes_sides(lo: Axes, hi: Axes) -> tuple[Axes, Axes, Axes]:
    """:func:`_sides` per axis, and the midpoints (for the backward)."""
    mid = [0.5 * (lk + hk) for lk, hk in zip(lo, hi, strict=True)]
    return (
        [torch.minimum(lk, mk) for lk, mk in zip(lo, mid, strict=True)],
        [torch.maximum(hk, mk) for hk, mk in zip(hi, mid, strict=True)],
        mid,
    )


def _axes_prod(x: Axes) -> Tensor:
    out = x[0] * x[1]
    return out * x[2] if len(x) == 3 else out


def _axes_others(x: Axes) -> Axes:
    """Per axis k, the product of the other axes' entries (the derivative of :func:`_axes_prod`)."""
    if len(x) == 2:
        return [x[1], x[0]]
    return [x[1] * x[2], x[0] * x[2], x[0] * x[1]]


class _Geometry:
    """The per-pair geometry of the fused path, computed once per call (forward or backward)."""

    def __init__(self, pred: Tensor, target: Tensor, box_format: str, dtype: torch.dtype) -> None:
        self.p_raw = _axes_columns(pred, dtype, box_format)
        self.t_raw = _axes_columns(target, dtype, box_format)
        self.plo, self.phi, self.p_mid = _axes_sides(*self.p_raw)
        self.tlo, self.thi, self.t_mid = _axes_sides(*self.t_raw)
        self.size_p = [h - lo for lo, h in zip(self.plo, self.phi, strict=True)]
        self.size_t = [h - lo for lo, h in zip(self.tlo, self.thi, strict=True)]
        z = zip(self.plo, self.phi, self.tlo, self.thi, strict=True)
        self.span = [torch.minimum(ph, th) - torch.maximum(pl, tl) for pl, ph, tl, th in z]
        self.inter_sides = [s.clamp(min=0) for s in self.span]
        self.inter = _axes_prod(self.inter_sides)
        self.union = _axes_prod(self.size_p) + _axes_prod(self.size_t) - self.inter

    def enclose(self) -> Axes:
        z = zip(self.plo, self.phi, self.tlo, self.thi, strict=True)
        return [torch.maximum(ph, th) - torch.minimum(pl, tl) for pl, ph, tl, th in z]

    def center(self) -> Axes:
        z = zip(self.plo, self.phi, self.tlo, self.thi, strict=True)
        return [0.5 * ((pl + ph) - (tl + th)) for pl, ph, tl, th in z]


def _ciou_aspects(size_p: Axes, size_t: Axes, eps: float) -> tuple[Tensor, ...]:
    min_h = math.sqrt(eps)
    hp_c, ht_c = size_p[1].clamp(min=min_h), size_t[1].clamp(min=min_h)
    xp, xt = size_p[0] / hp_c, size_t[0] / ht_c
    return hp_c, ht_c, xp, xt, torch.atan(xt) - torch.atan(xp)


def _fused_forward(pred: Tensor, target: Tensor, kind: str, box_format: str, eps: float) -> Tensor:
    geo = _Geometry(pred, target, box_format, compute_dtype(pred, target))
    # the reference's formulas, op for op, on the per-axis columns
    iou = (geo.inter + eps) / (geo.union + eps)
    loss = 1 - iou
    if kind != "iou":
        enclose = geo.enclose()
        if kind == "giou":
            area_c = _axes_prod(enclose)
            loss = loss + (area_c - geo.union) / (area_c + eps)
        else:
            enclose2 = [e**2 for e in enclose]
            center2 = [c**2 for c in geo.center()]
            loss = loss + sum(center2[1:], center2[0]) / (sum(enclose2[1:], enclose2[0]) + eps)
            if kind == "eiou":
                terms = [(p - t) ** 2 / (e2 + eps) for p, t, e2 in zip(geo.size_p, geo.size_t, enclose2, strict=True)]
                loss = loss + sum(terms[1:], terms[0])
            elif kind == "ciou":
                delta = _ciou_aspects(geo.size_p, geo.size_t, eps)[-1]
                v = _CIOU_SCALE * delta**2
                loss = loss + v / (1 - iou + v + eps) * v
    return loss.reshape(pred.shape[:-1])


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
    geo = _Geometry(pred, target, box_format, dtype)
    d = len(geo.plo)
    g = grad.to(dtype).reshape(-1)
    union_eps = geo.union + eps
    iou = (geo.inter + eps) / union_eps
    # per pair: d loss / d I and d loss / d A (= d loss / d B), times the incoming gradient
    g_inter = -(1 + iou) / union_eps
    g_area = iou / union_eps
    ge: Axes | None = None  # per axis, g * d loss / d c_k (the enclosing box's sides)
    gc: Axes | None = None  # per axis, g/2 * d loss / d (centre difference)_k
    gs_extra_p: Axes | None = None  # extra per-axis terms of the sides (EIoU, CIoU), times g
    gs_extra_t: Axes | None = None
    if kind != "iou":
        enclose = geo.enclose()
        if kind == "giou":
            inv_c = 1 / (_axes_prod(enclose) + eps)
            g_inter = g_inter + inv_c
            g_area = g_area - inv_c
            coef = g * union_eps * inv_c * inv_c
            ge = [coef * o for o in _axes_others(enclose)]
        else:
            center = geo.center()
            enclose2 = [e**2 for e in enclose]
            diag_eps = sum(enclose2[1:], enclose2[0]) + eps
            rho2 = sum((c**2 for c in center[1:]), center[0] ** 2)
            gc_coef = g / diag_eps
            gc = [gc_coef * c for c in center]
            ge_coef = -2 * g * rho2 / diag_eps**2
            ge = [ge_coef * e for e in enclose]
            if kind == "eiou":
                gs_extra_p, gs_extra_t = [], []
                for k in range(d):
                    diff = geo.size_p[k] - geo.size_t[k]
                    inv_den = 1 / (enclose2[k] + eps)
                    term = 2 * g * diff * inv_den
                    gs_extra_p.append(term)
                    gs_extra_t.append(-term)
                    ge[k] = ge[k] - term * diff * inv_den * enclose[k]
            elif kind == "ciou":
                min_h = math.sqrt(eps)
                hp_c, ht_c, xp, xt, delta = _ciou_aspects(geo.size_p, geo.size_t, eps)
                v = _CIOU_SCALE * delta**2
                alpha = v / (1 - iou + v + eps)  # a constant of the gradient (detached)
                dv = g * alpha * (2 * _CIOU_SCALE) * delta  # d(alpha v)/d atan_t = -d/d atan_p
                tp = -dv / (hp_c * (1 + xp * xp))
                tt = dv / (ht_c * (1 + xt * xt))
                hp, ht = geo.size_p[1], geo.size_t[1]
                gs_extra_p = [tp, torch.where(hp >= min_h, -xp * tp, 0.0)]
                gs_extra_t = [tt, torch.where(ht >= min_h, -xt * tt, 0.0)]
    g_inter = g * g_inter
    g_area = g * g_area
    others_inter = _axes_others(geo.inter_sides)
    others_p, others_t = _axes_others(geo.size_p), _axes_others(geo.size_t)
    cols_p: list[Tensor] = []
    cols_t: list[Tensor] = []
    for k in range(d):
        pl, ph, tl, th = geo.plo[k], geo.phi[k], geo.tlo[k], geo.thi[k]
        # intersection side (the clamp passes the gradient at 0 and above)
        g_span = torch.where(geo.span[k] >= 0, g_inter * others_inter[k], 0.0)
        gs_p, gs_t = g_area * others_p[k], g_area * others_t[k]
        if gs_extra_p is not None and gs_extra_t is not None:
            gs_p, gs_t = gs_p + gs_extra_p[k], gs_t + gs_extra_t[k]
        # the intersection's lower side max(pl, tl) and the enclosure's min(pl, tl) share the
        # pair (pl, tl): with t = sign(pl - tl), torch's shares are (1 + t)/2 of max(pl, tl) to pl
        # and (1 - t)/2 of min(pl, tl) to pl (halves at a tie). So pl gets
        # -(g_span (1 + t) + ge (1 - t))/2 = -(half_sum + t half_diff), tl the same with -t;
        # the upper sides likewise with min(ph, th) (intersection) and max(ph, th) (enclosure).
        if ge is None:
            half_sum = half_diff = 0.5 * g_span
        else:
            half_sum, half_diff = 0.5 * (g_span + ge[k]), 0.5 * (g_span - ge[k])
        r_lo = torch.sign(pl - tl).mul_(half_diff)
        r_hi = torch.sign(ph - th).mul_(half_diff)
        base_p_lo, base_t_lo = -gs_p - half_sum, -gs_t - half_sum
        base_p_hi, base_t_hi = gs_p + half_sum, gs_t + half_sum
        if gc is not None:
            gck = gc[k]
            base_p_lo, base_p_hi = base_p_lo + gck, base_p_hi + gck
            base_t_lo, base_t_hi = base_t_lo - gck, base_t_hi - gck
        g_pl, g_tl = base_p_lo - r_lo, base_t_lo + r_lo
        g_ph, g_th = base_p_hi - r_hi, base_t_hi + r_hi
        if need_pred:
            cols_p.extend(_side_grads(geo.p_raw, geo.p_mid, k, g_pl, g_ph))
        if need_target:
            cols_t.extend(_side_grads(geo.t_raw, geo.t_mid, k, g_tl, g_th))
    grad_pred = _box_grad(cols_p, d, box_format, pred) if need_pred else None
    grad_target = _box_grad(cols_t, d, box_format, target) if need_target else None
    return grad_pred, grad_target


def _side_grads(
    raw: tuple[Axes, Axes], mid: Axes, k: int, g_lo: Tensor, g_hi: Tensor
) -> tuple[Tensor, Tensor]:
    """Gradients of axis ``k``'s raw corners from those of :func:`_sides`'s outputs
    ``minimum(lo, mid)`` and ``maximum(hi, mid)``, ``mid = (lo + hi)/2``: with ``a`` the share of
    the first going to ``lo`` and ``c`` that of the second going to ``hi`` (torch's rule),
    ``lo`` gets ``a g_lo + (1 - a) g_lo / 2 + (1 - c) g_hi / 2`` = ``u g_lo + (1 - w) g_hi`` with
    ``u = (1 + a)/2``, ``w = (1 + c)/2``, and ``hi`` symmetrically."""
    lo, hi, m = raw[0][k], raw[1][k], mid[k]
    u = torch.sign(m - lo).mul_(0.25).add_(0.75)
    w = torch.sign(hi - m).mul_(0.25).add_(0.75)
    return (
        torch.addcmul(g_lo * u, g_hi, 1 - w),
        torch.addcmul(g_hi * w, g_lo, 1 - u),
    )


def _box_grad(cols: list[Tensor], d: int, box_format: str, like: Tensor) -> Tensor:
    """The gradient of boxes ``like`` in ``box_format`` (its shape and dtype) from the corner
    gradients ``cols`` (``g_lo, g_hi`` for each axis in turn), written interleaved."""
    g_lo, g_hi = cols[0::2], cols[1::2]
    if box_format == "xywh":
        g_lo = [a + b for a, b in zip(g_lo, g_hi, strict=True)]
    elif box_format == "cxcywh":
        g_lo, g_hi = [a + b for a, b in zip(g_lo, g_hi, strict=True)], [0.5 * (b - a) for a, b in zip(g_lo, g_hi, strict=True)]
    # one strided copy per column into the interleaved result (half the time of a stack)
    out = torch.empty(like.shape, dtype=like.dtype, device=like.device)
    for col, g_col in zip(out.view(-1, 2 * d).unbind(-1), g_lo + g_hi, strict=True):
        col.copy_(g_col)
    return out


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


# --- the fused Function as custom ops, for torch.compile (kernels/_library.py) ------------------
# Traced through, the Function lets inductor's partitioner save a boxes-sized intermediate (1.6
# MB for 100000 float32 pairs) where the Function saves only the caller's boxes; the custom ops
# keep the Function's saved set. ``box_loss`` gradients in ``pred`` only (constant target, the
# usual case), ``box_loss_target`` in both.


def _box_fake(pred: Tensor, target: Tensor, kind: str, box_format: str, eps: float) -> Tensor:
    return pred.new_empty(pred.shape[:-1], dtype=compute_dtype(pred, target))


def _box_backward_pred(
    saved: tuple[Tensor, ...], grads: tuple[Tensor, ...], kind: str, box_format: str, eps: float
) -> tuple[Tensor]:
    pred, target = saved
    gp, _ = _fused_backward(pred, target, grads[0], kind, box_format, eps, True, False)
    return (_required(gp),)


def _box_backward_both(
    saved: tuple[Tensor, ...], grads: tuple[Tensor, ...], kind: str, box_format: str, eps: float
) -> tuple[Tensor, Tensor]:
    pred, target = saved
    gp, gt = _fused_backward(pred, target, grads[0], kind, box_format, eps, True, True)
    return _required(gp), _required(gt)


def _required(grad: Tensor | None) -> Tensor:
    if grad is None:  # pragma: no cover - _fused_backward returns what it was asked for
        raise RuntimeError("box_loss: a gradient was not computed")
    return grad


_BOX_COMMON: dict[str, Any] = dict(
    tensors="Tensor pred, Tensor target",
    options="str kind, str box_format, float eps",
    outputs=1,
    forward=_fused_forward,
    fake=_box_fake,
    save=lambda args, out: (args[0], args[1]),
)
#: ``visionloss::box_loss`` (constant target) and ``visionloss::box_loss_target``: save the
#: caller's two box tensors only
_BOX_OPS = (
    FusedOp("box_loss", backward=_box_backward_pred, **_BOX_COMMON),
    FusedOp("box_loss_target", backward=_box_backward_both, differentiable=(0, 1), **_BOX_COMMON),
)


# --- the dispatch -------------------------------------------------------------------------------


def box_loss(pred: Tensor, target: Tensor, *, kind: str, box_format: str, eps: float) -> Tensor:
    """The per-pair loss of boxes ``(..., 4)`` or ``(..., 6)`` (checked by the caller), of the
    batch shape, in the compute dtype: the op's one dispatch point.

    The fused path keeps only ``pred`` and ``target`` (the caller's tensors: nothing new) for
    backward; its second derivative is the reference's. ``"auto"`` takes it on CPU (measured
    faster than the reference there, and level with torchvision's formula). The reference
    (``VISIONLOSS_KERNELS=reference``, ``torch.func`` transforms) is
    :func:`box_loss_reference`. The Triton kernel takes the CUDA calls it covers under ``auto``.
    """
    backend = backend_for(
        "box_loss",
        pred,
        has_triton=has_triton(TRITON_MODULE),
        covered=triton_covers(TRITON_MODULE, pred, pred, target, kind),
        # measured on CPU (AMD EPYC, quiet, `visionloss bench --quick --paths --threads 1 2`,
        # 100000 boxes forward + backward, paired medians): the per-axis fused Function takes
        # 0.61x the reference's time for GIoU at 1 and 2 threads, 0.72x / 0.67x for CIoU, and
        # saves nothing; so "auto" takes it on CPU too
        fused_on_cpu=True,
    )
    if backend == "reference":
        return box_loss_reference(pred, target, kind, box_format, eps)
    if backend == "triton":
        triton_result: Tensor = importlib.import_module(TRITON_MODULE).box_loss_triton(
            pred, target, kind=kind, box_format=box_format, eps=eps
        )
        return triton_result
    # compiling: the custom op keeps the saved set lean (``box_loss_target`` also gradients
    # the target, where it requires grad)
    op = _BOX_OPS[1] if target.requires_grad else _BOX_OPS[0]
    if op.usable():
        compiled: Tensor = op(
            pred, target if target.requires_grad else target.detach(), kind, box_format, float(eps)
        )
        return compiled
    result: Tensor = _BoxLoss.apply(pred, target, kind, box_format, float(eps))
    return result
