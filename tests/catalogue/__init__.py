"""The table of every catalogue loss with its sample inputs and float64 reference.

Each family keeps its rows in its own file (``tests/catalogue/<family>.py``, a list ``CASES``);
``tests/test_contract.py`` sweeps all of them for the shared contract.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

Inputs = tuple[Tensor, ...]


@dataclass(frozen=True)
class LossCase:
    """One loss with what the generic tests need to exercise it.

    Attributes:
        id: test id.
        function: the loss function, called as ``function(*inputs, **options, reduction=...)``.
        module: the Module class, built as ``module(**options)`` and called with ``*inputs``.
        make_inputs: ``(generator, dtype) -> inputs``; floating inputs in ``dtype``; small sizes.
        none_shape: ``inputs -> shape`` of the ``reduction="none"`` result.
        reference: ``(*inputs, **options) -> unreduced loss``, an independent float64 formula;
            ``None`` when the family file holds the reference tests instead.
        options: keyword options for the function and the Module.
        grad_inputs: positions of the inputs that gradcheck differentiates.
        weighted: whether the loss takes ``weight=`` broadcastable to its unreduced shape.
        make_empty: ``dtype -> inputs`` with no elements, or ``None`` if not meaningful.
        make_extreme: ``dtype -> inputs`` with saturated values that must give finite results.
        compile: whether to run the ``torch.compile(fullgraph=True)`` test (representatives).
        low_precision: whether half/bfloat16 inputs are meaningful.
        tolerance: ``(rtol, atol)`` for the float64 reference.
        multiclass: whether the loss takes a softmax over dim 1 without a ``mode`` option (losses
            with ``mode="multiclass"`` are found from it); a one-channel input must then raise.
    """

    id: str
    function: Callable[..., Tensor]
    module: Callable[..., torch.nn.Module]
    make_inputs: Callable[[torch.Generator, torch.dtype], Inputs]
    none_shape: Callable[[Inputs], tuple[int, ...]]
    reference: Callable[..., Tensor] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    grad_inputs: tuple[int, ...] = (0,)
    weighted: bool = True
    make_empty: Callable[[torch.dtype], Inputs] | None = None
    make_extreme: Callable[[torch.dtype], Inputs] | None = None
    compile: bool = False
    low_precision: bool = True
    tolerance: tuple[float, float] = (1e-7, 1e-9)
    multiclass: bool = False


def all_cases() -> list[LossCase]:
    from . import boxes, classification, embedding, generative, regression, segmentation

    cases: list[LossCase] = []
    for family in (regression, classification, segmentation, boxes, embedding, generative):
        cases.extend(family.CASES)
    return cases
