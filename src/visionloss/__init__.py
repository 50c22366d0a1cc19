"""visionloss: the loss functions computer-vision models are trained with, under one API.

>>> import torch, visionloss
>>> loss = visionloss.HuberLoss(delta=1.0)
>>> loss(torch.tensor([0.5, 3.0]), torch.zeros(2))
tensor(1.3125)
"""

from . import functional
from ._core import LossModule, LossOptions, LossSpec, checks_enabled, set_checks

# regression
from .losses.regression import (
    CharbonnierLoss,
    HuberLoss,
    LogCoshLoss,
    MAELoss,
    MSELoss,
    RobustLoss,
    SmoothL1Loss,
)

# classification
from .losses.classification import (
    BCELoss,
    CrossEntropyLoss,
    DistributionFocalLoss,
    FocalLoss,
    Poly1Loss,
    QualityFocalLoss,
    VarifocalLoss,
)

# segmentation
from .losses.segmentation import (
    BoundaryLoss,
    DiceCELoss,
    DiceFocalLoss,
    DiceLoss,
    DiceTopKLoss,
    FocalTverskyLoss,
    GeneralizedDiceLoss,
    HausdorffDTLoss,
    JaccardLoss,
    LovaszHingeLoss,
    LovaszSoftmaxLoss,
    MCCLoss,
    SoftClDiceLoss,
    TopKCrossEntropyLoss,
    TverskyLoss,
)

# boxes
from .losses.boxes import BoxIoULoss, CIoULoss, DIoULoss, EIoULoss, GIoULoss, IoULoss

# embedding
from .losses.embedding import (
    ArcFaceLoss,
    BatchTripletLoss,
    ClipLoss,
    ContrastiveLoss,
    CosFaceLoss,
    MultiSimilarityLoss,
    NTXentLoss,
    SupervisedContrastiveLoss,
    TripletMarginLoss,
)

# generative
from .losses.generative import (
    AdversarialLoss,
    FeatureMatchingLoss,
    GaussianKLLoss,
    GaussianNLLLoss,
    GradientPenalty,
    JSDivergence,
    KLDivergence,
    MSSSIMLoss,
    PerceptualLoss,
    R1Penalty,
    SSIMLoss,
    TotalVariationLoss,
    VAELoss,
)

# composition
# isort: split
from .compose import (
    CombinedLoss,
    MultiTaskLoss,
    available_losses,
    build_loss,
    class_weights,
    get_loss,
    loss_info,
    register,
)

# the guide: cards filled into the specs, and advise()
# isort: split
from . import guide
from .guide.advise import advise

guide.attach()

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "LossModule",
    "LossOptions",
    "LossSpec",
    "advise",
    "checks_enabled",
    "functional",
    "guide",
    "set_checks",
    # regression
    "CharbonnierLoss",
    "HuberLoss",
    "LogCoshLoss",
    "MAELoss",
    "MSELoss",
    "RobustLoss",
    "SmoothL1Loss",
    # classification
    "BCELoss",
    "CrossEntropyLoss",
    "FocalLoss",
    "Poly1Loss",
    "VarifocalLoss",
    "QualityFocalLoss",
    "DistributionFocalLoss",
    # segmentation
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
    "SoftClDiceLoss",
    "TopKCrossEntropyLoss",
    "TverskyLoss",
    # boxes
    "BoxIoULoss",
    "CIoULoss",
    "DIoULoss",
    "EIoULoss",
    "GIoULoss",
    "IoULoss",
    # embedding
    "ArcFaceLoss",
    "BatchTripletLoss",
    "ClipLoss",
    "ContrastiveLoss",
    "CosFaceLoss",
    "MultiSimilarityLoss",
    "NTXentLoss",
    "SupervisedContrastiveLoss",
    "TripletMarginLoss",
    # generative
    "AdversarialLoss",
    "FeatureMatchingLoss",
    "GaussianKLLoss",
    "GaussianNLLLoss",
    "GradientPenalty",
    "JSDivergence",
    "KLDivergence",
    "MSSSIMLoss",
    "PerceptualLoss",
    "R1Penalty",
    "SSIMLoss",
    "TotalVariationLoss",
    "VAELoss",
    # composition
    "CombinedLoss",
    "MultiTaskLoss",
    "available_losses",
    "build_loss",
    "class_weights",
    "get_loss",
    "loss_info",
    "register",
]
