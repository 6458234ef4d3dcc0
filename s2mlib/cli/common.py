"""What the ``s2m`` commands share: size limits of the maps they read, strict-JSON printing, output checks.

>>> _json_safe({"cc": float("nan")})["undefined"]["cc"][:9]
'zero norm'
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import math
from pathlib import Path
from typing import Any

from ..errors import InputError, S2MError
from ..io.atoms import structure_format
from ..io.density import DensityMap, read_map
from ..io.outputs import check_output

MIN_GRID = 2  # voxels per axis: trilinear resampling needs two samples along every axis
MIN_SSIM = 7  # voxels per axis of evaluate's reference: skimage SSIM's 7-voxel window (metrics.paper.ssim)
UNDEFINED = {
    "ssim": "no voxel to average over (the mask lies within SSIM's window border)",
    "default": "zero norm or zero variance: a map is constant (e.g. empty) over the voxels compared",
    "fsc_0.5_resolution": "the map-model FSC is below 0.5 from the first shell on (TEMPy reports 1000 A)",
    "q_mean": "no atom has a Q-score (no heavy atoms, or the map is constant around every atom)",
    "smoc_mean": "no residue has a SMOC",
}
# the keys of s2mlib.metrics.RESIDUE_SCORES (tested), not imported here: the metrics take 0.4 s to import
SCORES = ("q", "smoc")


class LibraryDefault:
    """An option's default read from the library, so the command line cannot disagree with it: the default of
    parameter ``name`` of ``owner`` (a function or class, as 'module.name'), imported only when the value is used
    or shown by ``-h`` (the generator imports torch).

    >>> str(LibraryDefault("s2mlib.study.curate.CurationConfig", "mask_radius"))
    '3.0'
    """

    def __init__(self, owner: str, name: str) -> None:
        self.owner, self.name = owner, name

    def resolve(self) -> Any:
        module, _, attr = self.owner.rpartition(".")
        return inspect.signature(getattr(importlib.import_module(module), attr)).parameters[self.name].default

    def __str__(self) -> str:
        return str(self.resolve())


def given(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The options among ``names`` that the command line set (those left at a :class:`LibraryDefault` are left
    out, so the library applies its own default)."""
    return {name: getattr(args, name) for name in names if not isinstance(getattr(args, name), LibraryDefault)}


def resolved(value: Any) -> Any:
    """``value``, or the library's default it stands for."""
    return value.resolve() if isinstance(value, LibraryDefault) else value


def _reason(key: str, value: float) -> str:
    """Why a score is NaN or infinite, for the ``"undefined"`` entry of strict JSON and for the table."""
    if key in UNDEFINED and key not in ("ssim", "default"):
        return UNDEFINED[key]
    if math.isinf(value):
        return "infinite"
    return UNDEFINED["ssim"] if key.endswith("ssim") else UNDEFINED["default"]


def _json_safe(record: dict) -> dict:
    """``record`` with NaN/Infinity replaced by None and the reasons under ``"undefined"`` (strict JSON); nested
    records are made safe the same way, each with its own ``"undefined"``."""
    out: dict[str, Any] = {}
    reasons: dict[str, str] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out[key] = _json_safe(value)
        elif isinstance(value, float) and not math.isfinite(value):
            out[key] = None
            reasons[key] = _reason(key, value)
        else:
            out[key] = value
    if reasons:
        out["undefined"] = reasons
    return out


def print_record(record: dict, as_json: bool, width: int = 14, digits: int | None = None) -> None:
    """``record`` as strict JSON, or as ``key: value`` lines (floats to ``digits`` decimals when given)."""
    record = _json_safe(record)
    if as_json:
        print(json.dumps(record, indent=2, allow_nan=False))
        return
    reasons = record.pop("undefined", {})
    for key, value in record.items():
        if key in reasons:
            value = f"undefined ({reasons[key]})"
        elif isinstance(value, float) and digits is not None:
            value = f"{value:.{digits}f}"
        print(f"{key:>{width}}: {value}")


def print_columns(columns: dict[str, dict], width: int = 30, cell: int = 12, digits: int = 4) -> None:
    """Records side by side, one column each (floats to ``digits`` decimals); undefined values as ``undefined``
    with their reasons listed below the table."""
    safe = {name: _json_safe(record) for name, record in columns.items()}
    reasons = {name: record.pop("undefined", {}) for name, record in safe.items()}
    print(f"{'':>{width}}  " + "  ".join(f"{name:>{cell}}" for name in safe))
    for key in dict.fromkeys(k for record in safe.values() for k in record):
        cells = []
        for name, record in safe.items():
            value = record.get(key, "")
            if key in reasons[name]:
                value = "undefined"
            elif isinstance(value, float):
                value = f"{value:.{digits}f}"
            cells.append(f"{value!s:>{cell}}")
        print(f"{key:>{width}}: " + "  ".join(cells))
    for name, why in reasons.items():
        for key, reason in why.items():
            print(f"{'':>{width}}  {key} of {name} undefined: {reason}")


def ref_map(path: Path | None) -> DensityMap | None:
    """The map of ``--ref-map`` (at least :data:`MIN_GRID` voxels per axis), or None without one."""
    return read_map(path, min_size=MIN_GRID, purpose="resampling onto its grid") if path else None


def check_resolution(resolution: float | None) -> None:
    """Refuse a ``--resolution`` that is not a positive finite number."""
    if resolution is not None and not (math.isfinite(resolution) and resolution > 0):
        raise InputError(f"--resolution must be a positive number of Angstrom, got {resolution:g}")


def check_csv_output(path: Path) -> Path:
    """Refuse a per-residue table name that is not ``.csv`` or cannot be written, before the work."""
    if not path.name.lower().endswith(".csv"):
        raise S2MError(f"{path}: not a CSV file name: the per-residue table is written as .csv")
    return check_output(path, suffixes=None)


def check_model_output(path: Path) -> Path:
    """Refuse a model name that is not PDB/mmCIF (:func:`s2mlib.io.atoms.structure_format`) or cannot be written."""
    structure_format(path)
    return check_output(path, suffixes=None)
