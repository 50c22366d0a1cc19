"""Memory measurement: the bytes an autograd graph keeps for backward.

Used by the benchmark and by the tests that hold the fused losses to their memory contract
(DESIGN section 5: inputs and O(N*C) statistics only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor

__all__ = ["saved_bytes", "saved_storages"]


def saved_storages(run: Callable[[], Tensor], inputs: Iterable[Tensor]) -> dict[int, int]:
    """``{storage pointer: bytes}`` of what the autograd graph of ``run()`` keeps for backward.

    Every saved tensor seen by ``torch.autograd.graph.saved_tensors_hooks``, counted once per
    storage; the storages of ``inputs`` are excluded.
    """
    input_storages = {t.untyped_storage().data_ptr() for t in inputs}
    storages: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in input_storages:
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = run()
    del loss
    return storages


def saved_bytes(run: Callable[[], Tensor], inputs: Iterable[Tensor]) -> int:
    """Bytes of the distinct storages the autograd graph keeps for backward, inputs excluded."""
    return sum(saved_storages(run, inputs).values())
