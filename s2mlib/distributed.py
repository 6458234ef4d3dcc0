"""Data-parallel training plumbing (``torch.distributed``): the process group that ``torchrun`` starts, each
process's share of a global batch, sums over processes, and the ``torchrun`` launch that notebook 04 uses.

One process per GPU (NCCL), or several CPU processes (gloo); :func:`s2mlib.train.train` runs data-parallel
(DistributedDataParallel) whenever a process group of more than one process is initialised:

    torchrun --standalone --nproc-per-node 8 -m s2mlib.train --profile paper                 # one node
    torchrun --nnodes 4 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
        --rdzv-id JOB -m s2mlib.train --profile paper                                          # on every node
    sbatch --nodes 4 tools/train_slurm.sh paper                                                # Slurm

Split (like ``DistributedSampler``, but per global batch): every process computes the same epoch order from
``(seed, epoch)``; global batch k is ``order[k B:(k + 1) B]`` (B = ``batch_size``, the GLOBAL batch) and process r
takes ``np.array_split(batch, world)[r]``. DDP averages the processes' gradients, so each process scales its loss by
``count * world / len(batch)`` (1 when the batch splits evenly): the step then follows the gradient of the mean
over the whole global batch, as one process does. A process left without a patch (a last batch smaller than the
world) runs one patch of that batch with weight 0, so that every process takes part in every step.

Example:
    >>> [s.indices.tolist() for s in shards(np.arange(10), 4, Ranks(1, 2))]
    [[2, 3], [6, 7], [9]]
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from .errors import InputError, S2MError
from .model import resolve_device


@dataclass(frozen=True)
class Ranks:
    """This process's place: ``rank`` of ``world_size`` processes, ``local_rank`` on its node (its GPU)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """True for rank 0, the process that writes checkpoints, history and snapshots and reports progress."""
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.world_size > 1


def ranks() -> Ranks:
    """The initialised default process group's ranks (``LOCAL_RANK`` from torchrun), else one process."""
    if not (dist.is_available() and dist.is_initialized()):
        return Ranks()
    rank = dist.get_rank()
    return Ranks(rank, dist.get_world_size(), int(os.environ.get("LOCAL_RANK", rank)))


def init(device: str = "auto") -> Ranks:
    """Join the process group that torchrun describes (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``):
    NCCL when training on CUDA (each process on GPU ``LOCAL_RANK``), gloo on CPUs. One process: nothing to join."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        cuda = resolve_device(device).type == "cuda"
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo")
    return ranks()


def close() -> None:
    """Leave the process group (if any)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def rank_device(device: str, where: Ranks) -> torch.device:
    """The device of this process: ``device`` resolved (:func:`s2mlib.model.resolve_device`), on GPU
    ``local_rank`` when several processes train on CUDA."""
    resolved = resolve_device(device)
    if resolved.type == "cuda" and where.parallel:
        if where.local_rank >= torch.cuda.device_count():
            raise InputError(
                f"process {where.rank} wants GPU {where.local_rank}, but this node has "
                f"{torch.cuda.device_count()}: start at most one process per GPU"
            )
        return torch.device("cuda", where.local_rank)
    return resolved


@dataclass(frozen=True)
class Shard:
    """A process's part of one global batch: dataset ``indices`` (at least one), ``count`` real patches among
    them (0 for a stand-in), and the loss ``weight`` (module docstring)."""

    indices: np.ndarray
    count: int
    weight: float


def shards(order: np.ndarray, batch_size: int, where: Ranks) -> list[Shard]:
    """This process's share of each global batch of ``order`` (module docstring)."""
    out = []
    for start in range(0, len(order), batch_size):
        batch = np.asarray(order[start : start + batch_size])
        mine = np.array_split(batch, where.world_size)[where.rank]
        if len(mine) == 0:
            out.append(Shard(batch[:1], 0, 0.0))
        else:
            out.append(Shard(mine, len(mine), len(mine) * where.world_size / len(batch)))
    return out


def all_sum(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed over the processes (in place; unchanged with one process)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def from_main(flag: bool, device: torch.device) -> bool:
    """Rank 0's ``flag`` on every process (decisions that must agree, such as stopping on a time limit)."""
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return flag
    value = torch.tensor([float(flag)], device=device)
    dist.broadcast(value, src=0)
    return bool(value.item())


def barrier() -> None:
    """Wait for every process (no-op with one process)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def resolve_nproc(nproc: int | str | None, device: str = "auto") -> int:
    """Processes to train with: ``'auto'`` / None = every visible GPU when training on CUDA, else 1; a number =
    that many (gloo processes on CPUs; at most the visible GPUs on CUDA)."""
    cuda = resolve_device(device).type == "cuda"
    gpus = torch.cuda.device_count() if cuda else 0
    if nproc is None or str(nproc) == "auto":
        return max(gpus, 1)
    try:
        count = int(nproc)
    except (TypeError, ValueError):
        raise InputError(f"nproc must be 'auto' or a number of processes, got {nproc!r}") from None
    if count < 1:
        raise InputError(f"nproc must be at least 1, got {count}")
    if cuda and count > gpus:
        raise InputError(f"nproc {count}: only {gpus} GPU(s) visible; one process per GPU")
    return count


def torchrun(
    args: Sequence[str], nproc: int, *, echo: Callable[[str], None] = print, bar_every_s: float = 60.0
) -> None:
    """Run ``torchrun --standalone --nproc-per-node nproc ARGS`` (this Python's ``torch.distributed.run``),
    passing each line of its output to ``echo`` as it comes: every line but progress-bar updates (tqdm's
    ``\\r`` states), of which one per ``bar_every_s`` seconds.

    CPU processes get ``cpu_count // nproc`` threads each unless ``OMP_NUM_THREADS`` is set. Raises
    :class:`S2MError` with the child's error when it fails; an interrupt stops the child.
    """
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *args]
    env = {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // nproc)), **os.environ, "PYTHONUNBUFFERED": "1"}
    tail: deque[str] = deque(maxlen=200)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    output = proc.stdout
    if output is None:  # stdout=PIPE always gives one
        raise OSError("no pipe from torchrun")
    last_bar = -math.inf
    try:
        for line in output:
            shown = line.rstrip("\n").split("\r")[-1].rstrip()
            bar = "%|" in shown
            if shown and (not bar or time.monotonic() - last_bar >= bar_every_s):
                echo(shown)
                last_bar = time.monotonic() if bar else last_bar
            if shown and not bar:
                tail.append(shown)
        status = proc.wait()
    except BaseException:
        proc.terminate()  # torchrun passes SIGTERM on to its workers
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    finally:
        output.close()
    if status != 0:
        raise S2MError(f"training under torchrun ({nproc} processes) failed with exit status {status}: {_cause(tail)}")


def _cause(lines: Sequence[str]) -> str:
    """The child's error line: our own one-line error, else the last ``SomethingError: ...`` line."""
    for line in reversed(lines):
        if "s2mlib.train: error:" in line:
            return line.split("s2mlib.train: error:", 1)[1].strip()
    for line in reversed(lines):
        text = re.sub(r"^\[\w+\]:\s*", "", line.strip())  # torchrun's "[rank1]: " prefix
        head = text.split(": ", 1)[0]
        if ": " in text and head.replace(".", "").isidentifier() and head.endswith(("Error", "Exception")):
            return line.strip()
    return lines[-1] if lines else "no output"
