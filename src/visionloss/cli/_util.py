"""What the commands share: the families, looking up losses that may be absent, the output folder."""

from __future__ import annotations

import inspect
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = [
    "FAMILIES",
    "CliError",
    "OutDirError",
    "MissingLossError",
    "accepts",
    "compose_attr",
    "loss_fn",
    "missing",
    "prepare_out_dir",
]

FAMILIES = (
    "regression",
    "classification",
    "segmentation",
    "boxes",
    "embedding",
    "generative",
    "composition",
)


class CliError(Exception):
    """A failure the command reports as one line and exit code 1."""


class OutDirError(ValueError):
    """The output folder cannot be created or written (a usage error: exit code 2)."""


class MissingLossError(Exception):
    """Losses a part of a command needs are not in this install (a family not there yet)."""

    def __init__(self, names: list[str] | tuple[str, ...]) -> None:
        self.names = tuple(names)
        shown = ", ".join(self.names)
        super().__init__(f"needs {shown}, not available in this install of visionloss")


def loss_fn(name: str) -> Callable[..., Any]:
    """``visionloss.functional.<name>``, or :class:`MissingLossError` when that family is absent."""
    import visionloss.functional as VF

    fn = getattr(VF, name, None)
    if fn is None:
        raise MissingLossError([f"functional.{name}"])
    return fn


def compose_attr(name: str) -> Any:
    """``visionloss.compose.<name>``, or :class:`MissingLossError`."""
    try:
        from visionloss import compose
    except ImportError as error:
        raise MissingLossError([f"compose.{name}"]) from error
    obj = getattr(compose, name, None)
    if obj is None:
        raise MissingLossError([f"compose.{name}"])
    return obj


def missing(*names: str) -> list[str]:
    """The names among ``names`` that ``visionloss.functional`` lacks (``compose.X`` for compose)."""
    absent = []
    for name in names:
        try:
            compose_attr(name[8:]) if name.startswith("compose.") else loss_fn(name)
        except MissingLossError:
            absent.append(name)
    return absent


def accepts(fn: Callable[..., Any], parameter: str) -> bool:
    """Whether ``fn`` has a parameter called ``parameter``."""
    try:
        return parameter in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def prepare_out_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` (and its parents) and check a file can be written in it."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as error:
        raise OutDirError(f"cannot create folder '{folder}': a file is in the way") from error
    except OSError as error:
        reason = error.strerror or str(error)
        raise OutDirError(f"cannot create folder '{folder}': {reason}") from error
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".visionloss-write-test-"):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise OutDirError(f"cannot write in folder '{folder}': {reason}") from error
    return folder
