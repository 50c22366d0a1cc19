"""Test-session set-up shared by tests/ and the doctests of src/.

* Triton on a machine without CUDA runs in its interpreter: TRITON_INTERPRET=1 is set before
  anything imports triton, so every module (the kernels' tests and doctests alike) sees one
  configuration.
* The command line's modules need the `cli` extra, the Triton kernels need triton.
"""

import importlib.util
import os

if "TRITON_INTERPRET" not in os.environ:
    import torch

    if not torch.cuda.is_available():
        os.environ["TRITON_INTERPRET"] = "1"

_CLI_EXTRA = ("typer", "rich", "matplotlib", "sklearn", "skimage")

collect_ignore_glob = [] if all(importlib.util.find_spec(n) for n in _CLI_EXTRA) else ["src/visionloss/cli/*"]
if importlib.util.find_spec("triton") is None:
    collect_ignore_glob.append("src/visionloss/kernels/triton/*")
