"""Sample maps: the expected (noise-free) map plus noise that makes two half maps behave like gold-standard ones.

A generator gives the *expected* map E. A real map at resolution R is the average of two half maps whose Fourier
shell correlation (FSC) falls through 0.143 at 1/R (Rosenthal & Henderson 2003). Two independent half maps
h_i = E + n_i, with noise of power N(k) in the Fourier shell at frequency k and E's power S(k) there, have
FSC(k) = SNR(k) / (1 + SNR(k)), SNR = S / N (Frank & Al-Ali 1975; Rosenthal & Henderson 2003, eq. 4). The noise here
is Gaussian with the power per shell

    N(k) = S(k) / SNR(k),  SNR(k) = SNR_R exp(b (1 - (k R)^2))   for 0 < k <= 1/R,
    N(k) = max(N(1/R), S(k) / SNR_R)                               for k > 1/R (a white floor),

where SNR_R = 0.143 / (1 - 0.143), so that FSC(1/R) = 0.143 and the FSC stays below 0.143 beyond 1/R; the mean
(k = 0) is left as it is. The Gaussian falloff in k is the form of a signal damped by a B-factor over flat noise
(Rosenthal & Henderson 2003, eq. 7); its one constant b (:data:`SNR_FALLOFF`) was fitted to real maps
(``tools/calibrate_noise.py``, training and validation entries only): per entry, the experimental map X against the
expected map E at the reported resolution, SNR_half(k) = (C^2 / S) / (2 (P_X - C^2 / S)) per shell with
C = sum Re(X E*) and P_X = sum |X|^2, and b the count-weighted least-squares slope of log(SNR_half / SNR_R) on
1 - (kR)^2 over 0 < k <= 1/R; the median over the entries. The map a user gets is (h_1 + h_2) / 2.

Local resolution: where the model says atoms are mobile, real maps are noisier relative to their signal. The white
noise is multiplied, before it is shaped, by w(x) = (B(x) / B_median)^g scaled to a mean square of 1 over the box,
with B(x) the atoms' B-factors averaged around x (a Gaussian of sigma 2 A; far from atoms B_median, w = const), so
its spectrum, and the FSC, stay as above while its variance follows the model's mobility on scales above R. The
exponent g = 2 (:data:`B_EXPONENT`) was chosen on the training and validation entries: the correlation of the sample
map's per-residue Q-score with the experimental map's, mean over the seven entries and two seeds, is 0.356 for g = 0,
0.379 for 1, 0.388 for 2 and 0.386 for 3 (the expected map's own: 0.359; README "Sample maps"). B(x) / B_median is
capped at :data:`MAX_B_RATIO` = 4, so w is at most 16 times its value far from the atoms: one atom at B = 999.99 among
atoms at 20 gave noise of +-10 on a map whose maximum is 1.2, and pLDDT < 60 noise 30 times as strong (on the shared
models the cap touches 1 % of 20026's atoms, at 4.1 times their median, and none of the other experimental models').

Example:
    >>> import numpy as np
    >>> from s2mlib.io.density import DensityMap
    >>> expected = DensityMap(np.random.default_rng(0).random((32, 32, 32)).astype(np.float32))
    >>> sample = sample_maps(expected, resolution=4.0, seed=1)
    >>> bool(np.allclose(sample.full.data, (sample.half_1.data + sample.half_2.data) / 2, atol=1e-6))
    True
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np

from ..errors import S2MError
from ..io.density import DensityMap
from .maps import spatial_frequency

FSC_THRESHOLD = 0.143
SNR_AT_RESOLUTION = FSC_THRESHOLD / (1.0 - FSC_THRESHOLD)
SNR_FALLOFF = 3.65  # b: median over the training and validation entries (tools/calibrate_noise.py; README)
MAX_SEED = 2**32 - 1
B_EXPONENT = 2.0  # g: noise variance ~ (B / B_median)^(2g) near the atoms (chosen on train + val; README)
MAX_B_RATIO = 4.0  # the most B(x) / B_median counts in the mobility weight (module docstring)
B_SMOOTHING = 2.0  # A: sigma of the Gaussian that averages the atoms' B-factors onto the grid
BLUR_STEP = 20.0  # A^2: the largest spacing of the B levels that local_blur blends
BLUR_LEVELS = 12  # the most B levels local_blur blends (fewer, wider apart, over a very wide range of B)
# Peak bytes per voxel of the output grid while the noise is made (mobility_weight, then sample_maps: float64 noise,
# its complex128 spectrum, the weight and the three maps): 72-79 measured with tracemalloc on 96^3-160^3 grids
SAMPLE_BYTES_PER_VOXEL = 80


def require_sample_memory(shape_zyx: tuple[int, ...], what: str, bytes_per_voxel: int = SAMPLE_BYTES_PER_VOXEL) -> None:
    """Raise :class:`~s2mlib.io.memory.MemoryLimitError` (one line) before any work when the noise of a sample map on a
    grid of ``shape_zyx`` would not fit in the memory available (``bytes_per_voxel``, by default
    :data:`SAMPLE_BYTES_PER_VOXEL`; a sample at a quality needs :data:`s2mlib.sim.quality.QUALITY_BYTES_PER_VOXEL`)."""
    from ..io.memory import require_memory

    grid = " x ".join(str(n) for n in shape_zyx[::-1])
    require_memory(
        bytes_per_voxel * int(np.prod(shape_zyx, dtype=np.int64)),
        f"{what}: the noise of a sample map on its {grid} grid (--noise, --half-maps)",
    )


def check_nyquist(resolution: float, voxel_size, what: str) -> None:
    """Refuse (:class:`S2MError`, one line) a sample map at a resolution finer than its grid's Nyquist limit, twice
    the largest voxel size: the half maps' FSC could not fall through 0.143 at 1/R on that grid."""
    nyquist = 2.0 * float(np.max(voxel_size))
    if resolution < nyquist:
        raise S2MError(
            f"{what}: a sample map at {resolution:g} A cannot be made on a grid of {nyquist / 2:g} A voxels (its "
            f"Nyquist limit is {nyquist:g} A, so the half maps' FSC could not fall to 0.143 at 1/R): ask for "
            f"--resolution {nyquist:g} or coarser, or a finer --ref-map grid"
        )


