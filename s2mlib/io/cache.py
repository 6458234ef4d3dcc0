"""Skipping work already done: JSON records that stamp a result with the inputs and settings it came from.

A stage (curation, baseline simulation) writes beside its outputs a record holding a *stamp* (input file stamps,
parameters, package version) and its result; on the next run the result is reused only when the stored stamp
equals the new one. Records are written atomically.

Example:
    >>> matches({"params": {"a": 1}, "result": 5}, {"params": {"a": 1}})
    True
    >>> safe_name("2513_4CI0 b/1")
    '2513_4CI0_b_1'
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .outputs import atomic_write


def file_stamp(path: str | os.PathLike) -> list:
    """[path, size, mtime_ns]: what a record compares to notice a changed input file."""
    stat = os.stat(path)
    return [str(path), stat.st_size, stat.st_mtime_ns]


def safe_name(entry: str) -> str:
    """``entry`` with every character outside [A-Za-z0-9_.-] replaced by '_', for file names."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", entry)


def read_record(path: str | os.PathLike) -> dict:
    """The JSON object stored at ``path``; an empty dict when it is missing or unreadable."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def write_record(path: str | os.PathLike, record: dict) -> None:
    """Write ``record`` as JSON at ``path``, atomically."""
    atomic_write(lambda tmp: tmp.write_text(json.dumps(record, indent=1)), Path(path))


def matches(record: dict, stamp: dict) -> bool:
    """True when ``record`` holds every key of ``stamp`` with the same value (compared as JSON would store it)."""
    return {k: record.get(k) for k in stamp} == json.loads(json.dumps(stamp))
