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

from ..io.atoms import Structure
from ..io.density import DensityMap

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


class QscoreSampler:
    """The points at which mapq samples a map around each heavy atom of ``structure`` (they depend on the model
    only; see the module docstring), so that many maps of one model are scored for the cost of an interpolation each.

    ``centres``: indices of the atoms to score (default every heavy atom); all heavy atoms still exclude points, so a
    subset's Q equals the full computation's for those atoms (a cheaper mean Q of a big model).

    >>> from s2mlib.io.atoms import read_structure
    >>> sampler = QscoreSampler(read_structure("model.pdb"))   # doctest: +SKIP
    >>> q = sampler.atom_qscores(read_map("emd.map"), sigma=0.4)   # doctest: +SKIP
    """

    def __init__(
        self,
        structure: Structure,
        *,
        centres: np.ndarray | None = None,
        num_points: int = 8,
        max_radius: float = 2.0,
        step: float = 0.1,
        max_tries: int = 50,
    ):
        heavy = np.flatnonzero(~np.isin(structure.element.astype(str), HYDROGENS))
        scored = heavy if centres is None else np.intersect1d(heavy, np.asarray(centres, dtype=np.int64))
        self.n_atoms, self.scored = structure.n_atoms, scored
        xyz, everyone = structure.xyz[scored], structure.xyz[heavy]
        neighbours = cKDTree(everyone).query_ball_point(xyz, 1.9 * max_radius + 0.01)
        position = np.searchsorted(heavy, scored)  # each scored atom's index among the heavy atoms (itself)
        centre = np.repeat(np.arange(len(xyz)), [len(n) for n in neighbours])
        other = np.concatenate([np.asarray(n, dtype=np.int64) for n in neighbours]) if len(xyz) else np.zeros(0, int)
        keep = other != position[centre]
        centre, other = centre[keep], other[keep]
        order = np.lexsort((other, centre))
        centre, other = centre[order], other[order]
        distance = np.linalg.norm(everyone[other] - xyz[centre], axis=1)

        atom_parts = [np.arange(len(xyz))]  # first the value at each atom, repeated num_points times (a weight)
        point_parts, radius_parts = [xyz], [np.zeros(len(xyz))]
        weights = [np.full(len(xyz), float(num_points))]
        for radius in mapq_radii(max_radius, step):
            near = (distance < 1.9 * radius + 1e-9) & (distance > 0.1 * radius - 1e-9)  # others never exclude
            c, o = centre[near], other[near]
            counts = np.bincount(c, minlength=len(xyz))
            offsets = np.full((len(xyz), max(1, counts.max(initial=0)), 3), 1e9)  # padding: far, never excludes
            rank = np.arange(len(c)) - np.repeat(np.cumsum(counts) - counts, counts)
            offsets[c, rank] = everyone[o] - xyz[c]
            atoms, points = _kept_points(xyz, offsets, radius, num_points, max_tries)
            atom_parts.append(atoms)
            point_parts.append(points.reshape(-1, 3))
            radius_parts.append(np.full(len(atoms), radius))
            weights.append(np.ones(len(atoms)))
        self.atom, self.points, self.radius, self.weight = (
            np.concatenate(p) for p in (atom_parts, point_parts, radius_parts, weights)
        )
        self.count = np.bincount(self.atom, weights=self.weight, minlength=len(xyz))

    def atom_qscores(self, density: DensityMap, sigma: float = 0.6) -> np.ndarray:
        """Per-atom Q-score of ``density`` (reference Gaussian ``sigma`` A); NaN for hydrogens, atoms not among
        ``centres``, and an atom whose values do not vary."""
        atom, weight, n, size = self.atom, self.weight, self.count, len(self.scored)
        value = density.interpolate(self.points).astype(np.float64) if len(self.points) else np.zeros(0)
        ref = np.exp(-0.5 * (self.radius / sigma) ** 2)
        value = value - (np.bincount(atom, weights=weight * value, minlength=size) / n)[atom]  # two-pass centring
        ref = ref - (np.bincount(atom, weights=weight * ref, minlength=size) / n)[atom]
        cov, var_v, var_r = (
            np.bincount(atom, weights=weight * a * b, minlength=size)
            for a, b in ((value, ref), (value, value), (ref, ref))
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            q_scored = cov / np.sqrt(var_v * var_r)
        q = np.full(self.n_atoms, np.nan)
        q[self.scored] = q_scored
        return q


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
    values do not vary. Many maps of one model: :class:`QscoreSampler`.

    >>> from s2mlib.io.atoms import read_structure
    >>> from s2mlib.io.density import read_map
    >>> q = atom_qscores(read_map("emd.map"), read_structure("model.pdb"))   # doctest: +SKIP
    """
    sampler = QscoreSampler(structure, num_points=num_points, max_radius=max_radius, step=step, max_tries=max_tries)
    return sampler.atom_qscores(density, sigma)


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
