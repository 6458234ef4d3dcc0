"""Q-score (s2mlib.metrics.qscore) against a per-atom loop written from mapq's pseudocode, and hand-made maps.

Oracle: gregdp/mapq documentation/AtomQScore_Pseudocode.py with the details of mapq/qscores.py (Qscore: 8 + 2i
points on try i, 50 tries, points kept where no heavy atom is closer than 0.9 R, all kept points of the first
try with >= 8; SpherePts), one atom and one point at a time, with mapq's reference Gaussian A exp(..) + B.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import pair
from scipy.spatial import cKDTree

from s2mlib.io.atoms import read_structure
from s2mlib.io.density import DensityMap, read_map
from s2mlib.metrics.qscore import atom_qscores, mean_qscore, residue_qscores
from s2mlib.sim.simulate import gaussian_sum

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # the Gaussian sums on one thread


def _sphere_pts(ctr, rad, n):
    """mapq SpherePts, transcribed."""
    thetas, phis = [], []
    for k in range(1, n + 1):
        h = -1.0 + (2.0 * float(k - 1) / float(n - 1))
        phis.append(math.acos(h))
        step = 3.6 / math.sqrt(n * (1.0 - h**2.0)) if 1 < k < n else 0.0
        thetas.append(0 if k == 1 or k == n else (thetas[k - 2] + step) % (2 * math.pi))
    return [
        ctr + np.array([math.sin(p) * math.cos(t), math.sin(p) * math.sin(t), math.cos(p)]) * rad
        for t, p in zip(thetas, phis)
    ]


def _qscore_loop(density, structure, atom_indices, sigma=0.6, num_pts=8):
    """One atom at a time, as mapq's pseudocode: A, B from the map (MinMaxD), points tested one by one."""
    values = density.data.astype(np.float64)
    max_d = min(values.mean() + values.std() * 10, values.max())
    min_d = max(values.mean() - values.std() * 1, values.min())
    a, b = max_d - min_d, min_d
    heavy = structure.xyz[~np.isin(structure.element.astype(str), ["H", "D"])]
    tree = cKDTree(heavy)
    result = []
    for index in atom_indices:
        ctr = structure.xyz[index]
        d_vals = [float(density.interpolate(ctr)[0])] * num_pts
        g_vals = [a + b] * num_pts
        rad = 0.1
        while rad < 2.0 + 0.01:
            out_rad = rad * 0.9
            near = heavy[tree.query_ball_point(ctr, 2.0 * rad)]  # every atom that can be within 0.9 R of a point
            pts = []
            for attempt in range(50):
                at_pts = []
                for pt in _sphere_pts(ctr, rad, num_pts + attempt * 2):
                    if not any(np.sum((pt - other) ** 2) < out_rad * out_rad for other in near):
                        at_pts.append(pt)
                if len(at_pts) >= num_pts:
                    pts = at_pts
                    break
            if pts:
                d_vals.extend(density.interpolate(np.array(pts)).astype(np.float64).tolist())
                g_vals.extend([a * math.exp(-0.5 * (rad / sigma) ** 2) + b] * len(pts))
            rad += 0.1
        result.append(np.corrcoef(d_vals, g_vals)[0, 1])
    return np.array(result)


def test_matches_per_atom_loop():
    row = pair("2513_4CI0_b")
    density = read_map(row["map_path"])
    structure = read_structure(row["model_path"])
    q = atom_qscores(density, structure)
    chosen = np.arange(0, structure.n_atoms, 20)  # 150 atoms over the whole chain, buried and exposed
    expected = _qscore_loop(density, structure, chosen)
    np.testing.assert_allclose(q[chosen], expected, atol=1e-9)
    assert np.isfinite(q).all() and 0.3 < mean_qscore(q) < 0.9


def test_hydrogens_skipped_and_not_excluding():
    row = pair("2566_3J6B")  # a model with hydrogens
    density = read_map(row["map_path"])
    structure = read_structure(row["model_path"])
    hydrogen = structure.element.astype(str) == "H"
    assert hydrogen.any()
    q = atom_qscores(density, structure)
    assert np.isnan(q[hydrogen]).all() and np.isfinite(q[~hydrogen]).all()
    without_h = read_structure(row["model_path"], remove_hydrogens=True)
    np.testing.assert_allclose(q[~hydrogen], atom_qscores(density, without_h), atol=1e-12)
    chosen = np.flatnonzero(~hydrogen)[::40]
    np.testing.assert_allclose(q[chosen], _qscore_loop(density, structure, chosen), atol=1e-9)


def _model_grid(structure, spacing=0.4, pad=4.0):
    low = structure.xyz.min(axis=0) - pad
    shape = np.ceil((structure.xyz.max(axis=0) + pad - low) / spacing).astype(int)
    return DensityMap(np.zeros(shape[::-1], np.float32), low, spacing)


def test_gaussians_at_the_atoms_give_q_near_one():
    structure = read_structure(pair("5925_3J6J")["model_path"])
    grid = _model_grid(structure)
    density = grid.copy(gaussian_sum(grid, structure.xyz, np.ones(structure.n_atoms), 0.6, 3.0))
    q = atom_qscores(density, structure)
    assert mean_qscore(q) > 0.95  # not 1: neighbours' Gaussians add a little density at 1.5-2 A
    assert q.min() > 0.9


def test_shuffled_map_gives_q_near_zero():
    row = pair("2513_4CI0_b")
    density = read_map(row["map_path"])
    structure = read_structure(row["model_path"])
    shuffled = density.copy(np.random.default_rng(0).permutation(density.data.ravel()).reshape(density.data.shape))
    q = atom_qscores(shuffled, structure)
    assert abs(mean_qscore(q)) < 0.1  # not exactly 0: Pearson of skewed (masked, positive) values is biased
    assert np.mean(np.abs(q) < 0.5) > 0.85
    assert mean_qscore(atom_qscores(density, structure)) > 0.4


def test_residue_table():
    row = pair("5925_3J6J")
    structure = read_structure(row["model_path"])
    q = atom_qscores(read_map(row["map_path"]), structure)
    table = residue_qscores(structure, q)
    assert len(table) == structure.n_residues
    assert list(table.columns) == ["chain", "residue_number", "insertion_code", "residue_name", "q", "n_atoms"]
    first = (structure.chain == table.chain[0]) & (structure.residue_number == table.residue_number[0])
    assert table.q[0] == pytest.approx(np.nanmean(q[first]))
    assert table.n_atoms.sum() == np.isfinite(q).sum()
