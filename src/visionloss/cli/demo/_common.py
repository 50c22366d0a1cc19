"""What the demo tasks share: settings, results, data that ships with packages, training, figures."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "Method",
    "Row",
    "Settings",
    "TaskResult",
    "Tick",
    "digits",
    "figure",
    "fit",
    "run_methods",
    "seed_everything",
]

T = TypeVar("T")
Tick = Callable[[str], None]  # advance the progress bar by one step; the text names the method


@dataclass
class Settings:
    """Size of the run ("tiny" for the tests, "quick", "full"), seed and output folder."""

    size: str
    seed: int
    out: Path

    def pick(self, tiny: T, quick: T, full: T) -> T:
        return {"tiny": tiny, "quick": quick, "full": full}[self.size]


@dataclass
class Row:
    """One method of one task: its metrics (the task's primary metric first)."""

    method: str
    metrics: dict[str, float] = field(default_factory=dict)
    note: str = ""
    reference: bool = False  # a baseline shown for scale, not a loss in the comparison


@dataclass
class TaskResult:
    """The rows of one task, the figures it wrote, and how it went."""

    name: str
    title: str
    metric: str  # the primary metric, the one "best" is decided on
    higher_is_better: bool
    rows: list[Row] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    failed: str = ""
    note: str = ""

    def best(self) -> list[str]:
        """Methods with the best primary metric (ties within 1e-9 all count)."""
        values = [
            (r.method, r.metrics[self.metric])
            for r in self.rows
            if not r.reference and math.isfinite(r.metrics.get(self.metric, math.nan))
        ]
        if len(values) < 2:
            return []
        pick = max if self.higher_is_better else min
        top = pick(v for _, v in values)
        best = [m for m, v in values if abs(v - top) <= 1e-9]
        return best if len(best) < len(values) else []  # all equal: nobody is best

    def baseline(self) -> Row | None:
        """The first loss (not a reference): the others are compared with it."""
        return next((r for r in self.rows if not r.reference), None)


@dataclass
class Method:
    """A loss to compare (or a reference): a label and what to run."""

    label: str
    run: Callable[[], Row]
    reference: bool = False


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global generator (initialisation) and return a generator for batches."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def run_methods(methods: Sequence[Method]) -> list[Row]:
    """Run each method in turn; its row is labelled with the method's label."""
    rows = []
    for method in methods:
        row = method.run()
        row.method = method.label
        row.reference = method.reference
        rows.append(row)
    return rows


def fit(
    parameters: Any,
    loss_at: Callable[[int], Tensor],
    steps: int,
    tick: Callable[[], None],
    *,
    lr: float = 3e-3,
    weight_decay: float = 0.0,
) -> list[float]:
    """Adam on ``loss_at(step)`` for ``steps`` steps; returns the losses."""
    optimizer = torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)
    history = []
    for step in range(steps):
        loss = loss_at(step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.append(float(loss.detach()))
        tick()
    return history


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()  # 1797 8x8 images, shipped with scikit-learn (no download)
    return (data.data / 16.0).astype(np.float32), data.target.astype(np.int64)


def digits(seed: int, test_size: float = 0.5) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """scikit-learn's digits in [0, 1], split in two stratified halves: x_train, y_train, x_test, y_test."""
    from sklearn.model_selection import train_test_split

    x, y = _digits()
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, stratify=y, random_state=seed
    )
    return (
        torch.from_numpy(x_train),
        torch.from_numpy(y_train),
        torch.from_numpy(x_test),
        torch.from_numpy(y_test),
    )


@functools.lru_cache(maxsize=4)
def digit_classifier(seed: int) -> nn.Module:
    """A softmax regression on the training half of the digits: the judge of generated digits
    (about 95% accurate on the held-out half)."""
    x_train, y_train, _, _ = digits(seed)
    model = nn.Linear(64, 10)
    with torch.enable_grad():  # first called from evaluation code, under no_grad
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            model.weight.copy_(0.01 * torch.randn(model.weight.shape, generator=generator))
            model.bias.zero_()
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05, weight_decay=1e-3)
        for _ in range(300):
            loss = nn.functional.cross_entropy(model(x_train), y_train)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return model.requires_grad_(False)


def digit_score(images: Tensor, seed: int) -> float:
    """Inception-score analogue on digits: exp E[KL(p(y|x) || p(y))], from 1 to 10.

    High when each image is classified confidently and the classes are spread evenly.
    """
    log_p = torch.log_softmax(digit_classifier(seed)(images.reshape(-1, 64).clamp(0, 1)), dim=1)
    log_marginal = torch.logsumexp(log_p, dim=0) - math.log(log_p.shape[0])
    kl = (log_p.exp() * (log_p - log_marginal)).sum(1)
    return float(kl.mean().exp())


def mlp(*sizes: int, act: Callable[[], nn.Module] = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def figure(size: tuple[float, float]) -> Any:
    """A matplotlib Figure drawn with the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=size, layout="constrained")


def save(fig: Any, settings: Settings, name: str) -> str:
    path = settings.out / name
    fig.savefig(path, dpi=100)
    return name
