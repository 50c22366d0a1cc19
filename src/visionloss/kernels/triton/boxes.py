r"""Triton kernels of the 2D box-regression losses (IoU, GIoU, DIoU, CIoU, EIoU): one kernel
forward, one backward, saving only the two box tensors.

Each program takes ``BLOCK`` pairs; every coordinate is read in place with the boxes' row and
column strides, converted from the box format, and the geometry of
:func:`visionloss.kernels.boxes.box_loss_reference` is evaluated in registers (float32 math,
float64 for float64 boxes). The backward recomputes it and writes the analytic gradient of
:mod:`visionloss.kernels.boxes` (torch's tie rules for min/max, CIoU's alpha a constant) for
``pred`` and, when asked, ``target``, in their dtypes. No reduction, no atomics: deterministic.

Coverage (:func:`covers`): CUDA tensors (or CPU under ``TRITON_INTERPRET=1``), boxes
``(..., 4)`` float16/bfloat16/float32/float64 of one shape (target floating too). 3D boxes take
the fused Function. A differentiated backward (``create_graph=True``) is the reference's.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import triton
import triton.language as tl
from torch import Tensor

from ..._core import compute_dtype
from .. import reference_backward
from ..boxes import box_loss_reference
from ._common import FLOAT_DTYPES, device_reason, split_float, triton_dtype

__all__ = ["KINDS", "box_loss_triton", "covers"]

KINDS = {"iou": 0, "giou": 1, "diou": 2, "ciou": 3, "eiou": 4}
FORMATS = {"xyxy": 0, "xywh": 1, "cxcywh": 2}
BLOCK = 512
NUM_WARPS = 4
_CIOU_SCALE = 4 / math.pi**2


@triton.jit  # type: ignore[untyped-decorator]
def _corners(a, b, FMT: tl.constexpr):  # type: ignore[no-untyped-def]
    """One axis of a box in the format -> its (lo, hi), then the inverted-side rule."""
    if FMT == 0:
        lo = a
        hi = b
    elif FMT == 1:
        lo = a
        hi = a + b
    else:
        lo = a - 0.5 * b
        hi = a + 0.5 * b
    mid = 0.5 * (lo + hi)
    return lo, hi, tl.minimum(lo, mid), tl.maximum(hi, mid)


@triton.jit
def _wmin(a, b):  # type: ignore[no-untyped-def]
    # share of d minimum(a, b) going to a: 1 if a < b, 1/2 at a tie, else 0 (torch's rule)
    return tl.where(a < b, 1.0, tl.where(a == b, 0.5, 0.0))


@triton.jit
def _atan(x):  # type: ignore[no-untyped-def]
    # arctan without libdevice: reduce to |x| <= 1 (atan x = pi/2 - atan(1/x)), then to
    # |t| <= tan(pi/12) with atan t = pi/6 + atan((t sqrt3 - 1)/(t + sqrt3)), and a series
    # accurate to ~1e-16 there (t^2 < 0.072)
    ax = tl.abs(x)
    big = ax > 1.0
    t = tl.where(big, 1.0 / tl.where(big, ax, 1.0), ax)
    red = t > 0.2679491924311227
    t2 = tl.where(red, (t * 1.7320508075688772 - 1.0) / (t + 1.7320508075688772), t)
    z = t2 * t2
    p = 1.0 / 17.0
    p = 1.0 / 15.0 - z * p
    p = 1.0 / 13.0 - z * p
    p = 1.0 / 11.0 - z * p
    p = 1.0 / 9.0 - z * p
    p = 1.0 / 7.0 - z * p
    p = 1.0 / 5.0 - z * p
    p = 1.0 / 3.0 - z * p
    r = t2 - t2 * z * p
    r = tl.where(red, r + 0.5235987755982988, r)
    r = tl.where(big, 1.5707963267948966 - r, r)
    r = tl.where(x < 0.0, -r, r)
    return tl.where(x == x, r, x)


@triton.jit  # type: ignore[untyped-decorator]
def _box_kernel(  # type: ignore[no-untyped-def]
    p_ptr,
    t_ptr,
    g_ptr,
    out_ptr,
    gp_ptr,
    gt_ptr,
    M,
    sp_r,
    sp_c,
    st_r,
    st_c,
    eps_hi,
    eps_lo,
    KIND: tl.constexpr,
    FMT: tl.constexpr,
    BACKWARD: tl.constexpr,
    NEED_T: tl.constexpr,
    DTYPE: tl.constexpr,
    BLOCK: tl.constexpr,
):
    pid = tl.program_id(0)
    row = pid.to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = row < M
    eps = tl.cast(eps_hi, DTYPE) + tl.cast(eps_lo, DTYPE)
    pa = p_ptr + row * sp_r
    ta = t_ptr + row * st_r
    p0 = tl.load(pa, mask=mask, other=0).to(DTYPE)
    p1 = tl.load(pa + sp_c, mask=mask, other=0).to(DTYPE)
    p2 = tl.load(pa + 2 * sp_c, mask=mask, other=1).to(DTYPE)
    p3 = tl.load(pa + 3 * sp_c, mask=mask, other=1).to(DTYPE)
    t0 = tl.load(ta, mask=mask, other=0).to(DTYPE)
    t1 = tl.load(ta + st_c, mask=mask, other=0).to(DTYPE)
    t2 = tl.load(ta + 2 * st_c, mask=mask, other=1).to(DTYPE)
    t3 = tl.load(ta + 3 * st_c, mask=mask, other=1).to(DTYPE)
    rpx1, rpx2, px1, px2 = _corners(p0, p2, FMT)
    rpy1, rpy2, py1, py2 = _corners(p1, p3, FMT)
    rtx1, rtx2, tx1, tx2 = _corners(t0, t2, FMT)
    rty1, rty2, ty1, ty2 = _corners(t1, t3, FMT)
    pw = px2 - px1
    ph = py2 - py1
    tw = tx2 - tx1
    th = ty2 - ty1
    sx = tl.minimum(px2, tx2) - tl.maximum(px1, tx1)
    sy = tl.minimum(py2, ty2) - tl.maximum(py1, ty1)
    ix = tl.maximum(sx, 0.0)
    iy = tl.maximum(sy, 0.0)
    ix = tl.where(sx == sx, ix, sx)  # NaN propagates (maximum would drop it)
    iy = tl.where(sy == sy, iy, sy)
    inter = ix * iy
    union = pw * ph + tw * th - inter
    ue = union + eps
    iou = (inter + eps) / ue
    cw = tl.maximum(px2, tx2) - tl.minimum(px1, tx1)
    ch = tl.maximum(py2, ty2) - tl.minimum(py1, ty1)
    dx = 0.5 * ((px1 + px2) - (tx1 + tx2))
    dy = 0.5 * ((py1 + py2) - (ty1 + ty2))
    diag = cw * cw + ch * ch + eps
    rho2 = dx * dx + dy * dy
    area_c = cw * ch + eps
    min_h = tl.sqrt(eps)
    hpc = tl.maximum(ph, min_h)
    htc = tl.maximum(th, min_h)
    xp = pw / hpc
    xt = tw / htc
    delta = _atan(xt) - _atan(xp)
    v = 0.6366197723675814 * 0.6366197723675814 * delta * delta
    alpha = v / (1.0 - iou + v + eps)
    if not BACKWARD:
        loss = 1.0 - iou
        if KIND == 1:
            loss += (area_c - eps - union) / area_c
        if KIND >= 2:
            loss += rho2 / diag
        if KIND == 3:
            loss += alpha * v
        if KIND == 4:
            dw = pw - tw
            dh = ph - th
            loss += dw * dw / (cw * cw + eps) + dh * dh / (ch * ch + eps)
        tl.store(out_ptr + row, loss.to(out_ptr.dtype.element_ty), mask=mask)
    else:
        g = tl.load(g_ptr + row, mask=mask, other=0).to(DTYPE)
        g_inter = -(1.0 + iou) / ue
        g_area = iou / ue
        gcw = tl.zeros_like(g)
        gch = tl.zeros_like(g)
        gdx = tl.zeros_like(g)
        gdy = tl.zeros_like(g)
        gpw = tl.zeros_like(g)
        gph = tl.zeros_like(g)
        gtw = tl.zeros_like(g)
        gth = tl.zeros_like(g)
        if KIND == 1:
            inv_c = 1.0 / area_c
            g_inter += inv_c
            g_area -= inv_c
            k = ue * inv_c * inv_c
            gcw = k * ch
            gch = k * cw
        if KIND >= 2:
            gdx = 2.0 * dx / diag
            gdy = 2.0 * dy / diag
            k = -2.0 * rho2 / (diag * diag)
            gcw = k * cw
            gch = k * ch
        if KIND == 4:
            dw = pw - tw
            dh = ph - th
            denw = cw * cw + eps
            denh = ch * ch + eps
            gpw = 2.0 * dw / denw
            gph = 2.0 * dh / denh
            gtw = -gpw
            gth = -gph
            gcw -= 2.0 * cw * dw * dw / (denw * denw)
            gch -= 2.0 * ch * dh * dh / (denh * denh)
        if KIND == 3:
            dv = alpha * (2.0 * 0.6366197723675814 * 0.6366197723675814) * delta
            tp = -dv / (hpc * (1.0 + xp * xp))
            tt = dv / (htc * (1.0 + xt * xt))
            gpw = tp
            gph = tl.where(ph >= min_h, -xp * tp, 0.0)
            gtw = tt
            gth = tl.where(th >= min_h, -xt * tt, 0.0)
        # sides of the intersection (clamp passes the gradient at 0) and of the boxes
        gsx = tl.where(sx >= 0.0, g_inter * iy, 0.0)
        gsy = tl.where(sy >= 0.0, g_inter * ix, 0.0)
        gpx = g_area * ph + gpw
        gpy = g_area * pw + gph
        gtx = g_area * th + gtw
        gty = g_area * tw + gth
        # corners after the inverted-side rule
        a_px2 = _wmin(px2, tx2)
        a_px1 = _wmin(tx1, px1)  # share of maximum(px1, tx1) going to px1
        a_py2 = _wmin(py2, ty2)
        a_py1 = _wmin(ty1, py1)
        c_px2 = _wmin(tx2, px2)  # share of maximum(px2, tx2) going to px2
        c_px1 = _wmin(px1, tx1)
        c_py2 = _wmin(ty2, py2)
        c_py1 = _wmin(py1, ty1)
        g_px1 = -gpx - gsx * a_px1 - gcw * c_px1 + 0.5 * gdx
        g_px2 = gpx + gsx * a_px2 + gcw * c_px2 + 0.5 * gdx
        g_py1 = -gpy - gsy * a_py1 - gch * c_py1 + 0.5 * gdy
        g_py2 = gpy + gsy * a_py2 + gch * c_py2 + 0.5 * gdy
        g_px1, g_px2 = _raw_grad(rpx1, rpx2, g * g_px1, g * g_px2)
        g_py1, g_py2 = _raw_grad(rpy1, rpy2, g * g_py1, g * g_py2)
        _store_grad(gp_ptr + row * 4, g_px1, g_py1, g_px2, g_py2, mask, FMT)
        if NEED_T:
            g_tx1 = -gtx - gsx * (1.0 - a_px1) - gcw * (1.0 - c_px1) - 0.5 * gdx
            g_tx2 = gtx + gsx * (1.0 - a_px2) + gcw * (1.0 - c_px2) - 0.5 * gdx
            g_ty1 = -gty - gsy * (1.0 - a_py1) - gch * (1.0 - c_py1) - 0.5 * gdy
            g_ty2 = gty + gsy * (1.0 - a_py2) + gch * (1.0 - c_py2) - 0.5 * gdy
            g_tx1, g_tx2 = _raw_grad(rtx1, rtx2, g * g_tx1, g * g_tx2)
            g_ty1, g_ty2 = _raw_grad(rty1, rty2, g * g_ty1, g * g_ty2)
            _store_grad(gt_ptr + row * 4, g_tx1, g_ty1, g_tx2, g_ty2, mask, FMT)


@triton.jit
def _raw_grad(lo, hi, g_lo, g_hi):  # type: ignore[no-untyped-def]
    # through lo' = minimum(lo, mid), hi' = maximum(hi, mid), mid = (lo + hi) / 2
    mid = 0.5 * (lo + hi)
    w_lo = _wmin(lo, mid)
    w_hi = _wmin(mid, hi)
    g_mid = 0.5 * (g_lo * (1.0 - w_lo) + g_hi * (1.0 - w_hi))
    return g_lo * w_lo + g_mid, g_hi * w_hi + g_mid


@triton.jit  # type: ignore[untyped-decorator]
def _store_grad(ptr, gx1, gy1, gx2, gy2, mask, FMT: tl.constexpr):  # type: ignore[no-untyped-def]
    if FMT == 1:
        gx1 = gx1 + gx2
        gy1 = gy1 + gy2
    elif FMT == 2:
        gx1, gx2 = gx1 + gx2, 0.5 * (gx2 - gx1)
        gy1, gy2 = gy1 + gy2, 0.5 * (gy2 - gy1)
    ty = ptr.dtype.element_ty
    tl.store(ptr, gx1.to(ty), mask=mask)
    tl.store(ptr + 1, gy1.to(ty), mask=mask)
    tl.store(ptr + 2, gx2.to(ty), mask=mask)
    tl.store(ptr + 3, gy2.to(ty), mask=mask)


# --- launches -----------------------------------------------------------------------------------


def _launch(
    pred: Tensor,
    target: Tensor,
    kind: str,
    box_format: str,
    eps: float,
    grad: Tensor | None = None,
    need_target: bool = False,
) -> tuple[Tensor, Tensor | None]:
    dtype = compute_dtype(pred, target)
    p = pred.reshape(-1, 4)
    t = target.reshape(-1, 4)
    m = p.shape[0]
    backward = grad is not None
    if grad is not None:
        out = torch.empty(pred.shape, dtype=pred.dtype, device=pred.device)
        out_t = torch.empty(target.shape, dtype=target.dtype, device=target.device)
        g = grad.reshape(-1).contiguous()
    else:
        out = torch.empty(pred.shape[:-1], dtype=dtype, device=pred.device)
        out_t = out
        g = out
    if m == 0:
        return out, out_t if need_target else None
    _box_kernel[(triton.cdiv(m, BLOCK),)](
        p,
        t,
        g,
        out,
        out,
        out_t,
        m,
        p.stride(0),
        p.stride(1),
        t.stride(0),
        t.stride(1),
        *split_float(eps),
        KIND=KINDS[kind],
        FMT=FORMATS[box_format],
        BACKWARD=backward,
        NEED_T=need_target,
        DTYPE=triton_dtype(dtype),
        BLOCK=BLOCK,
        num_warps=NUM_WARPS,
    )
    return out, out_t if need_target else None


class _TritonBoxLoss(torch.autograd.Function):
    """Saves the caller's ``pred`` and ``target`` only; the backward kernel recomputes the rest."""

    @staticmethod
    def forward(pred: Tensor, target: Tensor, kind: str, box_format: str, eps: float) -> Tensor:
        return _launch(pred, target, kind, box_format, eps)[0]

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
        pred, target, kind, box_format, eps = inputs
        ctx.save_for_backward(pred, target)
        ctx.kind, ctx.box_format, ctx.eps = kind, box_format, eps

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        pred, target = ctx.saved_tensors
        need_p, need_t = bool(ctx.needs_input_grad[0]), bool(ctx.needs_input_grad[1])
        if not (need_p or need_t):
            return None, None, None, None, None
        kind, box_format, eps = ctx.kind, ctx.box_format, ctx.eps
        if torch.is_grad_enabled():
            # differentiated backward: the reference's gradient as a graph (exact second order)
            def reference(p: Tensor, t: Tensor) -> Tensor:
                return box_loss_reference(p, t, kind, box_format, eps)

            grads = reference_backward(reference, [pred, target], [need_p, need_t], grad)
            return grads[0], grads[1], None, None, None
        gp, gt = _launch(pred, target, kind, box_format, eps, grad=grad, need_target=need_t)
        return (gp if need_p else None), gt, None, None, None


