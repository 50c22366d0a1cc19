"""Catalogue rows of the embedding family (see tests/catalogue/__init__.py)."""

from . import LossCase

CASES: list[LossCase] = []
