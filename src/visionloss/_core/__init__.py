"""Shared mechanics of every loss: checks and their messages, reduction, precision, targets.

This package is the only place where these live; the loss families import from here.
"""

from .checks import (
    check_broadcastable,
    check_choice,
    check_class_ids,
    check_class_weight,
    check_flag,
    check_floating,
    check_ignore_index,
    check_loss_weight,
    check_nonnegative_tensor,
    check_number,
    check_probabilities,
    check_same_shape,
    check_tensor,
    checks_enabled,
    describe,
    set_checks,
)
from .dtypes import LOW_PRECISION, autocast_off, compute_dtype, prepare_pair, to_compute
from .module import LossModule
from .options import LossOptions, tensor_option
from .reduction import REDUCTIONS, Reduction, check_reduction, check_weight, reduce_loss
from .spec import FAMILIES, LossSpec
from .targets import (
    MODES,
    DenseTarget,
    Mode,
    check_mode,
    gather_classes,
    prepare_dense_target,
    sum_by_class,
)

__all__ = [
    "LOW_PRECISION",
    "MODES",
    "REDUCTIONS",
    "DenseTarget",
    "FAMILIES",
    "LossOptions",
    "LossSpec",
    "LossModule",
    "Mode",
    "Reduction",
    "autocast_off",
    "check_broadcastable",
    "check_choice",
    "check_class_ids",
    "check_class_weight",
    "check_flag",
    "check_floating",
    "check_ignore_index",
    "check_mode",
    "check_loss_weight",
    "check_nonnegative_tensor",
    "check_number",
    "check_probabilities",
    "check_reduction",
    "check_same_shape",
    "check_tensor",
    "check_weight",
    "checks_enabled",
    "compute_dtype",
    "describe",
    "gather_classes",
    "prepare_dense_target",
    "prepare_pair",
    "reduce_loss",
    "set_checks",
    "sum_by_class",
    "tensor_option",
    "to_compute",
]
