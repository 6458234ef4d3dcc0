"""Q-score (Pintilie et al. 2020, Nat. Methods 17:328) per atom, per residue and over the model, as mapq computes it.

Source: gregdp/mapq ``mapq/qscores.py`` (``Qscore``, ``SpherePts``, called by ``CalcQ`` with numPts 8, toRAD 2.0,
dRAD 0.1, sigma 0.6) and ``documentation/AtomQScore_Pseudocode.py``. For each heavy atom a:

- the map value at a, repeated ``num_points`` (8) times, paired with the reference value at r = 0;
- for R = 0.1, 0.2, ... 2.0 A (mapq adds 0.1 while R < 2.01): on try i = 0, 1, ... 49, the 8 + 2i points of
  mapq's spiral on the sphere of radius R around a (:func:`sphere_points`) are kept where no heavy atom lies
  closer than 0.9 R; the first try that keeps at least 8 points adds all its kept points (map values by trilinear
  interpolation, 0 outside the box) paired with the reference value at R; a radius whose 50 tries never keep 8
  points adds nothing;
- Q = Pearson correlation (about the mean) of all those map values with the reference Gaussian
  A exp(-R^2 / (2 sigma^2)) + B, sigma = 0.6 A. mapq sets A, B from the map's mean and SD; they do not change
  a Pearson correlation (A > 0), so the reference here is exp(-R^2 / (2 sigma^2)).

Hydrogens (elements H, D) get no Q and are not among the atoms that exclude points (mapq's tree holds non-H
atoms). Vectorised: per radius and try, all atoms still short of points are tested at once against their
neighbours within 1.9 R (a KD-tree; one matrix product per try), and all points are sampled in one batch.

Example:
    >>> sphere_points(4).round(3).tolist()[0]
    [0.0, 0.0, -1.0]
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from ..atoms import Structure
from ..io import DensityMap

HYDROGENS = ("H", "D")


@cache
def sphere_points(n: int) -> np.ndarray:
    """mapq ``SpherePts``: n unit vectors on a spiral (h_k = -1 + 2 (k-1)/(n-1), phi = acos h, theta steps of
    3.6 / sqrt(n (1 - h^2)) mod 2 pi, 0 at both poles), as an (n, 3) array (read-only, cached)."""
    thetas: list[float] = []
    phis: list[float] = []
    for k in range(1, n + 1):
        h = -1.0 + (2.0 * float(k - 1) / float(n - 1))
        phis.append(math.acos(h))
        step = 3.6 / math.sqrt(n * (1.0 - h**2.0)) if 1 < k < n else 0.0
        thetas.append(0 if k == 1 or k == n else (thetas[k - 2] + step) % (2 * math.pi))
    out = np.array([[math.sin(p) * math.cos(t), math.sin(p) * math.sin(t), math.cos(p)] for t, p in zip(thetas, phis)])
    out.flags.writeable = False
    return out


def mapq_radii(max_radius: float = 2.0, step: float = 0.1) -> list[float]:
    """The radii mapq visits: R = step, then R += step while R < max_radius + 0.01 (float accumulation kept)."""
    radii, radius = [], step
    while radius < max_radius + 0.01:
        radii.append(radius)
        radius += step
    return radii


def _kept_points(
    centres: np.ndarray, offsets: np.ndarray, radius: float, num_points: int, max_tries: int
) -> tuple[np.ndarray, np.ndarray]:
    """For one radius: (atom index, point) of every point kept by each atom's first successful try.

    ``offsets`` (atoms, K, 3): neighbour minus atom. |c + R u - b| < 0.9 R  <=>  u . v > (0.19 R^2 + |v|^2) / 2R
    with v = b - c, so each try is one matrix product of the try's unit vectors with all offsets.
    """
    limits = (0.19 * radius**2 + (offsets**2).sum(axis=2)) / (2 * radius)  # (atoms, K)
    atoms_out, points_out = [], []
    pending = np.arange(len(centres))
    for attempt in range(max_tries):
        if not len(pending):
            break
        unit = sphere_points(num_points + 2 * attempt)
        chunk = max(1, (1 << 21) // (len(unit) * offsets.shape[1]))
        kept = np.empty((len(pending), len(unit)), dtype=bool)
        for start in range(0, len(pending), chunk):
            sel = pending[start : start + chunk]
            dots = (offsets[sel].reshape(-1, 3) @ unit.T).reshape(len(sel), offsets.shape[1], len(unit))
            kept[start : start + chunk] = ~(dots > limits[sel, :, None]).any(axis=1)
        done = kept.sum(axis=1) >= num_points
        rows, cols = np.nonzero(kept[done])
        atoms_out.append(pending[done][rows])
        points_out.append(centres[pending[done][rows]] + unit[cols] * radius)
        pending = pending[~done]
    if not atoms_out:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 3))
    return np.concatenate(atoms_out), np.concatenate(points_out)


def atom_qscores(
    density: DensityMap,
    structure: Structure,
    *,
    sigma: float = 0.6,
    num_points: int = 8,
    max_radius: float = 2.0,
    step: float = 0.1,
    max_tries: int = 50,
) -> np.ndarray:
    """Per-atom Q-score (mapq ``Qscore``; see the module docstring); NaN for hydrogens, and for an atom whose
    values do not vary.

    >>> from s2mlib.atoms import read_structure
    >>> from s2mlib.io import read_map
    >>> q = atom_qscores(read_map("emd.map"), read_structure("model.pdb"))   # doctest: +SKIP
    """
    heavy = ~np.isin(structure.element.astype(str), HYDROGENS)
    xyz = structure.xyz[heavy]
    tree = cKDTree(xyz)
    pairs = tree.query_pairs(1.9 * max_radius + 0.01, output_type="ndarray")
    pairs = np.concatenate([pairs, pairs[:, ::-1]])
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
    distance = np.linalg.norm(xyz[pairs[:, 0]] - xyz[pairs[:, 1]], axis=1)

    atom_parts = [np.arange(len(xyz))]  # first the value at each atom, repeated num_points times (a weight)
    value_parts = [density.interpolate(xyz).astype(np.float64)]
    ref_parts = [np.ones(len(xyz))]
    weights = [np.full(len(xyz), float(num_points))]
    for radius in mapq_radii(max_radius, step):
        near = pairs[(distance < 1.9 * radius + 1e-9) & (distance > 0.1 * radius - 1e-9)]  # others never exclude
        counts = np.bincount(near[:, 0], minlength=len(xyz))
        offsets = np.full((len(xyz), max(1, counts.max(initial=0)), 3), 1e9)  # padding: far, never excludes
        rank = np.arange(len(near)) - np.repeat(np.cumsum(counts) - counts, counts)
        offsets[near[:, 0], rank] = xyz[near[:, 1]] - xyz[near[:, 0]]
        atoms, points = _kept_points(xyz, offsets, radius, num_points, max_tries)
        atom_parts.append(atoms)
        value_parts.append(density.interpolate(points).astype(np.float64) if len(points) else np.zeros(0))
        ref_parts.append(np.full(len(atoms), math.exp(-0.5 * (radius / sigma) ** 2)))
        weights.append(np.ones(len(atoms)))
    atom, value, ref, weight = (np.concatenate(p) for p in (atom_parts, value_parts, ref_parts, weights))
    n = np.bincount(atom, weights=weight, minlength=len(xyz))
    value = value - (np.bincount(atom, weights=weight * value, minlength=len(xyz)) / n)[atom]  # two-pass centring
    ref = ref - (np.bincount(atom, weights=weight * ref, minlength=len(xyz)) / n)[atom]
    cov, var_v, var_r = (
        np.bincount(atom, weights=weight * a * b, minlength=len(xyz))
        for a, b in ((value, ref), (value, value), (ref, ref))
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        q_heavy = cov / np.sqrt(var_v * var_r)
    q = np.full(structure.n_atoms, np.nan)
    q[heavy] = q_heavy
    return q


def residue_ids(structure: Structure) -> pd.DataFrame:
    """Per atom: chain, residue_number, insertion_code, residue_name (insertion codes from the gemmi model)."""
    codes = [res.seqid.icode.strip() for ch in structure.gemmi_structure[0] for res in ch for _ in res]
    if len(codes) != structure.n_atoms:  # a Structure not built from its gemmi model: no insertion codes
        codes = [""] * structure.n_atoms
    return pd.DataFrame(
        {
            "chain": structure.chain.astype(str),
            "residue_number": structure.residue_number,
            "insertion_code": codes,
            "residue_name": structure.residue_name.astype(str),
        }
    )


def residue_qscores(structure: Structure, atom_q: np.ndarray) -> pd.DataFrame:
    """Mean Q of each residue's heavy atoms (mapq averages atoms per residue), in model order.

    Columns: chain, residue_number, insertion_code, residue_name, q, n_atoms (heavy atoms with a Q).
    """
    table = residue_ids(structure).assign(q=np.asarray(atom_q, dtype=np.float64))
    keys = ["chain", "residue_number", "insertion_code", "residue_name"]
    grouped = table.groupby(keys, sort=False)
    return grouped["q"].agg(q="mean", n_atoms="count").reset_index()


def mean_qscore(atom_q: np.ndarray) -> float:
    """The model's Q-score: the mean over atoms with a Q (mapq ``CalcQScores`` returns sum / N over atoms)."""
    values = np.asarray(atom_q, dtype=np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
