"""SMOC per residue (s2mlib.metrics.smoc) against TEMPy 2.1.2's ScoringFunctions.SMOC called here.

TEMPy reads the model with its own parser (PDBParser, keeping HETATM and waters as read_structure does) and
builds its own model map (sim_map=None), or is given ours; both are compared residue by residue.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import pair

from s2mlib.io.atoms import read_structure
from s2mlib.io.density import DensityMap, read_map
from s2mlib.metrics.smoc import residue_smoc
from s2mlib.sim.simulate import blurrer


def _tempy(density: DensityMap, path, resolution: float, model_map: DensityMap | None = None) -> dict:
    from TEMPy.maps.em_map import Map
    from TEMPy.protein.scoring_functions import ScoringFunctions
    from TEMPy.protein.structure_parser import PDBParser

    def as_tempy(grid: DensityMap):
        return Map(grid.data.astype(np.float64), grid.origin.copy(), grid.voxel_size.copy(), "test")

    structure = PDBParser.read_PDB_file("test", str(path), hetatm=True, water=True)
    sim = None if model_map is None else as_tempy(model_map)
    scores, _, _ = ScoringFunctions().SMOC(as_tempy(density), resolution, structure, sim_map=sim)
    return scores


@pytest.mark.parametrize("entry", ["5925_3J6J", "6272_3J9S", "2566_3J6B"])  # plain; HETATM; hydrogens
def test_matches_tempy(entry):
    row = pair(entry)
    density = read_map(row["map_path"])
    structure = read_structure(row["model_path"])
    resolution = float(row["resolution_A"].rstrip("?"))
    table = residue_smoc(density, structure, resolution)
    expected = _tempy(density, row["model_path"], resolution)  # TEMPy's own model map (float64)
    assert sum(len(v) for v in expected.values()) == len(table)
    reference = np.array([expected[c][r] for c, r in zip(table.chain, table.residue_number)])
    np.testing.assert_allclose(table.smoc, reference, atol=1e-6)  # our model map passes through float32
    assert 0.3 < table.smoc.mean() < 1.0


def test_matches_tempy_with_one_model_map():
    row = pair("2513_4CI0_b")
    density = read_map(row["map_path"])
    structure = read_structure(row["model_path"])
    model = blurrer(structure, 3.36, ref_map=density, sigma_coeff=0.225)
    table = residue_smoc(density, structure, 3.36, model_map=model)
    expected = _tempy(density, row["model_path"], 3.36, model_map=model)
    np.testing.assert_allclose(table.smoc, [expected["A"][r] for r in table.residue_number], atol=1e-12)
    assert list(table.columns) == ["chain", "residue_number", "residue_name", "smoc"]


def test_hand_made_maps():
    row = pair("5925_3J6J")
    density = read_map(row["map_path"])
    structure = read_structure(row["model_path"])
    model = blurrer(structure, 3.6, ref_map=density, sigma_coeff=0.225)
    same = residue_smoc(model.copy(2.0 * model.data), structure, 3.6, model_map=model)
    np.testing.assert_allclose(same.smoc, 1.0, atol=1e-6)  # a scaled copy overlaps completely
    empty = residue_smoc(density, structure, 3.6, model_map=model.copy(np.zeros_like(model.data)))
    assert (empty.smoc == 0).all()  # MOC undefined everywhere: TEMPy's fallback gives 0
