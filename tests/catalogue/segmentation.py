"""Catalogue rows of the segmentation family (see tests/catalogue/__init__.py)."""

from . import LossCase

CASES: list[LossCase] = []
