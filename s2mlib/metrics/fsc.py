"""Fourier shell correlation (FSC) between two maps, map-model FSC, and the model-map resolution that best
matches a map.

- :func:`fsc_curve`: FSC(k) = sum Re(F1 F2*) / sqrt(sum |F1|^2 sum |F2|^2) over the Fourier coefficients of shell k,
  shells one Fourier voxel wide, exactly as TEMPy ``TEMPy.math.fourier.calculate_fsc`` (BioTEMPy 2.1.2): the
  half-spectrum of ``numpy.fft.rfftn``, |q| in cycles per voxel, shell width = the x axis' Fourier voxel
  (1 / nx; for a cubic box the usual one-voxel shell), shell k = [k, k + 1) / nx, reported up to Nyquist.
- :func:`fsc_resolution`: where a curve falls below a threshold (0.5 map-model, 0.143 half-maps).
- :func:`map_model_fsc`: FSC of a map against the model's molmap at high resolution on the same grid
  (TEMPy ``ScoringFunctions.map_model_fsc``, which takes any model map as ``sim_map``).
- :func:`matched_resolution`: the molmap resolution whose map correlates best with a map near the model.

Example:
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(16, 16, 16))
    >>> curve = fsc_curve(x, 3 * x + 1)
    >>> bool(np.allclose(curve.fsc[1:], 1.0))
    True
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.optimize import minimize_scalar

from ..errors import StructureError
from ..io.atoms import Structure
from ..io.density import DensityMap
from ..sim.maps import atom_mask
from .paper import pearson


@dataclass(frozen=True)
class FSCCurve:
    """One FSC curve: per shell its lower edge ``frequency`` (1/A), ``fsc`` and ``n_coefficients``."""

    frequency: np.ndarray
    fsc: np.ndarray
    n_coefficients: np.ndarray

    @property
    def resolution(self) -> np.ndarray:
        """1 / frequency in Angstrom (infinite for the DC shell)."""
        with np.errstate(divide="ignore"):
            return 1.0 / self.frequency


def _shells(shape_zyx: tuple[int, int, int], voxel_size: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """TEMPy ``get_labelled_shells``: shell edges (cycles per x-voxel) and a label per rfftn coefficient."""
    nz, ny, nx = shape_zyx
    vx, vy, vz = voxel_size if not np.allclose(voxel_size, voxel_size[0], rtol=1e-4) else (1.0, 1.0, 1.0)
    qx = np.fft.rfftfreq(nx)
    qy = np.fft.fftfreq(ny) * (vx / vy)  # isotropic voxels (to 1e-4, MRC cell / n rounding): x 1.0 exactly
    qz = np.fft.fftfreq(nz) * (vx / vz)
    qr = np.sqrt(qz[:, None, None] ** 2 + qy[None, :, None] ** 2 + qx[None, None, :] ** 2)
    qstep = qx[1] if nx > 1 else 1.0
    nbins = int(qr.max() / qstep)
    edges = np.linspace(0, nbins * qstep, nbins + 1)
    return edges, np.searchsorted(edges, qr, "right") - 1


def fsc_curve(
    map1: DensityMap | np.ndarray, map2: DensityMap | np.ndarray, voxel_size: float | np.ndarray | None = None
) -> FSCCurve:
    """Fourier shell correlation of two maps on one grid, shells up to Nyquist (see the module docstring).

    FSC(k) = sum_k Re(F1 conj(F2)) / sqrt(sum_k |F1|^2 sum_k |F2|^2), NaN where a shell has no power in a map
    (as TEMPy). ``voxel_size`` (A) defaults to the DensityMap's, else 1.
    """
    grid = map1 if isinstance(map1, DensityMap) else map2 if isinstance(map2, DensityMap) else None
    a = np.asarray(getattr(map1, "data", map1), dtype=np.float64)
    b = np.asarray(getattr(map2, "data", map2), dtype=np.float64)
    if a.shape != b.shape or a.ndim != 3:
        raise ValueError(f"FSC needs two 3D maps of one shape, got {a.shape} and {b.shape}")
    if (
        isinstance(map1, DensityMap)
        and isinstance(map2, DensityMap)
        and not np.allclose(map1.voxel_size, map2.voxel_size)
    ):
        raise ValueError(f"the maps' voxel sizes differ: {map1.voxel_size} and {map2.voxel_size} A")
    if voxel_size is None:
        voxel_size = grid.voxel_size if grid is not None else 1.0
    voxel = np.broadcast_to(np.asarray(voxel_size, dtype=np.float64), (3,))
    edges, labels = _shells(a.shape, voxel)
    f1, f2 = np.fft.rfftn(a), np.fft.rfftn(b)
    index = np.arange(len(edges))
    num = ndimage.sum(np.real(f1 * np.conj(f2)), labels=labels, index=index)
    den = np.sqrt(
        ndimage.sum(np.abs(f1) ** 2, labels=labels, index=index)
        * ndimage.sum(np.abs(f2) ** 2, labels=labels, index=index)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        values = num / den
    keep = edges <= 0.5
    counts = np.bincount(labels.ravel(), minlength=len(edges))[: len(edges)]
    return FSCCurve(edges[keep] / voxel[0], values[keep], counts[keep])


def fsc_resolution(
    curve: FSCCurve, threshold: float = 0.5, *, first_crossing: bool = False, interpolate: bool = False
) -> float:
    """Resolution (A) where the FSC falls below ``threshold`` (TEMPy ``fourier.get_fsc_resolution``).

    A crossing is a shell with FSC < threshold after a shell with FSC > threshold (the DC shell counts as FSC 1).
    The default takes the last (highest-resolution) crossing and reports the 1/frequency of the shell before it,
    as TEMPy's ``map_model_fsc_resolution``; ``first_crossing`` stops at the first one, ``interpolate`` returns
    the linearly interpolated resolution between the two shells. 0.0 when the curve never crosses (TEMPy); inf
    when it is below from the first shell after DC on (TEMPy reports its DC placeholder, 1000 A).

    >>> fsc_resolution(FSCCurve(np.array([0.0, 0.1, 0.2, 0.3]), np.array([1.0, 0.9, 0.6, 0.2]), np.ones(4)))
    5.0
    """
    resolution = curve.resolution
    found = 0.0
    prev_res, prev_fsc = np.inf, 1.0
    for res, value in zip(resolution[1:], curve.fsc[1:]):
        if value < threshold < prev_fsc:
            if interpolate:
                found = float(np.interp(threshold, [value, prev_fsc], [res, prev_res]))
            else:
                found = float(prev_res)
            if first_crossing:
                break
        prev_res, prev_fsc = res, value
    return found


def map_model_fsc(
    density: DensityMap,
    structure: Structure | None = None,
    *,
    model_map: DensityMap | None = None,
    model_resolution: float | None = None,
) -> FSCCurve:
    """FSC of ``density`` against the model's map on the same grid (TEMPy ``map_model_fsc`` with ``sim_map``).

    The model map is ``model_map`` when given, else ChimeraX molmap of ``structure`` at ``model_resolution``
    (default 2 x the largest voxel size, i.e. Nyquist: as sharp as the grid holds) on ``density``'s grid.
    """
    if model_map is None:
        if structure is None:
            raise ValueError("map_model_fsc needs a structure or a model_map")
        from ..sim.simulate import molmap

        resolution = 2.0 * float(density.voxel_size.max()) if model_resolution is None else model_resolution
        model_map = molmap(structure, resolution, ref_map=density)
    return fsc_curve(density, model_map)


def matched_resolution(
    density: DensityMap,
    structure: Structure,
    *,
    low: float = 2.0,
    high: float = 12.0,
    mask_radius: float = 3.0,
    step: float = 2.0,
    tolerance: float = 0.05,
) -> tuple[float, float]:
    """R' = argmax_R Pearson(molmap(structure, R), density) inside ``mask_radius`` A of the model; (R', CC).

    Search: a coarse scan low, low + ``step``, ..., high (``s2mlib.sim.simulate.molmap`` on ``density``'s grid cropped
    to the mask's bounding box, which leaves the masked values unchanged), then bounded Brent refinement
    (``scipy.optimize.minimize_scalar``) within ``step`` of the best coarse value to ``tolerance`` A (default
    0.05 A, so R' is good to 0.1 A); about 14 molmaps. Assumes one maximum within ``step`` of the coarse best.
    """
    from ..sim.simulate import molmap

    mask = atom_mask(structure, density, mask_radius)
    if not mask.any():
        raise StructureError(f"no voxel of the map lies within {mask_radius} A of the model")
    lo_zyx = np.argwhere(mask).min(axis=0)
    hi_zyx = np.argwhere(mask).max(axis=0) + 1
    box = tuple(slice(a, b) for a, b in zip(lo_zyx, hi_zyx))
    crop = DensityMap(density.data[box], density.origin + lo_zyx[::-1] * density.voxel_size, density.voxel_size)
    inside = mask[box]
    values = crop.data[inside]
    cache: dict[float, float] = {}

    def negative_cc(resolution: float) -> float:
        key = round(float(resolution), 6)
        if key not in cache:
            with warnings.catch_warnings():  # atoms outside the crop only matter outside the mask
                warnings.simplefilter("ignore", UserWarning)
                sim = molmap(structure, key, ref_map=crop)
            cache[key] = -pearson(values, sim.data[inside])
        return cache[key]

    coarse = np.unique(np.append(np.arange(low, high, step), high))
    best = float(coarse[np.argmin([negative_cc(r) for r in coarse])])
    minimize_scalar(
        negative_cc,
        bounds=(max(low, best - step), min(high, best + step)),
        method="bounded",
        options={"xatol": tolerance},
    )
    # every evaluated resolution is cached, the optimiser's result among them
    r_best = min(cache, key=lambda r: cache[r])
    return r_best, -cache[r_best]