@dataclass(frozen=True)
class SampleMaps:
    """Two half maps and their average (the map a user gets), with the seed that drew them; for a sample made at a
    quality (:func:`s2mlib.sim.quality.quality_sample`), the B-factor envelope (A^2) given to the expected map, and the
    mean Q-score (sigma 0.4) aimed at and reached."""

    half_1: DensityMap
    half_2: DensityMap
    full: DensityMap
    seed: int
    envelope_b: float = 0.0
    target_q: float | None = None
    sample_q: float | None = None


def checked_seed(seed: int | None) -> int:
    """``seed`` as an int in [0, 2^32 - 1]; None draws one from the operating system's entropy.

    >>> checked_seed(7)
    7
    """
    if seed is None:
        return secrets.randbelow(MAX_SEED + 1)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= MAX_SEED:
        raise S2MError(f"seed must be a whole number from 0 to {MAX_SEED}, got {seed!r}")
    return int(seed)


def half_map_snr(frequency: np.ndarray, resolution: float, falloff: float = SNR_FALLOFF) -> np.ndarray:
    """SNR of one half map at ``frequency`` (1/A): SNR_R exp(falloff (1 - (k R)^2)); SNR_R at k = 1/R.

    >>> round(float(half_map_snr(np.array([0.25]), 4.0)[0]), 4)
    0.1669
    """
    return SNR_AT_RESOLUTION * np.exp(falloff * (1.0 - (np.asarray(frequency) * resolution) ** 2))


def fourier_shells(shape_zyx: tuple[int, ...], voxel_size) -> tuple[np.ndarray, np.ndarray, float]:
    """|k| (1/A) of every ``numpy.fft.rfftn`` coefficient of a [z, y, x] grid, its shell index and the shell width:
    shells one Fourier voxel of the longest edge wide, 1 / (n_max voxel). The noise model and its calibration
    (``tools/calibrate_noise.py``) measure power on these shells."""
    k = spatial_frequency(shape_zyx, voxel_size)
    width = 1.0 / (max(shape_zyx) * float(np.max(voxel_size)))
    return k, (k / width).astype(np.int64), width


