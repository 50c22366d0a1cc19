"""What the commands share: the families, the errors, the output folder."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .._core import FAMILIES as LOSS_FAMILIES

__all__ = ["FAMILIES", "LOSS_FAMILIES", "CliError", "OutDirError", "prepare_out_dir"]

#: the loss families in catalogue order, then the composition tools (what ``list --family`` takes)
FAMILIES: tuple[str, ...] = (*LOSS_FAMILIES, "composition")


class CliError(Exception):
    """A failure the command reports as one line and exit code 1."""


class OutDirError(ValueError):
    """The output folder cannot be created or written (a usage error: exit code 2)."""


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
