"""Misspelled options that ``mypy --strict`` must reject (``scripts/typecheck.sh`` checks that it does)."""

from __future__ import annotations

import torch

import visionloss.functional as VF


def misspelled() -> None:
    x, y = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    VF.dice_loss(x, y, mode="multiclas")  # error: not a Mode
    VF.mse_loss(x, x, reduction="avg")  # error: not a Reduction
    VF.triplet_margin_loss(x, x, x, distance="euclid")  # error: not a distance
