"""Tests of s2mlib.maps: min-max, the atom mask against a brute-force KD-tree distance (random atoms, anisotropic
voxels, a real model), and bringing a map onto another grid."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import brute_force_mask, pair
from s2mlib.io import DensityMap, read_map, read_structure
from s2mlib.maps import atom_mask, minmax, on_grid_of


def test_minmax_hand_cases():
    np.testing.assert_array_equal(minmax(np.array([2.0, 4.0, 3.0])), np.array([0.0, 1.0, 0.5], np.float32))
    assert minmax(np.array([2.0, 4.0, 3.0])).dtype == np.float32
    assert minmax(np.array([1.0, 3.0]), dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(minmax(np.full((2, 2), 7.0)), np.zeros((2, 2)))


@pytest.mark.parametrize("voxel", [1.0, (0.7, 1.3, 1.1)])
def test_atom_mask_matches_brute_force(voxel):
    rng = np.random.default_rng(6)
    grid = DensityMap(np.zeros((20, 22, 24), np.float32), origin=(-3.0, 4.0, 1.5), voxel_size=voxel)
    lo, hi = grid.bounds()
    xyz = rng.uniform(lo - 4, hi + 4, size=(60, 3))  # some atoms outside the box, some beside its faces
    for radius in (1.0, 3.0, 4.5):
        np.testing.assert_array_equal(atom_mask(xyz, grid, radius), brute_force_mask(xyz, grid, radius))


def test_atom_mask_on_a_real_model():
    row = pair("5925_3J6J")
    density, model = read_map(row["map_path"]), read_structure(row["model_path"])
    np.testing.assert_array_equal(atom_mask(model, density, 3.0), brute_force_mask(model.xyz, density, 3.0))


def test_atom_mask_radius_must_be_positive():
    with pytest.raises(ValueError, match="mask radius"):
        atom_mask(np.zeros((1, 3)), DensityMap(np.zeros((4, 4, 4))), 0.0)


def test_on_grid_of_keeps_a_map_already_there_and_resamples_otherwise():
    ref = DensityMap(np.random.default_rng(0).random((6, 7, 8)).astype(np.float32), origin=(1.0, 2.0, 3.0))
    assert on_grid_of(ref.copy(), ref).data is not ref.data and on_grid_of(ref, ref) is ref
    shifted = DensityMap(ref.data, origin=ref.origin + (1.0, 0.0, 0.0))
    moved = on_grid_of(shifted, ref)
    np.testing.assert_allclose(moved.data[:, :, 1:], ref.data[:, :, :-1])  # one voxel along x
    assert not moved.data[:, :, 0].any()
    with pytest.raises(ValueError, match="do not overlap"):
        on_grid_of(DensityMap(ref.data, origin=(900.0, 0.0, 0.0)), ref)

