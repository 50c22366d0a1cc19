r"""Triton kernels of softmax cross-entropy over dim 1 with integer class targets.

Three public functions, one pair of kernels:

* :func:`cross_entropy_ids_triton`: the arguments and values of
  :func:`visionloss.kernels.cross_entropy.cross_entropy_ids` (and its reference): the loss per
  position ``(N, *)`` per unit of ``class_weight[y]`` (the library weighs it in the reduction);
  ids in ``[0, C)``.
* :func:`poly1_ids_triton`: :func:`visionloss.kernels.poly1.poly1_ids`, the first plus
  :math:`\epsilon (1 - p_t)` (Poly-1), in the same two kernels (``POLY``): the forward adds the
  term from ``x_y`` and the log-sum-exp it has, the backward adds
  :math:`k = \epsilon (1 - s) p_y` to :math:`a` and :math:`Q` below.
* :func:`cross_entropy_triton`: ``F.cross_entropy(input, target, weight=class_weight,
  ignore_index=ignore_index, label_smoothing=label_smoothing, reduction="none")``, 0 at ignored
  positions (their gradient is 0 too).

Both are, per position with class ``y``, :math:`\ell = a\,(\mathrm{lse} - x_y) + b \sum_c w_c
(\mathrm{lse} - x_c)` with :math:`\mathrm{lse} = \log\sum_c e^{x_c}`, and the gradient
:math:`\partial\ell/\partial x_c = g\,(Q\,p_c - q_c)`, :math:`p_c = e^{x_c - \mathrm{lse}}`,
:math:`q_c = a\,[c = y] + b\,w_c`, :math:`Q = a + b \sum_c w_c`, where (``s`` the label smoothing,
:math:`w \equiv 1` without class weights)

* per unit of weight: :math:`a = 1 - s`, :math:`b = \tfrac{s}{C} / \tilde w_y` (:math:`\tilde w_y`
  = :math:`w_y`, or 1 where it is 0);
* torch's: :math:`a = (1 - s)\, w_y`, :math:`b = \tfrac{s}{C}`; both 0 at an ignored position.

Forward kernel, one pass over the logits: a program owns one sample and a block of positions and
walks the classes in chunks of ``BLOCK_C`` with an online log-sum-exp (running max ``m`` and sum
``l``), picking up ``x_y`` and :math:`\sum_c w_c (m - x_c)` (rescaled when ``m`` grows: a sum of
non-negative terms, no cancellation at extreme logits) on the way. It writes the loss and the
per-position ``lse`` (compute dtype), the only thing saved besides the inputs. The backward kernel
recomputes ``p`` from the logits and ``lse`` and writes the gradient in one pass. No atomics:
deterministic.

Layout: ``input`` is read in place as ``(N, C, S)`` with its strides (a ``(N, C)`` input as
``(1, C, N)``: classes contiguous, the positions strided); the class chunk is ``MAX_BLOCK_C``
classes when the positions are contiguous (segmentation maps) and up to ``MAX_ROW_BLOCK_C`` when
the classes are (classification rows).

Coverage (:func:`covers`): CUDA tensors (or CPU under ``TRITON_INTERPRET=1``), input
float16/bfloat16/float32/float64 ``(N, C, *)`` with ``C >= 1``, target ``(N, *)`` of an integer
dtype, ``class_weight`` ``(C,)`` floating, ``dtype`` (ids function) a floating dtype. Math in
float32 (float64 when the compute dtype is float64). Once-differentiable (a second derivative
raises); ``class_weight`` and the target get no gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import triton
import triton.language as tl
from torch import Tensor

from ..._core import compute_dtype
from ..cross_entropy import cross_entropy_ids_reference
from ._common import (
    FLOAT_DTYPES,
    INT_DTYPES,
    LseLoss,
    class_blocks,
    device_reason,
    expm1,
    launch_lse_backward,
    launch_lse_forward,
    split_float,
    triton_dtype,
)

__all__ = ["covers", "cross_entropy_ids_triton", "cross_entropy_triton", "poly1_ids_triton"]

# Launch configuration (module attributes so that tests and benchmarks can try others)
#: elements of one (BLOCK_C, BLOCK_S) tile
TILE_ELEMENTS = 4096
#: class chunk when the positions are the contiguous axis (N, C, H, W maps)
MAX_BLOCK_C = 32
#: class chunk when the classes are the contiguous axis ((N, C) rows)
MAX_ROW_BLOCK_C = 1024
NUM_WARPS = 4


# --- device functions ---------------------------------------------------------------------------


@triton.jit  # type: ignore[untyped-decorator]
def _row_stats(  # type: ignore[no-untyped-def]
    x_ptr,
    w_ptr,
    x_base,
    offs_s,
    mask_s,
    y,
    C,
    sxc,
    sxs,
    SMOOTH: tl.constexpr,
    HAS_WEIGHT: tl.constexpr,
    DTYPE: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_S: tl.constexpr,
):
    """Per position of the block: ``(m, l, x_y, A, W)``: the max logit, ``sum_c exp(x_c - m)``,
    the target's logit, ``A = sum_c w_c (m - x_c)`` (when SMOOTH) and ``W = sum_c w_c``."""
    m = tl.full([BLOCK_S], float("-inf"), DTYPE)
    total = tl.zeros([BLOCK_S], DTYPE)
    x_y = tl.zeros([BLOCK_S], DTYPE)
    acc = tl.zeros([BLOCK_S], DTYPE)
    wsum = tl.zeros([BLOCK_S], DTYPE)
    for c0 in range(0, C, BLOCK_C):
        offs_c = c0 + tl.arange(0, BLOCK_C)
        mask_c = offs_c < C
        mask = mask_c[:, None] & mask_s[None, :]
        ptrs = x_ptr + x_base + offs_c[:, None].to(tl.int64) * sxc + offs_s[None, :] * sxs
        x = tl.load(ptrs, mask=mask, other=0.0).to(DTYPE)
        x = tl.where(mask_c[:, None], x, float("-inf"))
        m_new = tl.maximum(m, tl.max(x, axis=0))
        # exp(-inf - m_new) = 0 on the first chunk
        total = total * tl.exp(m - m_new) + tl.sum(tl.exp(x - m_new[None, :]), axis=0)
        x_y += tl.sum(tl.where(offs_c[:, None] == y[None, :], x, 0.0), axis=0)
        if SMOOTH:
            if HAS_WEIGHT:
                w = tl.load(w_ptr + offs_c, mask=mask_c, other=0.0).to(DTYPE)
            else:
                w = tl.where(mask_c, 1.0, 0.0).to(DTYPE)
            shift = tl.where(m == float("-inf"), 0.0, m_new - m)
            # padded classes have w = 0 and x = -inf: read them as m_new (a zero term)
            x_in = tl.where(mask_c[:, None], x, m_new[None, :])
            term = w[:, None] * (m_new[None, :] - x_in)
            acc = acc + wsum * shift + tl.sum(term, axis=0)
            wsum += tl.sum(w, axis=0)
        m = m_new
    return m, total, x_y, acc, wsum