def noise_power(expected: DensityMap, resolution: float, falloff: float = SNR_FALLOFF) -> np.ndarray:
    """N(k) of every ``rfftn`` coefficient of ``expected``'s grid (see the module docstring); 0 at k = 0.

    S(k) is the expected map's mean |F|^2 per shell (:func:`fourier_shells`; empty shells left out), interpolated
    between shell centres."""
    k, label, width = fourier_shells(expected.data.shape, expected.voxel_size)
    count = np.bincount(label.ravel())
    total = np.bincount(label.ravel(), weights=(np.abs(np.fft.rfftn(expected.data.astype(np.float64))) ** 2).ravel())
    keep = count > 0
    centres, power = ((np.arange(len(count)) + 0.5) * width)[keep], total[keep] / count[keep]
    signal = np.interp(k, centres, power)
    cut = 1.0 / resolution
    inside = signal / half_map_snr(k, resolution, falloff)
    floor = float(np.interp(cut, centres, power)) / SNR_AT_RESOLUTION
    noise = np.where(k <= cut, inside, np.maximum(floor, signal / SNR_AT_RESOLUTION))
    noise.flat[0] = 0.0
    return noise


def mobility_weight(
    grid: DensityMap, xyz: np.ndarray, b_factors: np.ndarray, exponent: float = B_EXPONENT
) -> np.ndarray | None:
    """w(x) = min(B(x) / B_median, :data:`MAX_B_RATIO`)^exponent on ``grid`` ([z, y, x]), mean square 1 (see the
    module docstring); None
    when the B-factors carry no information (all equal, e.g. all zero) or no atom lies on the grid. B(x) is
    :func:`local_b_factors`: the local mean B near atoms, B_median far from them.
    """
    found = local_b_factors(grid, xyz, b_factors)
    if found is None:
        return None
    local, median = found
    weight = np.clip(local / median, 0.0, MAX_B_RATIO) ** exponent
    return weight / np.sqrt(np.mean(weight**2))


def local_b_factors(grid: DensityMap, xyz: np.ndarray, b_factors: np.ndarray) -> tuple[np.ndarray, float] | None:
    """(B(x) on ``grid`` ([z, y, x]), B_median): the atoms' B-factors averaged around each voxel,
    B(x) = (G * sum_atoms B_a delta_a + eps B_median) / (G * sum_atoms delta_a + eps), G a Gaussian of
    :data:`B_SMOOTHING` A, eps = 1e-4 (B_median far from the atoms); None when the B-factors carry no information
    (all equal, e.g. all zero, or a median of 0) or no atom lies on the grid."""
    from scipy import ndimage

    b_factors = np.asarray(b_factors, dtype=np.float64)
    median = float(np.median(b_factors)) if len(b_factors) else 0.0
    if median <= 0 or np.ptp(b_factors) == 0:
        return None
    index = np.rint(grid.world_to_index(xyz)).astype(np.int64)[:, ::-1]  # [z, y, x]
    inside = np.all((index >= 0) & (index < np.array(grid.data.shape)), axis=1)
    if not inside.any():
        return None
    sums, counts = np.zeros(grid.data.shape), np.zeros(grid.data.shape)
    np.add.at(sums, tuple(index[inside].T), b_factors[inside])
    np.add.at(counts, tuple(index[inside].T), 1.0)
    sigma = B_SMOOTHING / np.asarray(grid.voxel_size, dtype=np.float64)[::-1]
    eps = 1e-4
    local = (ndimage.gaussian_filter(sums, sigma) + eps * median) / (ndimage.gaussian_filter(counts, sigma) + eps)
    return local, median


