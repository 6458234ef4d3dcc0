"""What the benchmark scripts share: where the shared data lies, and the best of a few timed runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """(the shortest wall time of ``repeat`` calls of ``fn`` in seconds, the last call's value)."""
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return min(times), value


def machine_line(precision: str | None = None, runtime: str | None = None) -> str:
    """What a benchmark runs on, printed first by every script: the CPU model and capability (AVX2, AVX512, +BF16,
    +AMX: :func:`s2mlib.gan.precision.cpu_capability`), cores, torch threads, the GPU if any, and the precision and
    runtime timed ('auto' is resolved for the CPU)."""
    import os

    import torch

    from s2mlib.gan.precision import bf16_native, cpu_capability, resolve_precision
    from s2mlib.run.provenance import cpu_model

    cpu = torch.device("cpu")
    words = [
        f"CPU {cpu_model()} ({cpu_capability()}; bf16 {'native' if bf16_native(cpu) else 'emulated'})",
        f"{os.cpu_count()} cores",
        f"{torch.get_num_threads()} torch threads",
    ]
    if torch.cuda.is_available():
        words.append(f"GPU {torch.cuda.get_device_name(0)}")
    if precision is not None:
        words.append(f"precision {resolve_precision(precision, cpu, warn=False)}")
    if runtime is not None:
        words.append(f"runtime {runtime}")
    return "machine: " + ", ".join(words)
