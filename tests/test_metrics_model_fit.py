"""field_scores and per_residue_scores (s2mlib.metrics.model_fit): the same numbers as the metric modules."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import pair

from s2mlib.io.atoms import read_structure
from s2mlib.io.density import read_map
from s2mlib.metrics.fsc import fsc_resolution, map_model_fsc
from s2mlib.metrics.model_fit import field_scores, per_residue_scores
from s2mlib.metrics.phenix import map_model_cc
from s2mlib.metrics.qscore import atom_qscores, mean_qscore
from s2mlib.metrics.smoc import residue_smoc
from s2mlib.sim.simulate import molmap

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # molmap's accumulation on one thread


@pytest.fixture(scope="module")
def pair_5925():
    row = pair("5925_3J6J")
    return read_map(row["map_path"]), read_structure(row["model_path"])


def test_field_scores(pair_5925):
    density, structure = pair_5925
    scores = field_scores(density, structure, 3.6)
    expected = map_model_cc(density, molmap(structure, 3.6, ref_map=density), structure)
    for key, value in expected.items():
        assert scores[key] == value
    assert scores["fsc_0.5_resolution"] == fsc_resolution(map_model_fsc(density, structure))
    assert scores["q_mean"] == pytest.approx(mean_qscore(atom_qscores(density, structure)))
    assert 0.4 < scores["cc_mask"] < 1 and 0.3 < scores["q_mean"] < 1 and 2.2 <= scores["fsc_0.5_resolution"] < 10


def test_per_residue_scores(pair_5925):
    density, structure = pair_5925
    table = per_residue_scores(density, structure, 3.6)
    assert list(table.columns) == ["chain", "residue_number", "insertion_code", "residue_name", "q", "smoc"]
    assert len(table) == structure.n_residues
    np.testing.assert_allclose(table.smoc, residue_smoc(density, structure, 3.6).smoc)
    assert table.q.notna().all() and table.smoc.between(-1, 1).all()
