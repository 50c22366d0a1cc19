"""``advise``: statistics of the user's own targets, and a loss recommended by written rules.

Inputs (``targets``): a folder of mask images (PNG, streamed one at a time), a ``.npy`` or ``.pt``
file of masks or class ids, a ``.csv`` or ``.json`` file of boxes, or the same data in memory (a
tensor, an array, a list of boxes). Reading never runs the user's code: ``.pt`` is read with
``torch.load(..., weights_only=True)``, ``.npy`` with ``numpy.load(..., allow_pickle=False)``,
JSON and CSV with the standard parsers. A file that cannot be read, is too large or holds the
wrong type raises :class:`AdviseError` with one line naming the file.

The rules (the guide page ``docs/guide/choosing-a-loss.md`` states them; the tests check them on
synthetic data whose right answer is known):

Segmentation (f: foreground share of pixels, e: share of images with no foreground, r: imbalance
ratio, the largest class's pixel count over the smallest present class's):

* S1 many empty masks (e >= 0.2): ``dice_ce`` with ``batch_dice=True`` first (Dice over the
  whole batch, so an empty image does not give the per-sample 0-or-1 jump; CE keeps a gradient
  on empty images), then ``focal``.
* S2 rare foreground (f < 0.05): ``dice_ce`` with class weights first, then ``tversky`` with
  beta = 0.7 (0.8 when f < 0.01) and alpha = 1 - beta, then ``focal`` (gamma 2).
* S3 moderate imbalance (f < 0.2 or r > 10): ``dice_ce`` with class weights, then ``focal``.
* S4 balanced: ``cross_entropy`` first, then ``dice_ce``.
* Class weights: ``class_weights(pixel counts, scheme="inverse_sqrt")`` (inverse frequency would
  give a 1% class 99 times the weight of the background; the square root is milder).

Classification (r: the largest class count over the smallest): C1 r <= 3: ``cross_entropy``,
then ``poly1``; C2 3 < r <= 100: ``cross_entropy`` with effective-number class weights
(beta 0.999), then ``focal``; C3 r > 100: ``focal`` (gamma 2) with the same weights as alpha, then
weighted ``cross_entropy``.

Boxes (aspect spread: 90th over 10th percentile of w/h; scale spread: the same of sqrt(area)):
B1 aspect spread > 3: ``ciou`` first, else ``diou``; then ``giou``. With anchors, a mean best
anchor IoU below 0.5 adds the reason that disjoint starts need GIoU/DIoU/CIoU (IoU has no
gradient there). A scale spread > 4 adds the reason that Smooth L1 on coordinates is not scale
invariant.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = ["Advice", "AdviseError", "Recommendation", "advise", "MAX_BYTES"]

#: the largest file advise reads (a bigger one is refused with a one-line error)
MAX_BYTES = 4 * 1024**3
#: images a folder may hold before advise stops reading (the statistics of a sample suffice)
MAX_IMAGES = 1_000_000
TASKS = ("auto", "segmentation", "classification", "boxes")
_IMAGE_SUFFIXES = (".png",)
_BATCH = 64  # masks per chunk when streaming a .npy


class AdviseError(ValueError):
    """Targets that cannot be read or used; the message is one line naming the file."""


@dataclass
class Recommendation:
    """One ranked choice: the loss, a ``build_loss`` expression, and the reasons (card lines)."""

    rank: int
    loss: str
    expression: str
    reasons: list[str] = field(default_factory=list)


@dataclass
class Advice:
    """What :func:`advise` found: the task, the statistics, the rules that fired, the ranking."""

    task: str
    source: str
    stats: dict[str, Any]
    rules: list[str]
    recommendations: list[Recommendation]

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "source": self.source,
            "stats": self.stats,
            "rules": self.rules,
            "recommendations": [
                {"rank": r.rank, "loss": r.loss, "expression": r.expression, "reasons": r.reasons}
                for r in self.recommendations
            ],
        }

    def render(self) -> str:
        """A short plain-text report."""
        lines = [f"visionloss advise: {self.task} targets from {self.source}", "", "Statistics:"]
        for key, value in self.stats.items():
            lines.append(f"  {key}: {_show(value)}")
        lines += ["", "Rules: " + "; ".join(self.rules), "", "Recommendation:"]
        for r in self.recommendations:
            lines.append(f"  {r.rank}. {r.expression}")
            lines += [f"     - {reason}" for reason in r.reasons]
        lines.append("")
        lines.append("Each reason is a card line: `visionloss explain NAME` shows its evidence.")
        return "\n".join(lines) + "\n"


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list) and len(value) > 12:
        return ", ".join(_show(v) for v in value[:12]) + f", ... ({len(value)} values)"
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_show(v)}" for k, v in value.items())
    return str(value)


# --- reading ----------------------------------------------------------------------------------


def _check_size(path: Path, max_bytes: int) -> None:
    try:
        size = path.stat().st_size
    except OSError as error:
        raise AdviseError(f"{path}: cannot read: {error.strerror or error}") from None
    if size > max_bytes:
        raise AdviseError(f"{path}: too large ({size} bytes, limit {max_bytes}); pass a sample")


def _load_npy(path: Path) -> Any:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy ships with torch wheels in practice
        raise AdviseError(f"{path}: reading .npy needs numpy") from None
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
    except OSError as error:
        raise AdviseError(f"{path}: cannot read .npy ({_one_line(error)})") from None
    if magic != b"\x93NUMPY":
        raise AdviseError(f"{path}: cannot read .npy (not a NumPy array file)")
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as error:  # an object array (pickle) or a corrupt header
        raise AdviseError(f"{path}: not a plain numeric .npy array ({_one_line(error)})") from None
    except (OSError, EOFError) as error:
        raise AdviseError(f"{path}: cannot read .npy ({_one_line(error)})") from None


def _load_pt(path: Path) -> Tensor:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt, a pickle of code, or not a torch file
        raise AdviseError(f"{path}: cannot read as a tensor file ({_one_line(error)})") from None
    if isinstance(data, dict) and len(data) == 1:
        data = next(iter(data.values()))
    if not isinstance(data, Tensor):
        raise AdviseError(
            f"{path}: expected a tensor of masks, class ids or boxes, got {type(data).__name__}"
        )
    return data


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:200] or type(error).__name__


def _read_boxes_csv(path: Path) -> Tensor:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise AdviseError(f"{path}: cannot read CSV ({_one_line(error)})") from None
    if not rows:
        raise AdviseError(f"{path}: no boxes (expected a header and one row per box)")
    return _boxes_from_records(rows, path)


def _read_boxes_json(path: Path) -> Tensor:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AdviseError(f"{path}: cannot read JSON ({_one_line(error)})") from None
    if isinstance(data, dict) and isinstance(data.get("annotations"), list):  # COCO
        data = [
            {"x": a["bbox"][0], "y": a["bbox"][1], "w": a["bbox"][2], "h": a["bbox"][3]}
            for a in data["annotations"]
            if isinstance(a, dict) and "bbox" in a
        ]
    if isinstance(data, dict) and isinstance(data.get("boxes"), list):
        data = data["boxes"]
    if not isinstance(data, list) or not data:
        raise AdviseError(
            f"{path}: expected a list of boxes, {{'boxes': [...]}} or COCO 'annotations'"
        )
    if all(isinstance(b, (list, tuple)) for b in data):
        return _boxes_tensor(data, path)
    if all(isinstance(b, dict) for b in data):
        return _boxes_from_records(data, path)
    raise AdviseError(f"{path}: boxes must all be [x1, y1, x2, y2] lists or all be objects")


_XYXY = (("x1", "y1", "x2", "y2"), ("xmin", "ymin", "xmax", "ymax"))
_XYWH = (("x", "y", "w", "h"), ("x", "y", "width", "height"))


def _boxes_from_records(rows: Sequence[dict[str, Any]], path: Path) -> Tensor:
    keys = {k.strip().lower(): k for k in rows[0]}
    for names in _XYXY:
        if all(n in keys for n in names):
            return _boxes_tensor([[r[keys[n]] for n in names] for r in rows], path)
    for names in _XYWH:
        if all(n in keys for n in names):
            xywh = _boxes_tensor([[r[keys[n]] for n in names] for r in rows], path, check=False)
            return torch.cat([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], dim=1)
    raise AdviseError(
        f"{path}: box columns not found (expected x1,y1,x2,y2 or xmin,ymin,xmax,ymax or x,y,w,h)"
    )


def _boxes_tensor(values: Sequence[Sequence[Any]], path: Path | str, check: bool = True) -> Tensor:
    try:
        boxes = torch.tensor([[float(v) for v in row] for row in values], dtype=torch.float64)
    except (TypeError, ValueError) as error:
        raise AdviseError(f"{path}: boxes must be numbers ({_one_line(error)})") from None
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise AdviseError(f"{path}: expected 4 numbers per box, got shape {tuple(boxes.shape)}")
    if not torch.isfinite(boxes).all():
        raise AdviseError(f"{path}: boxes hold NaN or inf")
    if check and ((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])).any():
        raise AdviseError(f"{path}: some boxes have x2 < x1 or y2 < y1 (expected x1, y1, x2, y2)")
    return boxes


# --- label images -----------------------------------------------------------------------------


class _Palette:
    """Turns label images into class ids the same way for every image of a folder.

    * one channel (grey or palette PNG): the values are the class ids, except that a mask of
      only 0 and 255 is binary (255 -> 1), and 255 next to other values is VOC's "ignore";
    * colour (RGB/RGBA): each colour is a class, black is class 0, the others numbered in order
      of first appearance (a fixed table across the folder).
    """

    def __init__(self) -> None:
        self.colours: dict[tuple[int, ...], int] = {(0, 0, 0): 0}

    def __call__(self, image: Any, path: Path) -> Tensor:
        import numpy as np

        array = np.asarray(image)
        if array.ndim == 3 and array.shape[2] in (3, 4):
            rgb = array[..., :3].reshape(-1, 3).astype(np.int64)
            keys = rgb[:, 0] * 65536 + rgb[:, 1] * 256 + rgb[:, 2]
            unique, inverse = np.unique(keys, return_inverse=True)
            ids = np.empty(len(unique), np.int64)
            for i, key in enumerate(unique.tolist()):
                colour = (key // 65536, (key // 256) % 256, key % 256)
                if colour not in self.colours:
                    self.colours[colour] = len(self.colours)
                ids[i] = self.colours[colour]
            return torch.from_numpy(ids[inverse].reshape(array.shape[:2]))
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[..., 0]
        if array.ndim != 2:
            raise AdviseError(
                f"{path}: expected a single-channel or RGB label image, got shape {array.shape}"
            )
        if array.dtype.kind == "b":
            array = array.astype(np.int64)
        if array.dtype.kind not in "iu":
            raise AdviseError(f"{path}: label image of {array.dtype} values, expected integers")
        mask = torch.from_numpy(array.astype(np.int64))
        values = set(torch.unique(mask).tolist())
        if values <= {0, 255} and 255 in values:
            return (mask == 255).long()
        if 255 in values:
            mask = torch.where(mask == 255, torch.full_like(mask, -1), mask)  # VOC's ignore
        return mask


def _read_png(path: Path, palette: _Palette, max_bytes: int) -> Tensor:
    _check_size(path, max_bytes)
    try:
        from PIL import Image
    except ImportError:
        raise AdviseError(
            f"{path}: reading PNG needs Pillow (pip install 'visionloss[cli]')"
        ) from None
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in ("P", "L", "I", "I;16", "1"):
                data: Any = image if image.mode != "1" else image.convert("L")
            else:
                data = image.convert("RGB")
            return palette(data, path)
    except AdviseError:
        raise
    except Exception as error:  # Pillow's own errors: corrupt or not an image
        raise AdviseError(f"{path}: cannot read as an image ({_one_line(error)})") from None


# --- statistics -------------------------------------------------------------------------------


class _SegStats:
    """Streaming counts over masks of class ids (negative ids are ignored pixels)."""

    def __init__(self, ignore_index: int | None) -> None:
        self.ignore_index = ignore_index
        self.pixels: list[int] = []
        self.images_with: list[int] = []
        self.images = 0
        self.empty = 0
        self.valid = 0
        self.object_sizes: list[int] = []
        self._label: Callable[[Any], tuple[Any, int]] | bool | None = None

    def _grow(self, n: int) -> None:
        while len(self.pixels) < n:
            self.pixels.append(0)
            self.images_with.append(0)

    def add(self, mask: Tensor) -> None:
        mask = mask.long()
        valid = mask >= 0
        if self.ignore_index is not None:
            valid &= mask != self.ignore_index
        ids = mask[valid]
        counts = torch.bincount(ids.flatten()) if ids.numel() else torch.zeros(0, dtype=torch.long)
        self._grow(len(counts))
        for c, n in enumerate(counts.tolist()):
            self.pixels[c] += n
            self.images_with[c] += int(n > 0)
        self.images += 1
        self.valid += int(ids.numel())
        fg = valid & (mask > 0)
        if not bool(fg.any()):
            self.empty += 1
        elif len(self.object_sizes) < 100_000:
            self.object_sizes += self._objects(fg)

    def _objects(self, fg: Tensor) -> list[int]:
        """Sizes of the connected foreground components (scipy), else the foreground area."""
        if self._label is None:
            try:
                from scipy import ndimage

                self._label = ndimage.label
            except ImportError:
                self._label = False
        if self._label is False or fg.ndim < 2:
            return [int(fg.sum())]
        assert callable(self._label)
        labelled, n = self._label(fg.numpy())
        if n == 0:
            return []
        sizes = torch.bincount(torch.from_numpy(labelled).flatten().long())[1:]
        return [int(s) for s in sizes.tolist()]

    def result(self) -> dict[str, Any]:
        if self.images == 0 or self.valid == 0:
            raise AdviseError("no labelled pixels found")
        present = [n for n in self.pixels if n > 0]
        fg = sum(self.pixels[1:])
        sizes = sorted(self.object_sizes)
        return {
            "images": self.images,
            "classes": len(self.pixels),
            "pixels_per_class": list(self.pixels),
            "pixel_share_per_class": [n / self.valid for n in self.pixels],
            "images_per_class": list(self.images_with),
            "foreground_fraction": fg / self.valid,
            "empty_mask_rate": self.empty / self.images,
            "imbalance_ratio": max(present) / min(present) if present else math.inf,
            "objects": len(sizes),
            "object_size_median": _quantile(sizes, 0.5),
            "object_size_p10": _quantile(sizes, 0.1),
            "object_size_p90": _quantile(sizes, 0.9),
        }


def _quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return math.nan
    data = sorted(values)
    position = q * (len(data) - 1)
    low = math.floor(position)
    high = min(low + 1, len(data) - 1)
    return float(data[low] + (data[high] - data[low]) * (position - low))


def _check_ids(data: Tensor, source: str) -> Tensor:
    if data.dtype.is_floating_point:
        finite = torch.isfinite(data).all()
        if not finite or not bool((data == data.round()).all()):
            raise AdviseError(
                f"{source}: expected integer class ids, got non-integer "
                f"{str(data.dtype).removeprefix('torch.')} values"
            )
        data = data.long()
    elif data.dtype == torch.bool:
        data = data.long()
    elif data.dtype.is_complex:
        raise AdviseError(f"{source}: expected integer class ids, got complex values")
    return data.long()


def _segmentation(
    chunks: Iterable[Tensor], source: str, ignore_index: int | None, tick: Callable[[], None]
) -> dict[str, Any]:
    stats = _SegStats(ignore_index)
    for chunk in chunks:
        chunk = _check_ids(chunk, source)
        for mask in chunk if chunk.ndim >= 3 else [chunk]:
            stats.add(mask)
            tick()
    try:
        return stats.result()
    except AdviseError as error:
        raise AdviseError(f"{source}: {error}") from None


def _classification(labels: Tensor, source: str, ignore_index: int | None) -> dict[str, Any]:
    labels = _check_ids(labels, source).flatten()
    labels = labels[labels >= 0]
    if ignore_index is not None:
        labels = labels[labels != ignore_index]
    if labels.numel() == 0:
        raise AdviseError(f"{source}: no labels")
    counts = torch.bincount(labels).tolist()
    present = [n for n in counts if n > 0]
    return {
        "samples": int(labels.numel()),
        "classes": len(counts),
        "count_per_class": counts,
        "share_per_class": [n / labels.numel() for n in counts],
        "imbalance_ratio": max(present) / min(present),
        "absent_classes": [c for c, n in enumerate(counts) if n == 0],
    }


def _boxes_stats(boxes: Tensor, anchors: Sequence[Sequence[float]] | None) -> dict[str, Any]:
    w = (boxes[:, 2] - boxes[:, 0]).clamp(min=0)
    h = (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    ok = (w > 0) & (h > 0)
    if not bool(ok.any()):
        raise AdviseError("boxes: every box has zero width or height")
    w, h = w[ok], h[ok]
    aspect = (w / h).tolist()
    side = (w * h).sqrt().tolist()
    stats: dict[str, Any] = {
        "boxes": int(boxes.shape[0]),
        "degenerate_boxes": int((~ok).sum()),
        "width_median": _quantile(w.tolist(), 0.5),
        "height_median": _quantile(h.tolist(), 0.5),
        "size_p10": _quantile(side, 0.1),
        "size_median": _quantile(side, 0.5),
        "size_p90": _quantile(side, 0.9),
        "scale_spread": _quantile(side, 0.9) / max(_quantile(side, 0.1), 1e-12),
        "aspect_p10": _quantile(aspect, 0.1),
        "aspect_median": _quantile(aspect, 0.5),
        "aspect_p90": _quantile(aspect, 0.9),
        "aspect_spread": _quantile(aspect, 0.9) / max(_quantile(aspect, 0.1), 1e-12),
    }
    if anchors:
        a = torch.tensor([[float(x) for x in anchor] for anchor in anchors], dtype=torch.float64)
        if a.ndim != 2 or a.shape[1] != 2 or not bool((a > 0).all()):
            raise AdviseError("anchors: expected positive (width, height) pairs")
        inter = torch.minimum(w[:, None], a[None, :, 0]) * torch.minimum(h[:, None], a[None, :, 1])
        union = (w * h)[:, None] + (a[:, 0] * a[:, 1])[None, :] - inter
        best = (inter / union).max(dim=1).values  # IoU of centred shapes (YOLO's anchor fit)
        stats["anchor_best_iou_mean"] = float(best.mean())
        stats["anchor_best_iou_below_0.5"] = float((best < 0.5).double().mean())
    return stats


# --- rules ------------------------------------------------------------------------------------


def _weights(counts: Sequence[int], scheme: str, **options: Any) -> list[float]:
    from ..compose import class_weights

    values = class_weights([float(c) for c in counts], scheme=scheme, **options)
    return [round(float(v), 4) for v in values]


def _line(name: str, kind: str, index: int) -> str:
    """A card line, prefixed with the loss it comes from."""
    from . import CARDS

    card = CARDS[name]
    claim = (card.advantages if kind == "advantage" else card.disadvantages)[index]
    return f"{name} ({kind}): {claim.text}"


def _rank(*items: tuple[str, str, list[str]]) -> list[Recommendation]:
    return [
        Recommendation(i + 1, loss, expr, reasons) for i, (loss, expr, reasons) in enumerate(items)
    ]


def _segmentation_rules(stats: dict[str, Any]) -> tuple[list[str], list[Recommendation]]:
    f = stats["foreground_fraction"]
    e = stats["empty_mask_rate"]
    r = stats["imbalance_ratio"]
    binary = stats["classes"] <= 2
    mode = "'binary'" if binary else "'multiclass'"
    weights = _weights(stats["pixels_per_class"], "inverse_sqrt")
    weight_opt = "" if binary else f", class_weight={weights}"
    alpha_opt = ", alpha=0.25" if binary else f", alpha={weights}"
    facts = f"foreground {100 * f:.2f}% of pixels, {100 * e:.0f}% empty masks, imbalance {r:.3g}"
    if e >= 0.2:
        rules = [f"S1 many empty masks (e = {e:.2f} >= 0.2); {facts}"]
        ranked = _rank(
            (
                "dice_ce",
                f"dice_ce(mode={mode}, batch_dice=True{weight_opt})",
                [
                    _line("dice", "disadvantage", 1),
                    _line("dice_ce", "advantage", 0),
                    "batch_dice=True sums the overlap over the batch, so an image without foreground "
                    "does not score 0 or 1 on its own",
                ],
            ),
            (
                "focal",
                f"focal(mode={mode}, gamma=2.0{alpha_opt})",
                [_line("focal", "advantage", 0), _line("focal", "advantage", 1)],
            ),
        )
    elif f < 0.05:
        beta = 0.8 if f < 0.01 else 0.7
        rules = [
            f"S2 rare foreground (f = {f:.4f} < 0.05); Tversky beta {beta} "
            f"({'f < 0.01' if beta == 0.8 else '0.01 <= f < 0.05'}); {facts}"
        ]
        ranked = _rank(
            (
                "dice_ce",
                f"dice_ce(mode={mode}{weight_opt})",
                [_line("dice", "advantage", 0), _line("dice_ce", "advantage", 0)]
                + ([] if binary else [_line("cross_entropy", "advantage", 1)]),
            ),
            (
                "tversky",
                f"tversky(mode={mode}, alpha={round(1 - beta, 2)}, beta={beta})",
                [_line("tversky", "advantage", 0), _line("tversky", "disadvantage", 0)],
            ),
            (
                "focal",
                f"focal(mode={mode}, gamma=2.0{alpha_opt})",
                [_line("focal", "advantage", 1), _line("focal", "disadvantage", 0)],
            ),
        )
    elif f < 0.2 or r > 10:
        rules = [f"S3 moderate imbalance (f = {f:.3f} < 0.2 or r = {r:.3g} > 10); {facts}"]
        ranked = _rank(
            (
                "dice_ce",
                f"dice_ce(mode={mode}{weight_opt})",
                [_line("dice", "advantage", 0)]
                + ([] if binary else [_line("cross_entropy", "advantage", 1)]),
            ),
            (
                "focal",
                f"focal(mode={mode}, gamma=2.0{alpha_opt})",
                [_line("focal", "advantage", 0)],
            ),
        )
    else:
        rules = [f"S4 balanced (f = {f:.3f} >= 0.2, r = {r:.3g} <= 10, e = {e:.2f} < 0.2)"]
        ce = "binary_cross_entropy" if binary else "cross_entropy"
        ranked = _rank(
            (
                ce,
                f"{ce}()",
                [_line("cross_entropy", "advantage", 0), _line("cross_entropy", "advantage", 2)],
            ),
            ("dice_ce", f"dice_ce(mode={mode})", [_line("dice", "advantage", 1)]),
        )
    small = stats.get("object_size_median", math.nan)
    if math.isfinite(small) and small < 16:
        rules.append(
            f"small objects (median {small:.0f} pixels < 16): Dice's gradient is "
            "unstable for them; keep the CE term"
        )
        ranked[0].reasons.append(_line("dice", "disadvantage", 0))
    return rules, ranked


def _classification_rules(stats: dict[str, Any]) -> tuple[list[str], list[Recommendation]]:
    r = stats["imbalance_ratio"]
    counts = stats["count_per_class"]
    if r <= 3:
        return [f"C1 balanced (r = {r:.3g} <= 3)"], _rank(
            ("cross_entropy", "cross_entropy()", [_line("cross_entropy", "advantage", 0)]),
            ("poly1", "poly1(epsilon=1.0)", [_line("poly1", "advantage", 0)]),
        )
    weights = _weights(counts, "effective_number", beta=0.999)
    if r <= 100:
        return [f"C2 imbalanced (3 < r = {r:.3g} <= 100)"], _rank(
            (
                "cross_entropy",
                f"cross_entropy(class_weight={weights})",
                [_line("cross_entropy", "advantage", 1), _line("cross_entropy", "disadvantage", 0)],
            ),
            (
                "focal",
                f"focal(mode='multiclass', gamma=2.0, alpha={weights})",
                [_line("focal", "advantage", 1)],
            ),
        )
    return [f"C3 extreme imbalance (r = {r:.3g} > 100)"], _rank(
        (
            "focal",
            f"focal(mode='multiclass', gamma=2.0, alpha={weights})",
            [_line("focal", "advantage", 0), _line("focal", "advantage", 1)],
        ),
        (
            "cross_entropy",
            f"cross_entropy(class_weight={weights})",
            [_line("cross_entropy", "advantage", 1)],
        ),
    )


def _boxes_rules(stats: dict[str, Any]) -> tuple[list[str], list[Recommendation]]:
    spread = stats["aspect_spread"]
    rules = []
    if spread > 3:
        rules.append(f"B1 aspect ratios vary (90th/10th percentile {spread:.3g} > 3): CIoU")
        first = (
            "ciou",
            "ciou()",
            [_line("ciou", "advantage", 0), _line("diou", "disadvantage", 0)],
        )
    else:
        rules.append(f"B1 aspect ratios similar (90th/10th percentile {spread:.3g} <= 3): DIoU")
        first = ("diou", "diou()", [_line("diou", "advantage", 0), _line("diou", "advantage", 1)])
    ranked = _rank(first, ("giou", "giou()", [_line("giou", "advantage", 0)]))
    if stats["scale_spread"] > 4:
        rules.append(
            f"sizes vary (scale spread {stats['scale_spread']:.3g} > 4): prefer an IoU "
            "loss to Smooth L1 on coordinates"
        )
        ranked[0].reasons.append(_line("smooth_l1", "disadvantage", 0))
    if stats.get("anchor_best_iou_mean", 1.0) < 0.5:
        rules.append("anchors fit poorly (mean best IoU < 0.5): starts may not overlap")
        ranked[0].reasons.append(_line("iou", "disadvantage", 0))
    return rules, ranked


# --- entry point ------------------------------------------------------------------------------


def _infer_task(shape: tuple[int, ...], floating: bool, source: str) -> str:
    if len(shape) == 1:
        return "classification"
    if len(shape) == 2 and shape[1] == 4 and floating:
        return "boxes"
    if len(shape) >= 2:
        return "segmentation"
    raise AdviseError(f"{source}: cannot tell the task from data of shape {shape}")


def _npy_chunks(array: Any) -> Iterator[Tensor]:
    import numpy as np

    for start in range(0, array.shape[0], _BATCH):
        yield torch.from_numpy(np.array(array[start : start + _BATCH]))  # a copy: mmap is read-only


def advise(
    targets: Any,
    task: str = "auto",
    *,
    ignore_index: int | None = None,
    anchors: Sequence[Sequence[float]] | None = None,
    max_bytes: int = MAX_BYTES,
    progress: Callable[[int, int | None], None] | None = None,
) -> Advice:
    """Statistics of the targets and a ranked loss recommendation with its reasons.

    Args:
        targets: a folder of label PNGs, a ``.npy``/``.pt`` file of masks ``(N, H, W)`` or class
            ids ``(N,)``, a ``.csv``/``.json`` file of boxes, or the same in memory (a tensor,
            a NumPy array, a list of ``[x1, y1, x2, y2]``).
        task: ``"auto"`` (from the data: 1-D ids are classification, ``(N, 4)`` floats or a
            CSV/JSON are boxes, masks are segmentation), ``"segmentation"``,
            ``"classification"`` or ``"boxes"``.
        ignore_index: a label to leave out of the counts (negative labels always are).
        anchors: ``(width, height)`` pairs; for boxes, how well they fit is reported.
        max_bytes: the largest file read.
        progress: called as ``progress(done, total)`` while a folder or array is streamed.

    Returns:
        An :class:`Advice`: ``stats``, the ``rules`` that fired, the ranked ``recommendations``
        (each a ``build_loss`` expression with reasons taken from the cards); ``.to_dict()``
        for JSON, ``.render()`` for text.

    Raises:
        AdviseError: (a ``ValueError``) unreadable, too large or wrongly typed targets; the
            message is one line naming the file.

    Example:
        >>> import torch, visionloss
        >>> masks = torch.zeros(10, 32, 32, dtype=torch.long)
        >>> masks[:, :3, :3] = 1  # a foreground of 0.9%
        >>> advice = visionloss.advise(masks)
        >>> advice.recommendations[0].expression
        "dice_ce(mode='binary')"
        >>> advice.recommendations[1].expression
        "tversky(mode='binary', alpha=0.2, beta=0.8)"
    """
    if task not in TASKS:
        raise ValueError(f"task: expected one of {TASKS}, got {task!r}")
    done = [0]

    def tick(total: int | None = None) -> Callable[[], None]:
        def step() -> None:
            done[0] += 1
            if progress is not None:
                progress(done[0], total)

        return step

    source = "memory"
    data: Any
    if isinstance(targets, (str, os.PathLike)):
        path = Path(targets)
        source = str(path)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
            if not files:
                raise AdviseError(f"{path}: no PNG label images in the folder")
            if task not in ("auto", "segmentation"):
                raise AdviseError(f"{path}: a folder of label images is segmentation, not {task}")
            palette = _Palette()
            stats = _segmentation(
                (_read_png(p, palette, max_bytes) for p in files[:MAX_IMAGES]),
                source,
                ignore_index,
                tick(len(files)),
            )
            if len(palette.colours) > 1:
                stats["colour_classes"] = {str(k): v for k, v in palette.colours.items()}
            rules, ranked = _segmentation_rules(stats)
            return Advice("segmentation", source, stats, rules, ranked)
        if not path.exists():
            raise AdviseError(f"{path}: no such file or folder")
        _check_size(path, max_bytes)
        suffix = path.suffix.lower()
        if suffix == ".csv":
            data = _read_boxes_csv(path)
            task = "boxes" if task == "auto" else task
        elif suffix == ".json":
            data = _read_boxes_json(path)
            task = "boxes" if task == "auto" else task
        elif suffix == ".npy":
            data = _load_npy(path)
        elif suffix in (".pt", ".pth"):
            data = _load_pt(path)
        elif suffix in _IMAGE_SUFFIXES:
            data = _read_png(path, _Palette(), max_bytes)[None]
        else:
            raise AdviseError(
                f"{path}: unsupported file type {suffix or '(none)'!r} (expected a "
                "folder of PNGs, .npy, .pt, .csv or .json)"
            )
    elif isinstance(targets, Tensor):
        data = targets.detach().cpu()
    elif isinstance(targets, (list, tuple)):
        data = (
            _boxes_tensor(targets, "boxes") if task in ("auto", "boxes") else torch.tensor(targets)
        )
        task = "boxes" if task == "auto" else task
    else:
        try:
            import numpy as np
        except ImportError:  # pragma: no cover
            np = None  # type: ignore[assignment]
        if np is None or not isinstance(targets, np.ndarray):
            raise TypeError(
                "targets: expected a path, a tensor, a NumPy array or a list of "
                f"boxes, got {type(targets).__name__}"
            )
        data = targets

    if not isinstance(data, Tensor):  # a NumPy array, possibly memory-mapped: streamed
        import numpy as np

        if data.dtype.kind not in "biuf":
            raise AdviseError(f"{source}: expected numbers, got a {data.dtype} array")
        if task == "auto":
            task = _infer_task(tuple(data.shape), data.dtype.kind == "f", source)
        if task == "segmentation" and data.ndim >= 3:
            stats = _segmentation(_npy_chunks(data), source, ignore_index, tick(data.shape[0]))
            rules, ranked = _segmentation_rules(stats)
            return Advice(task, source, stats, rules, ranked)
        data = torch.from_numpy(np.array(data))
    if task == "auto":
        task = _infer_task(tuple(data.shape), data.dtype.is_floating_point, source)
    if task == "segmentation":
        if data.ndim < 2:
            raise AdviseError(f"{source}: masks need at least 2 dimensions, got {data.ndim}")
        data = data if data.ndim >= 3 else data[None]
        stats = _segmentation(
            (data[i : i + _BATCH] for i in range(0, data.shape[0], _BATCH)),
            source,
            ignore_index,
            tick(data.shape[0]),
        )
        rules, ranked = _segmentation_rules(stats)
    elif task == "classification":
        stats = _classification(data, source, ignore_index)
        rules, ranked = _classification_rules(stats)
    else:
        if data.ndim != 2 or data.shape[-1] != 4:
            raise AdviseError(f"{source}: boxes must have shape (N, 4), got {tuple(data.shape)}")
        boxes = _boxes_tensor(data.double().tolist(), source)
        try:
            stats = _boxes_stats(boxes, anchors)
        except AdviseError as error:
            raise AdviseError(f"{source}: {error}") from None
        rules, ranked = _boxes_rules(stats)
    return Advice(task, source, stats, rules, ranked)
