"""Sample maps as good as EMDB's maps at a resolution: the mean Q-score a map at R has, by percentile, and the
sharpness that gives a sample map that Q.

**EMDB's statistics** (:func:`emdb_q`, :func:`emdb_percentile`): the mean Q-score (Pintilie et al. 2020, Nat. Methods
17, 328) of 10,188 EMDB entries with a fitted model against their reported resolution (1.15-10 A), from the per-entry
table the Q-score authors published with mapq (gregdp/mapq, ``data/emdb_scores_q_fsc_cc_2c - Q.csv.zip``, commit
a887b43; the population behind EMDB's Q_relative_resolution, Pintilie et al. 2025, Acta Cryst. D 81, 410-422). Those
Q-scores are EMDB's, with a reference Gaussian of sigma 0.4 A (:data:`QSCORE_SIGMA`; mapq's default 0.6 A gives
values about 0.1 higher). ``tools/emdb_q_statistics.py`` turns the table into ``tables/emdb_q_percentiles.csv``: for R
every 0.25 A from 1.5 to 10 A, the 5th, 10th, ..., 95th percentiles of Q among the entries within 0.25 A of R (the
window widened until it holds 100 entries; its half-width and count are in the file). Between grid points and
percentiles the table is interpolated linearly; R outside 1.5-10 A takes the nearest end (with a warning).

**A sample at a quality** (:func:`quality_sample`): the expected map E of a model at resolution R, optionally blurred
locally by the model's B-factors (:func:`s2mlib.sim.noise.local_blur` with B(x) = ``blur`` max(0, B_local(x) -
B_median), :func:`s2mlib.sim.noise.local_b_factors`), then given an overall B-factor envelope exp(-B k^2 / 4)
(:class:`s2mlib.sim.noise.BFactorFilter`), then noise (:func:`s2mlib.sim.noise.sample_maps`; its power that of the
locally blurred map, :func:`s2mlib.sim.noise.noise_power`, times the same envelope exp(-B k^2 / 2) coefficient by
coefficient, so the SNR per coefficient, and the half maps' FSC crossing 0.143 at 1/R, is what it is without the
envelope; noise weighted by ``(B(x) / B_median)^exponent``, :func:`s2mlib.sim.noise.mobility_weight`). B >= 0 is
solved so that the sample's mean Q (sigma 0.4, the same seed at every try) equals the EMDB percentile ``quality`` at
R: the sharpness follows R and the quality asked for, whatever the model's B-factor scale makes the expected map's
own sharpness. The envelope only blurs: where the sample is already below the target at B = 0 (a model with high
B-factors gives a soft expected map; sharpening amplifies the network's noise beyond use), B = 0 and the sample's Q
is what it is (``SampleMaps.sample_q`` < ``target_q``). The solve: B = 4 R^2, doubled until the sample's Q falls to the
target (at most :data:`MAX_B`, or ``envelope_limit`` R^2), then Illinois regula falsi to within :data:`Q_TOLERANCE`;
where the target is never reached (at coarse R the noise dominates and Q hardly falls with B), the least B whose Q is
as low as any tried. Mean Q is measured on at most :data:`MAX_Q_ATOMS` heavy atoms (an even spread over the model)
for big models.

Mean Q and resolution pull apart beyond about 4 A: EMDB's maps at 5 A and coarser have a low mean Q for reasons an
envelope does not copy (a model fitted less well), so a sample brought to their median Q there by blurring alone is
blurred well past R (matched resolution, README "Sample maps").

Example:
    >>> round(emdb_q(3.0), 3), round(emdb_q(3.0, 10), 3), round(emdb_q(3.0, 90), 3)
    (0.508, 0.399, 0.573)
    >>> round(emdb_percentile(0.508, 3.0))
    50
"""

from __future__ import annotations

import dataclasses
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.atoms import Structure
from ..io.density import DensityMap
from ..metrics.qscore import HYDROGENS, QscoreSampler
from .noise import (
    B_EXPONENT,
    BFactorFilter,
    SampleMaps,
    checked_seed,
    local_b_factors,
    local_blur,
    mobility_weight,
    noise_power,
    require_sample_memory,
    sample_maps,
)

