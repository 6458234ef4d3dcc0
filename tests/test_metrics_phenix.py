"""Phenix map-model CCs (s2mlib.metrics.phenix) against mmtbx's five_cc and hand-made cases.

Oracle: tests/data/oracles/phenix_five_cc.json, made by cctbx-base's mmtbx (tools/phenix_cc_oracle.py) on six
shared pairs with the same map and model map arrays; mmtbx computed its own mask from the model file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import pair

from s2mlib.io.atoms import read_structure
from s2mlib.io.density import DensityMap, read_map
from s2mlib.metrics.phenix import map_model_cc, phenix_mask
from s2mlib.sim.simulate import molmap

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # molmap's accumulation on one thread

ORACLE = json.loads((Path(__file__).parent / "data" / "oracles" / "phenix_five_cc.json").read_text())


@pytest.mark.parametrize("entry", sorted(ORACLE["pairs"]))
def test_five_cc_matches_mmtbx(entry):
    expected = ORACLE["pairs"][entry]
    row = pair(entry)
    density = read_map(row["map_path"])
    structure = read_structure(row["model_path"])
    assert structure.n_atoms == expected["n_atoms_iotbx"]
    model = molmap(structure, expected["resolution"], ref_map=density)
    total = np.sum(model.data, dtype=np.float64)
    if not np.isclose(total, expected["model_map_sum"], rtol=1e-6):
        pytest.fail(
            f"molmap changed since the oracle was made (sum {total} vs {expected['model_map_sum']}): "
            f"re-run the commands in tests/data/oracles/phenix_five_cc.json"
        )
    scores = map_model_cc(density, model, structure)
    assert scores["mask_voxels"] == expected["mask_voxels"]  # mmtbx's mask, voxel for voxel in count
    for key in ("cc_mask", "cc_box", "cc_volume", "cc_peaks"):
        assert scores[key] == pytest.approx(expected[key], abs=1e-6), key


def test_mask_single_atom_with_shrink():
    """One carbon on a 0.5 A grid: macromolecule within 1.775 A, contact to 2.875 A, shrunk by 0.9 A."""
    grid = DensityMap(np.zeros((24, 24, 24), np.float32), voxel_size=0.5)
    atom = np.array([[6.1, 5.9, 6.05]])
    mask = phenix_mask(atom, grid, elements=["C"])
    z, y, x = np.indices(mask.shape)
    d = np.sqrt((x * 0.5 - 6.1) ** 2 + (y * 0.5 - 5.9) ** 2 + (z * 0.5 - 6.05) ** 2)
    assert mask[d < 2.875 - 0.9].all()  # no solvent voxel within 0.9 A of these
    assert not mask[d >= 2.875].any()
    assert mask.sum() < (d < 2.875).sum()  # the shrink truncation removed the outer contact voxels
    no_shrink = phenix_mask(atom, grid, elements=["C"], shrink_truncation_radius=0.0)
    assert np.array_equal(no_shrink, d < 2.875)


def test_mask_is_periodic():
    grid = DensityMap(np.zeros((10, 10, 10), np.float32), voxel_size=1.0)
    mask = phenix_mask(np.array([[0.2, 5.0, 5.0]]), grid, elements=["O"])  # near the x = 0 face
    assert mask[5, 5, 9] and mask[5, 5, 0]  # 1.2 A through the periodic face, 0.2 A directly


def test_volume_and_peaks_selections_by_hand():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(6, 6, 6))
    c = m + rng.normal(scale=0.5, size=m.shape)
    c[c < 0] = 0.0  # ties at zero, as in a masked model map
    mask = np.zeros(m.shape, bool)
    mask[1:3, 1:4, 2:5] = True  # N = 18
    grid = DensityMap(m.astype(np.float32))
    scores = map_model_cc(grid, grid.copy(c.astype(np.float32)), np.zeros((0, 3)), mask=mask)
    m32, c32 = m.astype(np.float32).ravel(), c.astype(np.float32).ravel()
    top_c = c32 >= np.sort(c32)[::-1][18]  # mmtbx: >= the value at rank N of the descending sort
    top_m = m32 >= np.sort(m32)[::-1][18]
    assert scores["cc_volume"] == pytest.approx(np.corrcoef(m32[top_c], c32[top_c])[0, 1], abs=1e-12)
    union = top_c | top_m
    assert scores["cc_peaks"] == pytest.approx(np.corrcoef(m32[union], c32[union])[0, 1], abs=1e-12)
    assert scores["cc_mask"] == pytest.approx(np.corrcoef(m32[mask.ravel()], c32[mask.ravel()])[0, 1], abs=1e-12)
    assert scores["cc_box"] == pytest.approx(np.corrcoef(m32, c32)[0, 1], abs=1e-12)


def test_bad_input():
    grid = DensityMap(np.ones((4, 4, 4), np.float32))
    with pytest.raises(ValueError, match="one grid"):
        map_model_cc(grid, DensityMap(np.ones((4, 4, 5), np.float32)), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="one element per atom"):
        phenix_mask(np.zeros((2, 3)), grid)
