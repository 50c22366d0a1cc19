"""Poly-1 with class ids: cross-entropy plus :math:`\\epsilon (1 - p_t)`, the reference and the
one dispatch point.

Per position, per unit of ``class_weight[y]`` (the reduction weighs it, as for the
cross-entropy):

.. math::
    \\ell = \\mathrm{CE} + \\epsilon\\,(1 - p_t), \\qquad p_t = (1 - s)\\, p_y + s / C,

with :math:`\\mathrm{CE}` the cross-entropy of :func:`~visionloss.kernels.cross_entropy.cross_entropy_ids`
(torch's label smoothing :math:`s` and class weights) and :math:`p_t` the probability mass on the
smoothed target. The reference is ``log_softmax`` then these terms, differentiated by autograd.
On CUDA under ``"auto"`` (or forced with ``VISIONLOSS_KERNELS=triton``) the cross-entropy Triton
kernels take the call with the Poly-1 term switched on
(:func:`visionloss.kernels.triton.cross_entropy.poly1_ids_triton`: one pass forward, one pass
backward, one float saved per position). There is no fused CPU Function: the reference (torch's
log-softmax kernels plus a few per-position ops) is the CPU path, ``"fused"`` included.
"""

from __future__ import annotations

import importlib

import torch
import torch.nn.functional as F
from torch import Tensor

from .._core.targets import gather_classes
from . import backend_for, has_triton, triton_covers
from .cross_entropy import cross_entropy_ids_terms

TRITON_MODULE = "visionloss.kernels.triton.cross_entropy"

__all__ = ["poly1_ids", "poly1_ids_reference"]


def poly1_ids_reference(
    x: Tensor,
    index: Tensor,
    *,
    class_weight: Tensor | None = None,
    label_smoothing: float = 0.0,
    epsilon: float = 1.0,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """The specification: ``log_softmax`` in ``dtype`` (default: the logits'), the
    cross-entropy terms, and :math:`\\epsilon (1 - p_t)` with :math:`p_t = (1 - s) p_y + s / C`
    from the gathered log-probability, differentiated by autograd."""
    log_probs = F.log_softmax(x, dim=1, dtype=dtype or x.dtype)
    s, num_classes = float(label_smoothing), x.shape[1]
    ce = cross_entropy_ids_terms(
        log_probs, index, class_weight=class_weight, label_smoothing=s
    )
    p_t = gather_classes(log_probs, index).exp()
    if s > 0:
        # sum_c y'_c p_c with y' = (1 - s) onehot + s / C, and sum_c p_c = 1
        p_t = (1 - s) * p_t + s / num_classes
    return ce + epsilon * (1 - p_t)


def poly1_ids(
    x: Tensor,
    index: Tensor,
    *,
    class_weight: Tensor | None = None,
    label_smoothing: float = 0.0,
    epsilon: float = 1.0,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Per-position Poly-1 loss ``(N, *)`` of logits ``(N, C, *)`` and class ids ``(N, *)`` in
    ``[0, C)``, per unit of ``class_weight[y]``, computed in ``dtype`` (default: the logits'
    dtype): the op's one dispatch point (Triton on CUDA where covered, else the reference; a
    ``class_weight`` that requires grad, or a ``torch.func`` transform, takes the reference)."""
    backend = backend_for(
        "poly1",
        x,
        has_triton=has_triton(TRITON_MODULE),
        covered=triton_covers(TRITON_MODULE, x, x, index, class_weight, dtype),
        # no fused Function: the reference is the path wherever Triton does not run
        fused_on_cuda=False,
        fused_on_cpu=False,
        constants=(class_weight,),
    )
    if backend == "triton":
        result: Tensor = importlib.import_module(TRITON_MODULE).poly1_ids_triton(
            x,
            index,
            class_weight=class_weight,
            label_smoothing=label_smoothing,
            epsilon=epsilon,
            dtype=dtype,
        )
        return result
    return poly1_ids_reference(
        x,
        index,
        class_weight=class_weight,
        label_smoothing=label_smoothing,
        epsilon=epsilon,
        dtype=dtype,
    )
