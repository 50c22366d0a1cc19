"""Every row of the migration pages, run: the peer's expression and ours give equal values.

The rows live in ``docs/migration_table.py``, which the docs render; this test evaluates the same
two strings of each row, so a page cannot show a mapping that does not hold. A peer that is not
installed skips its rows. Two peers are not imported as a whole:

* segmentation_models_pytorch: its package ``__init__`` imports timm and torchvision; its
  ``losses`` subpackage is self-contained and is loaded here without the parent's ``__init__``,
  so the rows run smp's own code (0.6.0).
* torchvision: it does not import with the CPU torch of this environment, so its four loss
  functions, ``box_convert``, ``box_iou`` and ``generalized_box_iou`` are re-implemented below,
  line by line from torchvision 0.2x's ``torchvision/ops/focal_loss.py``, ``giou_loss.py``,
  ``diou_loss.py``, ``ciou_loss.py``, ``_utils.py`` and ``boxes.py``. The rows check visionloss against that transcription.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import visionloss
import visionloss.functional as VF

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docs"))
from migration_table import PEERS, Gap, Peer, Row, sample

sys.path.pop(0)


# --- torchvision.ops, transcribed ----------------------------------------------------------------


def _tv_reduce(loss, reduction):
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(reduction)


def _tv_sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2, reduction="none"):
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
        loss = alpha_t * loss
    return _tv_reduce(loss, reduction)


def _tv_inter_union(boxes1, boxes2):
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    xkis1, ykis1 = torch.max(x1, x1g), torch.max(y1, y1g)
    xkis2, ykis2 = torch.min(x2, x2g), torch.min(y2, y2g)
    intsctk = torch.zeros_like(x1)
    mask = (ykis2 > ykis1) & (xkis2 > xkis1)
    intsctk[mask] = (xkis2[mask] - xkis1[mask]) * (ykis2[mask] - ykis1[mask])
    unionk = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - intsctk
    return intsctk, unionk


def _tv_generalized_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
    intsctk, unionk = _tv_inter_union(boxes1, boxes2)
    iouk = intsctk / (unionk + eps)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    xc1, yc1 = torch.min(x1, x1g), torch.min(y1, y1g)
    xc2, yc2 = torch.max(x2, x2g), torch.max(y2, y2g)
    area_c = (xc2 - xc1) * (yc2 - yc1)
    miouk = iouk - ((area_c - unionk) / (area_c + eps))
    return _tv_reduce(1 - miouk, reduction)


def _tv_diou_iou_loss(boxes1, boxes2, eps=1e-7):
    intsct, union = _tv_inter_union(boxes1, boxes2)
    iou = intsct / (union + eps)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    xc1, yc1 = torch.min(x1, x1g), torch.min(y1, y1g)
    xc2, yc2 = torch.max(x2, x2g), torch.max(y2, y2g)
    diagonal_distance_squared = ((xc2 - xc1) ** 2) + ((yc2 - yc1) ** 2) + eps
    x_p, y_p = (x2 + x1) / 2, (y2 + y1) / 2
    x_g, y_g = (x1g + x2g) / 2, (y1g + y2g) / 2
    centers_distance_squared = ((x_p - x_g) ** 2) + ((y_p - y_g) ** 2)
    loss = 1 - iou + (centers_distance_squared / diagonal_distance_squared)
    return loss, iou


def _tv_distance_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
    loss, _ = _tv_diou_iou_loss(boxes1, boxes2, eps)
    return _tv_reduce(loss, reduction)


def _tv_complete_box_iou_loss(boxes1, boxes2, reduction="none", eps=1e-7):
    diou_loss, iou = _tv_diou_iou_loss(boxes1, boxes2, eps)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    w_pred, h_pred = x2 - x1, y2 - y1
    w_gt, h_gt = x2g - x1g, y2g - y1g
    v = (4 / (torch.pi**2)) * torch.pow(torch.atan(w_gt / h_gt) - torch.atan(w_pred / h_pred), 2)
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    return _tv_reduce(diou_loss + alpha * v, reduction)


def _tv_box_convert(boxes, in_fmt, out_fmt):
    if in_fmt == out_fmt:
        return boxes.clone()
    if in_fmt == "xywh":
        x, y, w, h = boxes.unbind(-1)
        boxes = torch.stack([x, y, x + w, y + h], dim=-1)
    elif in_fmt == "cxcywh":
        cx, cy, w, h = boxes.unbind(-1)
        boxes = torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)
    if out_fmt == "xywh":
        x1, y1, x2, y2 = boxes.unbind(-1)
        boxes = torch.stack([x1, y1, x2 - x1, y2 - y1], dim=-1)
    elif out_fmt == "cxcywh":
        x1, y1, x2, y2 = boxes.unbind(-1)
        boxes = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=-1)
    return boxes


def _tv_box_area(boxes):
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _tv_box_inter_union(boxes1, boxes2):
    area1, area2 = _tv_box_area(boxes1), _tv_box_area(boxes2)
    lt = torch.max(boxes1[:, None, :2], boxes2[:, :2])
    rb = torch.min(boxes1[:, None, 2:], boxes2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, :, 0] * wh[:, :, 1]
    return inter, area1[:, None] + area2 - inter


def _tv_box_iou(boxes1, boxes2):
    inter, union = _tv_box_inter_union(boxes1, boxes2)
    return inter / union


def _tv_generalized_box_iou(boxes1, boxes2):
    inter, union = _tv_box_inter_union(boxes1, boxes2)
    iou = inter / union
    lti = torch.min(boxes1[:, None, :2], boxes2[:, :2])
    rbi = torch.max(boxes1[:, None, 2:], boxes2[:, 2:])
    whi = (rbi - lti).clamp(min=0)
    areai = whi[:, :, 0] * whi[:, :, 1]
    return iou - (areai - union) / areai


TVOPS = types.SimpleNamespace(
    sigmoid_focal_loss=_tv_sigmoid_focal_loss,
    generalized_box_iou_loss=_tv_generalized_box_iou_loss,
    distance_box_iou_loss=_tv_distance_box_iou_loss,
    complete_box_iou_loss=_tv_complete_box_iou_loss,
    box_convert=_tv_box_convert,
    box_iou=_tv_box_iou,
    generalized_box_iou=_tv_generalized_box_iou,
)


# --- the peers' names ----------------------------------------------------------------------------


def _smp_losses():
    """``segmentation_models_pytorch.losses`` without running the package's ``__init__``."""
    if "segmentation_models_pytorch.losses" in sys.modules:
        return sys.modules["segmentation_models_pytorch.losses"]
    spec = importlib.util.find_spec("segmentation_models_pytorch")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("segmentation_models_pytorch is not installed")
    if "segmentation_models_pytorch" not in sys.modules:
        # the package object without running its __init__ (timm, torchvision, the encoders):
        # its __path__ is enough for the self-contained losses subpackage to import
        sys.modules["segmentation_models_pytorch"] = importlib.util.module_from_spec(spec)
    return importlib.import_module("segmentation_models_pytorch.losses")