class BFactorFilter:
    """A map times exp(-B k^2 / 4) in Fourier space, k = |spatial frequency| (1/A), for any B (A^2): a B-factor
    envelope (the Debye-Waller factor of a map's amplitudes; Rosenthal & Henderson 2003, eq. 7). The map's transform
    is computed once; B = 0 gives the map back (to rounding), and the mean (k = 0) is always kept.

    >>> m = DensityMap(np.random.default_rng(0).random((16, 16, 16)).astype(np.float32))
    >>> bool(np.allclose(BFactorFilter(m)(0.0).data, m.data, atol=1e-6))
    True
    """

    def __init__(self, density: DensityMap):
        self.density = density
        self.spectrum = np.fft.rfftn(density.data.astype(np.float64))
        self.k2 = spatial_frequency(density.data.shape, density.voxel_size) ** 2

    def data(self, b: float) -> np.ndarray:
        """The filtered map's values (float64, [z, y, x])."""
        return np.fft.irfftn(self.spectrum * np.exp(-float(b) * self.k2 / 4.0), s=self.density.data.shape)

    def __call__(self, b: float) -> DensityMap:
        return self.density.copy(self.data(b).astype(np.float32))


def local_blur(density: DensityMap, b_map: np.ndarray, step: float = BLUR_STEP) -> DensityMap:
    """The map with each voxel x blurred by its own B(x) (``b_map``, A^2, on the map's [z, y, x] grid): the map
    filtered by :class:`BFactorFilter` at B levels evenly spaced over B(x)'s range, at most ``step`` apart (at most
    :data:`BLUR_LEVELS` of them), blended per voxel with weights linear in B between the two levels around B(x) (a
    local-resolution filter as a blend of globally filtered maps). A constant B(x) = B is the envelope at B."""
    b_map = np.asarray(b_map, dtype=np.float64)
    if b_map.shape != density.data.shape:
        raise ValueError(f"B map of shape {b_map.shape} on a map of shape {density.data.shape}")
    low, high = float(b_map.min()), float(b_map.max())
    envelope = BFactorFilter(density)
    count = int(min(BLUR_LEVELS, np.ceil((high - low) / step) + 1)) if high > low else 1
    if count == 1:
        return envelope(low)
    position = (b_map - low) / (high - low) * (count - 1)  # 0 at the lowest level, count - 1 at the highest
    out = np.zeros(density.data.shape)
    for j, level in enumerate(np.linspace(low, high, count)):
        out += np.clip(1.0 - np.abs(position - j), 0.0, None) * envelope.data(level)
    return density.copy(out.astype(np.float32))


def model_weight(grid: DensityMap, structure, b_factors: str = "auto") -> np.ndarray | None:
    """:func:`mobility_weight` of a :class:`s2mlib.io.atoms.Structure`'s atoms, its B-factor column read as
    ``b_factors`` says (:func:`s2mlib.sim.structures.effective_b_factors`: pLDDT converted to B)."""
    from .structures import effective_b_factors

    return mobility_weight(grid, structure.xyz, effective_b_factors(structure, b_factors)[0])


def sample_maps(
    expected: DensityMap,
    resolution: float,
    seed: int | None = None,
    *,
    falloff: float = SNR_FALLOFF,
    weight: np.ndarray | None = None,
    power: np.ndarray | None = None,
) -> SampleMaps:
    """Two half maps E + n_1, E + n_2 with independent Gaussian noise of power :func:`noise_power` per Fourier
    coefficient (or ``power``, one value per ``rfftn`` coefficient of E's grid, when given; white noise, times
    ``weight`` when given (:func:`mobility_weight`), shaped in Fourier space), and their average; the same ``seed``
    gives the same maps.
    """
    if not (np.isfinite(resolution) and resolution > 0):
        raise S2MError(f"noise needs a resolution in Angstrom, got {resolution!r}")
    seed = checked_seed(seed)
    shape = expected.data.shape
    require_sample_memory(shape, "sample_maps")
    power = noise_power(expected, resolution, falloff) if power is None else power
    amplitude = np.sqrt(power / np.prod(shape, dtype=np.float64))
    rng = np.random.default_rng(seed)
    base = expected.data.astype(np.float64)
    halves = []
    for _ in range(2):
        white = rng.standard_normal(shape)
        spectrum = np.fft.rfftn(white if weight is None else white * weight)
        halves.append(base + np.fft.irfftn(spectrum * amplitude, s=shape, axes=range(len(shape))))
    full = (halves[0] + halves[1]) / 2.0
    as_map = [expected.copy(h.astype(np.float32)) for h in (*halves, full)]
    return SampleMaps(as_map[0], as_map[1], as_map[2], seed)
