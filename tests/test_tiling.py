"""Tests of s2mlib.gan.tiling: the paper's 32^3 / stride-20 cube grid and reassembly, against the paper's recipe read
literally (np.pad by 32, then slicing), on random arrays and every real map (../shared/data or tests/data)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import SHARED_DATA, pair, pair_ids

from s2mlib.gan.tiling import cube_corners, cubes, cut_cube, reassemble
from s2mlib.io.density import read_map

ALL_MAPS = [("pair", e) for e in pair_ids()] + [
    ("maps_only", p.name) for p in sorted((SHARED_DATA / "maps_only").glob("*.map.gz"))
]


def padded_block(array: np.ndarray, corner) -> np.ndarray:
    """Oracle: the paper's recipe read literally, zero-pad 32 on each side with np.pad and slice."""
    z, y, x = np.asarray(corner) + 32
    return np.pad(array, 32)[z : z + 32, y : y + 32, x : x + 32]


def test_corners_hand_case():
    corners = cube_corners((45, 30, 21))
    assert len(corners) == 3 * 2 * 2  # ceil(45/20), ceil(30/20), ceil(21/20)
    assert corners[0].tolist() == [-6, -6, -6] and corners[-1].tolist() == [34, 14, 14]
    assert sorted(set(corners[:, 0].tolist())) == [-6, 14, 34]
    with pytest.raises(ValueError, match="3D shape"):
        cube_corners((10, 10))


def test_cubes_are_slices_of_the_32_padded_map():
    rng = np.random.default_rng(0)
    a = rng.random((45, 30, 21)).astype(np.float32)
    c, corners = cubes(a)
    assert c.shape == (12, 32, 32, 32) and c.dtype == np.float32
    for cube, corner in zip(c, corners):
        np.testing.assert_array_equal(cube, padded_block(a, corner))
    # the kept centres tile the map once: each voxel is in exactly one [corner+6, corner+26) box
    count = np.zeros(a.shape, int)
    for z, y, x in corners + 6:
        count[max(z, 0) : z + 20, max(y, 0) : y + 20, max(x, 0) : x + 20] += 1
    assert (count == 1).all()


def test_cut_cube_anywhere_matches_padding():
    a = np.random.default_rng(2).random((25, 40, 9)).astype(np.float32)
    for corner in [(-32, -32, -32), (-31, 5, -20), (10, 30, 0), (24, 39, 8), (-6, -6, -6)]:
        np.testing.assert_array_equal(cut_cube(a, corner), padded_block(a, corner))
    assert not cut_cube(a, (25, 0, 0)).any() and not cut_cube(a, (0, -32, 0)).any()


def test_reassemble_uses_only_the_centre():
    a = np.random.default_rng(1).random((41, 20, 33)).astype(np.float32)
    c, corners = cubes(a)
    c[:, :6] = c[:, 26:] = c[:, :, :6] = c[:, :, 26:] = c[:, :, :, :6] = c[:, :, :, 26:] = np.nan
    out = reassemble(c[:, None], corners, a.shape)  # (N, 1, 32, 32, 32) as the network returns them
    np.testing.assert_array_equal(out, a)
    with pytest.raises(ValueError, match="not on the cube grid"):
        reassemble(c, corners + 3, a.shape)
    with pytest.raises(ValueError, match="cubes and N corners"):
        reassemble(c[:-1], corners, a.shape)


@pytest.mark.parametrize("kind,name", ALL_MAPS, ids=[n for _, n in ALL_MAPS])
def test_round_trip_every_real_map(kind, name):
    path = pair(name)["map_path"] if kind == "pair" else SHARED_DATA / "maps_only" / name
    data = read_map(path).data
    c, corners = cubes(data)
    assert len(c) == math.prod(math.ceil(n / 20) for n in data.shape)
    np.testing.assert_array_equal(reassemble(c, corners, data.shape), data)


@pytest.mark.parametrize("stride", [24, 28, 32])
def test_larger_kept_centre_round_trips_exactly(stride):
    """Inference option: a larger even centre (fewer cubes) still covers every voxel exactly once."""
    rng = np.random.default_rng(stride)
    data = rng.random((45, 61, 33)).astype(np.float32)
    corners = cube_corners(data.shape, stride)
    assert len(corners) == np.prod([-(-n // stride) for n in data.shape])
    blocks = np.stack([cut_cube(data, c) for c in corners])
    assert np.array_equal(reassemble(blocks, corners, data.shape, stride), data)
    with pytest.raises(ValueError, match="even number"):
        cube_corners(data.shape, 21)
