r"""Triton kernels of softmax cross-entropy over dim 1 with probability (soft) targets.

:func:`cross_entropy_probs_triton` has the arguments and values of
:func:`visionloss.kernels.cross_entropy.cross_entropy_probs` (and of its reference): per position,

.. math::
    \ell = -\sum_c w_c\, q'_c \log p_c = \sum_c w_c\, q'_c\, (\mathrm{lse} - x_c), \qquad
    q'_c = (1 - s)\, q_c + s / C, \quad \mathrm{lse} = \log \sum_c e^{x_c},

with :math:`q` the target probabilities ``(N, C, *)``, :math:`w` the ``class_weight``
(:math:`w \equiv 1` without) and :math:`s` the label smoothing: ``F.cross_entropy`` with
probability targets and ``weight=class_weight`` at ``reduction="none"`` (the class weights are
inside the loss; torch's mean divides by the number of positions). The gradient, with
:math:`W = \sum_k w_k q'_k` and :math:`p = \mathrm{softmax}(x)`:

.. math::
    \frac{\partial \ell}{\partial x_c} = g\, (W p_c - w_c q'_c)

(the derivative of :math:`W\,\mathrm{lse} - \sum_c w_c q'_c x_c`). The target is read, never
differentiated (a target that requires grad is not covered: the reference differentiates it).

Forward kernel, one pass over the logits and the target: a program owns one sample and a block of
positions and walks the classes in chunks of ``BLOCK_C`` with an online log-sum-exp (running max
``m`` and sum ``l``), accumulating :math:`W` and :math:`A = \sum_c w_c q'_c (m - x_c)` (rescaled
when ``m`` grows; a sum of non-negative terms for a non-negative target, so no cancellation at
extreme logits); then :math:`\ell = A + W \log l` and :math:`\mathrm{lse} = m + \log l`, the one
float per position saved besides the inputs. Backward kernel: ``p`` recomputed from the logits
and ``lse``; when the classes fit in one chunk (``C <= BLOCK_C``: 19 classes of a segmentation
map, rows up to 1024 classes) one pass reads the logits and the target once; otherwise a first
loop over the target gives :math:`W`, a second writes the gradient. No atomics: deterministic.

Layout: ``input`` and ``target`` are read in place as ``(N, C, S)`` with their own strides (a
``(N, C)`` pair as ``(1, C, N)``): channels_last and sliced tensors are not copied.

Coverage (:func:`covers`): CUDA tensors (or CPU under ``TRITON_INTERPRET=1``), input and target
float16/bfloat16/float32/float64 ``(N, C, *)`` with ``C >= 1``, a target that does not require
grad while grad mode is on, ``class_weight`` ``(C,)`` floating, ``dtype`` a floating dtype. Math
in float32 (float64 when the compute dtype is float64). The second derivative is the
reference's (:func:`~visionloss.kernels.reference_backward`).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from ..cross_entropy import cross_entropy_probs_reference
from ._common import (
    FLOAT_DTYPES,
    LseLoss,
    class_blocks,
    device_reason,
    launch_lse_backward,
    launch_lse_forward,
    split_float,
    triton_dtype,
)

__all__ = ["covers", "cross_entropy_probs_triton"]

# Launch configuration (module attributes so that tests and benchmarks can try others)
#: elements of one (BLOCK_C, BLOCK_S) tile (two tiles live at once: logits and target)
TILE_ELEMENTS = 2048
#: class chunk when the positions are the contiguous axis (N, C, H, W maps)
MAX_BLOCK_C = 32
#: class chunk when the classes are the contiguous axis ((N, C) rows)
MAX_ROW_BLOCK_C = 1024
NUM_WARPS = 4


# --- device functions ---------------------------------------------------------------------------


@triton.jit  # type: ignore[untyped-decorator]
def _weighted_target(  # type: ignore[no-untyped-def]
    q_ptr,
    w_ptr,
    q_base,
    offs_c,
    mask_c,
    offs_s,
    mask,
    sqc,
    sqs,
    a,
    b,
    SMOOTH: tl.constexpr,
    HAS_WEIGHT: tl.constexpr,
    DTYPE: tl.constexpr,
):
    """``w_c q'_c`` on a ``(BLOCK_C, BLOCK_S)`` tile, 0 outside the tensor (``a = 1 - s``,
    ``b = s / C``)."""
    ptrs = q_ptr + q_base + offs_c[:, None].to(tl.int64) * sqc + offs_s[None, :] * sqs
    q = tl.load(ptrs, mask=mask, other=0.0).to(DTYPE)
    if SMOOTH:
        q = q * a + b  # the reference's order: q (1 - s) + s / C
    if HAS_WEIGHT:
        w = tl.load(w_ptr + offs_c, mask=mask_c, other=0.0).to(DTYPE)
        q = q * w[:, None]
    return tl.where(mask, q, 0.0)


@triton.jit  # type: ignore[untyped-decorator]
def _forward_kernel(  # type: ignore[no-untyped-def]
    x_ptr,
    q_ptr,
    w_ptr,
    loss_ptr,
    lse_ptr,
    C,
    S,
    S_BLOCKS,
    a_hi,
    a_lo,
    b_hi,
    b_lo,
    sxn,
    sxc,
    sxs,
    sqn,
    sqc,
    sqs,
    SMOOTH: tl.constexpr,
    HAS_WEIGHT: tl.constexpr,
    DTYPE: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_S: tl.constexpr,
):
    pid = tl.program_id(0)
    n = (pid // S_BLOCKS).to(tl.int64)
    offs_s = (pid % S_BLOCKS).to(tl.int64) * BLOCK_S + tl.arange(0, BLOCK_S)
    mask_s = offs_s < S
    a = tl.cast(a_hi, DTYPE) + tl.cast(a_lo, DTYPE)
    b = tl.cast(b_hi, DTYPE) + tl.cast(b_lo, DTYPE)
    m = tl.full([BLOCK_S], float("-inf"), DTYPE)
    total = tl.zeros([BLOCK_S], DTYPE)
    acc = tl.zeros([BLOCK_S], DTYPE)
    wq_sum = tl.zeros([BLOCK_S], DTYPE)
    for c0 in range(0, C, BLOCK_C):
        offs_c = c0 + tl.arange(0, BLOCK_C)
        mask_c = offs_c < C
        mask = mask_c[:, None] & mask_s[None, :]
        ptrs = x_ptr + n * sxn + offs_c[:, None].to(tl.int64) * sxc + offs_s[None, :] * sxs
        x = tl.load(ptrs, mask=mask, other=0.0).to(DTYPE)
        x = tl.where(mask_c[:, None], x, float("-inf"))
        wq = _weighted_target(
            q_ptr, w_ptr, n * sqn, offs_c, mask_c, offs_s, mask, sqc, sqs, a, b,
            SMOOTH, HAS_WEIGHT, DTYPE,
        )  # fmt: skip
        m_new = tl.maximum(m, tl.max(x, axis=0))
        # exp(-inf - m_new) = 0 on the first chunk
        total = total * tl.exp(m - m_new) + tl.sum(tl.exp(x - m_new[None, :]), axis=0)
        # A = sum_c w_c q'_c (m - x_c): the terms so far move by (m_new - m) each
        shift = tl.where(m == float("-inf"), 0.0, m_new - m)
        # padded classes have wq = 0 and x = -inf: read them as m_new (a zero term)
        x_in = tl.where(mask_c[:, None], x, m_new[None, :])
        acc = acc + wq_sum * shift + tl.sum(wq * (m_new[None, :] - x_in), axis=0)
        wq_sum += tl.sum(wq, axis=0)
        m = m_new
    log_total = tl.log(total)  # total >= 1: its log is accurate
    # sum_c w_c q'_c (lse - x_c) = A + W log l, without a log-probability per class
    loss = acc + wq_sum * log_total
    out = n * S + offs_s  # (N, S) contiguous
    tl.store(loss_ptr + out, loss.to(loss_ptr.dtype.element_ty), mask=mask_s)
    tl.store(lse_ptr + out, m + log_total, mask=mask_s)


@triton.jit  # type: ignore[untyped-decorator]
def _gradient_chunk(  # type: ignore[no-untyped-def]
    x_ptr,
    q_ptr,
    w_ptr,
    dx_ptr,
    n,
    c0,
    C,
    offs_s,
    mask_s,
    lse,
    g,
    big_w,
    a,
    b,
    sxn,
    sxc,
    sxs,
    sqn,
    sqc,
    sqs,
    son,
    soc,
    sos,
    SMOOTH: tl.constexpr,
    HAS_WEIGHT: tl.constexpr,
    DTYPE: tl.constexpr,
    BLOCK_C: tl.constexpr,
):
    """``g (W p_c - w_c q'_c)`` for the classes ``[c0, c0 + BLOCK_C)``, stored."""
    offs_c = c0 + tl.arange(0, BLOCK_C)
    mask_c = offs_c < C
    mask = mask_c[:, None] & mask_s[None, :]
    wq = _weighted_target(
        q_ptr, w_ptr, n * sqn, offs_c, mask_c, offs_s, mask, sqc, sqs, a, b,
        SMOOTH, HAS_WEIGHT, DTYPE,
    )  # fmt: skip
    ptrs = x_ptr + n * sxn + offs_c[:, None].to(tl.int64) * sxc + offs_s[None, :] * sxs
    x = tl.load(ptrs, mask=mask, other=0.0).to(DTYPE)
    p = tl.exp(x - lse[None, :])
    dx = g[None, :] * (p * big_w[None, :] - wq)
    out = dx_ptr + n * son + offs_c[:, None].to(tl.int64) * soc + offs_s[None, :] * sos
    tl.store(out, dx.to(dx_ptr.dtype.element_ty), mask=mask)


@triton.jit  # type: ignore[untyped-decorator]
def _backward_kernel(  # type: ignore[no-untyped-def]
    x_ptr,
    q_ptr,
    w_ptr,
    lse_ptr,
    g_ptr,
    dx_ptr,
    C,
    S,
    S_BLOCKS,
    a_hi,
    a_lo,
    b_hi,
    b_lo,
    sxn,
    sxc,
    sxs,
    sqn,
    sqc,
    sqs,
    sgn,
    sgs,
    son,
    soc,
    sos,
    SMOOTH: tl.constexpr,
    HAS_WEIGHT: tl.constexpr,
    ONE_CHUNK: tl.constexpr,
    DTYPE: tl.constexpr,
    BLOCK_C: tl.constexpr,
    BLOCK_S: tl.constexpr,
):
    pid = tl.program_id(0)
    n = (pid // S_BLOCKS).to(tl.int64)
    offs_s = (pid % S_BLOCKS).to(tl.int64) * BLOCK_S + tl.arange(0, BLOCK_S)
    mask_s = offs_s < S
    a = tl.cast(a_hi, DTYPE) + tl.cast(a_lo, DTYPE)
    b = tl.cast(b_hi, DTYPE) + tl.cast(b_lo, DTYPE)
    lse = tl.load(lse_ptr + n * S + offs_s, mask=mask_s, other=0.0)
    g = tl.load(g_ptr + n * sgn + offs_s * sgs, mask=mask_s, other=0.0).to(DTYPE)
    if ONE_CHUNK:
        # every class in one tile: the target is read once, its W summed from the tile
        offs_c = tl.arange(0, BLOCK_C)
        mask_c = offs_c < C
        mask = mask_c[:, None] & mask_s[None, :]
        wq = _weighted_target(
            q_ptr, w_ptr, n * sqn, offs_c, mask_c, offs_s, mask, sqc, sqs, a, b,
            SMOOTH, HAS_WEIGHT, DTYPE,
        )  # fmt: skip
        big_w = tl.sum(wq, axis=0)
        ptrs = x_ptr + n * sxn + offs_c[:, None].to(tl.int64) * sxc + offs_s[None, :] * sxs
        x = tl.load(ptrs, mask=mask, other=0.0).to(DTYPE)
        p = tl.exp(x - lse[None, :])
        dx = g[None, :] * (p * big_w[None, :] - wq)
        out = dx_ptr + n * son + offs_c[:, None].to(tl.int64) * soc + offs_s[None, :] * sos
        tl.store(out, dx.to(dx_ptr.dtype.element_ty), mask=mask)
    else:
        # W = sum_k w_k q'_k first (one read of the target), then the gradient chunk by chunk
        big_w = tl.zeros([BLOCK_S], DTYPE)
        for c0 in range(0, C, BLOCK_C):
            offs_c = c0 + tl.arange(0, BLOCK_C)
            mask_c = offs_c < C
            mask = mask_c[:, None] & mask_s[None, :]
            wq = _weighted_target(
                q_ptr, w_ptr, n * sqn, offs_c, mask_c, offs_s, mask, sqc, sqs, a, b,
                SMOOTH, HAS_WEIGHT, DTYPE,
            )  # fmt: skip
            big_w += tl.sum(wq, axis=0)
        for c0 in range(0, C, BLOCK_C):
            _gradient_chunk(
                x_ptr, q_ptr, w_ptr, dx_ptr, n, c0, C, offs_s, mask_s, lse, g, big_w, a, b,
                sxn, sxc, sxs, sqn, sqc, sqs, son, soc, sos,
                SMOOTH, HAS_WEIGHT, DTYPE, BLOCK_C,
            )  # fmt: skip


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
        out_dtype: torch.dtype,
        math_dtype: torch.dtype,
    ) -> None:
        s = float(label_smoothing)
        self.class_weight = class_weight
        self.scalars = (*split_float(1.0 - s), *split_float(s / num_classes))
        self.constexprs = dict(
            SMOOTH=s != 0,
            HAS_WEIGHT=class_weight is not None,
            DTYPE=triton_dtype(math_dtype),
        )
        self.label_smoothing = s
        self.out_dtype = out_dtype
        self.math_dtype = math_dtype

    def reference(self, x: Tensor, q: Tensor) -> Tensor:
        """The loss the kernels compute, in plain torch (for differentiated backwards)."""
        return cross_entropy_probs_reference(
            x, q, class_weight=self.class_weight, label_smoothing=self.label_smoothing,
            dtype=self.out_dtype,
        )  # fmt: skip

    def run_forward(self, x: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        return launch_lse_forward(
            _forward_kernel, x, t, self.class_weight, self, _blocks(x), NUM_WARPS
        )

    def run_backward(self, x: Tensor, t: Tensor, lse: Tensor, grad: Tensor) -> Tensor:
        blocks = _blocks(x)
        # one pass when every class fits in one chunk, else a first loop for sum_c w_c q'_c
        one_chunk = x.shape[1] <= blocks[0]
        return launch_lse_backward(
            _backward_kernel, x, t, lse, grad, self.class_weight, self, blocks, NUM_WARPS,
            ONE_CHUNK=one_chunk,
        )


# --- the public entry points -------------------------------------------------------------------


def _not_covered(
    x: Tensor, target: Tensor, class_weight: Tensor | None, dtype: torch.dtype | None = None
) -> str | None:
    if x.dtype not in FLOAT_DTYPES:
        return f"input dtype {x.dtype}"
    if x.dim() < 2 or x.shape[1] < 1:
        return f"input of shape {tuple(x.shape)} (expected (N, C, *) with C >= 1)"
    if target.dtype not in FLOAT_DTYPES:
        return f"target dtype {target.dtype} (probabilities of a floating dtype)"
    if target.requires_grad and torch.is_grad_enabled():
        return "a target that requires grad (the reference differentiates it)"
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
    """Whether :func:`cross_entropy_probs_triton` runs this call (the dispatcher's
    ``covered``): CUDA tensors (or CPU under ``TRITON_INTERPRET=1``), input and target
    float16/bfloat16/float32/float64 ``(N, C, *)``, a target that is not differentiated, a
    floating ``(C,)`` ``class_weight``, a floating compute ``dtype``."""
    return _not_covered(x, target, class_weight, dtype) is None


def _views(x: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """``(N, C, S)`` views of both (copies only where the strides do not merge); a ``(N, C)``
    pair is ``(1, C, N)``."""
    if target.shape != x.shape:
        raise ValueError(
            f"target: expected probabilities of the input's shape {tuple(x.shape)}, "
            f"got {tuple(target.shape)}"
        )
    if x.dim() == 2:
        return x.t().unsqueeze(0), target.t().unsqueeze(0)
    return x.flatten(2), target.flatten(2)


def cross_entropy_probs_triton(
    x: Tensor,
    probs: Tensor,
    *,
    class_weight: Tensor | None = None,
    label_smoothing: float = 0.0,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """:func:`~visionloss.kernels.cross_entropy.cross_entropy_probs` in two Triton kernels.

    Same arguments and values: the cross-entropy per position ``(N, *)`` of logits ``(N, C, *)``
    and probabilities ``(N, C, *)`` (any floating dtype, read as they are), the class weights
    inside, in ``dtype`` (default: the logits' dtype; the math is float32, float64 for a float64
    ``dtype``). Saved for backward: the inputs and one float per position. The gradient (of the
    logits only) has ``x``'s dtype.

    Raises:
        NotImplementedError: a call :func:`covers` rejects.
        ValueError: ``probs`` or ``class_weight`` of the wrong shape.
    """
    why = _not_covered(x, probs, class_weight, dtype)
    if why is not None:
        raise NotImplementedError(f"cross_entropy_probs_triton does not cover {why}")
    out_dtype = dtype or x.dtype
    math_dtype = torch.float64 if out_dtype == torch.float64 else torch.float32
    if class_weight is not None:
        if class_weight.shape[0] != x.shape[1]:
            raise ValueError(
                f"class_weight: expected shape ({x.shape[1]},), got {tuple(class_weight.shape)}"
            )
        class_weight = class_weight.detach().contiguous()
    cfg = _Config(x.shape[1], class_weight, label_smoothing, out_dtype, math_dtype)
    xv, qv = _views(x, probs.detach())
    loss, _ = LseLoss.apply(xv, qv, cfg)
    result: Tensor = loss.squeeze(0) if x.dim() == 2 else loss.view(x.shape[0], *x.shape[2:])
    return result
