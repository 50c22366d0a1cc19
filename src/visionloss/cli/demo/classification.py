"""Imbalanced digits: cross-entropy, class-weighted cross-entropy and focal loss.

scikit-learn's digits, split in two stratified halves; in the training half the odd digits keep
only 3% of their images (3 each against about 90 for the even digits). The test half stays
balanced, so the metric is the balanced accuracy (macro recall), with the recall of the rare
classes beside it. A small MLP, full-batch Adam, the same initialisation for every loss.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

import visionloss.functional as VF
from visionloss import class_weights

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

NAME = "classification"
TITLE = "imbalanced digits (odd digits rare)"
RARE = (1, 3, 5, 7, 9)
LossFn = Callable[[Tensor, Tensor], Tensor]
KEEP = 0.03


def _steps(s: Settings) -> int:
    return s.pick(3, 250, 600)


def total_steps(s: Settings) -> int:
    return 4 * _steps(s)


def imbalanced(seed: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    x_train, y_train, x_test, y_test = digits(seed)
    rs = np.random.RandomState(seed)
    keep = np.ones(len(y_train), bool)
    for c in RARE:
        idx = np.nonzero(y_train.numpy() == c)[0]
        drop = rs.permutation(idx)[max(2, round(KEEP * len(idx))) :]
        keep[drop] = False
    keep_t = torch.from_numpy(keep)
    return x_train[keep_t], y_train[keep_t], x_test, y_test


def recalls(pred: Tensor, target: Tensor) -> np.ndarray:
    return np.array([float((pred[target == c] == c).float().mean()) for c in range(10)])


def run(s: Settings, tick: Tick) -> TaskResult:
    x_train, y_train, x_test, y_test = imbalanced(s.seed)
    counts = torch.bincount(y_train, minlength=10).double()
    steps = _steps(s)
    per_class: dict[str, np.ndarray] = {}

    def train(label: str, make_loss: Callable[[], LossFn]) -> Row:
        loss = make_loss()
        _seed(s.seed)
        net = mlp(64, 48, 10)
        fit(
            net.parameters(),
            lambda _: loss(net(x_train), y_train),
            steps,
            lambda: tick(label),
            lr=1e-2,
            weight_decay=1e-4,
        )
        with torch.no_grad():
            pred = net(x_test).argmax(1)
        r = recalls(pred, y_test)
        per_class[label] = r
        return Row(
            label,
            {
                "balanced acc": float(r.mean()),
                "rare recall": float(r[list(RARE)].mean()),
                "common recall": float(np.delete(r, RARE).mean()),
            },
        )

    def weighted(scheme: str, **options: float) -> LossFn:
        w = class_weights(counts, scheme=scheme, **options).float()
        return lambda logits, y: VF.cross_entropy(logits, y, class_weight=w)

    def cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
        return VF.cross_entropy(logits, y)

    def focal(logits: Tensor, y: Tensor) -> Tensor:
        return VF.focal_loss(logits, y, mode="multiclass", gamma=2.0)

    specs: list[tuple[str, Callable[[], LossFn]]] = [
        ("cross-entropy", lambda: cross_entropy),
        ("CE, inverse-frequency weights", lambda: weighted("inverse")),
        ("CE, effective-number weights", lambda: weighted("effective_number", beta=0.99)),
        ("focal γ=2", lambda: focal),
    ]
    methods = [Method(label, functools.partial(train, label, make)) for label, make in specs]
    result = TaskResult(NAME, TITLE, "balanced acc", True)
    result.rows = run_methods(methods)
    n_rare = int(counts[list(RARE)].mean())
    n_common = int(np.delete(counts.numpy(), RARE).mean())
    result.note = f"train: ~{n_rare} images per odd digit, ~{n_common} per even digit"
    if per_class:
        result.figures.append(_figure(s, per_class))
    return result


def _figure(s: Settings, per_class: dict[str, np.ndarray]) -> str:
    fig = figure((9.0, 3.4))
    ax = fig.subplots()
    width = 0.8 / len(per_class)
    for i, (label, r) in enumerate(per_class.items()):
        ax.bar(np.arange(10) + (i - (len(per_class) - 1) / 2) * width, r, width, label=label)
    for c in RARE:
        ax.axvspan(c - 0.45, c + 0.45, color="orange", alpha=0.08)
    ax.set_xticks(range(10))
    ax.set_xlabel("digit (shaded: rare in training)")
    ax.set_ylabel("recall on held-out images")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, ncol=2, loc="lower right")
    ax.set_title("imbalanced digits: recall per class")
    return save(fig, s, "classification.png")
