"""Map-versus-map scores of the paper (section 3.5): ChimeraX correlations, SSIM, PCC, plus masked variants.

All scores compare a ``generated`` map with a ``reference`` (experimental) map on the reference's grid: the
generated map is interpolated trilinearly (:meth:`DensityMap.resampled_like`) onto it, as ChimeraX does.

- ``correlation`` / ``correlation_about_mean``: ChimeraX ``measure correlation``
  (:func:`chimerax_correlation`) over the reference's points at or above its contour level.
- ``ssim`` / ``pcc``: skimage SSIM and Pearson over all voxels after the original evaluation's
  preprocessing (:func:`preprocess`).
- ``pearson_box``: plain Pearson over all voxels of the reference box, no preprocessing.
- ``masked_*`` (when a structure is given): the same inside :func:`atom_mask` (voxels within ``mask_radius``
  of an atom), so the share of a score that comes from empty background is visible.

An undefined correlation (a side with zero norm or zero variance) is NaN (ChimeraX prints 0 instead).

Example:
    >>> import numpy as np
    >>> from s2mlib.io import DensityMap
    >>> a = DensityMap(np.arange(27, dtype=np.float32).reshape(3, 3, 3))
    >>> round(pearson(a.data, 2 * a.data + 1), 6)
    1.0
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

from ..atoms import Structure
from ..io import DensityMap
from ..maps import atom_mask, minmax, on_grid_of

SSIM_PERCENTILE = 90.0


def contour_level(data: np.ndarray, fraction: float = 0.01) -> float:
    """The level with ``fraction`` of the voxels at or above it (ChimeraX's initial level encloses 1 %).

    >>> contour_level(np.arange(100.0), fraction=0.05)
    95.0
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"contour fraction must be in (0, 1], got {fraction}")
    flat = np.asarray(data, dtype=np.float64).ravel()
    n_above = max(1, int(round(fraction * flat.size)))
    return float(np.partition(flat, flat.size - n_above)[flat.size - n_above])