@triton.jit  # type: ignore[untyped-decorator]
def _coefficients(  # type: ignore[no-untyped-def]
    w_ptr,
    y,
    mask_s,
    C,
    ignore_index,
    a_hi,
    a_lo,
    b_hi,
    b_lo,
    HAS_IGNORE: tl.constexpr,
    HAS_WEIGHT: tl.constexpr,
    PER_UNIT: tl.constexpr,
    DTYPE: tl.constexpr,
):
    """``(a, b, valid)`` per position (see the module's docstring); ``a_*`` is ``1 - s`` and
    ``b_*`` is ``s / C`` (each split in two float32 halves)."""
    valid = mask_s
    if HAS_IGNORE:
        valid = valid & (y != ignore_index)
    a0 = tl.cast(a_hi, DTYPE) + tl.cast(a_lo, DTYPE)
    b0 = tl.cast(b_hi, DTYPE) + tl.cast(b_lo, DTYPE)
    if HAS_WEIGHT:
        in_range = valid & (y >= 0) & (y < C)
        w_y = tl.load(w_ptr + tl.where(in_range, y, 0), mask=in_range, other=0.0).to(DTYPE)
        if PER_UNIT:
            a = tl.zeros_like(w_y) + a0
            b = b0 / tl.where(w_y > 0.0, w_y, 1.0)
        else:
            a = a0 * w_y
            b = tl.zeros_like(w_y) + b0
    else:
        a = tl.zeros(y.shape, DTYPE) + a0
        b = tl.zeros(y.shape, DTYPE) + b0
    a = tl.where(valid, a, 0.0)
    b = tl.where(valid, b, 0.0)
    return a, b, valid


