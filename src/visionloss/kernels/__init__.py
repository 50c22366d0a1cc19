"""Fast paths, and the one switch that chooses between them.

Each ``kernels/<op>.py`` owns, for one op, its reference (plain PyTorch: the specification), its
fused ``torch.autograd.Function`` (an analytic backward that keeps only the inputs and small
statistics) and, where one exists, its Triton kernel (``kernels/triton/``); the op's public
function there is the only place that chooses between them, with :func:`backend_for`. The loss
families call that function and never branch on the backend.

The choice, per process, from ``VISIONLOSS_KERNELS`` or :func:`set_kernels`:

* ``"auto"`` (default): Triton on CUDA tensors when ``triton`` imports and the op has a kernel,
  the fused Function elsewhere, except where an op measured its fused Function slower than its
  reference on that device (``fused_on_cuda`` / ``fused_on_cpu`` of :func:`backend_for`): the
  reference there;
* ``"triton"``: forced; on CPU tensors it runs under ``TRITON_INTERPRET=1``; a case the kernels
  do not cover raises ``NotImplementedError``, never a silent fallback;
* ``"fused"``: the fused Function on every device;
* ``"reference"`` (``"0"`` is an alias): the plain PyTorch composition, differentiated by autograd.

Whatever the choice, two situations take the reference, because they ask for derivatives the
fast paths do not provide (semantics, not speed; :func:`backend_for`):

* a ``torch.func`` transform (``grad``, ``vmap``, ``jvp``, ``jacrev``, ``hessian``, ...) or
  forward-mode AD (``torch.autograd.forward_ad``) is active: the reference is a composition of
  torch ops, which every transform supports;
* a tensor option that the fast path treats as a constant (a ``class_weight``, an ``alpha``)
  requires grad while grad mode is on: the reference differentiates it.

Second-order gradients: the fused and Triton Functions keep their analytic backward for the
ordinary ``backward()``; when the backward itself is differentiated (``create_graph=True``,
e.g. a gradient penalty through a loss, meta-learning, Hessian-vector products), their
backward recomputes the op's reference from the saved inputs and returns its gradient as a
differentiable graph (:func:`reference_backward`), so every higher derivative is the
reference's own, exactly (checked by ``gradgradcheck``).

Users never need to import from here.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, Literal

import torch
import torch.autograd.forward_ad as _forward_ad
from torch import Tensor

__all__ = [
    "BACKENDS",
    "Backend",
    "backend_for",
    "get_kernels",
    "has_triton",
    "kernels_enabled",
    "reference_backward",
    "set_kernels",
    "transforms_active",
    "triton_available",
    "triton_covers",
    "triton_module_found",
]

Backend = Literal["auto", "triton", "fused", "reference"]
BACKENDS: tuple[str, ...] = ("auto", "triton", "fused", "reference")
_ALIASES = {
    "0": "reference",
    "false": "reference",
    "off": "reference",
    "no": "reference",
    "1": "auto",
    "true": "auto",
    "on": "auto",
    "yes": "auto",
    "": "auto",
}


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


def _triton_importable() -> bool:
    # triton_available() for backend_for: evaluated once outside a torch.compile trace (a
    # constant of the graph, as torch.compiler.assume_constant_result marks it, without
    # importing torch._dynamo here), so the compiled Triton custom ops can be chosen
    return triton_available()


_triton_importable._dynamo_marked_constant = True  # type: ignore[attr-defined]


def transforms_active() -> bool:
    """True under a ``torch.func`` transform (``grad``, ``vmap``, ``jvp``, ...) or inside a
    ``torch.autograd.forward_ad.dual_level``: the custom Functions then give way to the reference.

    Both reads are traced by ``torch.compile`` (no graph break): a compiled ``vmap`` or ``grad``
    of a loss takes the reference too.
    """
    return bool(torch._C._are_functorch_transforms_active()) or _forward_ad._current_level >= 0


@cache
def triton_module_found(module: str) -> bool:
    """Whether an op's Triton module exists in this install (looked up once)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package is absent too
        return False


