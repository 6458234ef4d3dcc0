"""Shared fixtures: the real map/model pairs of ../shared/data (never copied into the repo)."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()


def shared_pairs() -> list[dict]:
    """Rows of ../shared/data/pairs.tsv with absolute ``map_path`` and ``model_path`` added."""
    table = SHARED_DATA / "pairs.tsv"
    if not table.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    with open(table, newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    for row in rows:
        row["map_path"] = SHARED_DATA / row["map_file"]
        row["model_path"] = SHARED_DATA / row["model_file"]
    return rows


@pytest.fixture(scope="session")
def pairs() -> list[dict]:
    return shared_pairs()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


def pair_ids() -> list[str]:
    """Entry names for parametrised tests (collected before fixtures exist)."""
    table = SHARED_DATA / "pairs.tsv"
    if not table.exists():
        return []
    with open(table, newline="") as fh:
        return [row["entry"] for row in csv.DictReader(fh, delimiter="\t")]


def pair(entry: str) -> dict:
    return next(row for row in shared_pairs() if row["entry"] == entry)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small 3D convolutions run faster on one thread than on two contended ones; restored afterwards.
    Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
