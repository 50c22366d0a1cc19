"""Binary cross-entropy with logits, elementwise: the reference and the one dispatch point.

The reference is torch's ``binary_cross_entropy_with_logits`` (``reduction="none"``), in the
compute dtype (float32 for half and bfloat16 logits): one fused torch kernel forward and one
backward, saving only its inputs. It is therefore also the CPU path (``"auto"`` and ``"fused"``:
there is no faster composition to fuse on CPU). On CUDA under ``"auto"`` (or forced with
``VISIONLOSS_KERNELS=triton``) the Triton kernel of :mod:`visionloss.kernels.triton.bce` takes
the calls it covers: the same values, the gradient w.r.t. the logits in one pass, the inputs
only saved, float32 math for half inputs.

Under ``torch.compile`` the reference would be decomposed and AOTAutograd's partitioner would
keep elementwise intermediates (50000x80: 15 MiB against none eagerly); while compiling, the
call goes to the custom op ``visionloss::bce_with_logits`` instead (:mod:`._library`): torch's
kernel forward, the analytic gradient below backward, the inputs only saved.
"""

from __future__ import annotations

import importlib

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.dtypes import compute_dtype
from . import backend_for, has_triton, kernels_enabled, transforms_active, triton_covers
from ._library import FusedOp

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


def _bce_forward(x: Tensor, target: Tensor, pos_weight: Tensor | None) -> Tensor:
    return bce_with_logits_reference(x, target, pos_weight=pos_weight)


def _bce_fake(x: Tensor, target: Tensor, pos_weight: Tensor | None) -> Tensor:
    return x.new_empty(x.shape, dtype=compute_dtype(x))


def _bce_save(args: tuple[Tensor | None, ...], output: Tensor) -> tuple[Tensor, ...]:
    return tuple(t for t in args if t is not None)  # x, target and pos_weight if given


def _bce_backward(saved: tuple[Tensor, ...], grads: tuple[Tensor, ...]) -> tuple[Tensor]:
    x, target = saved[0], saved[1]
    z = x.to(grads[0].dtype)
    if len(saved) == 2:
        # d/dx [softplus(x) - y x] = sigmoid(x) - y
        slope = torch.sigmoid(z) - target
    else:
        # with pos_weight w: (1 - y) x + (1 + (w - 1) y) softplus(-x), whose slope is
        # (1 - y) - (1 + (w - 1) y) sigmoid(-x)
        scale = 1 + (saved[2] - 1) * target
        slope = (1 - target) - scale * torch.sigmoid(-z)
    return ((grads[0] * slope).to(x.dtype),)


_BCE_OP = FusedOp(
    "bce_with_logits",
    tensors="Tensor x, Tensor target, Tensor? pos_weight",
    options="",
    outputs=1,
    forward=_bce_forward,
    fake=_bce_fake,
    save=_bce_save,
    backward=_bce_backward,
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
    if (
        kernels_enabled()
        and not transforms_active()
        and not target.requires_grad
        and (pos_weight is None or not pos_weight.requires_grad)
        and x.shape == target.shape
        and _BCE_OP.usable()
    ):
        compiled: Tensor = _BCE_OP(x, target.detach(), pos_weight)
        return compiled
    return bce_with_logits_reference(x, target, pos_weight=pos_weight)