def triton_covers(module: str, x: Tensor, *args: Any, **kwargs: Any) -> bool:
    """Whether an op's Triton kernel takes this call: not while ``torch.compile`` traces (the
    kernels are eager autograd Functions; the fused paths compile), not for a CPU tensor outside
    the interpreter, not without triton; otherwise the module's own ``covers(*args, **kwargs)``
    (dtypes, shapes, options)."""
    if torch.compiler.is_compiling() or not triton_module_found(module):
        return False
    if x.device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        return False
    if not triton_available():
        return False
    return bool(importlib.import_module(module).covers(*args, **kwargs))


def has_triton(module: str) -> bool:
    """``has_triton`` of :func:`backend_for` for an op whose kernel lives in ``module`` (a
    constant ``False`` while compiling, so that the look-up is not traced)."""
    return not torch.compiler.is_compiling() and triton_module_found(module)


def backend_for(
    op: str,
    x: Tensor,
    *,
    has_triton: bool,
    covered: bool = True,
    fused_on_cuda: bool = True,
    fused_on_cpu: bool = True,
    constants: Sequence[Tensor | float | None] = (),
) -> str:
    """The implementation an op runs for ``x``: ``"triton"``, ``"fused"`` or ``"reference"``.

    In every mode, the reference runs under a ``torch.func`` transform or forward-mode AD
    (:func:`transforms_active`), and when one of ``constants`` is a tensor that requires grad
    while grad mode is on: the fast paths have no vmap rule, no ``jvp`` and no gradient for
    their tensor options, and a missing derivative must never be a silently wrong one.

    Args:
        op: the op's name, for the error message.
        x: the main input (its device decides ``"auto"``).
        has_triton: whether the op has a Triton kernel at all.
        covered: whether the kernel covers this call (dtype, options); with ``"triton"`` forced,
            an uncovered call raises ``NotImplementedError``; ``"auto"`` then uses the fused path.
        fused_on_cuda: ``False`` where the fused path was measured slower than the reference on
            CUDA: ``"auto"`` then takes the reference for an uncovered CUDA call.
        fused_on_cpu: ``False`` where the fused path was measured slower than the reference on
            CPU (at 1 and 2 threads, ``visionloss bench --paths``): ``"auto"`` then takes the
            reference for a CPU tensor; ``"fused"`` still forces the fused path (its memory
            advantage stays available).
        constants: the op's tensor options that its fast paths do not differentiate
            (``class_weight``, ``alpha``); numbers and ``None`` are ignored.
    """
    if _backend == "reference" or transforms_active():
        return "reference"
    if torch.is_grad_enabled() and any(
        isinstance(t, Tensor) and t.requires_grad for t in constants
    ):
        return "reference"
    if _backend == "fused":
        return "fused"
    if _backend == "triton":
        if not (has_triton and covered and _triton_importable()):
            why = (
                "triton is not installed"
                if not _triton_importable()
                else f"{op} has no Triton kernel"
                if not has_triton
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
        if has_triton and covered and _triton_importable():
            return "triton"
        return "fused" if fused_on_cuda else "reference"
    if x.device.type == "cpu" and not fused_on_cpu:
        return "reference"
    return "fused"


def reference_backward(
    reference: Callable[..., Tensor],
    inputs: Sequence[Tensor],
    needs_input_grad: Sequence[bool],
    grad: Tensor,
) -> list[Tensor | None]:
    """The backward of a fused Function when the backward itself is differentiated.

    Called from a Function's ``backward`` when grad mode is on there (``create_graph=True``):
    evaluates ``reference(*inputs)`` on the saved inputs (connected to the outer graph) and
    returns its vector-Jacobian product with ``grad`` as a differentiable graph, one entry per
    input (``None`` where ``needs_input_grad`` is false; zeros where the reference does not
    depend on an input). Second and higher derivatives are then the reference's, exactly; an
    analytic backward written out of place would have to recompute every saved statistic
    (a saved log-sum-exp is a function of the logits too) to be right.
    """
    wanted = [i for i, need in enumerate(needs_input_grad[: len(inputs)]) if need]
    grads: list[Tensor | None] = [None] * len(inputs)
    if not wanted:
        return grads
    with torch.enable_grad():
        value = reference(*inputs)
    found = torch.autograd.grad(
        value, [inputs[i] for i in wanted], grad, create_graph=True, allow_unused=True
    )
    for i, g in zip(wanted, found, strict=True):
        grads[i] = torch.zeros_like(inputs[i]) if g is None else g
    return grads