# --- the public entry points --------------------------------------------------------------------


def _not_covered(pred: Tensor, target: Tensor, kind: str) -> str | None:
    if pred.dtype not in FLOAT_DTYPES or target.dtype not in FLOAT_DTYPES:
        return f"box dtypes {pred.dtype} / {target.dtype}"
    if pred.dim() == 0 or pred.shape[-1] != 4 or tuple(pred.shape) != tuple(target.shape):
        return f"boxes of shapes {tuple(pred.shape)} / {tuple(target.shape)} (2D boxes only)"
    if kind not in KINDS:
        return f"kind {kind!r}"
    return device_reason(pred, target)


def covers(pred: Tensor, target: Tensor, kind: str) -> bool:
    """Whether :func:`box_loss_triton` runs this call: CUDA tensors (or CPU under
    ``TRITON_INTERPRET=1``), 2D boxes ``(..., 4)`` of one shape, floating dtypes."""
    return _not_covered(pred, target, kind) is None


def box_loss_triton(
    pred: Tensor, target: Tensor, *, kind: str, box_format: str, eps: float
) -> Tensor:
    """:func:`visionloss.kernels.boxes.box_loss` in one Triton kernel each way."""
    why = _not_covered(pred, target, kind)
    if why is not None:
        raise NotImplementedError(f"box_loss (triton) does not cover {why}")
    result: Tensor = _TritonBoxLoss.apply(pred, target, kind, box_format, float(eps))
    return result
