"""Catalogue rows of the boxes family (see tests/catalogue/__init__.py)."""

from . import LossCase

CASES: list[LossCase] = []