TABLE = Path(__file__).parents[1] / "tables" / "emdb_q_percentiles.csv"
QSCORE_SIGMA = 0.4  # A: EMDB's Q-scores (and so its percentiles) use a reference Gaussian of sigma 0.4 A
DEFAULT_QUALITY = 50.0  # percentile of EMDB's maps at R: a typical map
BLUR_SCALE = 4.0  # local blur B(x) = scale max(0, B_local - B_median); chosen on train + val (README)
# Peak bytes per voxel of quality_sample (the local blur's levels, the weight, the samples tried while B is solved):
# 212-232 measured with tracemalloc on 0.1-1.0 million voxel grids of four training entries (5925, 2566, 8410, 6555)
QUALITY_BYTES_PER_VOXEL = 240
MAX_Q_ATOMS = 20000  # heavy atoms whose Q measures a big model's mean Q while B is solved
ENVELOPE_LIMIT = np.inf  # the envelope's B is at most this times R^2 (A^2)
MAX_B = 2000.0  # A^2: and at most this
Q_TOLERANCE = 0.002  # the solved B gives a mean Q within this of the target (or the bracket is under 0.5 A^2)
MAX_TRIES = 12  # regula falsi steps after the bracket


@cache
def percentile_table() -> pd.DataFrame:
    """``tables/emdb_q_percentiles.csv``: resolution, half_width, entries, p5 ... p95 (module docstring)."""
    return pd.read_csv(TABLE)


def _percentiles() -> tuple[np.ndarray, list[str]]:
    columns = [c for c in percentile_table().columns if c.startswith("p")]
    return np.array([float(c[1:]) for c in columns]), columns


def _row_at(resolution: float) -> np.ndarray:
    """The percentiles of Q at ``resolution``, interpolated linearly between grid points."""
    table = percentile_table()
    grid = table["resolution"].to_numpy()
    if not (np.isfinite(resolution) and resolution > 0):
        raise InputError(f"resolution must be a positive number of Angstrom, got {resolution!r}")
    if not grid[0] <= resolution <= grid[-1]:
        warnings.warn(
            f"EMDB's Q-score statistics cover {grid[0]:g}-{grid[-1]:g} A; at {resolution:g} A the nearest end's "
            f"are used",
            stacklevel=3,
        )
    _, columns = _percentiles()
    return np.array([np.interp(resolution, grid, table[c]) for c in columns])


def emdb_q(resolution: float, quality: float = DEFAULT_QUALITY) -> float:
    """The mean Q-score (sigma 0.4) of the EMDB map at percentile ``quality`` (5-95) among maps at ``resolution`` A."""
    levels, _ = _percentiles()
    if not (np.isfinite(quality) and levels[0] <= quality <= levels[-1]):
        raise InputError(f"quality must be a percentile from {levels[0]:g} to {levels[-1]:g}, got {quality!r}")
    return float(np.interp(quality, levels, _row_at(resolution)))


def emdb_percentile(q: float, resolution: float) -> float:
    """Where a mean Q-score (sigma 0.4) lies among EMDB's maps at ``resolution`` A: its percentile (as EMDB's
    Q_relative_resolution), clipped to the table's 5-95."""
    levels, _ = _percentiles()
    return float(np.interp(q, _row_at(resolution), levels))


def local_b_map(grid: DensityMap, structure: Structure, b_factors: np.ndarray, scale: float) -> np.ndarray | None:
    """The local blur's B(x) = ``scale`` max(0, B_local(x) - B_median) on ``grid``
    (:func:`s2mlib.sim.noise.local_b_factors`): the parts of the model more mobile than its median blurred by the
    excess, the rest left as sharp as the expected map (sharpening amplifies the network's noise beyond 1/R); None when
    the B-factors carry no information or ``scale`` is 0."""
    found = local_b_factors(grid, structure.xyz, b_factors) if scale else None
    return None if found is None else scale * np.clip(found[0] - found[1], 0.0, None)


