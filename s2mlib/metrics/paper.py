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

Memory: :func:`evaluate` works through the volumes in slabs of :data:`SLAB` z-sections (SSIM with its window's halo,
the preprocessing as a per-voxel rule, Pearson sums in float64), so that beyond the two maps it needs about one
float64 copy of one map (the percentile) and a few slabs; two 512^3 maps score in under 4 GB
(``benchmarks/bench_evaluate_memory.py``). The scores equal the whole-volume computation (skimage on the whole
preprocessed arrays) to about 1e-12.

Example:
    >>> import numpy as np
    >>> from s2mlib.io.density import DensityMap
    >>> a = DensityMap(np.arange(27, dtype=np.float32).reshape(3, 3, 3))
    >>> round(pearson(a.data, 2 * a.data + 1), 6)
    1.0
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

from ..errors import InputError, MapError, StructureError
from ..io.atoms import Structure
from ..io.density import DensityMap
from ..sim.maps import atom_mask, minmax, on_grid_of

SSIM_PERCENTILE = 90.0
SLAB = 16  # z-sections per step of the slab-wise scores
CHUNK = 1 << 22  # values per step of the correlation sums


def contour_level(data: np.ndarray, fraction: float = 0.01) -> float:
    """The level with ``fraction`` of the voxels at or above it (ChimeraX's initial level encloses 1 %).

    >>> contour_level(np.arange(100.0), fraction=0.05)
    95.0
    """
    if not 0.0 < fraction <= 1.0:
        raise InputError(f"contour fraction must be in (0, 1], got {fraction}")
    flat = np.asarray(data).ravel()  # an order statistic: exact in the map's own type, no float64 copy
    n_above = max(1, int(round(fraction * flat.size)))
    return float(np.partition(flat, flat.size - n_above)[flat.size - n_above])


