"""Tests of s2mlib.sim.simulate against brute-force sums, hand-computed grids and the real BioTEMPy / gemmi peers.

Structures are real models from ../shared/data (a few residues cut out with gemmi into tmp_path) or single
atoms written by the tests.
"""

from __future__ import annotations

import dataclasses
import math

import gemmi
import numpy as np
import pytest
from helpers import pair

from s2mlib.errors import StructureError
from s2mlib.io.atoms import read_structure
from s2mlib.io.density import DensityMap, read_map
from s2mlib.sim.simulate import (
    METHODS,
    blurrer,
    bounding_grid,
    e2pdb2mrc,
    gaussian_sum,
    gemmi_density,
    molmap,
    simulate,
)


def _few_residues(tmp_path, entry: str, n_residues: int | None = None):
    """The model of a shared pair, optionally cut to the first ``n_residues`` of its first chain."""
    path = pair(entry)["model_path"]
    if n_residues is None:
        return read_structure(path)
    st = gemmi.read_structure(str(path))
    model = st[0]
    for i in range(len(model) - 1, 0, -1):
        del model[i]
    chain = model[0]
    for i in range(len(chain) - 1, n_residues - 1, -1):
        del chain[i]
    out = tmp_path / f"{entry}_{n_residues}res.pdb"
    st.write_pdb(str(out))
    return read_structure(out)


def _atoms(tmp_path, atoms):
    """A structure of single atoms [(element, x, y, z), ...] written as a PDB file and read back."""
    st = gemmi.Structure()
    model, chain = gemmi.Model("1"), gemmi.Chain("A")
    for i, (element, x, y, z) in enumerate(atoms):
        residue = gemmi.Residue()
        residue.name, residue.seqid = "UNL", gemmi.SeqId(i + 1, " ")
        atom = gemmi.Atom()
        atom.name, atom.element, atom.pos, atom.occ, atom.b_iso = (
            element,
            gemmi.Element(element),
            gemmi.Position(x, y, z),
            1.0,
            0.0,
        )
        residue.add_atom(atom)
        chain.add_residue(residue)
    model.add_chain(chain)
    st.add_model(model)
    out = tmp_path / "atoms.pdb"
    st.write_pdb(str(out))
    return read_structure(out)


def _brute_force(grid: DensityMap, xyz, weight, sigma: float, cutoff: float) -> np.ndarray:
    """Per-voxel float64 sum of weight * exp(-r^2 / (2 sigma^2)) over atoms whose cutoff cube holds the voxel."""
    axes = [grid.origin[a] + np.arange(n) * grid.voxel_size[a] for a, n in enumerate(grid.shape_xyz)]
    total = np.zeros(grid.data.shape)
    for (x, y, z), w in zip(xyz, weight):
        dx, dy, dz = axes[0] - x, axes[1] - y, axes[2] - z
        inside = (
            (np.abs(dz) <= cutoff)[:, None, None]
            & (np.abs(dy) <= cutoff)[None, :, None]
            & (np.abs(dx) <= cutoff)[None, None, :]
        )
        r2 = dz[:, None, None] ** 2 + dy[None, :, None] ** 2 + dx[None, None, :] ** 2
        total += np.where(inside, w * np.exp(-r2 / (2 * sigma**2)), 0.0)
    return total


def _assert_matches(result: np.ndarray, oracle: np.ndarray) -> None:
    covered = oracle > 0
    assert covered.any() and (~covered).any()
    rel = np.abs(result[covered] - oracle[covered]) / oracle[covered]
    assert rel.max() < 1e-4
    assert np.all(result[~covered] == 0)  # nothing beyond the cutoff cube


def _molmap_weights(structure, resolution):
    sigma = resolution / (math.pi * math.sqrt(2))
    return structure.atomic_number * (2 * math.pi) ** -1.5 * sigma**-3, sigma


@pytest.fixture(scope="module")
def map_5925():
    return read_map(pair("5925_3J6J")["map_path"])


# ------------------------------------------------------------------------------------------------- molmap


def test_molmap_default_grid_matches_brute_force(tmp_path):
    st = _few_residues(tmp_path, "20353_6PJ6")  # 221 RNA atoms
    resolution = 4.0
    result = molmap(st, resolution)
    weight, sigma = _molmap_weights(st, resolution)
    _assert_matches(result.data, _brute_force(result, st.xyz, weight, sigma, 5 * sigma))


def test_molmap_on_reference_grid_matches_brute_force(tmp_path, map_5925):
    st = _few_residues(tmp_path, "5925_3J6J", 6)
    result = molmap(st, 2.0, ref_map=map_5925)
    weight, sigma = _molmap_weights(st, 2.0)
    _assert_matches(result.data, _brute_force(result, st.xyz, weight, sigma, 5 * sigma))


