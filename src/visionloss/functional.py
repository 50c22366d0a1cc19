"""Every loss function of visionloss, in one namespace.

>>> import visionloss.functional as VF
>>> VF.huber_loss  # doctest: +ELLIPSIS
<function huber_loss at ...>
"""

# regression
from .losses.regression import (
    charbonnier_loss,
    huber_loss,
    log_cosh_loss,
    mae_loss,
    mse_loss,
    robust_loss,
    smooth_l1_loss,
)

# classification
from .losses.classification import (
    binary_cross_entropy,
    cross_entropy,
    distribution_focal_loss,
    focal_loss,
    poly1_loss,
    quality_focal_loss,
    varifocal_loss,
)

# segmentation
from .losses.segmentation import (
    boundary_loss,
    dice_ce_loss,
    dice_focal_loss,
    dice_loss,
    dice_topk_loss,
    focal_tversky_loss,
    generalized_dice_loss,
    hausdorff_dt_loss,
    jaccard_loss,
    lovasz_hinge_loss,
    lovasz_softmax_loss,
    mcc_loss,
    signed_distance_map,
    soft_cldice_loss,
    soft_skeleton,
    topk_cross_entropy,
    tversky_loss,
)

# boxes
from .losses.box_pairwise import box_iou, generalized_box_iou
from .losses.boxes import (
    box_convert,
    box_iou_loss,
    ciou_loss,
    cxcywh_to_xyxy,
    diou_loss,
    eiou_loss,
    giou_loss,
    iou_loss,
    xywh_to_xyxy,
    xyxy_to_cxcywh,
    xyxy_to_xywh,
)

# embedding
from .losses.embedding import (
    arcface_loss,
    batch_triplet_loss,
    clip_loss,
    contrastive_loss,
    cosface_loss,
    multi_similarity_loss,
    nt_xent_loss,
    supervised_contrastive_loss,
    triplet_margin_loss,
)

# generative
from .losses.generative import (
    discriminator_loss,
    feature_matching_loss,
    gaussian_kl,
    gaussian_nll_loss,
    generator_loss,
    gradient_penalty,
    js_divergence,
    kl_divergence,
    ms_ssim_loss,
    perceptual_loss,
    r1_penalty,
    ssim_loss,
    total_variation_loss,
    vae_loss,
)

__all__ = [
    # regression
    "charbonnier_loss",
    "huber_loss",
    "log_cosh_loss",
    "mae_loss",
    "mse_loss",
    "robust_loss",
    "smooth_l1_loss",
    # classification
    "binary_cross_entropy",
    "cross_entropy",
    "focal_loss",
    "poly1_loss",
    "varifocal_loss",
    "quality_focal_loss",
    "distribution_focal_loss",
    # segmentation
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
    # boxes
    "box_convert",
    "box_iou",
    "box_iou_loss",
    "ciou_loss",
    "cxcywh_to_xyxy",
    "diou_loss",
    "eiou_loss",
    "generalized_box_iou",
    "giou_loss",
    "iou_loss",
    "xywh_to_xyxy",
    "xyxy_to_cxcywh",
    "xyxy_to_xywh",
    # embedding
    "arcface_loss",
    "batch_triplet_loss",
    "clip_loss",
    "contrastive_loss",
    "cosface_loss",
    "multi_similarity_loss",
    "nt_xent_loss",
    "supervised_contrastive_loss",
    "triplet_margin_loss",
    # generative
    "discriminator_loss",
    "feature_matching_loss",
    "gaussian_kl",
    "gaussian_nll_loss",
    "generator_loss",
    "gradient_penalty",
    "js_divergence",
    "kl_divergence",
    "ms_ssim_loss",
    "perceptual_loss",
    "r1_penalty",
    "ssim_loss",
    "total_variation_loss",
    "vae_loss",
]
