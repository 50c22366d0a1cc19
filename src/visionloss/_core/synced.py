"""The shared reduction over several processes.

:func:`reduce_loss_synced` is :func:`~visionloss._core.reduce_loss` over the union of every rank's
elements: with ``sync=True`` and an initialised process group, ``"mean"`` and ``"sum"`` give on
every rank the value one process would give on the concatenated batch (the numerator and the
count are summed across ranks with the autograd-aware :func:`visionloss.distributed.sync_sum`).
Each rank's gradient for its own elements is then K times the single-process one (DDP's
convention: its average over the ranks is the single-process gradient).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..distributed import is_synced, sync_sum
from .checks import check_flag
from .reduction import check_reduction, reduce_loss

__all__ = ["check_flag", "reduce_loss_synced"]


def reduce_loss_synced(
    loss: Tensor,
    reduction: str = "mean",
    *,
    weight: Tensor | None = None,
    valid: Tensor | None = None,
    sync: bool = False,
    process_group: object | None = None,
) -> Tensor:
    """:func:`~visionloss._core.reduce_loss` across ranks when ``sync`` is on.

    ``"none"`` stays local (each rank's own unreduced loss). ``"sum"`` is the sum over every
    rank's elements; ``"mean"`` that sum divided by the total count (or total weight), both
    summed across ranks, so ranks may hold different numbers of elements. Without sync (or
    without an initialised process group) this is exactly ``reduce_loss``.
    """
    check_reduction(reduction)
    if reduction == "none" or not is_synced(sync, process_group):
        return reduce_loss(loss, reduction, weight=weight, valid=valid)
    total = sync_sum(
        reduce_loss(loss, "sum", weight=weight, valid=valid),
        sync=sync,
        process_group=process_group,
    )
    if reduction == "sum":
        return total
    with torch.no_grad():
        # the denominator reduce_loss would use, computed by reduce_loss itself on ones
        count = reduce_loss(torch.ones_like(loss), "sum", weight=weight, valid=valid)
    count = sync_sum(count, sync=sync, process_group=process_group)
    # as in reduce_loss: an empty or fully ignored union gives 0 with zero gradients
    return total / torch.where(count > 0, count, torch.ones_like(count))