def _correlations(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """sum(ab) / sqrt(sum a^2 sum b^2), and the same after subtracting each side's mean (float64 sums)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    results = []
    for x, y in ((a, b), (a - a.mean(), b - b.mean())):
        norm = np.sqrt(np.dot(x, x) * np.dot(y, y))
        results.append(float(np.dot(x, y) / norm) if norm > 0 else float("nan"))
    return results[0], results[1]


def pearson(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Pearson correlation sum((a-ā)(b-b̄)) / sqrt(sum (a-ā)^2 sum (b-b̄)^2) over all (or the masked) voxels."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"arrays differ in shape: {a.shape} vs {b.shape}")
    if mask is not None:
        a, b = a[mask], b[mask]
    return _correlations(a, b)[1] if a.size else float("nan")


def chimerax_correlation(
    a: DensityMap, b: DensityMap, level: float | None = None, fraction: float = 0.01
) -> tuple[float, float]:
    """ChimeraX ``measure correlation A inMap B``: (correlation, correlation about mean).

    Uses A's grid points with a >= ``level`` (default :func:`contour_level` of A at ``fraction``, ChimeraX's
    initial 1 % level); B is interpolated trilinearly at those points (0 outside B). With u = a, v = b there:
    correlation = <u, v> / (|u| |v|); about mean: the same with u - mean(u), v - mean(v)
    (paper eqs. 8-9; ChimeraX ``map_fit.overlap_and_correlation``).
    """
    if level is None:
        level = contour_level(a.data, fraction)
    b_on_a = on_grid_of(b, a)
    above = a.data >= level
    if not above.any():
        raise ValueError(f"no grid points of the first map at or above level {level:g} (map max {a.data.max():g})")
    return _correlations(a.data[above], b_on_a.data[above])


def preprocess(data: np.ndarray, percentile: float = SSIM_PERCENTILE) -> np.ndarray:
    """The original evaluation's preprocessing: values below the ``percentile`` of the non-zero voxels -> 0,
    then min-max to [0, 1]. An all-zero or constant map comes back as zeros.

    >>> preprocess(np.array([0.0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), percentile=50).tolist()  # threshold 5.5
    [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.6, 0.7, 0.8, 0.9, 1.0]
    """
    out = np.asarray(data, dtype=np.float64).copy()
    nonzero = out[out != 0]
    if nonzero.size:
        out[out < np.percentile(nonzero, percentile)] = 0.0
    return minmax(out, dtype=np.float64)


def ssim(generated: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None, win_size: int = 7) -> float:
    """skimage ``structural_similarity`` of two equal-shape volumes, data_range = max - min of ``generated``
    (uniform ``win_size``^3 window, skimage's defaults). Pass :func:`preprocess`-ed arrays for the paper's SSIM.

    With ``mask``: the mean of skimage's local SSIM map over the masked voxels, leaving out the border of
    ``win_size // 2`` voxels that skimage also leaves out of its mean.
    """
    generated = np.asarray(generated, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if generated.shape != reference.shape:
        raise ValueError(f"volumes differ in shape: {generated.shape} vs {reference.shape}")
    if min(generated.shape) < win_size:
        raise ValueError(f"SSIM needs every side >= the {win_size}-voxel window, volume shape is {generated.shape}")
    data_range = float(generated.max() - generated.min()) or 1.0  # a constant map: any positive range
    if mask is None:
        return float(structural_similarity(generated, reference, data_range=data_range, win_size=win_size))
    _, local = structural_similarity(generated, reference, data_range=data_range, win_size=win_size, full=True)
    inner = np.zeros(mask.shape, dtype=bool)
    pad = win_size // 2
    inner[pad:-pad, pad:-pad, pad:-pad] = True
    inside = mask & inner
    return float(local[inside].mean()) if inside.any() else float("nan")


def evaluate(
    generated: DensityMap,
    reference: DensityMap,
    structure: Structure | None = None,
    *,
    mask_radius: float = 3.0,
    contour: float | None = None,
    contour_fraction: float = 0.01,
    percentile: float = SSIM_PERCENTILE,
) -> dict[str, float]:
    """All scores of ``generated`` against ``reference`` (the experimental map), on the reference's grid.

    Keys: ``ssim``, ``correlation``, ``correlation_about_mean``, ``pcc``, ``pearson_box``, ``contour_level``,
    ``n_contour_points``; with ``structure`` also ``masked_correlation``, ``masked_correlation_about_mean``
    (= plain Pearson inside the mask), ``masked_pcc`` and ``masked_ssim`` (preprocessed maps, local SSIM
    averaged inside the mask) and ``mask_voxels``. ``contour`` overrides the reference's contour level
    (default: the level enclosing ``contour_fraction`` of its voxels).
    """
    gen = on_grid_of(generated, reference)
    level = contour_level(reference.data, contour_fraction) if contour is None else float(contour)
    cor, cor_mean = chimerax_correlation(reference, gen, level=level)
    g_pre, r_pre = preprocess(gen.data, percentile), preprocess(reference.data, percentile)
    scores = {
        "ssim": ssim(g_pre, r_pre),
        "correlation": cor,
        "correlation_about_mean": cor_mean,
        "pcc": pearson(g_pre, r_pre),
        "pearson_box": pearson(gen.data, reference.data),
        "contour_level": level,
        "n_contour_points": int(np.count_nonzero(reference.data >= level)),
    }
    if structure is not None:
        mask = atom_mask(structure, reference, mask_radius)
        if not mask.any():
            raise ValueError(
                f"no voxel of the reference map lies within {mask_radius} A of the model "
                f"{getattr(structure, 'path', '')}"
            )
        m_cor, m_cor_mean = _correlations(reference.data[mask], gen.data[mask])
        scores.update(
            {
                "masked_correlation": m_cor,
                "masked_correlation_about_mean": m_cor_mean,
                "masked_pcc": pearson(g_pre, r_pre, mask),
                "masked_ssim": ssim(g_pre, r_pre, mask),
                "mask_voxels": int(mask.sum()),
            }
        )
    return scores
