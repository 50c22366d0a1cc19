"""Catalogue rows of the classification family (see tests/catalogue/__init__.py)."""

from . import LossCase

CASES: list[LossCase] = []
