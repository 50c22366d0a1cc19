"""Fast paths: fused ``torch.autograd.Function`` implementations and GPU kernels.

The loss families call these through a dispatcher; the plain PyTorch function in the family stays
the specification, and ``VISIONLOSS_KERNELS=0`` (or :func:`set_kernels`) forces it everywhere.
Users never need to import from here.
"""

from __future__ import annotations

import os

__all__ = ["kernels_enabled", "set_kernels"]

_kernels_on: bool = os.environ.get("VISIONLOSS_KERNELS", "1").strip().lower() not in {
    "0",
    "false",
    "no",
    "off",
}


def set_kernels(enabled: bool) -> None:
    """Use the fused implementations (``True``, the default) or the plain PyTorch reference."""
    global _kernels_on
    if not isinstance(enabled, bool):
        raise TypeError(f"set_kernels: expected enabled to be a bool, got {enabled!r}")
    _kernels_on = enabled


def kernels_enabled() -> bool:
    """True when the fused implementations should be used."""
    return _kernels_on
