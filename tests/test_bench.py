"""The benchmark harness: its memory count, its labels, its round filter, its table and its
command. Mechanics only (tiny settings): no assertion on any time."""

from __future__ import annotations

import pytest
import torch

from visionloss.cli import bench, bench_cases


def test_saved_bytes_counts_intermediates_once_and_excludes_inputs():
    x = torch.randn(100, requires_grad=True)
    y = torch.randn(100, requires_grad=True)
    inputs = [x, y]
    # x * y saves only x and y: inputs, excluded
    assert bench.saved_bytes(lambda: (x * y).sum(), inputs) == 0
    # exp saves its result (a new 400-byte storage); mul saves it again and y: counted once
    assert bench.saved_bytes(lambda: (x.exp() * y).sum(), inputs) == 400


def test_every_case_label_names_the_sizes_its_inputs_have():
    for case in bench.standard_cases():
        # the first input's shape is the case's size, and the label carries it
        inputs = case.make_inputs(torch.device("meta"), case.size)
        first = next(iter(inputs.values()))
        assert tuple(first.shape[: len(case.size)]) == case.size, case.label
        assert "x".join(map(str, case.size)) in case.label


def test_quick_runs_the_same_sizes_with_fewer_rounds(monkeypatch):
    seen: list[tuple[tuple[int, ...], int]] = []

    def fake_measure(case, device, *, rounds, min_time, **kwargs):
        seen.append((case.size, rounds))
        return []

    monkeypatch.setattr(bench, "measure", fake_measure)
    cases = bench.standard_cases()[:3]
    list(bench.run_cases(cases, quick=True))
    list(bench.run_cases(cases, quick=False))
    quick, full = seen[:3], seen[3:]
    assert [s for s, _ in quick] == [s for s, _ in full] == [c.size for c in cases]
    assert all(q < f for (_, q), (_, f) in zip(quick, full, strict=True))


def _stat_line(busy_ticks: int) -> str:
    return f"cpu  {busy_ticks} 0 0 100000 0 0 0 0 0 0\n"


def test_round_clock_drops_rounds_where_other_processes_took_the_cpu():
    # a fake /proc/stat: the machine's busy time jumps by 10 s in the rounds marked noisy
    busy = [0]
    own = [0.0]
    clock = bench.RoundClock(0.1, reader=lambda: _stat_line(busy[0]), process_time=lambda: own[0])
    assert clock.available
    verdicts = []
    for noisy in [False, True, False, True, True]:
        clock.start()
        own[0] += 0.05  # this process's own CPU time: counted on both sides
        busy[0] += 5 + (1000 if noisy else 0)  # ticks (0.05 s of ours, + 10 s of others)
        verdicts.append(clock.stop())
    assert verdicts == [True, False, True, False, False]
    assert bench.machine_busy_seconds(_stat_line(250)) == pytest.approx(250 * bench._TICK)


def test_round_clock_waits_for_the_other_processes_to_leave():
    busy = [0]
    windows = iter([1000, 1000, 0])  # ticks others use in each window: loud, loud, quiet
    clock = bench.RoundClock(0.1, reader=lambda: _stat_line(busy[0]), process_time=lambda: 0.0)
    real_stop = clock.stop

    def stop() -> bool:
        busy[0] += next(windows, 0)
        return real_stop()

    clock.stop = stop  # type: ignore[method-assign]
    assert clock.wait_quiet(patience=10.0, window=0.001)
    assert next(windows, None) is None  # it took the third window
    always_loud = bench.RoundClock(0.1, reader=lambda: _stat_line(busy[0]))
    always_loud.stop = lambda: False  # type: ignore[method-assign]
    assert not always_loud.wait_quiet(patience=0.01, window=0.001)


def _toy_case(contenders: list[bench.Contender]) -> bench.BenchCase:
    def make(device: torch.device, size: tuple[int, ...]) -> dict[str, torch.Tensor]:
        return {"x": torch.randn(size, device=device, requires_grad=True)}

    return bench.BenchCase("toy", (64,), make, contenders)


def _square(x: dict[str, torch.Tensor]) -> bench.Run:
    return lambda: (x["x"] ** 2).sum()


