"""The one reduction of visionloss: ``"none"``, ``"mean"`` or ``"sum"``, with weights and a mask.

Every loss computes its unreduced loss and ends with one call to :func:`reduce_loss`.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from .checks import check_broadcastable, check_choice, check_nonnegative_tensor, check_tensor

__all__ = ["REDUCTIONS", "Reduction", "check_reduction", "check_weight", "reduce_loss"]

Reduction = Literal["none", "mean", "sum"]
REDUCTIONS: tuple[str, ...] = ("none", "mean", "sum")


def check_reduction(reduction: str) -> str:
    """Raise ``ValueError`` unless ``reduction`` is ``"none"``, ``"mean"`` or ``"sum"``."""
    return str(check_choice(reduction, "reduction", REDUCTIONS))


def check_weight(weight: Tensor | None, shape: torch.Size, name: str = "weight") -> None:
    """Check a weight: a floating tensor broadcastable to the unreduced loss, non-negative."""
    if weight is None:
        return
    check_tensor(weight, name)
    if not (weight.is_floating_point() or weight.dtype == torch.bool):
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {weight.dtype}")
    check_broadcastable(weight, shape, name, "the unreduced loss")
    check_nonnegative_tensor(weight, name)


def reduce_loss(
    loss: Tensor,
    reduction: str = "mean",
    *,
    weight: Tensor | None = None,
    valid: Tensor | None = None,
) -> Tensor:
    """Reduce an unreduced loss, with optional weights and a validity mask.

    .. math::
        \\text{mean} = \\frac{\\sum_i v_i w_i \\ell_i}{\\max(\\sum_i v_i w_i, \\epsilon)}, \\quad
        \\text{sum} = \\sum_i v_i w_i \\ell_i, \\quad \\text{none} = v \\odot w \\odot \\ell

    where :math:`v` is the validity mask (1 where an element counts, 0 where it is ignored) and
    :math:`w` the weight (1 when omitted).

    Args:
        loss: the unreduced loss, any shape.
        reduction: ``"none"``, ``"mean"`` or ``"sum"``.
        weight: optional floating tensor broadcastable to ``loss`` (pixel maps, sample weights),
            non-negative.
        valid: optional boolean tensor broadcastable to ``loss``; ``False`` marks ignored elements.

    Returns:
        ``loss`` with invalid elements set to 0 and weights applied for ``"none"``; a scalar
        otherwise. An empty or fully ignored input gives 0.0 with zero gradients, never NaN: the
        mean divides by a denominator replaced by 1 when it is 0 (the numerator is then 0 too).
        No host synchronisation and no boolean-mask indexing, so it compiles with ``fullgraph``.
    """
    check_reduction(reduction)
    check_weight(weight, loss.shape)
    if valid is not None:
        check_broadcastable(valid, loss.shape, "valid", "the unreduced loss")
        # `where`, not a product: an ignored element's loss may be inf/NaN (e.g. computed with a
        # placeholder class) and must not leak into the result.
        loss = torch.where(valid, loss, torch.zeros((), dtype=loss.dtype, device=loss.device))
    if weight is not None:
        weight = weight.to(loss.dtype)
        loss = loss * weight
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    if weight is not None and valid is not None:
        count = (weight * valid).expand(loss.shape).sum()
    elif weight is not None:
        count = weight.expand(loss.shape).sum()
    elif valid is not None:
        count = valid.expand(loss.shape).sum(dtype=loss.dtype)
    else:
        # mean of an empty tensor is NaN in torch; sum / max(count, 1) is 0 with zero gradients
        return total / max(loss.numel(), 1)
    # A weighted mean may legitimately have a denominator below 1, so replace only an exact 0
    # (`== 0`: a NaN weight is not "empty", it propagates).
    safe_count = torch.where(count == 0, torch.ones_like(count), count)
    return total / safe_count
