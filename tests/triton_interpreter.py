"""What every Triton test module shares: its kernels imported under the interpreter.

``import_interpreted(name)`` imports a ``visionloss.kernels.triton`` module with
``TRITON_INTERPRET=1`` set while triton and the module are imported (their kernels then run on
the CPU), and restores the variable afterwards; it skips the calling test module when triton is
not installed, or was imported earlier in this process without the interpreter (its own helpers
were then compiled for a GPU: set ``TRITON_INTERPRET=1`` before the session, as the root
``conftest.py`` does on a machine without CUDA). The ``triton_interpreter`` fixture of
``tests/conftest.py`` sets the variable again while a module's tests run (the kernels' ``covers``
reads it): ``pytestmark = pytest.mark.usefixtures("triton_interpreter")``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import pytest


@contextmanager
def interpreting() -> Iterator[None]:
    """``TRITON_INTERPRET=1`` inside the block; the previous value (or none) after it."""
    previous = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = previous


def import_interpreted(name: str) -> ModuleType:
    """Import the Triton kernels' module ``name`` with its kernels interpreted (see above)."""
    with interpreting():
        triton = pytest.importorskip("triton")
        if type(triton.language.standard._sum_combine).__name__ != "InterpretedFunction":
            pytest.skip(
                "triton was imported before TRITON_INTERPRET=1 was set", allow_module_level=True
            )
        return importlib.import_module(name)
