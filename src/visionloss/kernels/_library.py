"""Fused ops as ``torch.library`` custom ops, for ``torch.compile`` users.

Why: a fused ``torch.autograd.Function`` keeps only its inputs and small statistics for backward
in eager mode, but ``torch.compile`` traces through it and AOTAutograd's partitioner then
decides afresh what the compiled graph saves (class ids as int64, masks, activations: several
times the eager figure). A custom op is opaque to the tracer: the compiled graph calls the
op's forward, keeps exactly what ``setup_context`` saved (inputs and small statistics), and
calls the op's backward, itself a custom op, so the partitioner cannot widen it.

:class:`FusedOp` declares such a pair, ``visionloss::<name>`` and
``visionloss::<name>_backward``, from four plain functions; the op's public entry point calls
it only while compiling (``torch.compiler.is_compiling()``). Eager calls keep the
``autograd.Function``: same saved memory, no custom-op dispatch cost, and its double backward
(``create_graph=True``, :func:`visionloss.kernels.reference_backward`) stays exact, which a
custom op's backward would not give (AOTAutograd does not support double backward anyway).
The ``torch.func`` and "option requires grad" checks of :func:`~visionloss.kernels.backend_for`
run before, so those calls take the reference, compiled or not.

Recipe, for an op whose ``autograd.Function`` has ``forward(*tensors, *options)``
(new style), ``setup_context`` and ``backward``:

1. Move the body of ``Function.backward`` (after the create-graph branch) into a plain
   function ``backward(saved, grads, *options) -> tuple of gradients``: ``saved`` are the
   tensors ``setup_context`` keeps, differentiable inputs first; ``grads`` the incoming
   gradients of the first ``grad_outputs`` outputs; one gradient per differentiable input,
   in its dtype. Call it from ``Function.backward`` too (one implementation).
2. Write ``fake(*tensors, *options)``: empty outputs with the forward's shapes and dtypes
   (``new_empty``; symbolic sizes are fine; no data access).
3. At module level (declaring costs nothing at import: the ops are defined on the first
   compiled call; a Function whose forward interleaves tensors and options gets a small
   wrapper with tensors first, as ``kernels/overlap.py``'s ``_softmax_index_forward``)::

       _MY_OP = FusedOp("my_op", tensors="Tensor input, Tensor target, Tensor? weight",
                        options="int? ignore_index, bool squared", outputs=1,
                        forward=_Fn.forward, fake=_fake,
                        save=lambda args, out: (args[0], args[1]), backward=_backward)

4. In the op's fused entry point: ``if _MY_OP.usable(): return _MY_OP(*tensors, *options)``
   before ``_Fn.apply(...)`` (``usable`` is true only while compiling, on a torch that has
   the API); pass constants detached (``target.detach()``); with several outputs, unpack
   as from the Function.
5. Test with ``tests/test_compiled_memory.py``'s helpers: compiled value and gradient equal
   eager's, compiled saved bytes equal the eager fused figure; ``torch.library.opcheck`` on
   ``torch.ops.visionloss.<name>.default``.
6. Optional, for the Triton kernels (``kernels/overlap.py``'s ``_TRITON_OP`` is the example):
   a third op whose forward/backward call the kernels' launchers at run time when ``covers``
   holds there, else the fused functions with the same saved set; in the entry point, while
   compiling, ``compiled_triton = OP.usable() and triton_ready_while_tracing(MODULE,
   input.device.type)``, passed as ``has_triton``/``covered`` to ``backend_for``.

Saved bytes: an op saves exactly ``save(...)``; what the compiled graph keeps around it (a
cast target, a reduction's scalars) is the partitioner's, as before.

Limits: the arguments are tensors (``Tensor``/``Tensor?``) then options (``int``, ``int?``,
``float``, ``bool``, ``str``), as schema types; outputs are fresh tensors (no alias of an
input); gradients are returned contiguous (the generic fake of the backward says so);
``torch.library.custom_op`` needs torch >= 2.4 (on an older one, or if registration fails,
``usable()`` is false and the Function is traced as before).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

__all__ = ["NAMESPACE", "FusedOp", "custom_ops_supported", "triton_ready_while_tracing"]

#: every custom op of the library lives in ``visionloss::``
NAMESPACE = "visionloss"


def custom_ops_supported() -> bool:
    """Whether this torch has ``torch.library.custom_op`` (2.4 and later)."""
    return hasattr(torch.library, "custom_op")


def _count(arguments: str) -> int:
    return len([a for a in arguments.split(",") if a.strip()])


class FusedOp:
    """A forward/backward pair of custom ops ``visionloss::<name>`` and
    ``visionloss::<name>_backward`` (see the module docstring for the recipe).

    Args:
        name: the op's name in the ``visionloss`` namespace.
        tensors: the schema of the tensor arguments (``"Tensor input, Tensor? weight"``).
        options: the schema of the non-tensor arguments that follow them (``"int? ignore_index,
            bool squared"``); they reach ``backward`` too.
        outputs: how many tensors the forward returns (1: a tensor; more: a tuple).
        forward: ``forward(*tensors, *options)`` on real tensors (the Function's forward).
        fake: same signature, empty outputs of the right shapes and dtypes.
        save: ``save(args, output) -> tuple of tensors`` kept for backward (the differentiable
            inputs first, in order; then small statistics).
        backward: ``backward(saved, grads, *options) -> tuple of gradients``, one per
            differentiable input.
        differentiable: positions of the tensor arguments that get a gradient.
        grad_outputs: how many leading outputs carry a gradient (the others, e.g. a saved
            statistic returned for the backward, are constants).
    """

    def __init__(
        self,
        name: str,
        *,
        tensors: str,
        options: str,
        outputs: int,
        forward: Callable[..., Any],
        fake: Callable[..., Any],
        save: Callable[[tuple[Any, ...], Any], tuple[Tensor, ...]],
        backward: Callable[..., Sequence[Tensor]],
        differentiable: tuple[int, ...] = (0,),
        grad_outputs: int = 1,
    ) -> None:
        self.name = f"{NAMESPACE}::{name}"
        self.num_tensors = _count(tensors)
        self.differentiable = differentiable
        self.grad_outputs = grad_outputs
        self._save = save
        self._op: Any = None
        self._declaration = (tensors, options, outputs, forward, fake, backward)
        self._state = "declared"  # -> "registered" or "unavailable", on first use
        _DECLARED[self.name] = self

    def register(self) -> bool:
        """Define the two custom ops now (once; the first compiled call does it): whether
        they exist."""
        if self._state == "declared":
            self._state = "unavailable"
            if custom_ops_supported():
                tensors, options, outputs, forward, fake, backward = self._declaration
                options_part = f", {options}" if options.strip() else ""
                result = "Tensor" if outputs == 1 else "(" + ", ".join(["Tensor"] * outputs) + ")"
                try:
                    self._register(tensors, options_part, result, forward, fake, backward)
                    self._state = "registered"
                except (RuntimeError, TypeError, ValueError, AttributeError):  # older torch
                    self._op = None
        return self._state == "registered"

    def _register(
        self,
        tensors: str,
        options_part: str,
        result: str,
        forward: Callable[..., Any],
        fake: Callable[..., Any],
        backward: Callable[..., Sequence[Tensor]],
    ) -> None:
        self._op = self._define(self.name, f"({tensors}{options_part}) -> {result}", forward, fake)
        differentiable_count = len(self.differentiable)

        def run_backward(saved: list[Tensor], grads: list[Tensor], *opts: Any) -> list[Tensor]:
            # contiguous, as the fake says: inductor checks the strides of an op's outputs
            return [g.contiguous() for g in backward(tuple(saved), tuple(grads), *opts)]

        def fake_backward(saved: list[Tensor], grads: list[Tensor], *opts: Any) -> list[Tensor]:
            # the gradient of each differentiable input: its shape and dtype, contiguous
            return [
                torch.empty_like(t, memory_format=torch.contiguous_format)
                for t in saved[:differentiable_count]
            ]

        self._backward_op = self._define(
            f"{self.name}_backward",
            f"(Tensor[] saved, Tensor[] grads{options_part}) -> Tensor[]",
            run_backward,
            fake_backward,
        )
        self._op.register_autograd(self._autograd_backward, setup_context=self._setup_context)

    @staticmethod
    def _define(name: str, schema: str, impl: Callable[..., Any], fake: Callable[..., Any]) -> Any:
        op = torch.library.custom_op(name, impl, mutates_args=(), schema=schema)
        op.register_fake(fake)
        return op

    def _setup_context(self, ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        saved = self._save(inputs, output)
        ctx.save_for_backward(*saved)
        ctx.options = inputs[self.num_tensors :]

    def _autograd_backward(self, ctx: Any, *grads: Tensor) -> tuple[Tensor | None, ...]:
        saved = ctx.saved_tensors
        wanted = [ctx.needs_input_grad[i] for i in self.differentiable]
        found: list[Tensor | None] = [None] * (self.num_tensors + len(ctx.options))
        if not any(wanted):
            return tuple(found)
        computed = self._backward_op(list(saved), list(grads[: self.grad_outputs]), *ctx.options)
        for position, need, grad in zip(self.differentiable, wanted, computed, strict=True):
            found[position] = grad if need else None
        return tuple(found)

    def usable(self) -> bool:
        """True while ``torch.compile`` traces, where the op can be registered: the entry point
        then calls this op instead of its ``autograd.Function``."""
        return torch.compiler.is_compiling() and _register_while_tracing(self.name)

    def __call__(self, *args: Any) -> Any:
        if not self.register():
            raise RuntimeError(f"{self.name}: torch.library.custom_op needs torch >= 2.4")
        return self._op(*args)


_DECLARED: dict[str, FusedOp] = {}


def _register_while_tracing(name: str) -> bool:
    # Registering costs a few ms per op: done on first use, not at import. While dynamo
    # traces, this function runs for real (marked as ``assume_constant_result``: not traced,
    # its result a constant of the graph), so the op exists before the tracer reaches it.
    return _DECLARED[name].register()


def triton_ready_while_tracing(module: str, device_type: str) -> bool:
    """While compiling: whether an op's Triton kernels can run on ``device_type`` (CUDA, or
    the CPU under ``TRITON_INTERPRET=1``; triton installed; the op's module present), looked
    up outside the trace (a constant of the graph). The op's custom op then launches the
    kernels at run time, where the tensors are real: compiled users get them too."""
    if device_type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        return False
    from . import triton_available, triton_module_found

    return triton_available() and triton_module_found(module)


triton_ready_while_tracing._dynamo_marked_constant = True  # type: ignore[attr-defined]

# what ``torch.compiler.assume_constant_result`` does (the attribute dynamo reads, the same
# from torch 2.0 to 2.13), without importing torch._dynamo at import (~2 s)
_register_while_tracing._dynamo_marked_constant = True  # type: ignore[attr-defined]
