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

# segmentation

# boxes

# embedding

# generative

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
    # segmentation
    # boxes
    # embedding
    # generative
]
