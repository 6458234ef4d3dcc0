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
