"""Fast paths, and the one switch that chooses between them.

Each ``kernels/<op>.py`` owns, for one op, its reference (plain PyTorch: the specification), its
fused ``torch.autograd.Function`` (an analytic backward that keeps only the inputs and small
statistics) and, where one exists, its Triton kernel (``kernels/triton/``); the op's public
function there is the only place that chooses between them, with :func:`backend_for`. The loss
families call that function and never branch on the backend.

The choice, per process, from ``VISIONLOSS_KERNELS`` or :func:`set_kernels`:

* ``"auto"`` (default): Triton on CUDA tensors when ``triton`` imports and the op has a kernel,
  the fused Function elsewhere;
* ``"triton"``: forced; on CPU tensors it runs under ``TRITON_INTERPRET=1``; a case the kernels
  do not cover raises ``NotImplementedError``, never a silent fallback;
* ``"fused"``: the fused Function on every device;
* ``"reference"`` (``"0"`` is an alias): the plain PyTorch composition, differentiated by autograd.

Users never need to import from here.
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from typing import Literal

from torch import Tensor

__all__ = [
    "BACKENDS",
    "Backend",
    "backend_for",
    "get_kernels",
    "kernels_enabled",
    "set_kernels",
    "triton_available",
]

Backend = Literal["auto", "triton", "fused", "reference"]
BACKENDS: tuple[str, ...] = ("auto", "triton", "fused", "reference")
_ALIASES = {"0": "reference", "false": "reference", "off": "reference", "no": "reference",
            "1": "auto", "true": "auto", "on": "auto", "yes": "auto", "": "auto"}


def _parse(value: str | bool, name: str) -> str:
    if isinstance(value, bool):  # set_kernels(True/False), kept from the first releases
        return "auto" if value else "reference"
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected one of {BACKENDS} or a bool, got {value!r}")
    key = value.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in BACKENDS:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, BACKENDS))}, got {value!r}")
    return key


_backend: str = _parse(os.environ.get("VISIONLOSS_KERNELS", "auto"), "VISIONLOSS_KERNELS")


def set_kernels(backend: str | bool) -> None:
    """Choose the implementation of the fused ops: ``"auto"``, ``"triton"``, ``"fused"`` or
    ``"reference"`` (``True`` means ``"auto"``, ``False`` and ``"0"`` mean ``"reference"``)."""
    global _backend
    _backend = _parse(backend, "set_kernels")


def get_kernels() -> str:
    """The backend chosen now (``"auto"``, ``"triton"``, ``"fused"`` or ``"reference"``)."""
    return _backend


def kernels_enabled() -> bool:
    """True unless the plain PyTorch reference is forced."""
    return _backend != "reference"


@cache
def triton_available() -> bool:
    """True when the ``triton`` package can be imported (looked up once)."""
    return importlib.util.find_spec("triton") is not None


def backend_for(
    op: str, x: Tensor, *, has_triton: bool, covered: bool = True, fused_on_cuda: bool = True
) -> str:
    """The implementation an op runs for ``x``: ``"triton"``, ``"fused"`` or ``"reference"``.

    Args:
        op: the op's name, for the error message.
        x: the main input (its device decides ``"auto"``).
        has_triton: whether the op has a Triton kernel at all.
        covered: whether the kernel covers this call (dtype, options); with ``"triton"`` forced,
            an uncovered call raises ``NotImplementedError``; ``"auto"`` then uses the fused path.
        fused_on_cuda: ``False`` where the fused path was measured slower than the reference on
            CUDA: ``"auto"`` then takes the reference for an uncovered CUDA call.
    """
    if _backend == "reference":
        return "reference"
    if _backend == "fused":
        return "fused"
    if _backend == "triton":
        if not (has_triton and covered and triton_available()):
            why = (
                "triton is not installed" if not triton_available()
                else f"{op} has no Triton kernel" if not has_triton
                else f"{op}'s Triton kernel does not cover this call"
            )
            raise NotImplementedError(f"VISIONLOSS_KERNELS=triton: {why}")
        if x.device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
            raise NotImplementedError(
                f"VISIONLOSS_KERNELS=triton: {op} got a {x.device.type} tensor; Triton runs on "
                "CUDA, or on the CPU under TRITON_INTERPRET=1"
            )
        return "triton"
    # auto
    if x.device.type == "cuda":
        if has_triton and covered and triton_available():
            return "triton"
        return "fused" if fused_on_cuda else "reference"
    return "fused"
