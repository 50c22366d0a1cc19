"""Catalogue rows of the generative family (see tests/catalogue/__init__.py)."""

from . import LossCase

CASES: list[LossCase] = []
