"""What the GPU benchmark scripts share: timing by CUDA-graph replay, the device's peak
bandwidth, and the table formatting. The scripts run as ``python benchmarks/<script>.py``, so this
module is imported from the scripts' folder."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from collections.abc import Callable

import torch

__all__ = [
    "bytes_text",
    "first_line",
    "fmt",
    "graph_time_ms",
    "peak_bandwidth",
    "run_header",
    "sync",
]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (f"{type(error).__name__}: {text[0]}" if text else type(error).__name__)[:120]


def graph_time_ms(step: Callable[[], None], device: torch.device) -> float:
    """GPU time of one step replayed from a CUDA graph (median of 5 blocks of 20 replays): the
    device's own time, without the host's launch overhead (large on a virtualised host)."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    graph.replay()
    sync(device)
    times = []
    for _ in range(5):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(20):
            graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 20)
    return statistics.median(times)


def peak_bandwidth(device: torch.device) -> tuple[str, float | None]:
    if device.type != "cuda":
        return platform.processor() or platform.machine(), None
    name = torch.cuda.get_device_name(device)
    upper = name.upper()
    if "H200" in upper:
        return name, 4.8e12
    if "H100" in upper and "PCIE" in upper:
        return name, 2.0e12
    if "H100" in upper and "NVL" in upper:
        return name, 3.9e12
    if "H100" in upper:
        return name, 3.35e12
    return name, None


def fmt(value: object, spec: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, float) and spec:
        return format(value, spec)
    return str(value)


def bytes_text(value: int | None) -> str:
    if value is None:
        return ""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value} B"


def run_header(device_name: str, peak: float | None, rounds: int, min_time: float) -> list[str]:
    """The lines that open a GPU benchmark's report: the device and its peak bandwidth, torch,
    triton (and whether it is interpreted), where visionloss was imported from, the command and
    the timing protocol."""
    import visionloss

    header = [
        f"- device: {device_name}" + (f" (peak {peak / 1e12:.2f} TB/s)" if peak else ""),
        f"- torch {torch.__version__}, visionloss from {os.path.dirname(visionloss.__file__)}",
        f"- command: `python {' '.join(sys.argv)}`",
        f"- {rounds} rounds x blocks of >= {min_time}s, contenders interleaved; median",
    ]
    try:
        import triton

        interpreted = " (interpreter)" if os.environ.get("TRITON_INTERPRET") == "1" else ""
        header.insert(2, f"- triton {triton.__version__}{interpreted}")
    except ImportError:
        header.insert(2, "- triton not installed")
    return header
