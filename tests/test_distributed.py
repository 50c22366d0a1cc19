"""The cross-rank helpers and every synced loss on 2 gloo processes.

* :func:`gather_cat` and :func:`sync_sum`: values, offsets and the DDP gradient convention, with
  equal, uneven and empty shards.
* Every loss with a ``sync`` option (found from the catalogue's specs, so a new synced loss fails
  :func:`test_every_synced_loss_is_covered` until it is added to ``SYNCED``), on uneven (3+1) and
  empty (4+0) shards: the loss on every rank equals one process on the concatenated batch, and each
  rank's gradient for its shard is K = 2 times the single-process gradient (DESIGN section 4).
* A few DDP optimiser steps of a tiny model with a synced loss equal one process training on the
  concatenated batch.

Spawning the ranks costs seconds, so one spawn (a module-scoped fixture) runs every check and the
tests below only compare what it returned with the single-process computation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import torch

import visionloss.functional as VF
from distributed_utils import run_on_ranks
from visionloss.distributed import gather_cat, is_synced, sync_sum

K = 2
F64 = torch.float64
# rows per rank, in "units": the overlap and focal losses take one sample per unit, the triplet
# losses two embedding rows per unit (so that a 3+1 split still leaves triplets to mine)
LAYOUTS = {"uneven": (3, 1), "empty": (4, 0)}


# --- the global batches (every rank builds the same ones and takes its shard) -----------------------


def _segmentation_batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(4, 3, 4, 5, generator=gen, dtype=F64)
    t = torch.randint(0, 3, (4, 4, 5), generator=gen)
    t[0, 0] = -100
    return x, t


def _focal_batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(12)
    x = torch.randn(4, 6, generator=gen, dtype=F64) * 2
    y = (torch.rand(4, 6, generator=gen) < 0.2).to(F64)
    y[0, 0] = y[3, 5] = 1.0  # positives on both ranks of the 3+1 split
    return x, y


def _embedding_batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(13)
    x = torch.randn(8, 3, generator=gen, dtype=F64)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    return x, labels


def _views_batch() -> tuple[torch.Tensor, torch.Tensor]:
    # NT-Xent's two views: the second is the "target" shard (sharded alike, not differentiated)
    gen = torch.Generator().manual_seed(14)
    z1 = torch.randn(8, 3, generator=gen, dtype=F64)
    return z1, z1 + 0.5 * torch.randn(8, 3, generator=gen, dtype=F64)


Case = tuple[str, Callable[..., torch.Tensor], dict[str, Any], Callable[[], Any], int]

SEG = _segmentation_batch
SYNCED: list[Case] = [
    # (name, loss, options, global batch, rows per unit)
    ("dice", VF.dice_loss, {"mode": "multiclass"}, SEG, 1),
    ("dice_batch", VF.dice_loss, {"mode": "multiclass", "batch_dice": True}, SEG, 1),
    ("jaccard_sum", VF.jaccard_loss, {"mode": "multiclass", "reduction": "sum"}, SEG, 1),
    ("tversky_batch", VF.tversky_loss, {"mode": "multiclass", "batch_dice": True}, SEG, 1),
    ("focal_tversky", VF.focal_tversky_loss, {"mode": "multiclass"}, SEG, 1),
    (
        "generalized_dice",
        VF.generalized_dice_loss,
        {"mode": "multiclass", "batch_dice": True},
        SEG,
        1,
    ),
    ("dice_ce", VF.dice_ce_loss, {"batch_dice": True}, SEG, 1),
    ("dice_focal", VF.dice_focal_loss, {}, SEG, 1),
    ("dice_topk", VF.dice_topk_loss, {"batch_dice": True, "k": 0.3}, SEG, 1),
    ("mcc_batch", VF.mcc_loss, {"mode": "multiclass", "batch_dice": True}, SEG, 1),
    ("soft_cldice", VF.soft_cldice_loss, {"mode": "multiclass"}, SEG, 1),
    ("focal", VF.focal_loss, {"alpha": 0.25, "normalize": True}, _focal_batch, 1),
    *[
        (
            f"batch_triplet_{m}",
            VF.batch_triplet_loss,
            {"mining": m, "margin": 0.8},
            _embedding_batch,
            2,
        )
        for m in ("batch_hard", "batch_all", "semi_hard")
    ],
    (
        "batch_triplet_all_soft",
        VF.batch_triplet_loss,
        {"mining": "batch_all", "soft_margin": True},
        _embedding_batch,
        2,
    ),
    (
        "batch_triplet_all_sum_cosine",
        VF.batch_triplet_loss,
        {"mining": "batch_all", "distance": "cosine", "margin": 0.3, "reduction": "sum"},
        _embedding_batch,
        2,
    ),
    ("nt_xent", VF.nt_xent_loss, {"temperature": 0.2}, _views_batch, 2),
    ("clip", VF.clip_loss, {"temperature": 0.2}, _views_batch, 2),
]


def _shard(layout: tuple[int, ...], rank: int, unit: int) -> slice:
    start = sum(layout[:rank]) * unit
    return slice(start, start + layout[rank] * unit)


# --- what every rank runs ------------------------------------------------------------------------


def _helpers(rank: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    # equal shards: rank 0 holds 0,1,2 and rank 1 holds 10,11,12
    x = torch.arange(3.0, requires_grad=True) + 10 * rank
    x.retain_grad()
    total = sync_sum(x.sum().reshape(1), sync=True)
    gathered, offset = gather_cat(x.view(3, 1), sync=True)
    (total.sum() * 2 + gathered.pow(2).sum()).backward()
    out["equal"] = (total.detach(), gathered.detach(), offset, x.grad)
    # uneven and empty shards, 2-D rows, with and without autograd
    for name, rows in (("uneven", (3, 1)), ("empty", (0, 4)), ("all_empty", (0, 0))):
        n = rows[rank]
        leaf = (torch.arange(2.0 * n).view(n, 2) + 100 * rank).requires_grad_(True)
        got, offset = gather_cat(leaf, sync=True)
        (got.pow(2).sum() * (rank + 1)).backward()  # a different loss per rank: the grads add up
        ids, ids_offset = gather_cat(torch.full((n,), rank), sync=True)
        out[name] = (got.detach(), offset, leaf.grad, ids, ids_offset)
    # trailing shapes that differ: a clear error on every rank, not a gloo crash or a hang
    try:
        gather_cat(torch.zeros(2, 3 + rank), sync=True)
        out["mismatch"] = None
    except ValueError as error:
        out["mismatch"] = str(error)
    return out


def _synced_losses() -> dict[str, Any]:
    rank = torch.distributed.get_rank()
    out: dict[str, Any] = {}
    for layout_name, layout in LAYOUTS.items():
        for name, fn, options, batch, unit in SYNCED:
            x, target = batch()
            rows = _shard(layout, rank, unit)
            shard = x[rows].clone().requires_grad_(True)
            loss = fn(shard, target[rows], sync=True, **options)
            loss.backward()
            grad = shard.grad if shard.grad is not None else torch.zeros_like(shard)
            out[layout_name, name] = (loss.detach(), grad)
    return out


def _tiny_model() -> torch.nn.Module:
    torch.manual_seed(5)
    return torch.nn.Sequential(
        torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 4)
    ).double()


DDP_STEPS = 3
DDP_LOSSES = {
    "batch_all": lambda e, y, sync: VF.batch_triplet_loss(
        e, y, mining="batch_all", margin=0.5, sync=sync
    ),
    "batch_hard": lambda e, y, sync: VF.batch_triplet_loss(e, y, margin=0.5, sync=sync),
}


def _train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, loss_name: str, sync: bool):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    losses = []
    for _ in range(DDP_STEPS):
        optimizer.zero_grad()
        loss = DDP_LOSSES[loss_name](model(x), y, sync)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return torch.stack(losses)


def _ddp_runs() -> dict[str, Any]:
    from torch.nn.parallel import DistributedDataParallel

    rank = torch.distributed.get_rank()
    out: dict[str, Any] = {}
    for layout_name, layout in LAYOUTS.items():
        for loss_name in DDP_LOSSES:
            x, labels = _embedding_batch()
            rows = _shard(layout, rank, 2)
            model = DistributedDataParallel(_tiny_model())
            losses = _train(model, x[rows], labels[rows], loss_name, sync=True)
            params = [p.detach().clone() for p in model.module.parameters()]
            out[layout_name, loss_name] = (losses, params)
    return out


def _everything(rank: int, world_size: int) -> dict[str, Any]:
    return {"helpers": _helpers(rank), "losses": _synced_losses(), "ddp": _ddp_runs()}


@pytest.fixture(scope="module")
def per_rank() -> list[dict[str, Any]]:
    return run_on_ranks(_everything, K)


# --- the helpers -----------------------------------------------------------------------------------


def test_sum_and_gather_equal_shards(per_rank):
    for rank, result in enumerate(per_rank):
        total, gathered, offset, grad = result["helpers"]["equal"]
        # rank 0 holds 0,1,2 and rank 1 holds 10,11,12: sum 36 on every rank
        assert total.item() == 36.0
        assert gathered.flatten().tolist() == [0, 1, 2, 10, 11, 12]
        assert offset == 3 * rank
        # single process: d/dx (2 sum x + sum x^2) = 2 + 2x; each rank gets K=2 times that
        x = torch.arange(3.0) + 10 * rank
        torch.testing.assert_close(grad, 2 * (2 + 2 * x))


@pytest.mark.parametrize(
    "name, rows", [("uneven", (3, 1)), ("empty", (0, 4)), ("all_empty", (0, 0))]
)
def test_gather_cat_uneven_and_empty_shards(per_rank, name, rows):
    shards = [torch.arange(2.0 * n).view(n, 2) + 100 * r for r, n in enumerate(rows)]
    expected = torch.cat(shards)
    for rank, result in enumerate(per_rank):
        got, offset, grad, ids, ids_offset = result["helpers"][name]
        torch.testing.assert_close(got, expected)
        assert offset == ids_offset == sum(rows[:rank])
        assert ids.tolist() == [r for r, n in enumerate(rows) for _ in range(n)]
        # rank r's loss is (r + 1) * sum(gathered^2): the gradient of a rank's own rows is the
        # sum over the ranks, (1 + 2) * 2x; the padding rows of the short shard get none
        torch.testing.assert_close(grad, 3 * 2 * shards[rank])


def test_gather_cat_rejects_different_trailing_shapes_on_every_rank(per_rank):
    for result in per_rank:
        message = result["helpers"]["mismatch"]
        assert message is not None and "same trailing shape" in message
        assert "[(2, 3), (2, 4)]" in message


def test_without_process_group_is_identity():
    x = torch.randn(4)
    assert not is_synced(True)
    assert sync_sum(x, sync=True) is x
    assert gather_cat(x, sync=True) == (x, 0)


# --- every synced loss -----------------------------------------------------------------------------


def test_every_synced_loss_is_covered():
    from visionloss.losses import SPECS

    synced = {
        spec.name
        for spec in SPECS
        if any(field.name == "sync" for field in dataclasses.fields(spec.options))
    }
    covered = {fn.__name__.removesuffix("_loss") for _, fn, _, _, _ in SYNCED}
    assert synced == covered, f"synced losses without a distributed test: {synced - covered}"


@pytest.mark.parametrize("layout_name", list(LAYOUTS))
@pytest.mark.parametrize("case", SYNCED, ids=[case[0] for case in SYNCED])
def test_synced_loss_equals_one_process_on_the_concatenated_batch(per_rank, layout_name, case):
    name, fn, options, batch, unit = case
    layout = LAYOUTS[layout_name]
    x, target = batch()
    full = x.clone().requires_grad_(True)
    expected = fn(full, target, **options)  # one process, the whole batch
    (expected_grad,) = torch.autograd.grad(expected, full)
    assert torch.isfinite(expected) and expected.abs() > 0  # a case that tests something
    for rank, result in enumerate(per_rank):
        loss, grad = result["losses"][layout_name, name]
        torch.testing.assert_close(loss, expected.detach(), msg=f"{name} rank {rank}")
        # DDP convention: each rank's gradient for its own rows is K times the single-process one
        torch.testing.assert_close(
            grad, K * expected_grad[_shard(layout, rank, unit)], msg=f"{name} grad, rank {rank}"
        )


# --- DDP training ----------------------------------------------------------------------------------


@pytest.mark.parametrize("loss_name", list(DDP_LOSSES))
@pytest.mark.parametrize("layout_name", list(LAYOUTS))
def test_ddp_steps_equal_one_process_on_the_concatenated_batch(per_rank, layout_name, loss_name):
    x, labels = _embedding_batch()
    model = _tiny_model()
    losses = _train(model, x, labels, loss_name, sync=False)
    assert losses[-1] < losses[0]  # it trains
    for rank, result in enumerate(per_rank):
        rank_losses, rank_params = result["ddp"][layout_name, loss_name]
        torch.testing.assert_close(rank_losses, losses, msg=f"losses, rank {rank}")
        for got, expected in zip(rank_params, model.parameters(), strict=True):
            torch.testing.assert_close(got, expected.detach(), msg=f"parameters, rank {rank}")