def q_atoms(structure: Structure, limit: int = MAX_Q_ATOMS) -> np.ndarray | None:
    """Indices of the heavy atoms that measure the mean Q: all of them (None) up to ``limit``, else ``limit`` evenly
    spaced in model order."""
    heavy = np.flatnonzero(~np.isin(structure.element.astype(str), HYDROGENS))
    if len(heavy) <= limit:
        return None
    return heavy[np.linspace(0, len(heavy) - 1, limit).round().astype(np.int64)]


def quality_sample(
    expected: DensityMap,
    structure: Structure,
    resolution: float,
    seed: int | None = None,
    *,
    quality: float = DEFAULT_QUALITY,
    b_factors: str = "auto",
    blur: float = BLUR_SCALE,
    exponent: float = B_EXPONENT,
    envelope_limit: float = ENVELOPE_LIMIT,
) -> SampleMaps:
    """A sample map of ``expected`` (a map of ``structure`` at ``resolution``) whose mean Q-score is EMDB's at
    percentile ``quality`` for that resolution, with its half maps (module docstring); ``b_factors`` as
    :func:`s2mlib.sim.structures.effective_b_factors` reads them. The result carries the envelope's B, the target Q and
    the sample's Q (sigma 0.4)."""
    from .structures import effective_b_factors

    seed = checked_seed(seed)
    require_sample_memory(expected.data.shape, "quality_sample", QUALITY_BYTES_PER_VOXEL)
    target = emdb_q(resolution, quality)
    b = effective_b_factors(structure, b_factors)[0]
    offsets = local_b_map(expected, structure, b, blur)
    local = expected if offsets is None else local_blur(expected, offsets)
    weight = mobility_weight(expected, structure.xyz, b, exponent) if exponent else None
    sampler, envelope_of = QscoreSampler(structure, centres=q_atoms(structure)), BFactorFilter(local)
    power = noise_power(local, resolution)

    def draw(envelope: float) -> tuple[SampleMaps, float]:
        if envelope == 0:
            sample = sample_maps(local, resolution, seed, weight=weight, power=power)
        else:  # the noise follows the envelope coefficient by coefficient: the SNR, so the FSC, is the same
            damped = power * np.exp(-envelope * envelope_of.k2 / 2.0)
            sample = sample_maps(envelope_of(envelope), resolution, seed, weight=weight, power=damped)
        return sample, float(np.nanmean(sampler.atom_qscores(sample.full, QSCORE_SIGMA)))

    limit = min(envelope_limit * resolution**2, MAX_B)
    sample, q_low = draw(0.0)
    tried, low = [(0.0, sample, q_low)], 0.0
    high, q_high = min(max(4.0 * resolution**2, 10.0), limit), q_low
    while np.isfinite(q_low) and q_low > target + Q_TOLERANCE and low < limit:  # bracket the target from above
        sample, q_high = draw(high)
        tried.append((high, sample, q_high))
        if q_high <= target:
            break
        low, q_low, high = high, q_high, min(2.0 * high, limit)
    lowest = min(q for _, _, q in tried)  # not reached: the least B whose Q is as low as any tried (Q need not fall
    best = min(tried, key=lambda t: (t[2] > lowest + Q_TOLERANCE, t[0]))  # with B where noise dominates, as at 10 A)
    side, tries = 0, 0  # then Illinois regula falsi on f(B) = Q(B) - target over [low, high]
    while q_low > target >= q_high and high - low > 0.5 and abs(best[2] - target) > Q_TOLERANCE and tries < MAX_TRIES:
        tries += 1
        guess = low + (q_low - target) * (high - low) / (q_low - q_high)
        sample, q = draw(guess)
        best = (guess, sample, q)
        if q > target:
            low, q_low = guess, q
            q_high = target + (q_high - target) / 2 if side == -1 else q_high
            side = -1
        else:
            high, q_high = guess, q
            q_low = target + (q_low - target) / 2 if side == 1 else q_low
            side = 1
    envelope, sample, q = best
    return dataclasses.replace(sample, envelope_b=envelope, target_q=target, sample_q=q)
