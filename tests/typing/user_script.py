"""A user's training-loop code: it must type-check clean under ``mypy --strict``.

Checked by ``scripts/typecheck.sh`` (CI), together with ``bad_options.py``, which must fail.
"""

from __future__ import annotations

import torch
from torch import Tensor

import visionloss
import visionloss.functional as VF


def step(logits: Tensor, labels: Tensor, boxes: Tensor, target_boxes: Tensor) -> Tensor:
    dice: Tensor = VF.dice_loss(logits, labels, mode="multiclass", class_weight=[1.0, 2.0, 1.0])
    ce: Tensor = VF.cross_entropy(logits, labels, label_smoothing=0.1, reduction="mean")
    focal: Tensor = VF.focal_loss(logits, labels, mode="multiclass", gamma=2.0)
    tversky: Tensor = VF.tversky_loss(logits, labels, mode="multiclass", alpha=0.3, beta=0.7)
    giou: Tensor = VF.giou_loss(boxes, target_boxes, box_format="xyxy")
    huber: Tensor = VF.huber_loss(boxes, target_boxes, delta=2.0, reduction="sum")
    return dice + ce + focal + tversky + giou + huber


def modules(x: Tensor, y: Tensor, labels: Tensor) -> Tensor:
    losses: list[visionloss.LossModule] = [
        visionloss.MSELoss(),
        visionloss.HuberLoss(delta=2.0),
        visionloss.CharbonnierLoss(eps=1e-3),
        visionloss.RobustLoss(alpha=0.0),
    ]
    total: Tensor = sum((loss(x, y) for loss in losses), torch.zeros(()))
    dice = visionloss.DiceLoss(mode="multiclass")
    value: Tensor = dice(x, labels)
    real, fake = torch.randn(4), torch.randn(4)
    d_loss: Tensor = VF.discriminator_loss(real, fake, kind="hinge")
    g_loss: Tensor = VF.generator_loss(fake, kind="non_saturating")
    anchor = torch.randn(4, 8)
    triplet: Tensor = VF.batch_triplet_loss(anchor, torch.arange(4) % 2, mining="batch_hard")
    built = visionloss.build_loss("dice(mode='multiclass') + 0.5 * cross_entropy")
    combined: Tensor = built(x, labels)
    return total + value + d_loss + g_loss + triplet + combined
