"""Operations on density maps that several stages share: min-max normalisation, a mask of the voxels near a
model's atoms, and bringing one map onto another's grid.

Example:
    >>> import numpy as np
    >>> minmax(np.array([2.0, 4.0, 3.0])).tolist()
    [0.0, 1.0, 0.5]
"""
from __future__ import annotations

import itertools

import numpy as np

from .io import DensityMap, Structure


def minmax(data: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """(x - min) / (max - min), computed in float64 and returned as ``dtype``; a constant array gives zeros.

    >>> minmax(np.array([5.0, 5.0])).tolist()
    [0.0, 0.0]
    """
    data = np.asarray(data, dtype=np.float64)
    lo, hi = data.min(), data.max()
    return ((data - lo) / (hi - lo) if hi > lo else np.zeros_like(data)).astype(dtype)


def _check_overlap(generated: DensityMap, reference: DensityMap) -> None:
    g_lo, g_hi = generated.bounds()
    r_lo, r_hi = reference.bounds()
    if np.any(g_hi < r_lo) or np.any(r_hi < g_lo):
        raise ValueError(f"the maps do not overlap: generated box {g_lo.round(2).tolist()}..{g_hi.round(2).tolist()}, "
                         f"reference box {r_lo.round(2).tolist()}..{r_hi.round(2).tolist()} (Angstrom)")


def on_grid_of(moving: DensityMap, fixed: DensityMap) -> DensityMap:
    """``moving`` on ``fixed``'s grid (trilinear, 0 outside ``moving``); itself when the grids already agree."""
    same = (moving.data.shape == fixed.data.shape and np.allclose(moving.origin, fixed.origin, atol=1e-4)
            and np.allclose(moving.voxel_size, fixed.voxel_size, rtol=1e-6))
    if same:
        return moving
    _check_overlap(moving, fixed)
    return moving.resampled_like(fixed)



def atom_mask(atoms: Structure | np.ndarray, grid: DensityMap, radius: float = 3.0) -> np.ndarray:
    """Boolean array on ``grid`` (``[z, y, x]``): True at voxels within ``radius`` Angstrom of any atom.

    Exact distances over a per-atom stencil of the voxels in the atom's bounding cube (as phenix
    ``mask_atoms``); cost ~ atoms x (2 radius / voxel)^3, no whole-grid distance computation.
    """
    xyz = np.asarray(getattr(atoms, "xyz", atoms), dtype=np.float64).reshape(-1, 3)  # a Structure or (N, 3)
    if radius <= 0:
        raise ValueError(f"mask radius must be positive, got {radius}")
    frac = grid.world_to_index(xyz)  # x, y, z fractional indices
    reach = np.ceil(radius / grid.voxel_size).astype(int)
    size = np.array(grid.shape_xyz)
    near = np.all((frac > -reach - 1) & (frac < size + reach), axis=1)  # atoms whose stencil can touch the box
    frac = frac[near]
    base = np.floor(frac).astype(np.int64)
    mask = np.zeros(grid.data.shape, dtype=bool)
    oz = np.arange(-reach[2], reach[2] + 2)
    for ox, oy in itertools.product(range(-reach[0], reach[0] + 2), range(-reach[1], reach[1] + 2)):
        ix = base[:, 0] + ox
        iy = base[:, 1] + oy
        dxy2 = ((ix - frac[:, 0]) * grid.voxel_size[0]) ** 2 + ((iy - frac[:, 1]) * grid.voxel_size[1]) ** 2
        iz = base[:, 2:3] + oz  # (atoms, stencil z)
        d2 = dxy2[:, None] + ((iz - frac[:, 2:3]) * grid.voxel_size[2]) ** 2
        hit = (d2 <= radius * radius) & (iz >= 0) & (iz < size[2])
        hit &= ((ix >= 0) & (ix < size[0]) & (iy >= 0) & (iy < size[1]))[:, None]
        rows, cols = np.nonzero(hit)
        mask[iz[rows, cols], iy[rows], ix[rows]] = True
    return mask
