"""Run a function on K gloo processes on this machine and collect what each rank returns.

Used by the sync tests of every family: the loss on K ranks with B samples each must equal the
loss on one process with K*B samples, and each rank's gradient for its shard must be K times the
single-process gradient (DDP averages them back).
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, fn: Callable, args: tuple, out_dir: str) -> None:
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        result = fn(rank, world_size, *args)
        torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))
        # no rank tears gloo down while another still talks to it (that aborts the process)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def run_on_ranks(fn: Callable[..., Any], world_size: int, *args: Any) -> list[Any]:
    """Call ``fn(rank, world_size, *args)`` on ``world_size`` gloo processes; return their results.

    ``fn`` must be a module-level function (it is pickled) and return tensors or plain values.
    """
    with tempfile.TemporaryDirectory() as out_dir:
        paths = [os.path.join(out_dir, f"rank{r}.pt") for r in range(world_size)]
        try:
            mp.start_processes(
                _worker,
                args=(world_size, _free_port(), fn, args, out_dir),
                nprocs=world_size,
                join=True,
                start_method="spawn",
            )
        except mp.ProcessExitedException:
            # gloo sometimes aborts a process while it tears down, after every rank has written
            # its result and passed the final barrier ("terminate called without an active
            # exception" on a busy machine). The results are complete then; anything else is a
            # real failure.
            if not all(os.path.exists(path) for path in paths):
                raise
        return [torch.load(path) for path in paths]
