"""Metric learning on digits: triplet losses with three mining strategies, contrastive pairs and
NT-Xent with two images of a digit as the two views.

An MLP maps each digit to a unit vector in 8 dimensions; batches hold every class, K images
each (P×K sampling, as in Hermans et al.). The metric is recall@1 on the held-out half: the share
of test images whose nearest other test image has the same digit. A reference row shows the same
metric for the pixels projected on their first 8 principal components (no training).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

import visionloss.functional as VF
from visionloss.losses.embedding import Mining

from ._common import (
    Method,
    Row,
    Settings,
    TaskResult,
    Tick,
    digits,
    figure,
    fit,
    mlp,
    run_methods,
    save,
)
from ._common import seed_everything as _seed

NAME = "embedding"
TITLE = "triplet embeddings of digits"
DIM = 8


def _sizes(s: Settings) -> dict[str, int]:
    return {"steps": s.pick(2, 200, 600), "per_class": s.pick(2, 6, 8)}


def total_steps(s: Settings) -> int:
    return 5 * _sizes(s)["steps"]


def recall_at_1(emb: Tensor, labels: Tensor) -> float:
    d = torch.cdist(emb, emb)
    d.fill_diagonal_(float("inf"))
    return float((labels[d.argmin(1)] == labels).float().mean())


def pk_batch(labels: Tensor, per_class: int, generator: torch.Generator) -> Tensor:
    """Indices of ``per_class`` random images of every class."""
    picks = []
    for c in range(10):
        idx = torch.nonzero(labels == c).flatten()
        picks.append(idx[torch.randint(0, idx.numel(), (per_class,), generator=generator)])
    return torch.cat(picks)


def _pairs(emb: Tensor, labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    i, j = torch.triu_indices(len(labels), len(labels), offset=1)
    return emb[i], emb[j], (labels[i] == labels[j]).to(emb.dtype)


def nt_xent_views(emb: Tensor, per_class: int, temperature: float) -> Tensor:
    """NT-Xent over a :func:`pk_batch` (10 classes, ``per_class`` images each, in class order):
    images ``2j`` and ``2j + 1`` of every class are the two views of group ``j``, and each
    group's loss has the other nine digits as its negatives (one group holds one pair per
    digit, so no negative shares the anchor's label); the mean over the groups."""
    grouped = emb.reshape(10, per_class, -1)
    losses = [
        VF.nt_xent_loss(grouped[:, 2 * j], grouped[:, 2 * j + 1], temperature=temperature)
        for j in range(per_class // 2)
    ]
    return torch.stack(losses).mean()


def pca(x_train: Tensor, x: Tensor, k: int) -> Tensor:
    mean = x_train.mean(0)
    _, _, v = torch.linalg.svd(x_train - mean, full_matrices=False)
    return torch.matmul(x - mean, v[:k].T)


def run(s: Settings, tick: Tick) -> TaskResult:
    cfg = _sizes(s)
    x_train, y_train, x_test, y_test = digits(s.seed)
    embeddings: dict[str, Tensor] = {}
    recalls: dict[str, float] = {}

    def train(label: str, loss: Callable[[Tensor, Tensor], Tensor]) -> Row:
        generator = _seed(s.seed)
        net = mlp(64, 64, DIM)

        def loss_at(step: int) -> Tensor:
            idx = pk_batch(y_train, cfg["per_class"], generator)
            return loss(F.normalize(net(x_train[idx]), dim=1), y_train[idx])

        fit(net.parameters(), loss_at, cfg["steps"], lambda: tick(label), lr=3e-3)
        with torch.no_grad():
            emb = F.normalize(net(x_test), dim=1)
        embeddings[label] = emb
        recalls[label] = recall_at_1(emb, y_test)
        return Row(label, {"recall@1": recalls[label]})

    def triplet(mining: Mining) -> Callable[[Tensor, Tensor], Tensor]:
        return lambda emb, y: VF.batch_triplet_loss(emb, y, mining=mining)

    def contrastive(emb: Tensor, y: Tensor) -> Tensor:
        return VF.contrastive_loss(*_pairs(emb, y))

    def nt_xent(emb: Tensor, y: Tensor) -> Tensor:
        return nt_xent_views(emb, cfg["per_class"], 0.1)

    def pixels() -> Row:
        return Row("", {"recall@1": recall_at_1(pca(x_train, x_test, DIM), y_test)})

    specs: list[tuple[str, Callable[[Tensor, Tensor], Tensor]]] = [
        ("triplet, batch-hard", triplet("batch_hard")),
        ("triplet, semi-hard", triplet("semi_hard")),
        ("triplet, batch-all", triplet("batch_all")),
        ("contrastive, all pairs", contrastive),
        ("NT-Xent τ=0.1, same-digit views", nt_xent),
    ]
    methods = [
        Method("pixels, PCA to 8 dims", pixels, reference=True),
        *(Method(label, functools.partial(train, label, loss)) for label, loss in specs),
    ]
    result = TaskResult(NAME, TITLE, "recall@1", True)
    result.rows = run_methods(methods)
    result.note = f"unit vectors in {DIM} dims, batches of 10 classes × {cfg['per_class']}"
    if embeddings:
        result.figures.append(_figure(s, embeddings, recalls, y_test))
    return result


def _figure(
    s: Settings, embeddings: dict[str, Tensor], recalls: dict[str, float], labels: Tensor
) -> str:
    fig = figure((3.2 * len(embeddings), 3.5))
    axes = np.atleast_1d(fig.subplots(1, len(embeddings)))
    for ax, (label, emb) in zip(axes, embeddings.items(), strict=True):
        xy = pca(emb, emb, 2).numpy()
        points = ax.scatter(
            xy[:, 0], xy[:, 1], c=labels.numpy(), cmap="tab10", s=5, vmin=-0.5, vmax=9.5
        )
        ax.set_title(f"{label}\nrecall@1 {recalls[label]:.3f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(points, ax=list(axes), ticks=range(10), label="digit", shrink=0.8)
    fig.suptitle("held-out digit embeddings (first two principal components)", fontsize=11)
    return save(fig, s, "embedding.png")