def _correlations(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """sum(ab) / sqrt(sum a^2 sum b^2), and the same after subtracting each side's mean (float64 sums, taken over
    chunks of :data:`CHUNK` values so that no whole float64 copy is made)."""
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    chunks = [slice(i, i + CHUNK) for i in range(0, a.size, CHUNK)]
    mean_a = sum(a[c].sum(dtype=np.float64) for c in chunks) / a.size if a.size else 0.0
    mean_b = sum(b[c].sum(dtype=np.float64) for c in chunks) / b.size if b.size else 0.0
    results = []
    for shift_a, shift_b in ((0.0, 0.0), (mean_a, mean_b)):
        xy = xx = yy = 0.0
        for c in chunks:
            x, y = a[c].astype(np.float64) - shift_a, b[c].astype(np.float64) - shift_b
            xy, xx, yy = xy + np.dot(x, y), xx + np.dot(x, x), yy + np.dot(y, y)
        norm = np.sqrt(xx * yy)
        results.append(float(xy / norm) if norm > 0 else float("nan"))
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


class _Rule:
    """:func:`preprocess` of one map as a per-voxel rule (values below ``threshold`` -> 0, then min-max with the
    whole map's ``lo`` and ``hi``), so that it can be applied slab by slab with the same float64 results."""

    def __init__(self, data: np.ndarray, percentile: float | None):
        self.threshold = None
        if percentile is not None:
            nonzero = data[data != 0].astype(np.float64)  # the float64 values preprocess() takes its percentile of
            if nonzero.size:
                self.threshold = np.percentile(nonzero, percentile, overwrite_input=True)
            del nonzero
        self.lo, self.hi = np.inf, -np.inf
        for z in range(0, data.shape[0], SLAB):
            part = self._thresholded(data[z : z + SLAB])
            self.lo, self.hi = min(self.lo, part.min()), max(self.hi, part.max())
        self.scale = percentile is not None

    def _thresholded(self, data: np.ndarray) -> np.ndarray:
        out = np.asarray(data, dtype=np.float64).copy()
        if self.threshold is not None:
            out[out < self.threshold] = 0.0
        return out

    def __call__(self, data: np.ndarray) -> np.ndarray:
        """The rule applied to part of the map (any shape), as float64."""
        out = self._thresholded(data)
        if not self.scale:
            return out
        return (out - self.lo) / (self.hi - self.lo) if self.hi > self.lo else np.zeros_like(out)

    @property
    def range(self) -> float:
        """max - min of the map after the rule (SSIM's data_range): 1 after min-max, 0 for a constant map."""
        if not self.scale:
            return float(self.hi - self.lo)
        return 1.0 if self.hi > self.lo else 0.0


def _pearson_slabs(a: np.ndarray, b: np.ndarray, rule_a: _Rule, rule_b: _Rule) -> float:
    """Pearson correlation of ``rule_a(a)`` and ``rule_b(b)`` over all voxels, in slabs (two passes, float64)."""
    n, sums = a.size, np.zeros(2)
    for z in range(0, a.shape[0], SLAB):
        sums += rule_a(a[z : z + SLAB]).sum(), rule_b(b[z : z + SLAB]).sum()
    mean_a, mean_b = sums / n
    sab = saa = sbb = 0.0
    for z in range(0, a.shape[0], SLAB):
        x, y = rule_a(a[z : z + SLAB]).ravel() - mean_a, rule_b(b[z : z + SLAB]).ravel() - mean_b
        sab, saa, sbb = sab + np.dot(x, y), saa + np.dot(x, x), sbb + np.dot(y, y)
    norm = np.sqrt(saa * sbb)
    return float(sab / norm) if norm > 0 else float("nan")


def _ssim_slabs(
    a: np.ndarray, b: np.ndarray, rule_a: _Rule, rule_b: _Rule, mask: np.ndarray | None, win_size: int
) -> float:
    """skimage's SSIM of ``rule_a(a)`` and ``rule_b(b)`` (data_range of the first), computed on z-slabs with the
    window's halo: the mean of the local SSIM over the voxels skimage averages (not within ``win_size // 2`` of the
    border), or over those of them inside ``mask``."""
    if a.shape != b.shape:
        raise ValueError(f"volumes differ in shape: {a.shape} vs {b.shape}")
    if min(a.shape) < win_size:
        raise MapError(f"SSIM needs every side >= the {win_size}-voxel window, volume shape is {a.shape}")
    data_range = rule_a.range or 1.0  # a constant map: any positive range
    pad = win_size // 2
    total, count = 0.0, 0
    for z0 in range(pad, a.shape[0] - pad, SLAB):
        z1 = min(z0 + SLAB, a.shape[0] - pad)
        lo, hi = z0 - pad, z1 + pad  # the halo: every scored section sees its whole window
        _, local = structural_similarity(
            rule_a(a[lo:hi]), rule_b(b[lo:hi]), data_range=data_range, win_size=win_size, full=True
        )
        part = local[pad : pad + z1 - z0, pad:-pad, pad:-pad]
        if mask is not None:
            part = part[mask[z0:z1, pad:-pad, pad:-pad]]
        total, count = total + part.sum(dtype=np.float64), count + part.size
    return float(total / count) if count else float("nan")


def ssim(generated: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None, win_size: int = 7) -> float:
    """skimage ``structural_similarity`` of two equal-shape volumes, data_range = max - min of ``generated``
    (uniform ``win_size``^3 window, skimage's defaults), computed in slabs. Pass :func:`preprocess`-ed arrays for
    the paper's SSIM.

    With ``mask``: the mean of skimage's local SSIM map over the masked voxels, leaving out the border of
    ``win_size // 2`` voxels that skimage also leaves out of its mean.
    """
    generated, reference = np.asarray(generated), np.asarray(reference)
    return _ssim_slabs(generated, reference, _Rule(generated, None), _Rule(reference, None), mask, win_size)


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
    g_pre, r_pre = _Rule(gen.data, percentile), _Rule(reference.data, percentile)  # preprocess(), slab by slab
    plain = _Rule(gen.data, None), _Rule(reference.data, None)
    scores = {
        "ssim": _ssim_slabs(gen.data, reference.data, g_pre, r_pre, None, 7),
        "correlation": cor,
        "correlation_about_mean": cor_mean,
        "pcc": _pearson_slabs(gen.data, reference.data, g_pre, r_pre),
        "pearson_box": _pearson_slabs(gen.data, reference.data, *plain),
        "contour_level": level,
        "n_contour_points": int(np.count_nonzero(reference.data >= level)),
    }
    if structure is not None:
        mask = atom_mask(structure, reference, mask_radius)
        if not mask.any():
            raise StructureError(
                f"no voxel of the reference map lies within {mask_radius} A of the model "
                f"{getattr(structure, 'path', '')}"
            )
        m_cor, m_cor_mean = _correlations(reference.data[mask], gen.data[mask])
        scores.update(
            {
                "masked_correlation": m_cor,
                "masked_correlation_about_mean": m_cor_mean,
                "masked_pcc": pearson(g_pre(gen.data[mask]), r_pre(reference.data[mask])),
                "masked_ssim": _ssim_slabs(gen.data, reference.data, g_pre, r_pre, mask, 7),
                "mask_voxels": int(mask.sum()),
            }
        )
    return scores
