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
Ranks may hold different numbers of samples, and a rank may hold none (:func:`gather_cat`
exchanges the shard sizes first and pads to the largest shard).
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

    Ranks may hold different numbers of rows, and a rank may hold none: the shapes are exchanged
    first (one all-gather of a small size tensor), every shard is padded to the largest one, the
    padded shards are all-gathered and the padding is dropped again. The trailing dimensions must
    agree on every rank (a ``ValueError`` on every rank otherwise, never a hang). When ``tensor``
    requires grad, the gather is ``torch.distributed.nn``'s autograd-aware all-gather: the backward
    sums every rank's gradient for this rank's rows (DDP's convention, see the module docstring);
    the padding rows get no gradient.

    Returns:
        ``(gathered, offset)``: the concatenation in rank order and the row where this rank's own
        rows start (the number of rows of the ranks before it). Without sync: ``(tensor, 0)``.
    """
    if not is_synced(sync, process_group):
        return tensor, 0
    group = process_group or dist.group.WORLD
    world_size = dist.get_world_size(group)  # type: ignore[arg-type]
    rank = dist.get_rank(group)  # type: ignore[arg-type]
    if tensor.dim() == 0:
        raise ValueError("gather_cat: expected a tensor with at least one dimension, got a scalar")

    # 1. every rank's shape (on the tensor's device: NCCL gathers only device tensors)
    shape = torch.tensor(tensor.shape, dtype=torch.long, device=tensor.device)
    shapes = [torch.empty_like(shape) for _ in range(world_size)]
    dist.all_gather(shapes, shape, group=group)
    all_shapes = [tuple(int(v) for v in s.tolist()) for s in shapes]  # one host sync
    trailing = {s[1:] for s in all_shapes}
    if len(trailing) != 1:
        raise ValueError(
            f"gather_cat: every rank must pass the same trailing shape, got {all_shapes} "
            "(rank order)"
        )
    rows = [s[0] for s in all_shapes]
    offset = sum(rows[:rank])
    largest = max(rows)
    if largest == 0:
        # nothing anywhere: every rank returns its own (empty) tensor, still tied to the graph
        return tensor, 0

    # 2. pad to the largest shard, gather, drop the padding
    local = tensor.contiguous()
    if local.shape[0] < largest:
        pad = local.new_zeros((largest - local.shape[0], *local.shape[1:]))
        local = torch.cat([local, pad], dim=0)
    if tensor.requires_grad:
        from torch.distributed.nn.functional import all_gather

        parts = list(all_gather(local, group=group))
    else:
        parts = [torch.empty_like(local) for _ in range(world_size)]
        dist.all_gather(parts, local, group=group)
    gathered = torch.cat([part[:n] for part, n in zip(parts, rows, strict=True)], dim=0)
    return gathered, offset
