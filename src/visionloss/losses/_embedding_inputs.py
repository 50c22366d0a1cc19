"""What the embedding losses share about their inputs: the checks of embeddings and labels, and
the norm floor of their cosine similarities. Used by :mod:`.embedding` and :mod:`._contrastive`
(which ``embedding`` re-exports, so the two cannot import from each other)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._core import check_floating, check_tensor

__all__ = ["NORM_EPS", "check_labels", "check_rows"]

#: Floor of the norms before a cosine similarity (torch's ``cosine_similarity`` default): a zero
#: embedding has similarity 0 to everything instead of NaN.
NORM_EPS = 1e-8


def check_rows(value: Any, name: str) -> Tensor:
    """A floating ``(N, D)`` tensor of embeddings."""
    rows = check_floating(value, name)
    if rows.dim() != 2:
        raise ValueError(f"{name}: expected a 2-D tensor (N, D), got shape {tuple(rows.shape)}")
    return rows


def check_labels(labels: Any, n: int, name: str = "labels") -> Tensor:
    """Integer (or bool) class labels, one per row of the embeddings."""
    ids = check_tensor(labels, name)
    if ids.is_floating_point() or ids.is_complex():
        raise TypeError(f"{name}: expected an integer or bool tensor, got dtype {ids.dtype}")
    if ids.shape != (n,):
        raise ValueError(
            f"{name}: expected shape ({n},), one label per row of embeddings, "
            f"got {tuple(ids.shape)}"
        )
    return ids
