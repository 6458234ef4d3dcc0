"""Test helpers shared by the test modules (``from helpers import pair``; tests/ is on sys.path as the test files'
folder): real map/model pairs of ../shared/data (never copied into the repo), the tiny real set in tests/data (four
of those pairs, models gzipped) that the core tests fall back to when ../shared is absent, and oracles. The pytest
fixtures are in conftest.py."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()
TEST_DATA = ROOT / "tests" / "data"
SHARED_MISSING = f"needs the real data of ../shared/data, not found at {SHARED_DATA}"


def _rows(folder: Path) -> list[dict]:
    with open(folder / "pairs.tsv", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for row in rows:
        row["map_path"] = folder / row["map_file"]
        row["model_path"] = folder / row["model_file"]
    return rows


def shared_pairs() -> list[dict]:
    """Rows of ../shared/data/pairs.tsv with absolute ``map_path`` and ``model_path`` added (skip when absent)."""
    if not (SHARED_DATA / "pairs.tsv").exists():
        pytest.skip(SHARED_MISSING)
    return _rows(SHARED_DATA)


def tiny_pairs() -> list[dict]:
    """Rows of tests/data/pairs.tsv (5925_3J6J, 6555_3JCI, 2566_3J6B, 20353_6PJ6), always present."""
    return _rows(TEST_DATA)


def pair_ids() -> list[str]:
    """Entry names for parametrised tests (collected before fixtures exist): the shared pairs, or the tiny set."""
    table = SHARED_DATA / "pairs.tsv"
    return [row["entry"] for row in (_rows(SHARED_DATA) if table.exists() else tiny_pairs())]


def pair(entry: str) -> dict:
    """One pair by entry name: from ../shared/data, or from the tiny in-repo set when ../shared is absent (skip
    when the entry is in neither)."""
    rows = _rows(SHARED_DATA) if (SHARED_DATA / "pairs.tsv").exists() else tiny_pairs()
    found = [row for row in rows if row["entry"] == entry]
    if not found:
        pytest.skip(
            f"{entry}: {SHARED_MISSING} (the in-repo tests/data holds only "
            f"{', '.join(r['entry'] for r in tiny_pairs())})"
        )
    return found[0]


def brute_force_mask(xyz, grid, radius: float) -> np.ndarray:
    """Oracle of the atom mask: distance from every grid point (of a DensityMap) to its nearest atom (KD-tree)."""
    nz, ny, nx = grid.data.shape
    k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    points = grid.index_to_world(np.stack([i.ravel(), j.ravel(), k.ravel()], axis=1))
    dist, _ = cKDTree(np.asarray(xyz, float)).query(points)
    return (dist <= radius).reshape(grid.data.shape)


def cpu_bf16_is_native() -> bool:
    """True when this CPU computes bf16 natively (AVX-512 BF16 or AMX); elsewhere a bf16 test would run emulated,
    about 50x slower than float32 (s2mlib.gan.precision)."""
    import torch

    from s2mlib.gan.precision import bf16_native

    return bf16_native(torch.device("cpu"))


needs_native_bf16 = pytest.mark.skipif(
    not cpu_bf16_is_native(), reason="bf16 is emulated on this CPU (no AVX-512 BF16 or AMX): about 50x slower"
)