def test_molmap_default_grid_is_chimerax():
    xyz = np.array([[1.0, -2.0, 3.0], [11.3, 5.05, 4.0], [4.0, 0.0, -7.7]])
    grid = bounding_grid(xyz, 1.2, 9.0)
    assert np.allclose(grid.origin, [1.0 - 9, -2.0 - 9, -7.7 - 9])
    assert grid.shape_xyz == (math.ceil(28.3 / 1.2), math.ceil(25.05 / 1.2), math.ceil(29.7 / 1.2))
    assert np.allclose(grid.voxel_size, 1.2)


def test_molmap_default_grid_from_resolution(tmp_path):
    st = _few_residues(tmp_path, "20353_6PJ6")
    result = molmap(st, 3.0)
    low, high = st.xyz.min(axis=0), st.xyz.max(axis=0)
    assert np.allclose(result.origin, low - 9.0)
    assert np.allclose(result.voxel_size, 1.0)
    assert result.data.shape == tuple(math.ceil(high[a] - low[a] + 18.0) for a in (2, 1, 0))
    custom = molmap(st, 3.0, spacing=0.5, pad=2.0)
    assert np.allclose(custom.origin, low - 2.0) and np.allclose(custom.voxel_size, 0.5)


def test_molmap_total_density_is_sum_of_z():
    st = read_structure(pair("5925_3J6J")["model_path"])
    result = molmap(st, 3.0)
    total = result.data.sum(dtype=np.float64) * np.prod(result.voxel_size)
    assert total == pytest.approx(st.atomic_number.sum(), rel=0.01)


# ----------------------------------------------------------------------------------- all methods, grids

ATOM = (3.21, -7.6, 12.05)


def _skewed_grid():
    """A non-cubic grid with a different voxel size per axis around ATOM: axis mix-ups cannot pass."""
    return DensityMap(np.zeros((23, 31, 37), np.float32), origin=(-14.0, -25.0, -4.0), voxel_size=(0.9, 1.1, 1.3))


@pytest.mark.parametrize("method", ["molmap", "e2pdb2mrc", "gemmi"])
def test_single_atom_peak_sits_at_its_coordinate(tmp_path, method):
    st = _atoms(tmp_path, [("S", *ATOM)])
    ref = _skewed_grid()
    result = simulate(st, method, 4.0, ref_map=ref)
    k, j, i = np.unravel_index(np.argmax(result.data), result.data.shape)
    assert np.array_equal([i, j, k], np.rint(ref.world_to_index([ATOM])[0]))
    weights = result.data.astype(np.float64)
    points = np.stack(np.meshgrid(*[np.arange(n) for n in result.data.shape], indexing="ij"), -1)[..., ::-1]
    centroid = ref.index_to_world((weights[..., None] * points).reshape(-1, 3).sum(0) / weights.sum())
    assert np.allclose(centroid, ATOM, atol=0.01)


def test_blurrer_single_atom_peak_within_a_voxel(tmp_path):
    st = _atoms(tmp_path, [("S", *ATOM)])
    ref = _skewed_grid()
    result = blurrer(st, 4.0, ref_map=ref)
    k, j, i = np.unravel_index(np.argmax(result.data), result.data.shape)
    assert np.all(np.abs(ref.index_to_world([[i, j, k]])[0] - ATOM) <= ref.voxel_size)


@pytest.mark.parametrize("method", METHODS)
def test_reference_grid_output_is_identical_in_geometry(tmp_path, method, map_5925):
    st = _few_residues(tmp_path, "5925_3J6J", 20)
    result = simulate(st, method, 3.0, ref_map=map_5925)
    assert result.data.shape == map_5925.data.shape
    assert np.array_equal(result.origin, map_5925.origin)
    assert np.array_equal(result.voxel_size, map_5925.voxel_size)
    assert result.data.dtype == np.float32 and np.all(np.isfinite(result.data)) and result.data.std() > 0


def test_dispatcher_matches_direct_call(tmp_path, map_5925):
    st = _few_residues(tmp_path, "5925_3J6J", 10)
    assert np.array_equal(simulate(st, "molmap", 2.0, ref_map=map_5925).data, molmap(st, 2.0, ref_map=map_5925).data)
    assert np.array_equal(simulate(st, "molmap", 4.0, spacing=0.8).data, molmap(st, 4.0, spacing=0.8).data)


# ---------------------------------------------------------------------------------------------- e2pdb2mrc


