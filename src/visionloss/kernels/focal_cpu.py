"""Softmax focal loss with class ids on CPU through torch's own ``nll_loss``.

``F.nll_loss(log_probs, ids, ignore_index=..., reduction="none")`` picks ``-log p_t`` at every
position and gives exactly 0 at the ignored ones, with a zero gradient there; it also refuses
ids out of range itself. So this path needs neither the canonical index (a ``where`` over the
ids), nor the validity mask of the reduction (another ``where``, forward and backward), nor the
range check's pass over the ids: what remains is torch's log-softmax, its gather and a few
elementwise ops on the ``(N, *)`` positions. It is taken under ``"auto"`` on CPU, where those
small passes were the measured difference to the plain composition (``visionloss bench
--paths``, 8x19x96x96); everything else (CUDA, probability targets, a per-element ``weight``,
half logits, ``sync``, forced backends, ``torch.func`` transforms) takes
:func:`visionloss.kernels.focal.softmax_focal`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.checks import check_class_ids
from . import get_kernels, transforms_active
from .focal import Alpha, focal_of_log_p

__all__ = ["softmax_focal_torch", "torch_takes_focal"]


def torch_takes_focal(
    x: Tensor, target: Tensor, *, ignore_index: int | None, weight: Tensor | None, sync: bool
) -> bool:
    """Whether :func:`softmax_focal_torch` computes this multiclass call: ``"auto"``, a CPU
    float32/float64 ``(N, C, *)`` input with ``C >= 2``, ``(N, *)`` integer ids on the same
    device, an ``ignore_index`` (torch always ignores some value: without one, an id of that
    value must be refused, which only the general path's check does), no per-element
    ``weight``, no ``sync``, no ``torch.func`` transform. A malformed call takes the general
    path, which reports it."""
    if get_kernels() != "auto" or x.device.type != "cpu" or weight is not None or sync:
        return False
    if ignore_index is None:
        return False
    if x.dtype not in (torch.float32, torch.float64) or transforms_active():
        return False
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        return False
    if x.dim() < 2 or x.shape[1] < 2 or target.shape != x.shape[:1] + x.shape[2:]:
        return False
    return target.device == x.device


def softmax_focal_torch(
    x: Tensor,
    target: Tensor,
    *,
    alpha: Alpha,
    gamma: float,
    ignore_index: int | None,
    reduction: str,
) -> Tensor:
    """The reduced softmax focal loss of a call :func:`torch_takes_focal` accepts.

    Per position :math:`-\\alpha_t (1 - p_t)^\\gamma \\log p_t`, 0 at ignored positions;
    ``"mean"`` divides the sum by the number of positions kept (a fully ignored or empty batch
    gives 0 with zero gradients), ``"sum"`` sums, ``"none"`` returns the ``(N, *)`` values.
    ``alpha``: ``None``, a number, or a ``(C,)`` tensor (not differentiated, as on the general
    path). Ids out of range raise the library's ``ValueError`` when the data checks are on.
    """
    ids = target if target.dtype == torch.int64 else target.long()
    ignore = -100 if ignore_index is None else ignore_index  # torch_takes_focal refuses None
    log_probs = F.log_softmax(x, dim=1)
    try:
        log_pt = F.nll_loss(log_probs, ids, ignore_index=ignore, reduction="none").neg()
    except (IndexError, RuntimeError):
        # torch refuses an id out of [0, C): the data check names it (when checks are on)
        check_class_ids(target, x.shape[1], ignore_index)
        raise
    # log p_t = 0 at ignored positions, where (1 - p_t)^gamma log p_t is 0 for every gamma
    loss = focal_of_log_p(log_pt, gamma)
    if isinstance(alpha, Tensor):
        # any class will do at ignored positions (their loss is 0): clamp makes the index safe
        loss = loss * alpha.index_select(0, ids.clamp(0, x.shape[1] - 1).flatten()).view_as(loss)
    elif alpha is not None:
        loss = loss * alpha
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    count = (ids != ignore).sum(dtype=loss.dtype)
    # a fully ignored batch: sum and count are both 0, and 0 / 1 is the result
    return total / torch.where(count == 0, torch.ones_like(count), count)
