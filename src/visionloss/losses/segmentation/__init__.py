"""Segmentation losses: the overlap family (Dice, Jaccard, Tversky, focal Tversky, generalized
Dice), Lovász, Dice combined with cross-entropy, focal loss or top-k cross-entropy, top-k cross-entropy, MCC,
soft clDice, the boundary and Hausdorff DT losses.

A package of sub-families, each with its options, functions, Modules and spec table:
:mod:`.overlap` (and the overlap core the others stand on), :mod:`.lovasz`, :mod:`.compound`,
:mod:`.extra` and :mod:`.boundary`.
Everything public is re-exported here; :data:`SPECS` is their tables in catalogue order.
"""

from __future__ import annotations

from ..._core import LossSpec
from . import boundary, compound, extra, lovasz, overlap
from .boundary import (
    BoundaryLoss,
    HausdorffDTLoss,
    SoftClDiceLoss,
    boundary_loss,
    hausdorff_dt_loss,
    signed_distance_map,
    soft_cldice_loss,
    soft_skeleton,
)
from .compound import (
    DiceCELoss,
    DiceFocalLoss,
    DiceTopKLoss,
    dice_ce_loss,
    dice_focal_loss,
    dice_topk_loss,
)
from .extra import MCCLoss, TopKCrossEntropyLoss, mcc_loss, topk_cross_entropy
from .lovasz import LovaszHingeLoss, LovaszSoftmaxLoss, lovasz_hinge_loss, lovasz_softmax_loss
from .overlap import (
    DiceLoss,
    FocalTverskyLoss,
    GeneralizedDiceLoss,
    JaccardLoss,
    TverskyLoss,
    dice_loss,
    focal_tversky_loss,
    generalized_dice_loss,
    jaccard_loss,
    tversky_loss,
)

__all__ = [
    "BoundaryLoss",
    "DiceCELoss",
    "DiceFocalLoss",
    "DiceLoss",
    "DiceTopKLoss",
    "FocalTverskyLoss",
    "GeneralizedDiceLoss",
    "HausdorffDTLoss",
    "JaccardLoss",
    "LovaszHingeLoss",
    "LovaszSoftmaxLoss",
    "MCCLoss",
    "SPECS",
    "SoftClDiceLoss",
    "TopKCrossEntropyLoss",
    "TverskyLoss",
    "boundary_loss",
    "dice_ce_loss",
    "dice_focal_loss",
    "dice_loss",
    "dice_topk_loss",
    "focal_tversky_loss",
    "generalized_dice_loss",
    "hausdorff_dt_loss",
    "jaccard_loss",
    "lovasz_hinge_loss",
    "lovasz_softmax_loss",
    "mcc_loss",
    "signed_distance_map",
    "soft_cldice_loss",
    "soft_skeleton",
    "topk_cross_entropy",
    "tversky_loss",
]

SPECS: tuple[LossSpec, ...] = (
    overlap.SPECS + lovasz.SPECS + compound.SPECS + extra.SPECS
    + boundary.SPECS
)
