"""Data-parallel training plumbing (``torch.distributed``): the process group that ``torchrun`` starts, each
process's share of a global batch, sums over processes, and the ``torchrun`` launch that notebook 04 uses.

One process per GPU (NCCL), or several CPU processes (gloo); :func:`s2mlib.gan.train.train` runs data-parallel
(DistributedDataParallel) whenever a process group of more than one process is initialised:

    torchrun --standalone --nproc-per-node 8 -m s2mlib.run.train --profile paper                 # one node
    torchrun --nnodes 4 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \\
        --rdzv-id JOB -m s2mlib.run.train --profile paper                                          # on every node
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
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

from ..errors import InputError, S2MError
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
    """The device of this process: ``device`` resolved (:func:`s2mlib.gan.model.resolve_device`), on GPU
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


def local_device(device: str) -> str:
    """``device`` of a generating process: on GPU ``LOCAL_RANK`` for a torchrun process that runs on CUDA
    ('auto' or 'cuda' asked), else ``device`` as given (``s2m generate --out-dir`` under torchrun)."""
    if "LOCAL_RANK" in os.environ and resolve_device(device).type == "cuda" and str(device) in ("auto", "cuda"):
        return f"cuda:{os.environ['LOCAL_RANK']}"
    return device


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
        if "s2mlib.run.train: error:" in line:
            return line.split("s2mlib.run.train: error:", 1)[1].strip()
    for line in reversed(lines):
        text = re.sub(r"^\[\w+\]:\s*", "", line.strip())  # torchrun's "[rank1]: " prefix
        head = text.split(": ", 1)[0]
        if ": " in text and head.replace(".", "").isidentifier() and head.endswith(("Error", "Exception")):
            return line.strip()
    return lines[-1] if lines else "no output"


RENDEZVOUS_TIMEOUT = 120.0  # s: how long torchrun's processes of one s2m generate run wait for each other at the start
RENDEZVOUS_ENV = "S2M_RENDEZVOUS_TIMEOUT"  # seconds, to change it (a slow cluster, a test)


class Meeting:
    """The processes of one batch run under torchrun (``RANK`` of ``WORLD_SIZE``) meeting at torchrun's store
    (``MASTER_ADDR``:``MASTER_PORT``; the agent's own store under torchrun, else rank 0 hosts it), with counters
    polled from Python: every wait has a timeout and Ctrl-C and SIGTERM stop it at once (a gloo rendezvous or
    barrier blocks in C++, deaf to both, for up to its timeout: torch's default and ours were days).

    Variables left in a shell from an earlier torchrun (``WORLD_SIZE=2 RANK=0 MASTER_ADDR=...`` with no other
    process) are caught at :meth:`meet` ``("start")``: one line after :data:`RENDEZVOUS_TIMEOUT` seconds
    (``$S2M_RENDEZVOUS_TIMEOUT``), not a silent wait."""

    def __init__(self, rank: int, world: int, env=os.environ, timeout: float | None = None) -> None:
        from datetime import timedelta

        self.rank, self.world = rank, world
        self.timeout = float(env.get(RENDEZVOUS_ENV, RENDEZVOUS_TIMEOUT)) if timeout is None else timeout
        host, port = env.get("MASTER_ADDR"), env.get("MASTER_PORT", "")
        if not host or not port.isdigit():
            raise S2MError(
                f"WORLD_SIZE={world} (torchrun rank {rank}) without MASTER_ADDR and MASTER_PORT: start the processes "
                f"with torchrun, or unset WORLD_SIZE and RANK left from an earlier run"
            )
        self.where = f"{host}:{port}"
        hosting = self._hosting = rank == 0 and env.get("TORCHELASTIC_USE_AGENT_STORE") != "True"
        deadline = time.monotonic() + self.timeout
        while not hosting:  # a plain connection first: torch logs a C++ traceback for each failed attempt
            try:
                socket.create_connection((host, int(port)), timeout=1.0).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise S2MError(self._absent("the store of rank 0 did not answer")) from None
                time.sleep(0.5)
        try:
            self.store = dist.TCPStore(
                host, int(port), world, is_master=hosting, timeout=timedelta(seconds=30), wait_for_workers=False
            )
        except (RuntimeError, ValueError) as exc:  # torch's DistNetworkError / DistStoreError are RuntimeErrors
            raise S2MError(f"torchrun rank {rank} cannot open the store at {self.where}: {exc}") from None

    def _absent(self, what: str) -> str:
        return (
            f"torchrun rank {self.rank} of WORLD_SIZE={self.world}: {what} at {self.where} within {self.timeout:g} s: "
            f"variables left from an earlier torchrun (unset WORLD_SIZE RANK MASTER_ADDR MASTER_PORT), or start "
            f"every process (torchrun --nproc-per-node {self.world} ...; ${RENDEZVOUS_ENV} to wait longer)"
        )

    def _count(self, key: str, add: int) -> int:
        try:
            return int(self.store.add(key, add))
        except RuntimeError as exc:  # the store went away: a process died
            raise S2MError(
                f"torchrun rank {self.rank}: lost the other processes' store at {self.where} ({exc})"
            ) from None

    def meet(self, name: str, timeout: float | None = None, say=None) -> None:
        """Wait until every process has reached ``name`` (each arrives once); :class:`S2MError` after ``timeout``
        seconds (default the rendezvous timeout). ``say`` is called once with a line when the wait passes 5 s."""
        key = f"s2m/{name}"
        arrived = self._count(key, 1)
        limit = self.timeout if timeout is None else timeout
        start, said = time.monotonic(), False
        while arrived < self.world:
            waited = time.monotonic() - start
            if waited > limit:
                raise S2MError(self._absent(f"{self.world - arrived} of the other processes did not reach '{name}'"))
            if say is not None and waited > 5 and not said:
                say(f"torchrun rank {self.rank}: waiting for {self.world - arrived} other process(es) at {self.where}")
                said = True
            time.sleep(0.2)
            arrived = self._count(key, 0)

    def leave(self, timeout: float = 60.0) -> None:
        """The last call: a process that hosts the store waits (up to ``timeout`` s) until every other one has made
        its last call to it, so that none of them finds it gone."""
        key = "s2m/left"
        if not self._hosting:
            self._count(key, 1)
            return
        end = time.monotonic() + timeout
        while self._count(key, 0) < self.world - 1 and time.monotonic() < end:
            time.sleep(0.2)