def test_e2pdb2mrc_matches_brute_force_in_centred_cube(tmp_path):
    raw = _few_residues(tmp_path, "20353_6PJ6")
    st = raw.translated(-(raw.xyz.max(axis=0) + raw.xyz.min(axis=0)) / 2)
    result = e2pdb2mrc(st)  # EMAN2 defaults: apix 1.0, resolution 2.8
    nx, ny, nz = result.shape_xyz
    assert nx == ny == nz and np.allclose(result.voxel_size, 1.0)
    assert np.allclose(result.origin, -(nx // 2))  # coordinate origin on voxel box // 2
    extent = float(np.max(st.xyz.max(axis=0) - st.xyz.min(axis=0)))
    assert nx == int(1.9 * extent + 2 * 2.8)  # EMAN2's default box for a centred model
    w = 2.8 / math.pi
    oracle = _brute_force(result, st.xyz, st.atomic_number, w / math.sqrt(2), math.sqrt(math.log(1e7)) * w)
    _assert_matches(result.data, oracle)
    assert result.data.max() == pytest.approx(oracle.max(), rel=1e-4)  # unnormalised: electrons * exp(-(r/w)^2)


def test_e2pdb2mrc_box_grows_to_hold_an_off_centre_model(tmp_path):
    st = _few_residues(tmp_path, "5925_3J6J", 5)
    result = e2pdb2mrc(st, 4.0, spacing=2.0)
    low, high = result.bounds()
    assert np.all(st.xyz.min(axis=0) > low) and np.all(st.xyz.max(axis=0) < high)
    assert np.allclose(result.origin, -(result.shape_xyz[0] // 2) * 2.0)


# ------------------------------------------------------------------------------------------------ peers


def test_blurrer_correlates_with_molmap_and_is_standardised(tmp_path, map_5925):
    st = _few_residues(tmp_path, "5925_3J6J", 40)
    resolution = 4.0
    tempy = blurrer(st, resolution, ref_map=map_5925)
    same_sigma = molmap(st, 0.356 * resolution * math.pi * math.sqrt(2), ref_map=map_5925)
    assert np.corrcoef(tempy.data.ravel(), same_sigma.data.ravel())[0, 1] > 0.95
    assert abs(float(tempy.data.mean(dtype=np.float64))) < 1e-5
    assert float(tempy.data.std(dtype=np.float64)) == pytest.approx(1.0, abs=1e-4)


def test_gemmi_total_is_sum_of_scattering_factors_at_zero():
    st = read_structure(pair("5925_3J6J")["model_path"])
    result = gemmi_density(st, 4.0)
    total = result.data.sum(dtype=np.float64) * np.prod(result.voxel_size)
    expected = sum(occ * sum(gemmi.Element(el).c4322.get_coefs()[:5]) for el, occ in zip(st.element, st.occupancy))
    assert total == pytest.approx(expected, rel=0.02)


def test_gemmi_drops_far_atoms_instead_of_wrapping(tmp_path):
    ref = _skewed_grid()
    near = _atoms(tmp_path, [("S", *ATOM)])
    with pytest.warns(UserWarning, match="1 of 2 atoms"):
        both = gemmi_density(
            _atoms(tmp_path, [("S", *ATOM), ("S", ATOM[0] + 60.0, ATOM[1], ATOM[2])]), 4.0, ref_map=ref
        )
    assert np.allclose(both.data, gemmi_density(near, 4.0, ref_map=ref).data)


# -------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("resolution", [0.0, -2.0, float("nan")])
def test_bad_resolution_is_refused(tmp_path, method, resolution):
    st = _atoms(tmp_path, [("C", 0.0, 0.0, 0.0)])
    with pytest.raises(ValueError, match="resolution"):
        simulate(st, method, resolution)


@pytest.mark.parametrize("method", METHODS)
def test_empty_structure_is_refused(tmp_path, method):
    st = _atoms(tmp_path, [("C", 0.0, 0.0, 0.0)])
    empty = dataclasses.replace(st, xyz=np.zeros((0, 3)), atomic_number=np.zeros(0, np.int64))
    with pytest.raises(StructureError, match="no atoms"):
        simulate(empty, method, 3.0)


@pytest.mark.parametrize("method", METHODS)
def test_reference_map_without_the_model(tmp_path, method, map_5925):
    st = _few_residues(tmp_path, "5925_3J6J", 10)
    with pytest.raises(ValueError, match="none of the"):
        simulate(st.translated((1000.0, 0.0, 0.0)), method, 3.0, ref_map=map_5925)
    half = DensityMap(map_5925.data[:, :, : map_5925.data.shape[2] // 2], map_5925.origin, map_5925.voxel_size)
    whole = read_structure(pair("5925_3J6J")["model_path"])
    with pytest.warns(UserWarning, match="outside the reference map grid"):
        simulate(whole, method, 3.0, ref_map=half)


def test_unknown_method_and_conflicting_grid_options(tmp_path, map_5925):
    st = _atoms(tmp_path, [("C", *ATOM)])
    with pytest.raises(ValueError, match="unknown simulation method 'chimera'"):
        simulate(st, "chimera", 3.0)
    with pytest.raises(ValueError, match="cannot be combined with ref_map"):
        simulate(st, "molmap", 3.0, ref_map=_skewed_grid(), spacing=1.0)
    with pytest.raises(ValueError, match="spacing"):
        molmap(st, 3.0, spacing=0.0)
    with pytest.raises(ValueError, match="N amplitudes"):
        gaussian_sum(_skewed_grid(), st.xyz, np.ones(2), 1.0, 5.0)
