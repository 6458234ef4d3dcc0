"""Memory a request would need, checked before the work: a grid too large for this machine is one line, not a
numpy/torch allocation traceback minutes later.

The memory available is the least of the kernel's ``MemAvailable``, the room left under this process's address-space
limit (``ulimit -v`` / ``prlimit --as``) and the room left in its cgroup (``memory.max``).

Example:
    >>> grid_bytes((100, 100, 100))
    4000000
    >>> require_memory(1, "one byte")
"""

from __future__ import annotations

import math
import os
import resource
import shutil
from pathlib import Path

from ..errors import S2MError

GIB = 1 << 30


class MemoryLimitError(S2MError, MemoryError):
    """A request needs more memory than this machine (or this process's limits) can give."""


def grid_bytes(shape, itemsize: int = 4) -> int:
    """Bytes of one array of ``shape`` (float32 by default)."""
    return math.prod(int(n) for n in shape) * itemsize


def _meminfo(key: str) -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _address_space_left() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return max(0, soft - int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    return soft


def _cgroup_left() -> int | None:
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((root / "memory.current").read_text()))
    except (OSError, ValueError):
        return None


def available_bytes() -> int:
    """Bytes this process can still allocate (see the module docstring); a large number when nothing is known."""
    known = [v for v in (_meminfo("MemAvailable"), _address_space_left(), _cgroup_left()) if v is not None]
    return min(known) if known else 1 << 62


def require_memory(nbytes: int, what: str) -> None:
    """Raise :class:`MemoryLimitError` (one line: ``what``, the memory needed and the memory available) unless
    ``nbytes`` fit in :func:`available_bytes`. ``what`` names the request, e.g. 'PATH: a 4000 x 4000 x 4000 grid'."""
    available = available_bytes()
    if nbytes > available:
        raise MemoryLimitError(f"{what} needs {nbytes / GIB:.1f} GiB of memory; {available / GIB:.1f} GiB is available")


def require_disk(nbytes: int, folder: str | os.PathLike, what: str) -> None:
    """Raise :class:`MemoryLimitError` (one line: ``what``, the disk space needed and free in ``folder``) unless
    ``nbytes`` fit in ``folder``'s file system: a map written slab by slab is checked before the work."""
    free = shutil.disk_usage(folder).free
    if nbytes > free:
        raise MemoryLimitError(f"{what} needs {nbytes / GIB:.1f} GiB of disk in {folder}; {free / GIB:.1f} GiB is free")
