"""The ``visionloss`` command: ``list``, ``plot``, ``bench`` and ``demo``.

Needs the ``cli`` extra (typer, rich, matplotlib, numpy, scikit-learn, scikit-image):
``pip install 'visionloss[cli]'``. Exit codes: 0 success, 1 failure, 2 bad usage; errors are
printed as one line on stderr, without a traceback.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command with ``argv`` (default ``sys.argv[1:]``) and return its exit code."""
    try:
        from .app import run
    except ImportError as error:  # the cli extra is missing: say which package, not a traceback
        print(
            f"visionloss: error: the command line needs the 'cli' extra "
            f"(pip install 'visionloss[cli]'): {error}",
            file=sys.stderr,
        )
        return 1
    return run(argv)
