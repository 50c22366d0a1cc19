"""Cross-rank reductions for losses that need statistics of the whole batch.

Losses whose value depends on the whole batch (the per-class sums of the overlap losses, the
positive count of a normalised focal loss, the embeddings that triplet mining compares) take
``sync=False, process_group=None``. With ``sync=True`` and an initialised process group they combine
those statistics across ranks with the autograd-aware collectives of ``torch.distributed.nn``, so
that the loss on K ranks with B samples each equals the loss on one process with K*B samples, on
every rank.

Gradients follow DDP's convention: the backward of an all-reduce (or all-gather) sums the
gradients of every rank, so each rank's gradient for its own shard is K times the single-process
gradient, and DDP's average over ranks gives exactly the single-process update. Without an
initialised process group (or with ``sync=False``) these functions return their input unchanged.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ["gather_cat", "is_synced", "sync_sum", "world_rank"]


def is_synced(sync: bool, process_group: object | None = None) -> bool:
    """True when statistics should be combined across ranks: ``sync`` and a process group is up."""
    if not isinstance(sync, bool):
        raise TypeError(f"sync: expected a bool, got {sync!r}")
    return sync and dist.is_available() and dist.is_initialized()


def world_rank(process_group: object | None = None) -> tuple[int, int]:
    """``(world_size, rank)`` of the group, ``(1, 0)`` without distributed."""
    if not (dist.is_available() and dist.is_initialized()):
        return 1, 0
    group = process_group or dist.group.WORLD
    return dist.get_world_size(group), dist.get_rank(group)  # type: ignore[arg-type]


def sync_sum(tensor: Tensor, *, sync: bool, process_group: object | None = None) -> Tensor:
    """Sum ``tensor`` over the ranks (autograd-aware); the identity unless :func:`is_synced`.

    Every rank must call it with the same shape.
    """
    if not is_synced(sync, process_group):
        return tensor
    from torch.distributed.nn.functional import all_reduce

    group = process_group or dist.group.WORLD
    result: Tensor = all_reduce(tensor, op=dist.ReduceOp.SUM, group=group)
    return result


def gather_cat(
    tensor: Tensor, *, sync: bool, process_group: object | None = None
) -> tuple[Tensor, int]:
    """Concatenate ``tensor`` from every rank along dim 0 (autograd-aware).

    Returns:
        ``(gathered, offset)``: the concatenation in rank order and the row where this rank's own
        rows start. Without sync: ``(tensor, 0)``. Every rank must pass the same shape.
    """
    if not is_synced(sync, process_group):
        return tensor, 0
    from torch.distributed.nn.functional import all_gather

    group = process_group or dist.group.WORLD
    parts = all_gather(tensor.contiguous(), group=group)
    rank = dist.get_rank(group)  # type: ignore[arg-type]
    return torch.cat(parts, dim=0), rank * tensor.shape[0]
