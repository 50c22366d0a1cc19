"""Box regression: Smooth L1 on the coordinates against the IoU family.

Synthetic 32×32 images, each with one bright rectangle of random size and place on a noisy,
cluttered background; a small CNN predicts the box (centre and size through a sigmoid, in
pixels). The metric is the mean IoU with the true box on held-out images, computed in plain
NumPy (not with the losses being compared), with the share of boxes above IoU 0.75 beside it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

import visionloss.functional as VF

from ._common import Method, Row, Settings, TaskResult, Tick, figure, fit, run_methods, save
from ._common import seed_everything as _seed

NAME = "boxes"
TITLE = "box regression on synthetic images"
SIZE = 32


def _sizes(s: Settings) -> dict[str, int]:
    return {
        "train": s.pick(8, 512, 2048),
        "test": s.pick(4, 256, 512),
        "steps": s.pick(2, 250, 800),
        "batch": s.pick(4, 32, 32),
    }


# label, function of visionloss.functional (looked up when it trains), options
SPECS: list[tuple[str, str, dict[str, Any]]] = [
    ("Smooth L1 (pixels)", "smooth_l1_loss", {}),
    ("IoU", "iou_loss", {}),
    ("GIoU", "giou_loss", {}),
    ("DIoU", "diou_loss", {}),
    ("CIoU", "ciou_loss", {}),
]


def total_steps(s: Settings) -> int:
    return len(SPECS) * _sizes(s)["steps"]


def make_data(n: int, rs: np.random.RandomState) -> tuple[Tensor, Tensor]:
    """Images ``(n, 1, 32, 32)`` and their boxes ``(n, 4)`` as x1, y1, x2, y2 in pixels."""
    from skimage.filters import gaussian

    images = np.zeros((n, SIZE, SIZE), np.float32)
    boxes = np.zeros((n, 4), np.float32)
    for i in range(n):
        w, h = rs.randint(4, 25, size=2)
        x1, y1 = rs.randint(0, SIZE - w + 1), rs.randint(0, SIZE - h + 1)
        images[i, y1 : y1 + h, x1 : x1 + w] = 1.0
        images[i] += 0.25 * gaussian(rs.randn(SIZE, SIZE), sigma=2) / 0.14  # clutter
        images[i] += 0.2 * rs.randn(SIZE, SIZE)
        boxes[i] = (x1, y1, x1 + w, y1 + h)
    return torch.from_numpy(images[:, None]), torch.from_numpy(boxes)


class BoxNet(nn.Module):
    """Two strided convolutions and two linear layers; the centre and size go through a sigmoid
    scaled to the image, so every prediction is a valid box."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(16 * (SIZE // 4) ** 2, 64),
            nn.ReLU(),
            nn.Linear(64, 4),
        )

    def forward(self, x: Tensor) -> Tensor:
        cx, cy, w, h = (SIZE * torch.sigmoid(self.features(x))).unbind(-1)
        return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes x1, y1, x2, y2, pair by pair (plain NumPy: the judge, not a contender)."""
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    area = lambda r: (r[:, 2] - r[:, 0]) * (r[:, 3] - r[:, 1])  # noqa: E731
    result: np.ndarray = inter / (area(a) + area(b) - inter)
    return result


def run(s: Settings, tick: Tick) -> TaskResult:
    cfg = _sizes(s)
    rs = np.random.RandomState(s.seed + 1)
    x_train, b_train = make_data(cfg["train"], rs)
    x_test, b_test = make_data(cfg["test"], rs)
    predictions: dict[str, np.ndarray] = {}

    def train(label: str, name: str, options: dict[str, Any]) -> Row:
        fn: Callable[..., Tensor] = getattr(VF, name)
        generator = _seed(s.seed)
        net = BoxNet()

        def loss_at(step: int) -> Tensor:
            idx = torch.randint(0, cfg["train"], (cfg["batch"],), generator=generator)
            return fn(net(x_train[idx]), b_train[idx], **options)

        fit(net.parameters(), loss_at, cfg["steps"], lambda: tick(label), lr=3e-3)
        with torch.no_grad():
            pred = net(x_test).numpy()
        predictions[label] = pred
        scores = iou(pred, b_test.numpy())
        return Row(
            label,
            {
                "mean IoU": float(scores.mean()),
                "IoU>0.75": float((scores > 0.75).mean()),
                "L1 px": float(np.abs(pred - b_test.numpy()).mean()),
            },
        )

    methods = [
        Method(label, functools.partial(train, label, name, options))
        for label, name, options in SPECS
    ]
    result = TaskResult(NAME, TITLE, "mean IoU", True)
    result.rows = run_methods(methods)
    result.note = f"{cfg['train']} training images, boxes 4 to 24 pixels a side"
    if predictions:
        result.figures.append(_figure(s, x_test, b_test.numpy(), predictions))
    return result


def _figure(s: Settings, x: Tensor, truth: np.ndarray, predictions: dict[str, np.ndarray]) -> str:
    from matplotlib.patches import Rectangle

    shown = min(6, x.shape[0])
    fig = figure((2.0 * shown, 2.6))
    axes = np.atleast_1d(fig.subplots(1, shown))
    for i, ax in enumerate(axes):
        ax.imshow(x[i, 0].numpy(), cmap="gray")
        boxes = [("truth", truth[i])] + [(k, v[i]) for k, v in predictions.items()]
        for j, (label, (x1, y1, x2, y2)) in enumerate(boxes):
            ax.add_patch(
                Rectangle(
                    (x1 - 0.5, y1 - 0.5),
                    x2 - x1,
                    y2 - y1,
                    fill=False,
                    lw=2.2 if j == 0 else 1.3,
                    ls="--" if j == 0 else "-",
                    ec="yellow" if j == 0 else f"C{j - 1}",
                    label=label if i == 0 else None,
                )
            )
        ax.set_xticks([])
        ax.set_yticks([])
    fig.legend(loc="outside lower center", ncol=len(predictions) + 1, fontsize=8)
    fig.suptitle("held-out boxes: truth (dashed) and each loss's prediction", fontsize=11)
    return save(fig, s, "boxes.png")
