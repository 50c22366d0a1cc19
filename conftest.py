"""Doctest collection over src/: the command line's modules need the `cli` extra."""

import importlib.util

_CLI_EXTRA = ("typer", "rich", "matplotlib", "sklearn", "skimage")

collect_ignore_glob = (
    [] if all(importlib.util.find_spec(name) for name in _CLI_EXTRA) else ["src/visionloss/cli/*"]
)
