"""SMOC per residue (Joseph et al. 2016, Methods 100:42): Manders' overlap coefficient of map and model map over the
voxels near a window of residues, as TEMPy computes it (``ScoringFunctions.SMOC``, BioTEMPy 2.1.2, defaults:
``fragment_score=True``, ``win=11``, ``sigma_map=0.225``, ``sigma_thr=2.5``).

- Voxels of an atom: grid points within r = 2.5 max(0.225 resolution, 1 A) of it (``StructureBlurrer.get_indices``
  / ``mapGridPositions``), TEMPy placing grid point (i, j, k) at origin + (i + 1/2, j + 1/2, k + 1/2) voxel
  (``maptree``); an atom whose nearest grid index lies outside 0..n (inclusive) has none. A residue's voxels are
  the union over its atoms; residues are (chain, residue number) in model order, insertion codes merged (TEMPy).
- SMOC of residue i: over the union V of the voxels of residues i-5 .. i+5 of its chain (as many as exist),
  MOC = sum_V m c / sqrt(sum_V m^2 sum_V c^2), m the map, c the model map.
- TEMPy's fallbacks: when the window's voxel lists hold fewer than 10 entries, none, or MOC is undefined, the
  residue takes the previous residue's SMOC (0 for the first of a chain).

The model map defaults to TEMPy's own for SMOC: ``StructureBlurrer.gaussian_blur_real_space`` with sigma
0.225 x resolution, standardised (``s2mlib.sim.simulate.blurrer``). TEMPy 2.1.2 then tries to zero the model map's
background with ``peak_density()``, a method its ``Map`` class no longer has; the error is swallowed, so no
background is removed, and none is removed here. Not reproduced: TEMPy's reset of a residue's voxels when one of
its atoms lies outside the box (here such an atom only adds no voxels).

Example:
    >>> from s2mlib.io.atoms import read_structure
    >>> from s2mlib.io.density import read_map
    >>> table = residue_smoc(read_map("emd.map"), read_structure("model.pdb"), 3.4)   # doctest: +SKIP
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from ..io.atoms import Structure
from ..io.density import DensityMap

TEMPY_SMOC_SIGMA = 0.225


def _atom_voxels(density: DensityMap, xyz: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """(atom index, flat voxel index) of every grid point within ``radius`` of an atom, TEMPy's half-voxel grid."""
    shape_xyz = np.array(density.shape_xyz)
    nearest = np.round((xyz - density.origin) / density.voxel_size).astype(np.int64)
    inside = np.all((nearest >= 0) & (nearest <= shape_xyz), axis=1)  # TEMPy's test, with <= n
    frac = (xyz - density.origin) / density.voxel_size - 0.5  # grid point i sits at origin + (i + 0.5) voxel
    reach = np.ceil(radius / density.voxel_size).astype(int)
    offsets = np.array(list(itertools.product(*(range(-r, r + 2) for r in reach))))
    atoms = np.flatnonzero(inside)
    atom_out, voxel_out = [], []
    chunk = max(1, (1 << 22) // len(offsets))
    for start in range(0, len(atoms), chunk):
        sel = atoms[start : start + chunk]
        idx = np.floor(frac[sel]).astype(np.int64)[:, None, :] + offsets[None]  # (atoms, stencil, xyz)
        d2 = (((idx - frac[sel, None, :]) * density.voxel_size) ** 2).sum(axis=2)
        hit = (d2 <= radius * radius) & np.all((idx >= 0) & (idx < shape_xyz), axis=2)
        rows, cols = np.nonzero(hit)
        ijk = idx[rows, cols]
        atom_out.append(sel[rows])
        voxel_out.append((ijk[:, 2] * shape_xyz[1] + ijk[:, 1]) * shape_xyz[0] + ijk[:, 0])
    if not atom_out:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(atom_out), np.concatenate(voxel_out)


def residue_smoc(
    density: DensityMap,
    structure: Structure,
    resolution: float,
    *,
    model_map: DensityMap | None = None,
    window: int = 11,
    sigma_coeff: float = TEMPY_SMOC_SIGMA,
    sigma_threshold: float = 2.5,
) -> pd.DataFrame:
    """SMOC of every residue (TEMPy ``ScoringFunctions.SMOC``; see the module docstring).

    ``model_map`` (on ``density``'s grid) defaults to TEMPy's blurred, standardised model map at
    ``sigma_coeff`` x ``resolution``. Returns a table with chain, residue_number, residue_name, smoc, in model
    order (one row per chain and residue number).
    """
    if model_map is None:
        from ..sim.simulate import blurrer

        model_map = blurrer(structure, resolution, ref_map=density, sigma_coeff=sigma_coeff)
    if model_map.data.shape != density.data.shape:
        raise ValueError(f"model map shape {model_map.data.shape} differs from the map's {density.data.shape}")
    radius = sigma_threshold * max(sigma_coeff * resolution, 1.0)
    keys = pd.DataFrame({"chain": structure.chain.astype(str), "residue_number": structure.residue_number})
    residue_of_atom = keys.groupby(["chain", "residue_number"], sort=False).ngroup().to_numpy()
    table = (
        keys.assign(residue_name=structure.residue_name.astype(str))
        .drop_duplicates(["chain", "residue_number"])
        .reset_index(drop=True)
    )

    atoms, voxels = _atom_voxels(density, structure.xyz, radius)
    n_voxels = density.data.size
    pairs = np.unique(residue_of_atom[atoms] * n_voxels + voxels)  # sorted by residue, then voxel
    bounds = np.searchsorted(pairs // n_voxels, np.arange(len(table) + 1))
    per_residue = [pairs[a:b] % n_voxels for a, b in zip(bounds[:-1], bounds[1:])]
    m = density.data.ravel().astype(np.float64)
    c = model_map.data.ravel().astype(np.float64)

    half = int(round((window + 1) / 2)) - 1  # TEMPy: range(1, round((win + 1) / 2)) on each side
    scores = np.zeros(len(table))
    for chain_rows in table.groupby("chain", sort=False).indices.values():
        for position, row in enumerate(chain_rows):
            members = chain_rows[max(0, position - half) : position + half + 1]
            n_listed = sum(len(per_residue[r]) for r in members)
            value = -1.0
            if n_listed >= 10:
                v = np.unique(np.concatenate([per_residue[r] for r in members]))
                den = np.sqrt(np.dot(m[v], m[v]) * np.dot(c[v], c[v]))
                value = float(np.dot(m[v], c[v]) / den) if den > 0 else -1.0
            if value == -1.0:  # TEMPy's fallback: the previous residue's score, 0 for the first
                value = scores[chain_rows[position - 1]] if position > 0 else 0.0
            scores[row] = value
    return table.assign(smoc=scores)
