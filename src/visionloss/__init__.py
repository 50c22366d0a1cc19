"""visionloss: the loss functions computer-vision models are trained with, under one API.

>>> import torch, visionloss
>>> loss = visionloss.HuberLoss(delta=1.0)
>>> loss(torch.tensor([0.5, 3.0]), torch.zeros(2))
tensor(1.3125)
"""

from . import functional
from ._core import checks_enabled, set_checks

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

# segmentation

# boxes

# embedding

# generative

# composition

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "checks_enabled",
    "functional",
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
    # segmentation
    # boxes
    # embedding
    # generative
    # composition
]
