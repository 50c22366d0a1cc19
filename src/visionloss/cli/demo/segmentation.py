"""Segmentation of small objects: cross-entropy, Dice, focal, Tversky, Dice + CE, Dice + top-k CE
and Dice + boundary.

Synthetic 1-channel images hold a small horse (scikit-image's ``horse`` silhouette, shipped with
the package) and a smaller disc, both as bright as the distracting lines drawn beside them, on a
cluttered background with noise: about 5% of the pixels are foreground, the disc about 1%. A
small two-scale CNN is trained with each loss from the same initialisation; the metric is the Dice
and IoU of each foreground class on held-out images (argmax predictions, summed over the set).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import visionloss.functional as VF

from ._common import Method, Row, Settings, TaskResult, Tick, figure, fit, run_methods, save
from ._common import seed_everything as _seed

NAME = "segmentation"
TITLE = "segmentation of small objects (horse + disc)"
CLASSES = ("background", "horse", "disc")


def _sizes(s: Settings) -> dict[str, int]:
    return {
        "size": s.pick(16, 32, 32),
        "train": s.pick(8, 160, 480),
        "test": s.pick(4, 64, 128),
        "steps": s.pick(2, 150, 400),
        "batch": s.pick(4, 16, 16),
        "width": s.pick(4, 8, 12),
    }


def total_steps(s: Settings) -> int:
    return len(_methods_spec()) * _sizes(s)["steps"]


@functools.lru_cache(maxsize=1)
def _horse() -> np.ndarray:
    from skimage import data

    mask = ~data.horse()  # the package's image is a black horse on white
    rows, cols = np.nonzero(mask)
    cropped: np.ndarray = mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    return cropped


def make_data(n: int, size: int, rs: np.random.RandomState) -> tuple[Tensor, Tensor]:
    """``n`` images ``(n, 1, size, size)`` and their labels ``(n, size, size)`` (0, 1, 2)."""
    from skimage.draw import disk, line
    from skimage.filters import gaussian
    from skimage.transform import resize

    horse = _horse()
    aspect = horse.shape[1] / horse.shape[0]
    images = np.zeros((n, size, size), np.float32)
    labels = np.zeros((n, size, size), np.int64)
    for i in range(n):
        label = labels[i]
        h = rs.randint(size // 4, size // 3 + 1)
        w = min(size - 2, round(h * aspect))
        shape = resize(horse.astype(float), (h, w), order=0, anti_aliasing=False) > 0.5
        if rs.rand() < 0.5:
            shape = shape[:, ::-1]
        y, x = rs.randint(0, size - h + 1), rs.randint(0, size - w + 1)
        label[y : y + h, x : x + w][shape] = 1
        radius = rs.uniform(1.5, 2.6)
        for _ in range(20):  # a disc away from the horse
            cy, cx = rs.uniform(3, size - 3, size=2)
            rr, cc = disk((cy, cx), radius, shape=(size, size))
            if not label[rr, cc].any():
                label[rr, cc] = 2
                break
        image = images[i]
        image += 0.3 * gaussian(rs.randn(size, size), sigma=3) / 0.1  # low-frequency clutter
        image += label > 0
        for _ in range(2):  # distractors: lines as bright as the objects, not labelled
            r0, c0, r1, c1 = rs.randint(0, size, size=4)
            rr, cc = line(r0, c0, r1, c1)
            image[rr, cc] += (label[rr, cc] == 0).astype(np.float32)
        image += rs.randn(size, size).astype(np.float32) * 0.25
    return torch.from_numpy(images[:, None]), torch.from_numpy(labels)


class SegNet(nn.Module):
    """A two-scale CNN (full and half resolution, receptive field about 20 pixels): enough to
    tell a horse from a disc from a line. The last bias starts at the log class frequencies
    (Lin et al.'s prior initialisation), so no loss starts by predicting a third of the pixels
    as each rare class; without it the soft Dice losses collapse to all-background here."""

    def __init__(self, width: int, frequencies: Tensor) -> None:
        super().__init__()
        self.full = nn.Sequential(nn.Conv2d(1, width, 3, padding=1), nn.ReLU())
        self.coarse = nn.Sequential(
            nn.MaxPool2d(2),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=2, dilation=2),
            nn.ReLU(),
            nn.Upsample(scale_factor=2),
        )
        self.head = nn.Conv2d(2 * width, len(CLASSES), 3, padding=1)
        self.head.bias = nn.Parameter(frequencies.clamp(min=1e-4).log())

    def forward(self, x: Tensor) -> Tensor:
        features = self.full(x)
        logits: Tensor = self.head(torch.cat([features, self.coarse(features)], dim=1))
        return logits


def scores(pred: Tensor, target: Tensor) -> dict[str, float]:
    """Dice and IoU per foreground class, from counts summed over the whole test set."""
    out: dict[str, float] = {}
    dice, iou = [], []
    for c in range(1, len(CLASSES)):
        p, g = pred == c, target == c
        tp = (p & g).sum().item()
        fp = (p & ~g).sum().item()
        fn = (~p & g).sum().item()
        dice.append(2 * tp / max(2 * tp + fp + fn, 1))
        iou.append(tp / max(tp + fp + fn, 1))
        out[f"{CLASSES[c]} Dice"] = dice[-1]
    return {"fg Dice": float(np.mean(dice)), "fg IoU": float(np.mean(iou)), **out}


def _methods_spec() -> list[tuple[str, str, dict[str, Any]]]:
    """label, function of visionloss.functional (looked up when it trains), options."""
    return [
        ("cross-entropy", "cross_entropy", {}),
        ("Dice", "dice_loss", {"mode": "multiclass"}),
        ("focal γ=2", "focal_loss", {"mode": "multiclass", "gamma": 2.0}),
        ("Tversky α=0.3 β=0.7", "tversky_loss", {"mode": "multiclass", "alpha": 0.3, "beta": 0.7}),
        ("Dice + CE", "dice_ce_loss", {"mode": "multiclass"}),
        ("Dice + top-k CE k=0.1", "dice_topk_loss", {"mode": "multiclass", "k": 0.1}),
        ("Dice + boundary", BOUNDARY, {}),
    ]


#: the method name of Dice + boundary loss, which also needs the targets' distance maps
BOUNDARY = "dice+boundary"


def dice_boundary(logits: Tensor, target: Tensor, phi: Tensor, ramp: float) -> Tensor:
    """Dice plus the boundary loss of the foreground classes, the boundary term's weight rising
    linearly from 0 to 1 over training (``ramp``: the share of the steps done), as Kervadec et
    al. raise it from a regional loss alone."""
    dice = VF.dice_loss(logits, target, mode="multiclass")
    boundary = VF.boundary_loss(logits, phi, class_weight=[0.0, 1.0, 1.0])
    return dice + ramp * boundary


def run(s: Settings, tick: Tick) -> TaskResult:
    cfg = _sizes(s)
    rs = np.random.RandomState(s.seed)
    x_train, y_train = make_data(cfg["train"], cfg["size"], rs)
    x_test, y_test = make_data(cfg["test"], cfg["size"], rs)
    predictions: dict[str, Tensor] = {}
    frequencies = torch.bincount(y_train.flatten(), minlength=len(CLASSES)).float()
    frequencies /= frequencies.sum()
    # Kervadec et al.'s signed distance maps, computed once per target as in a data pipeline
    phi_train = VF.signed_distance_map(F.one_hot(y_train, len(CLASSES)).movedim(-1, 1))

    def train(label: str, name: str, options: dict[str, Any]) -> Row:
        fn: Callable[..., Tensor] = dice_boundary if name == BOUNDARY else getattr(VF, name)
        generator = _seed(s.seed)  # the same initialisation and batches for every loss
        net = SegNet(cfg["width"], frequencies)

        def loss_at(step: int) -> Tensor:
            idx = torch.randint(0, cfg["train"], (cfg["batch"],), generator=generator)
            if name == BOUNDARY:
                ramp = step / max(cfg["steps"] - 1, 1)
                return dice_boundary(net(x_train[idx]), y_train[idx], phi_train[idx], ramp)
            return fn(net(x_train[idx]), y_train[idx], **options)

        fit(net.parameters(), loss_at, cfg["steps"], lambda: tick(label), lr=1e-2)
        with torch.no_grad():
            pred = net(x_test).argmax(1)
        predictions[label] = pred
        return Row(label, scores(pred, y_test))

    methods = [
        Method(label, functools.partial(train, label, name, options))
        for label, name, options in _methods_spec()
    ]
    result = TaskResult(NAME, TITLE, "fg Dice", True)
    result.rows = run_methods(methods)
    fg = float((y_test > 0).float().mean())
    result.note = f"{cfg['size']}×{cfg['size']} images, foreground {100 * fg:.1f}% of pixels"
    if predictions:
        result.figures.append(_figure(s, x_test, y_test, predictions))
    return result


def _figure(s: Settings, x: Tensor, y: Tensor, predictions: dict[str, Tensor]) -> str:
    from matplotlib.colors import ListedColormap

    colours = ListedColormap(["#111111", "#ff9933", "#33ccff"])
    shown = min(4, x.shape[0])
    columns = ["input", "truth", *predictions]
    fig = figure((1.6 * len(columns), 1.7 * shown + 0.4))
    axes = fig.subplots(shown, len(columns), squeeze=False)
    for i in range(shown):
        panels = [x[i, 0], y[i], *(p[i] for p in predictions.values())]
        for j, (ax, panel) in enumerate(zip(axes[i], panels, strict=True)):
            if j == 0:
                ax.imshow(panel.numpy(), cmap="gray")
            else:
                ax.imshow(panel.numpy(), cmap=colours, vmin=0, vmax=2, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(columns[j], fontsize=9)
    fig.suptitle("held-out images: horse (orange), disc (blue)", fontsize=11)
    return save(fig, s, "segmentation.png")
