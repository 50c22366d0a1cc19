"""Sphinx configuration of the visionloss documentation.

Build (from the repository root, after ``pip install -e '.[docs,cli]'``)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The per-family loss pages, the migration pages and the command-line page are generated at build
time by ``docs/_ext/visionloss_docs.py`` from the library's own tables (``visionloss.losses.SPECS``,
``docs/migration_table.py``, the ``visionloss`` command's definitions), so they follow the code.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE))  # migration_table
sys.path.insert(0, str(HERE.parent / "src"))  # document this tree, not an installed copy

import visionloss  # noqa: E402

project = "visionloss"
author = "visionloss developers"
copyright = "visionloss developers"
release = visionloss.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "myst_parser",
    "visionloss_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# BENCHMARKS.md is included by performance.md; migration_table.py and _ext are code
exclude_patterns = ["_build", "_generated", "BENCHMARKS.md", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
# the demo writes its result tables with a task heading (###) under the page title
suppress_warnings = ["myst.header"]

# autodoc: signatures keep their annotations as written; Google-style docstrings via napoleon
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
autodoc_default_options = {"show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

# MathJax 3 served from this site (_static/mathjax), copied by visionloss_docs at the end of the
# build from the PyPI package sphinx-mathjax-offline: no CDN, so the pages work offline and in CI
mathjax_path = "mathjax/tex-chtml.js"

html_theme = "furo"
html_title = f"visionloss {release}"
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"
html_show_sourcelink = False
html_copy_source = False
pygments_style = "sphinx"
smartquotes = False  # quotes in option values stay as typed
