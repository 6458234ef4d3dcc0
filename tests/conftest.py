"""Shared fixtures: the real pairs of ../shared/data (skipped when absent) and one torch thread. Shared helpers
(pair, tiny_pairs, the data folders, oracles) are in helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import SHARED_DATA, SHARED_MISSING, shared_pairs


@pytest.fixture(scope="session")
def pairs() -> list[dict]:
    return shared_pairs()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(SHARED_MISSING)
    return SHARED_DATA


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small 3D convolutions run faster on one thread than on two contended ones; restored afterwards.
    Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session", autouse=True)
def cache_in_a_temporary_folder(tmp_path_factory):
    """Every test's cache (downloads, OpenVINO's converted generators) in a folder of this session, never the
    user's ~/.cache/struc2map; a test that sets S2M_CACHE itself wins (monkeypatch)."""
    import os

    saved = os.environ.get("S2M_CACHE")
    os.environ["S2M_CACHE"] = str(tmp_path_factory.mktemp("s2m_cache"))
    yield
    if saved is None:
        os.environ.pop("S2M_CACHE", None)
    else:
        os.environ["S2M_CACHE"] = saved
