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

from ..errors import InputError, MapError
from ..io.atoms import Structure
from ..io.density import DensityMap


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
        raise MapError(
            f"the maps do not overlap: generated box {g_lo.round(2).tolist()}..{g_hi.round(2).tolist()}, "
            f"reference box {r_lo.round(2).tolist()}..{r_hi.round(2).tolist()} (Angstrom)"
        )


def on_grid_of(moving: DensityMap, fixed: DensityMap) -> DensityMap:
    """``moving`` on ``fixed``'s grid (trilinear, 0 outside ``moving``); itself when the grids already agree."""
    same = (
        moving.data.shape == fixed.data.shape
        and np.allclose(moving.origin, fixed.origin, atol=1e-4)
        and np.allclose(moving.voxel_size, fixed.voxel_size, rtol=1e-6)
    )
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
        raise InputError(f"mask radius must be positive, got {radius}")
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


def spatial_frequency(shape_zyx: tuple[int, ...], voxel_size) -> np.ndarray:
    """|k| (1/A) of every coefficient of ``numpy.fft.rfftn`` of a [z, y, x] array with ``voxel_size`` (x, y, z) A."""
    vz, vy, vx = np.broadcast_to(np.asarray(voxel_size, dtype=np.float64), (3,))[::-1]
    kz = np.fft.fftfreq(shape_zyx[0], vz)[:, None, None]
    ky = np.fft.fftfreq(shape_zyx[1], vy)[None, :, None]
    kx = np.fft.rfftfreq(shape_zyx[2], vx)[None, None, :]
    return np.sqrt(kz**2 + ky**2 + kx**2)


def lowpass(density: DensityMap, resolution: float, edge: float = 0.1) -> DensityMap:
    """The map low-pass filtered in Fourier space to ``resolution`` A with a raised-cosine (soft) edge.

    With k = |spatial frequency| and k_c = 1 / resolution, each Fourier coefficient is multiplied by
    w(k) = 1 for k <= (1 - edge) k_c, 0.5 (1 + cos(pi (k - (1 - edge) k_c) / (edge k_c))) up to k_c, and 0 beyond:
    nothing finer than ``resolution`` is left, and the taper over the last ``edge`` (10 %) of the band avoids the
    ringing of a hard cut (as RELION's and EMAN2's cosine-edged low-pass filters). The mean (k = 0) is kept.

    >>> import numpy as np
    >>> m = DensityMap(np.random.default_rng(0).random((16, 16, 16)).astype(np.float32))
    >>> bool(np.isclose(lowpass(m, 4.0).data.mean(), m.data.mean(), atol=1e-6))
    True
    """
    if not (np.isfinite(resolution) and resolution > 0):
        raise InputError(f"low-pass resolution must be a positive number of Angstrom, got {resolution!r}")
    if not 0 < edge <= 1:
        raise InputError(f"edge must be a fraction in (0, 1], got {edge!r}")
    k = spatial_frequency(density.data.shape, density.voxel_size)
    cut = 1.0 / resolution
    start = (1.0 - edge) * cut
    weight = np.where(k <= start, 1.0, 0.5 * (1.0 + np.cos(np.pi * np.clip((k - start) / (cut - start), 0, 1))))
    weight[k >= cut] = 0.0
    spectrum = np.fft.rfftn(density.data.astype(np.float64)) * weight
    return density.copy(np.fft.irfftn(spectrum, s=density.data.shape).astype(np.float32))