@triton.jit  # type: ignore[untyped-decorator]
def _forward_kernel(  # type: ignore[no-untyped-def]
    x_ptr,
    y_ptr,
    w_ptr,
    loss_ptr,
    lse_ptr,
    C,
    S,
    S_BLOCKS,
    ignore_index,
    a_hi,
    a_lo,
    b_hi,
    b_lo,
    e_hi,
    e_lo,
    sxn,
    sxc,
    sxs,
    syn,
    sys,
    SMOOTH: tl.constexpr,
    HAS_IGNORE: tl.constexpr,
    HAS_WEIGHT: tl.constexpr,
    PER_UNIT: tl.constexpr,
    POLY: tl.constexpr,
    DTYPE: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_S: tl.constexpr,
):
    pid = tl.program_id(0)
    n = (pid // S_BLOCKS).to(tl.int64)
    offs_s = (pid % S_BLOCKS).to(tl.int64) * BLOCK_S + tl.arange(0, BLOCK_S)
    mask_s = offs_s < S
    y = tl.load(y_ptr + n * syn + offs_s * sys, mask=mask_s, other=0).to(tl.int64)
    m, total, x_y, acc, wsum = _row_stats(
        x_ptr, w_ptr, n * sxn, offs_s, mask_s, y, C, sxc, sxs,
        SMOOTH, HAS_WEIGHT, DTYPE, BLOCK_C, BLOCK_S,
    )  # fmt: skip
    log_total = tl.log(total)
    a, b, valid = _coefficients(
        w_ptr, y, mask_s, C, ignore_index, a_hi, a_lo, b_hi, b_lo,
        HAS_IGNORE, HAS_WEIGHT, PER_UNIT, DTYPE,
    )  # fmt: skip
    # -log p_y = (max - x_y) + log S, torch's order
    loss = a * ((m - x_y) + log_total)
    if SMOOTH:
        loss += b * (acc + wsum * log_total)
    if POLY:
        # Poly-1 (ids, per unit of weight): eps (1 - p_t), p_t = (1 - s) p_y + s / C, written
        # (1 - s)(1 - p_y) + s (1 - 1/C) with 1 - p_y = -expm1(log p_y): no cancellation as
        # p_y -> 1
        a0 = tl.cast(a_hi, DTYPE) + tl.cast(a_lo, DTYPE)
        b0 = tl.cast(b_hi, DTYPE) + tl.cast(b_lo, DTYPE)
        eps = tl.cast(e_hi, DTYPE) + tl.cast(e_lo, DTYPE)
        one_minus_p = -expm1((x_y - m) - log_total)
        loss += eps * (a0 * one_minus_p + b0 * (C - 1))
    loss = tl.where(valid, loss, 0.0)
    out = n * S + offs_s  # (N, S) contiguous
    tl.store(loss_ptr + out, loss.to(loss_ptr.dtype.element_ty), mask=mask_s)
    tl.store(lse_ptr + out, m + log_total, mask=mask_s)


@triton.jit  # type: ignore[untyped-decorator]
def _backward_kernel(  # type: ignore[no-untyped-def]
    x_ptr,
    y_ptr,
    w_ptr,
    lse_ptr,
    g_ptr,
    dx_ptr,
    C,
    S,
    S_BLOCKS,
    ignore_index,
    a_hi,
    a_lo,
    b_hi,
    b_lo,
    e_hi,
    e_lo,
    sxn,
    sxc,
    sxs,
    syn,
    sys,
    sgn,
    sgs,
    son,
    soc,
    sos,
    SMOOTH: tl.constexpr,
    HAS_IGNORE: tl.constexpr,
    HAS_WEIGHT: tl.constexpr,
    PER_UNIT: tl.constexpr,
    POLY: tl.constexpr,
    DTYPE: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_S: tl.constexpr,
):
    pid = tl.program_id(0)
    n = (pid // S_BLOCKS).to(tl.int64)
    offs_s = (pid % S_BLOCKS).to(tl.int64) * BLOCK_S + tl.arange(0, BLOCK_S)
    mask_s = offs_s < S
    y = tl.load(y_ptr + n * syn + offs_s * sys, mask=mask_s, other=0).to(tl.int64)
    lse = tl.load(lse_ptr + n * S + offs_s, mask=mask_s, other=0.0)
    g = tl.load(g_ptr + n * sgn + offs_s * sgs, mask=mask_s, other=0.0).to(DTYPE)
    a, b, valid = _coefficients(
        w_ptr, y, mask_s, C, ignore_index, a_hi, a_lo, b_hi, b_lo,
        HAS_IGNORE, HAS_WEIGHT, PER_UNIT, DTYPE,
    )  # fmt: skip
    if SMOOTH:
        if HAS_WEIGHT:
            wsum = tl.zeros([BLOCK_S], DTYPE)
            for c0 in range(0, C, BLOCK_C):
                offs_c = c0 + tl.arange(0, BLOCK_C)
                wc = tl.load(w_ptr + offs_c, mask=offs_c < C, other=0.0).to(DTYPE)
                wsum += tl.sum(wc, axis=0)
        else:
            wsum = tl.zeros([BLOCK_S], DTYPE) + C
        big_q = a + b * wsum
    else:
        big_q = a
    if POLY:
        # the Poly-1 term adds k = eps (1 - s) p_y to both a and Q (module docstring)
        in_range = mask_s & (y >= 0) & (y < C)
        y_ptrs = x_ptr + n * sxn + tl.where(in_range, y, 0) * sxc + offs_s * sxs
        x_y = tl.load(y_ptrs, mask=in_range, other=0.0).to(DTYPE)
        a0 = tl.cast(a_hi, DTYPE) + tl.cast(a_lo, DTYPE)
        eps = tl.cast(e_hi, DTYPE) + tl.cast(e_lo, DTYPE)
        k = eps * a0 * tl.exp(x_y - lse)
        a = a + k
        big_q = big_q + k
    # an ignored position: a = b = 0, a zero gradient (even where its logits are not finite)
    ga = tl.where(valid, g * a, 0.0)
    gb = tl.where(valid, g * b, 0.0)
    gq = tl.where(valid, g * big_q, 0.0)
    for c0 in range(0, C, BLOCK_C):
        offs_c = c0 + tl.arange(0, BLOCK_C)
        mask_c = offs_c < C
        mask = mask_c[:, None] & mask_s[None, :]
        ptrs = x_ptr + n * sxn + offs_c[:, None].to(tl.int64) * sxc + offs_s[None, :] * sxs
        x = tl.load(ptrs, mask=mask, other=0.0).to(DTYPE)
        p = tl.exp(x - lse[None, :])
        dx = gq[None, :] * p - tl.where(offs_c[:, None] == y[None, :], ga[None, :], 0.0)
        if SMOOTH:
            if HAS_WEIGHT:
                w = tl.load(w_ptr + offs_c, mask=mask_c, other=0.0).to(DTYPE)
                dx -= gb[None, :] * w[:, None]
            else:
                dx -= gb[None, :]
        dx = tl.where(valid[None, :], dx, 0.0)
        out = dx_ptr + n * son + offs_c[:, None].to(tl.int64) * soc + offs_s[None, :] * sos
        tl.store(out, dx.to(dx_ptr.dtype.element_ty), mask=mask)


# --- launchers ---------------------------------------------------------------------------------


def _blocks(x: Tensor) -> tuple[int, int]:
    """``(BLOCK_C, BLOCK_S)`` for ``(N, C, S)`` logits, from this module's launch settings."""
    return class_blocks(
        x.shape[1], x.shape[2], x.stride(1), tile=TILE_ELEMENTS, max_block_c=MAX_BLOCK_C,
        max_row_block_c=MAX_ROW_BLOCK_C,
    )  # fmt: skip


class _Config:
    """The options the kernels need, computed once per call."""

    def __init__(
        self,
        num_classes: int,
        class_weight: Tensor | None,
        label_smoothing: float,
        ignore_index: int | None,
        per_unit: bool,
        out_dtype: torch.dtype,
        math_dtype: torch.dtype,
        epsilon: float = 0.0,
    ) -> None:
        s = float(label_smoothing)
        self.class_weight = class_weight
        self.scalars = (
            ignore_index if ignore_index is not None else 0,
            *split_float(1.0 - s),
            *split_float(s / num_classes),
            *split_float(float(epsilon)),
        )
        self.constexprs = dict(
            SMOOTH=s != 0,
            HAS_IGNORE=ignore_index is not None,
            HAS_WEIGHT=class_weight is not None,
            PER_UNIT=per_unit,
            POLY=epsilon != 0,
            DTYPE=triton_dtype(math_dtype),
        )
        self.out_dtype = out_dtype
        self.math_dtype = math_dtype
        self.label_smoothing = s
        self.ignore_index = ignore_index
        self.per_unit = per_unit
        self.epsilon = float(epsilon)

    def reference(self, x: Tensor, y: Tensor) -> Tensor:
        """The loss the kernels compute, in plain torch (for differentiated backwards)."""
        weight = None if self.class_weight is None else self.class_weight.to(self.math_dtype)
        if self.per_unit and self.epsilon != 0:
            from ..poly1 import poly1_ids_reference

            return poly1_ids_reference(
                x, y, class_weight=weight, label_smoothing=self.label_smoothing,
                epsilon=self.epsilon, dtype=self.out_dtype,
            )  # fmt: skip
        if self.per_unit:
            return cross_entropy_ids_reference(
                x, y, class_weight=weight, label_smoothing=self.label_smoothing,
                dtype=self.out_dtype,
            )  # fmt: skip
        ignore = -100 if self.ignore_index is None else self.ignore_index
        loss = F.cross_entropy(
            x.to(self.math_dtype), y.long(), weight=weight, ignore_index=ignore,
            label_smoothing=self.label_smoothing, reduction="none",
        )  # fmt: skip
        return loss.to(self.out_dtype)

    def run_forward(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        return launch_lse_forward(
            _forward_kernel, x, t, self.class_weight, self, _blocks(x), NUM_WARPS
        )

    def run_backward(self, x: Tensor, t: Tensor, lse: Tensor, grad: Tensor) -> Tensor:
        blocks = _blocks(x)
        return launch_lse_backward(
            _backward_kernel, x, t, lse, grad, self.class_weight, self, blocks, NUM_WARPS
        )


# --- the public entry points -------------------------------------------------------------------


def _not_covered(
    x: Tensor, target: Tensor, class_weight: Tensor | None, dtype: torch.dtype | None = None
) -> str | None:
    if x.dtype not in FLOAT_DTYPES:
        return f"input dtype {x.dtype}"
    if x.dim() < 2 or x.shape[1] < 1:
        return f"input of shape {tuple(x.shape)} (expected (N, C, *) with C >= 1)"
    if target.is_floating_point() or target.is_complex() or target.dtype not in INT_DTYPES:
        return f"target dtype {target.dtype} (class ids of an integer dtype)"
    if dtype is not None and dtype not in FLOAT_DTYPES:
        return f"compute dtype {dtype}"
    if class_weight is not None and (
        class_weight.dtype not in FLOAT_DTYPES or class_weight.dim() != 1
    ):
        return f"class_weight of dtype {class_weight.dtype}, shape {tuple(class_weight.shape)}"
    tensors = [x, target] + ([class_weight] if class_weight is not None else [])
    return device_reason(*tensors)


def covers(
    x: Tensor, target: Tensor, class_weight: Tensor | None = None, dtype: torch.dtype | None = None
) -> bool:
    """Whether :func:`cross_entropy_ids_triton` / :func:`cross_entropy_triton` run this call
    (the dispatcher's ``covered``): CUDA tensors (or CPU under ``TRITON_INTERPRET=1``), input
    float16/bfloat16/float32/float64 ``(N, C, *)``, integer class ids, a floating ``(C,)``
    ``class_weight``, a floating compute ``dtype``."""
    return _not_covered(x, target, class_weight, dtype) is None


def _views(x: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """``(N, C, S)`` and ``(N, S)`` views (copies only where the strides do not merge); a
    ``(N, C)`` input is ``(1, C, N)`` (its classes contiguous)."""
    if tuple(target.shape) != (x.shape[0], *x.shape[2:]):
        raise ValueError(
            f"target: expected shape {(x.shape[0], *x.shape[2:])} for input of shape "
            f"{tuple(x.shape)}, got {tuple(target.shape)}"
        )
    if target.dtype == torch.bool:
        target = target.view(torch.uint8)
    if x.dim() == 2:
        return x.t().unsqueeze(0), target.unsqueeze(0)
    return x.flatten(2), target.flatten(1)


def _run(
    x: Tensor,
    target: Tensor,
    class_weight: Tensor | None,
    label_smoothing: float,
    ignore_index: int | None,
    per_unit: bool,
    out_dtype: torch.dtype,
    epsilon: float = 0.0,
) -> Tensor:
    math_dtype = torch.float64 if out_dtype == torch.float64 else torch.float32
    if class_weight is not None:
        class_weight = class_weight.detach()
        if class_weight.shape[0] != x.shape[1]:
            raise ValueError(
                f"class_weight: expected shape ({x.shape[1]},), got {tuple(class_weight.shape)}"
            )
        class_weight = class_weight.contiguous()
    cfg = _Config(
        x.shape[1], class_weight, label_smoothing, ignore_index, per_unit, out_dtype, math_dtype,
        epsilon,
    )  # fmt: skip
    xv, tv = _views(x, target.detach())
    loss, _ = LseLoss.apply(xv, tv, cfg)
    result: Tensor = loss.squeeze(0) if x.dim() == 2 else loss.view(x.shape[0], *x.shape[2:])
    return result


def cross_entropy_ids_triton(
    x: Tensor,
    index: Tensor,
    *,
    class_weight: Tensor | None = None,
    label_smoothing: float = 0.0,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """:func:`~visionloss.kernels.cross_entropy.cross_entropy_ids` in two Triton kernels.

    Same arguments and values: the cross-entropy per position ``(N, *)`` of logits ``(N, C, *)``
    and class ids ``(N, *)`` in ``[0, C)``, per unit of ``class_weight[y]``, in ``dtype``
    (default: the logits' dtype; the math is float32, float64 for a float64 ``dtype``). Saved for
    backward: the inputs and one float per position. The gradient has ``x``'s dtype.

    Raises:
        NotImplementedError: a call :func:`covers` rejects.
        ValueError: ``index`` or ``class_weight`` of the wrong shape.
    """
    why = _not_covered(x, index, class_weight, dtype)
    if why is not None:
        raise NotImplementedError(f"cross_entropy_ids_triton does not cover {why}")
    out_dtype = dtype or x.dtype
    return _run(x, index, class_weight, label_smoothing, None, True, out_dtype)


def cross_entropy_triton(
    input: Tensor,
    target: Tensor,
    *,
    class_weight: Tensor | None = None,
    ignore_index: int | None = -100,
    label_smoothing: float = 0.0,
) -> Tensor:
    """``F.cross_entropy(input, target, weight=class_weight, ignore_index=ignore_index,
    label_smoothing=label_smoothing, reduction="none")`` with class ids, in two Triton kernels.

    The loss per position ``(N, *)`` (torch's weighting: ``w_y`` times the NLL plus the
    weighted smoothing term), 0 at ignored positions; in the compute dtype (float32 for half and
    bfloat16 logits). Saved for backward: the inputs and one float per position.

    Raises:
        NotImplementedError: a call :func:`covers` rejects.
        ValueError: ``target`` or ``class_weight`` of the wrong shape.
    """
    why = _not_covered(input, target, class_weight)
    if why is not None:
        raise NotImplementedError(f"cross_entropy_triton does not cover {why}")
    out_dtype = compute_dtype(input)
    return _run(input, target, class_weight, label_smoothing, ignore_index, False, out_dtype)


def poly1_ids_triton(
    x: Tensor,
    index: Tensor,
    *,
    class_weight: Tensor | None = None,
    label_smoothing: float = 0.0,
    epsilon: float = 1.0,
    dtype: torch.dtype | None = None,
) -> Tensor:
    r""":func:`~visionloss.kernels.poly1.poly1_ids` in the cross-entropy kernels: the
    cross-entropy per unit of ``class_weight[y]`` plus :math:`\epsilon (1 - p_t)`,
    :math:`p_t = (1 - s) p_y + s / C`. The forward adds the term from the ``x_y`` and
    log-sum-exp it already has; the backward adds :math:`k = \epsilon (1 - s) p_y` to the
    coefficients of the target class and of ``p`` (one more read of ``x_y`` per position).
    Saved for backward: the inputs and one float per position.

    Raises:
        NotImplementedError: a call :func:`covers` rejects.
        ValueError: ``index`` or ``class_weight`` of the wrong shape.
    """
    why = _not_covered(x, index, class_weight, dtype)
    if why is not None:
        raise NotImplementedError(f"poly1_ids_triton does not cover {why}")
    out_dtype = dtype or x.dtype
    return _run(x, index, class_weight, label_smoothing, None, True, out_dtype, float(epsilon))
