"""Shared fixtures: a seeded generator, the catalogue, tolerances per dtype."""

from __future__ import annotations

import os

import pytest
import torch
from hypothesis import settings

import visionloss

settings.register_profile("ci", max_examples=30, deadline=None)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# small tensors: one thread avoids oversubscription (the suite runs beside other work on 2 cores)
torch.set_num_threads(1)

# (rtol, atol) of a low-precision result against the same computation on the rounded values in
# float32: the inputs are identical, only the internal arithmetic may differ.
LOW_PRECISION_TOL = {torch.float16: (1e-5, 1e-5), torch.bfloat16: (1e-5, 1e-5)}


@pytest.fixture
def gen() -> torch.Generator:
    return torch.Generator().manual_seed(1234)


@pytest.fixture(scope="module")
def triton_interpreter():
    """TRITON_INTERPRET=1 while a Triton test module runs (the kernels' ``covers`` reads it);
    restored afterwards (``tests/triton_interpreter.py``)."""
    from triton_interpreter import interpreting

    with interpreting():
        yield


@pytest.fixture(autouse=True)
def _checks_on():
    """Every test starts with data checks on and the fused kernels enabled."""
    from visionloss.kernels import set_kernels

    visionloss.set_checks(True)
    set_kernels(True)
    yield
    visionloss.set_checks(True)
    set_kernels(True)
