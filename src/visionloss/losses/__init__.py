"""The loss families, one module (or package) each, and the catalogue they declare.

Each family ends with a table ``SPECS`` of :class:`~visionloss._core.LossSpec` rows; ``SPECS``
here is all of them, in catalogue order. The registry, ``visionloss list`` and the docs read it.
"""

from __future__ import annotations

from .._core import LossSpec
from . import boxes, classification, embedding, generative, regression, segmentation

__all__ = ["SPECS"]

SPECS: tuple[LossSpec, ...] = tuple(
    spec
    for family in (regression, classification, segmentation, boxes, embedding, generative)
    for spec in family.SPECS
)
