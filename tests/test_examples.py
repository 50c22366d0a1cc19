"""The example scripts run and print what they claim."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_quickstart_prints_every_loss_and_learns_alpha():
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in ("mse", "mae", "huber", "log_cosh", "charbonnier", "robust a=0"):
        assert f"\n{name} " in out
    # the outlier dominates MSE; the robust losses are far smaller
    values = {line[:14].strip(): float(line[14:24]) for line in out.splitlines()[1:7]}
    assert values["mse"] > 4 * values["robust a=0"]
    assert "alpha after one step" in out