def test_measure_keeps_only_quiet_rounds_and_reports_their_count():
    pattern = iter([True, False] * 20)  # every other round noisy

    class FakeClock(bench.RoundClock):
        def __init__(self) -> None:
            self.available = True

        def start(self) -> None:
            pass

        def stop(self) -> bool:
            return next(pattern)

    case = _toy_case([bench.Contender("visionloss", _square), bench.Contender("peer", _square)])
    results = bench.measure(case, torch.device("cpu"), rounds=3, min_time=1e-4, clock=FakeClock())
    assert [r.contender for r in results] == ["visionloss", "peer"]
    assert all(r.rounds == "3/5" and r.note == "" for r in results)
    assert results[0].ratio == 1.0 and results[1].ratio is not None


def test_measure_says_when_no_round_was_quiet():
    class LoudClock(bench.RoundClock):
        def __init__(self) -> None:
            self.available = True

        def start(self) -> None:
            pass

        def stop(self) -> bool:
            return False

    case = _toy_case([bench.Contender("visionloss", _square)])
    (result,) = bench.measure(case, torch.device("cpu"), rounds=2, min_time=1e-4, clock=LoudClock())
    assert result.rounds == "0/6" and result.note.startswith("noisy: 0 of 6 rounds quiet")
    assert result.time_ms is not None


def test_missing_peer_is_no_row_but_one_line_naming_the_extra():
    def absent(x: dict[str, torch.Tensor]) -> bench.Run:
        import visionloss_no_such_peer  # noqa: F401

        raise AssertionError("unreachable")

    def refuses(x: dict[str, torch.Tensor]) -> bench.Run:
        raise ValueError("takes 2D images only")

    case = _toy_case(
        [
            bench.Contender("visionloss", _square),
            bench.Contender("absent", absent),
            bench.Contender("refuses", refuses),
        ]
    )
    missing: set[str] = set()
    results = bench.measure(case, torch.device("cpu"), rounds=1, min_time=1e-4, missing=missing)
    assert [r.contender for r in results] == ["visionloss", "refuses"]
    assert results[1].note == "takes 2D images only" and results[1].time_ms is None
    assert missing == {"visionloss_no_such_peer"}
    line = bench.missing_line(missing)
    assert "visionloss_no_such_peer" in line and "pip install 'visionloss[peers]'" in line
    assert "\n" not in line


def test_table_ratios_are_the_paired_medians():
    results = [
        bench.Result("case", "visionloss", 2.0, 1000, threads=1, ratio=1.0, rounds="5/5"),
        bench.Result("case", "peer", 5.0, 8000, threads=1, ratio=2.4, rounds="5/5"),
        bench.Result("case", "broken", None, None, "refuses", threads=1),
    ]
    rows = bench.format_table(results)
    assert rows[0][:2] == ["case", "1"] and rows[0][5:8] == ["1.00x", "1.0x", "5/5"]
    assert rows[1][3:7] == ["5.00", "0.01", "2.40x", "8.0x"]
    assert rows[2][3] == "-" and rows[2][-1] == "refuses"


def test_paths_pin_the_dispatch_and_restore_it():
    from visionloss import kernels

    case = next(c for c in bench.standard_cases() if c.name == "log-cosh")
    case = bench.with_paths(case)
    names = [c.name for c in case.contenders]
    assert names[:3] == ["visionloss", "visionloss [fused]", "visionloss [reference]"]
    seen = []

    def spy(x: dict[str, torch.Tensor]) -> bench.Run:
        return lambda: seen.append(kernels.get_kernels()) or x["x"].sum()

    x = {"x": torch.ones(3)}
    before = kernels.get_kernels()
    bench_cases._pinned(spy, "reference")(x)()
    assert seen == ["reference"] and kernels.get_kernels() == before


def test_command_prints_machine_and_a_row_per_contender(capsys, tmp_path):
    csv_path = tmp_path / "bench.csv"
    argv = ["--quick", "--case", "cross-entropy 8x", "--rounds", "1", "--min-time", "0.001"]
    argv += ["--patience", "0"]
    code = bench.main([*argv, "--threads", "1", "--csv", str(csv_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert bench.cpu_model() in out.splitlines()[0] and "threads 1" in out.splitlines()[0]
    assert "cross-entropy 8x19x96x96" in out and "torch F.cross_entropy" in out
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("case,threads,contender,fwd+bwd ms")
    assert len(lines) == 3  # header, visionloss, torch


def test_unknown_case_exits_2_listing_the_cases(capsys):
    assert bench.main(["--case", "nothing"]) == 2
    err = capsys.readouterr().err
    assert "'nothing'" in err and "dice 8x6x128x128" in err and "ssim 8x3x256x256" in err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error path without a GPU")
def test_cuda_without_gpu_is_a_one_line_error(capsys):
    assert bench.main(["--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err
