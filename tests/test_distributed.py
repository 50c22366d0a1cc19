"""The cross-rank helpers, on 2 gloo processes: values and the DDP gradient convention."""

from __future__ import annotations

import torch

from distributed_utils import run_on_ranks
from visionloss.distributed import gather_cat, is_synced, sync_sum


def _sum_and_gather(rank: int, world_size: int):
    x = torch.arange(3.0, requires_grad=True) + 10 * rank
    x.retain_grad()
    total = sync_sum(x.sum().reshape(1), sync=True)
    gathered, offset = gather_cat(x.view(3, 1), sync=True)
    (total.sum() * 2 + gathered.pow(2).sum()).backward()
    return total.detach(), gathered.detach(), offset, x.grad


def test_sum_and_gather_across_two_ranks():
    results = run_on_ranks(_sum_and_gather, 2)
    # rank 0 holds 0,1,2 and rank 1 holds 10,11,12: sum 36 on every rank
    for rank, (total, gathered, offset, grad) in enumerate(results):
        assert total.item() == 36.0
        assert gathered.flatten().tolist() == [0, 1, 2, 10, 11, 12]
        assert offset == 3 * rank
        # single process: d/dx (2 sum x + sum x^2) = 2 + 2x; each rank gets K=2 times that
        x = torch.arange(3.0) + 10 * rank
        torch.testing.assert_close(grad, 2 * (2 + 2 * x))


def test_without_process_group_is_identity():
    x = torch.randn(4)
    assert not is_synced(True)
    assert sync_sum(x, sync=True) is x
    assert gather_cat(x, sync=True) == (x, 0)