def _names(peer: Peer) -> dict[str, object]:
    if peer.key == "monai":
        return {"ML": pytest.importorskip("monai.losses")}
    if peer.key == "smp":
        return {"SL": _smp_losses()}
    if peer.key == "kornia":
        return {"KL": pytest.importorskip("kornia.losses")}
    if peer.key == "torchvision":
        return {"tvops": TVOPS}
    if peer.key == "pml":
        pytest.importorskip("pytorch_metric_learning")
        from pytorch_metric_learning import distances, losses, miners, reducers

        return {"distances": distances, "losses": losses, "miners": miners, "reducers": reducers}
    if peer.key == "msssim":
        return {"pytorch_msssim": pytest.importorskip("pytorch_msssim")}
    raise AssertionError(f"no names for peer {peer.key!r}")


ROWS = [pytest.param(peer, row, id=f"{peer.key}-{row.topic}") for peer in PEERS for row in peer.rows]
GAPS = [
    pytest.param(peer, gap, id=f"{peer.key}-{gap.topic}")
    for peer in PEERS
    for gap in peer.gaps
    if gap.missing
]


@pytest.mark.parametrize(("peer", "row"), ROWS)
def test_row_gives_equal_values(peer: Peer, row: Row):
    names = _names(peer)
    assert set(names) == set(peer.names), "the page's import line must bind what the rows use"
    scope = {"torch": torch, "F": F, "VF": VF, "visionloss": visionloss, **sample(), **names}
    theirs = eval(row.theirs, scope)  # the strings come from docs/migration_table.py
    ours = eval(row.ours, scope)
    assert isinstance(ours, torch.Tensor)
    theirs = torch.as_tensor(theirs)
    assert ours.shape == theirs.shape, f"{row.ours}: shape {ours.shape} vs {theirs.shape}"
    torch.testing.assert_close(
        ours.double(), theirs.double(), rtol=row.rtol, atol=row.atol, msg=lambda m: f"{row}: {m}"
    )


@pytest.mark.parametrize(("peer", "gap"), GAPS)
def test_gap_is_still_missing(peer: Peer, gap: Gap):
    # when the loss lands, its row must move from "no equivalent" to an executable mapping
    assert not hasattr(VF, gap.missing), f"{gap.missing} exists now: add a row for {gap.topic}"


def test_every_peer_has_rows_and_a_known_source():
    keys = [peer.key for peer in PEERS]
    assert len(keys) == len(set(keys)) == 6
    for peer in PEERS:
        assert peer.rows and peer.source in {"installed", "transcribed"}
        assert all(isinstance(row, Row) for row in peer.rows)
