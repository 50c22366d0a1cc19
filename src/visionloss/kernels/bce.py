"""Binary cross-entropy with logits, elementwise: the reference and the one dispatch point.

The reference is torch's ``binary_cross_entropy_with_logits`` (``reduction="none"``), in the
compute dtype (float32 for half and bfloat16 logits): one fused torch kernel forward and one
backward, saving only its inputs. It is therefore also the CPU path (``"auto"`` and ``"fused"``:
there is no faster composition to fuse on CPU). On CUDA under ``"auto"`` (or forced with
``VISIONLOSS_KERNELS=triton``) the Triton kernel of :mod:`visionloss.kernels.triton.bce` takes
the calls it covers: the same values, the gradient w.r.t. the logits in one pass, the inputs
only saved, float32 math for half inputs.
"""

from __future__ import annotations

import importlib

import torch.nn.functional as F
from torch import Tensor

from .._core.dtypes import compute_dtype
from . import backend_for, has_triton, triton_covers

TRITON_MODULE = "visionloss.kernels.triton.bce"

__all__ = ["bce_with_logits", "bce_with_logits_reference"]


def bce_with_logits_reference(x: Tensor, target: Tensor, *, pos_weight: Tensor | None) -> Tensor:
    """The specification: torch's ``binary_cross_entropy_with_logits`` per element, the logits
    cast to their compute dtype, differentiated by autograd (logits, target and
    ``pos_weight``)."""
    dtype = compute_dtype(x)
    return F.binary_cross_entropy_with_logits(
        x.to(dtype), target, pos_weight=pos_weight, reduction="none"
    )


def bce_with_logits(x: Tensor, target: Tensor, *, pos_weight: Tensor | None) -> Tensor:
    """Elementwise binary cross-entropy of logits ``x`` (any floating dtype; half and bfloat16
    computed in float32) and float targets ``target`` of ``x``'s shape, with an optional
    ``pos_weight`` broadcastable to ``x``: the op's one dispatch point.

    The Triton kernel takes CUDA calls it covers under ``"auto"`` (float targets that do not
    require grad; a ``pos_weight`` that requires grad goes to the reference, which
    differentiates it); everything else, CPU included, is
    :func:`bce_with_logits_reference`.
    """
    backend = backend_for(
        "binary_cross_entropy",
        x,
        has_triton=has_triton(TRITON_MODULE),
        covered=triton_covers(TRITON_MODULE, x, x, target, pos_weight=pos_weight),
        # torch's own BCE kernels are the fused path on every device without Triton
        fused_on_cuda=False,
        fused_on_cpu=False,
        constants=(pos_weight,),
    )
    if backend == "triton":
        result: Tensor = importlib.import_module(TRITON_MODULE).bce_with_logits(
            x, target, pos_weight=pos_weight
        )
        return result
    return bce_with_logits_reference(x, target, pos_weight=pos_weight)
