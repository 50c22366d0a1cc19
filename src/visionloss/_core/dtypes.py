"""The precision policy: half and bfloat16 inputs are computed in float32; the result is float32.

Under autocast the same holds: the library's own matrix products and convolutions (the overlap
sums, the SSIM filter, the embedding distances) run with autocast switched off
(:func:`autocast_off`), in the compute dtype, so the result does not depend on autocast.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

from .checks import check_floating, check_same_shape, check_tensor

__all__ = ["LOW_PRECISION", "autocast_off", "compute_dtype", "prepare_pair", "to_compute"]

LOW_PRECISION: tuple[torch.dtype, ...] = (torch.float16, torch.bfloat16)


def compute_dtype(*tensors: Tensor | None) -> torch.dtype:
    """The dtype a loss computes in: the widest floating dtype given; half and bfloat16 -> float32."""
    dtypes = [t.dtype for t in tensors if t is not None and t.is_floating_point()]
    if not dtypes:
        return torch.get_default_dtype()
    dtype = dtypes[0]
    for other in dtypes[1:]:
        dtype = torch.promote_types(dtype, other)
    return torch.float32 if dtype in LOW_PRECISION else dtype


def to_compute(*tensors: Tensor | None) -> tuple[Tensor | None, ...]:
    """Cast floating tensors (and integer ones meant as values) to the common compute dtype.

    ``None`` passes through. The cast is a no-op when the dtype already matches, so float32 and
    float64 inputs are not copied.
    """
    dtype = compute_dtype(*tensors)
    return tuple(None if t is None else t.to(dtype) for t in tensors)


def prepare_pair(input: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Check a prediction and a target of a pointwise loss and cast both to the compute dtype.

    ``input`` must be a floating tensor and ``target`` a tensor of the same shape (any real dtype:
    integer targets are cast). No broadcasting: a ``(N,)`` target against a ``(N, 1)`` prediction
    is a classic silent bug, so it raises ``ValueError``.
    """
    check_floating(input, "input")
    check_tensor(target, "target")
    check_same_shape(input, target)
    dtype = compute_dtype(input, target)
    return input.to(dtype), target.to(dtype)


def autocast_off(tensor: Tensor) -> contextlib.AbstractContextManager[object]:
    """A context in which autocast is off for ``tensor``'s device (a no-op where it is not on).

    Wrap the library's own matmuls and convolutions in it: autocast would run them in bfloat16 or
    float16 (``bmm``, ``conv2d`` and ``matmul`` are on its lower-precision list), against the
    precision policy. Their inputs are in the compute dtype already (float32 for half inputs).
    Operations outside it follow autocast as torch's do; the library's are elementwise or on
    autocast's float32 list, so the result is float32 either way.
    """
    device_type = tensor.device.type
    if torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()
