"""Two tasks, one network: fixed task weights against learned uncertainty weights.

One trunk on the digits, two heads: the digit (cross-entropy) and the image's total ink (the sum
of its pixel values on scikit-learn's 0-16 scale, mean squared error), the training targets
measured with noise of std 30. The regression loss is hundreds of times larger than the
cross-entropy from start to end, so with fixed weights 1 : 1 it
dominates the shared trunk; Kendall et al.'s uncertainty weighting learns the balance, and
Liu et al.'s dynamic weight average (each full-batch step counted as an epoch) follows the
tasks' rates of progress. Metrics:
digit accuracy (primary) and ink RMSE on the held-out half; a reference row trains each task on
its own network.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import Tensor, nn

import visionloss.functional as VF
from visionloss import MultiTaskLoss

from ._common import (
    Method,
    Row,
    Settings,
    TaskResult,
    Tick,
    digits,
    figure,
    fit,
    run_methods,
    save,
)
from ._common import seed_everything as _seed

NAME = "multitask"
TITLE = "two tasks on one trunk (digit + ink)"
TASK_NAMES = ("digit", "ink")
NOISE = 3.0


def _steps(s: Settings) -> int:
    return s.pick(3, 300, 800)


def total_steps(s: Settings) -> int:
    return 5 * _steps(s)


class TwoHeads(nn.Module):
    def __init__(self, digit: bool = True, ink: bool = True) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(64, 32), nn.ReLU())
        self.digit = nn.Linear(32, 10) if digit else None
        self.ink = nn.Linear(32, 1) if ink else None

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        h = self.trunk(x)
        out = {}
        if self.digit is not None:
            out["digit"] = self.digit(h)
        if self.ink is not None:
            out["ink"] = self.ink(h).squeeze(1)
        return out


def run(s: Settings, tick: Tick) -> TaskResult:
    x_train, y_train, x_test, y_test = digits(s.seed)
    ink_train, ink_test = x_train.sum(1), x_test.sum(1)
    # the training targets carry noise (std NOISE): the irreducible part of a task's loss that
    # uncertainty weighting learns to discount; the test RMSE is against the clean ink
    noise = torch.randn(ink_train.shape, generator=torch.Generator().manual_seed(s.seed))
    ink_train = ink_train + NOISE * noise
    steps = _steps(s)
    histories: dict[str, list[dict[str, float]]] = {}

    def losses(out: dict[str, Tensor], y: Tensor, ink: Tensor) -> dict[str, Tensor]:
        found = {}
        if "digit" in out:
            found["digit"] = VF.cross_entropy(out["digit"], y)
        if "ink" in out:
            found["ink"] = VF.mse_loss(out["ink"], ink)
        return found

    def evaluate(nets: Sequence[nn.Module]) -> dict[str, float]:
        metrics = {}
        with torch.no_grad():
            for net in nets:
                out = net(x_test)
                if "digit" in out:
                    metrics["accuracy"] = float((out["digit"].argmax(1) == y_test).float().mean())
                if "ink" in out:
                    metrics["ink RMSE"] = float((out["ink"] - ink_test).square().mean().sqrt())
        return metrics

    def train(label: str, weighting: str) -> Row:
        _seed(s.seed)
        net = TwoHeads()
        combine = MultiTaskLoss(list(TASK_NAMES), weighting=weighting)
        parameters = [*net.parameters(), *combine.parameters()]
        history: list[dict[str, float]] = []

        def loss_at(step: int) -> Tensor:
            if step > 0 and weighting == "dwa":
                combine.step()  # every step sees the whole training set: one epoch
            parts = losses(net(x_train), y_train, ink_train)
            weights = getattr(combine, "weights", None)
            if weights is not None and not isinstance(weights, dict):
                weights = dict(zip(TASK_NAMES, torch.as_tensor(weights).tolist(), strict=False))
            history.append({"weight " + k: float(v) for k, v in (weights or {}).items()})
            total: Tensor = combine(parts)
            return total

        fit(parameters, loss_at, steps, lambda: tick(label), lr=1e-2)
        histories[label] = history
        row = Row(label, evaluate([net]))
        if history and history[-1]:
            row.note = ", ".join(f"{k} {v:.3g}" for k, v in history[-1].items())
        return row

    def separate() -> Row:
        nets = []
        for task in TASK_NAMES:
            _seed(s.seed)
            net = TwoHeads(digit=task == "digit", ink=task == "ink")

            def loss_at(step: int, net: TwoHeads = net) -> Tensor:
                parts = losses(net(x_train), y_train, ink_train)
                return torch.stack(list(parts.values())).sum()

            label = f"separate: {task}"
            fit(net.parameters(), loss_at, steps, functools.partial(tick, label), lr=1e-2)
            nets.append(net)
        return Row("", evaluate(nets))

    weightings = (
        ("fixed weights 1 : 1", "fixed"),
        ("uncertainty (Kendall)", "uncertainty"),
        ("dynamic weight average", "dwa"),
    )
    methods = [
        Method("separate networks (reference)", separate, reference=True),
        *(Method(label, functools.partial(train, label, w)) for label, w in weightings),
    ]
    result = TaskResult(NAME, TITLE, "accuracy", True)
    result.rows = run_methods(methods)
    spread = float(ink_test.std())
    result.note = f"ink: std {spread:.0f} across images, training targets noisy (std {NOISE:.0f})"
    if any(histories.values()):
        result.figures.append(_figure(s, histories))
    return result


def _figure(s: Settings, histories: dict[str, list[dict[str, float]]]) -> str:
    fig = figure((7.5, 3.6))
    ax = fig.subplots()
    ax.axhline(1.0, color="gray", lw=1.0, label="fixed weights 1 : 1")
    adaptive = [(label, h) for label, h in histories.items() if not label.startswith("fixed")]
    for colour, (label, history) in enumerate(adaptive):
        for task, style in zip(TASK_NAMES, ("-", "--"), strict=True):
            values = [h.get(f"weight {task}", float("nan")) for h in history]
            ax.semilogy(values, f"C{colour}", ls=style, label=f"{label}: {task}")
    ax.set_xlabel("step")
    ax.set_ylabel("weight of the task's loss")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_title("task weights during training (digit solid, ink dashed)", fontsize=11)
    return save(fig, s, "multitask.png")
