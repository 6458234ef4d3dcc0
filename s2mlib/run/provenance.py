"""What made a result: the machine, the library versions, the code's commit, the profile, its overrides and seeds.

Every notebook prints it at start-up (:func:`s2mlib.run.session.start`), so executed notebooks carry it, and
``figures/index.json`` keeps it beside each file it made (:func:`s2mlib.study.plots.record`), so a reader can tell why
two runs differ: trained numbers move with the CPU (float rounding, amplified by GAN training), the thread count and
the library versions (README "Reproducibility").

Example:
    >>> params = {"profile": "default", "manifest": "pairs.tsv", "seed": 0, "seeds": 3, "epochs": 3}
    >>> record = provenance(params, {"epochs": 1, "width": None, "__name__": "__main__"})
    >>> sorted(record)
    ['commit', 'machine', 'manifest', 'overrides', 'precision', 'profile', 'seed', 'seeds', 'versions']
    >>> record["overrides"]
    {'epochs': 1}
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

# The distributions whose versions can change a number in figures/ (pip names).
PACKAGES = ("s2mlib", "torch", "numpy", "scipy", "gemmi", "mrcfile", "torchio", "scikit-image", "pandas")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """CPU model, its vector capability (AVX2, AVX512, +BF16, +AMX), cores, torch threads, GPU name (None
    without), operating system."""
    import torch

    from ..gan.precision import cpu_capability

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": cpu_model(),
        "cpu_capability": cpu_capability(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "system": f"{platform.system()} {platform.release()}",
    }


def versions() -> dict[str, str | None]:
    """Python and :data:`PACKAGES` versions (None for one not installed)."""

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {"python": platform.python_version(), **{name: version(name) for name in PACKAGES}}


def commit(root: str | os.PathLike | None = None) -> str | None:
    """The git commit of the checkout at ``root`` (the project root by default), '+changes' when tracked files other
    than ``figures/`` (which a run rewrites) have uncommitted changes; None outside a git checkout."""
    from .config import ROOT

    where = str(root or ROOT)
    try:
        head = subprocess.run(["git", "-C", where, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", where, "diff", "--quiet", "HEAD", "--", ".", ":!figures"], capture_output=True
        )
    except OSError:
        return None
    return head.stdout.strip() + ("+changes" if dirty.returncode else "")


def provenance(params: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The record of one run: profile, manifest, the overrides (keys of the profile set by the caller, None
    dropped), seed and seeds, :func:`machine`, :func:`versions` and :func:`commit`."""
    changed = {
        key: value
        for key, value in (overrides or {}).items()
        if key in params and key != "profile" and value is not None and not key.startswith("_")
    }
    return {
        "profile": params.get("profile"),
        "manifest": Path(str(params.get("manifest"))).name,
        "overrides": json.loads(json.dumps(changed, default=str)),
        "seed": params.get("seed"),
        "seeds": params.get("seeds"),
        "machine": machine(),
        "precision": precisions(params),
        "versions": versions(),
        "commit": commit(),
    }


def precisions(params: Mapping[str, Any]) -> dict[str, str]:
    """The arithmetic the profile's training and generation resolve to on this machine ('fp32' or 'bf16'; keys
    ``precision`` and ``generate_precision``, :func:`s2mlib.gan.precision.resolve_precision`), and what computes the
    generator's cubes (key ``generate_runtime``, :func:`s2mlib.gan.runtime.resolve_runtime`)."""
    from ..gan.model import resolve_device
    from ..gan.precision import resolve_precision
    from ..gan.runtime import resolve_runtime

    device = resolve_device(params.get("device", "auto"))
    generation = resolve_precision(params.get("generate_precision", "auto"), device, warn=False)
    return {
        "training": resolve_precision(params.get("precision", "fp32"), device, warn=False),
        "generation": generation,
        "generation_runtime": resolve_runtime(params.get("generate_runtime", "auto"), device, generation),
    }


def run_id(record: Mapping[str, Any]) -> str:
    """A short stable name for a provenance record (the first 10 hex digits of its JSON's SHA-1).

    >>> run_id({"profile": "default"})
    '31f01012c7'
    """
    return hashlib.sha1(json.dumps(record, sort_keys=True).encode()).hexdigest()[:10]


def describe(record: Mapping[str, Any]) -> str:
    """One line for a notebook's output: machine, versions, commit, overrides and seeds."""
    m, v = record["machine"], record["versions"]
    gpu = f", GPU {m['gpu']}" if m.get("gpu") else ""
    libs = ", ".join(f"{name} {version}" for name, version in v.items() if version)
    overrides = ", ".join(f"{k}={val}" for k, val in record["overrides"].items()) or "none"
    arithmetic = ", ".join(f"{k} {val}" for k, val in record.get("precision", {}).items()) or "?"
    return (
        f"machine: {m['cpu']} ({m.get('cpu_capability', '?')}), {m['cores']} cores, {m['torch_threads']} torch "
        f"threads{gpu}; precision: {arithmetic}; {libs}; "
        f"commit {record['commit']}; overrides: {overrides}; seed {record['seed']}, seeds {record['seeds']}"
    )
