"""The benchmark harness: its memory count, its table, and its command (tiny settings)."""

from __future__ import annotations

import pytest
import torch

from visionloss.cli import bench


def test_saved_bytes_counts_intermediates_once_and_excludes_inputs():
    x = torch.randn(100, requires_grad=True)
    y = torch.randn(100, requires_grad=True)
    inputs = [x, y]
    # x * y saves only x and y: inputs, excluded
    assert bench.saved_bytes(lambda: (x * y).sum(), inputs) == 0
    # exp saves its result (a new 400-byte storage); mul saves it again and y: counted once
    assert bench.saved_bytes(lambda: (x.exp() * y).sum(), inputs) == 400


def test_table_ratios_are_relative_to_visionloss():
    results = [
        bench.Result("case", "visionloss", 2.0, 1000),
        bench.Result("case", "peer", 5.0, 8000),
        bench.Result("case", "broken", None, None, "not installed"),
    ]
    rows = bench.format_table(results)
    assert rows[0][4:6] == ["1.00x", "1.0x"]
    assert rows[1][2:6] == ["5.00", "0.01", "2.50x", "8.0x"]
    assert rows[2][2] == "-" and rows[2][-1] == "not installed"


def test_command_prints_a_row_per_contender(capsys, tmp_path):
    csv_path = tmp_path / "bench.csv"
    code = bench.main(["--quick", "--case", "cross-entropy", "--csv", str(csv_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "torch F.cross_entropy" in out
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("case,contender,fwd+bwd ms")
    assert len(lines) == 3  # header, visionloss, torch


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error path without a GPU")
def test_cuda_without_gpu_is_a_one_line_error(capsys):
    assert bench.main(["--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err
