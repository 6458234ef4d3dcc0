"""What the generator sees and learns: its input map for a structure, and its target at a resolution R.

Inputs (``kind``), both on a given grid and min-max normalised to [0, 1]:

- ``"molmap"`` (the paper's SimMap, section 3.2): ChimeraX-style molmap at 2 A whatever R; only a conditioned
  network can then know R.
- ``"bfactor"`` (physics-aware): gemmi's electron-scattering density of the model with its per-atom B-factors
  (:func:`s2mlib.sim.structures.effective_b_factors`: pLDDT of predicted models converted, empty columns as 0) at the
  target resolution R: well-ordered atoms sharp, mobile ones smeared. Made as gemmi's density at 2 A
  (:func:`s2mlib.sim.simulate.gemmi_density`, blur B = 4 * 2^2, molmap's sigma) convolved with a Gaussian of
  B = 4 (R^2 - 2^2), i.e. sigma^2 = (R^2 - 4) / (2 pi^2) A^2 (B-factors add under convolution of Gaussians), which is
  gemmi's density at R (blur 4 R^2) computed once for every R of a ladder.

Targets: the curated ExpMap (resolution r0, as reported) low-pass filtered to R >= r0 in Fourier space with a soft
cosine edge (:func:`s2mlib.sim.maps.lowpass`), negative values set to 0 and min-max to [0, 1] again
(:func:`target_at`). Training samples R per patch from a ladder r0, then every ``step`` A up to ``max_resolution``
(:func:`resolution_ladder`).

Example:
    >>> resolution_ladder(3.2, 5.0).tolist()
    [3.2, 3.5, 4.0, 4.5, 5.0]
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter

from ..errors import InputError
from ..io.atoms import Structure
from ..io.density import DensityMap
from .maps import lowpass, minmax
from .simulate import GemmiSlabs, gaussian_slabs, gemmi_density, molmap, molmap_terms, slabs
from .structures import with_effective_b_factors

INPUT_KINDS = ("molmap", "bfactor")
PAPER_INPUT_RESOLUTION = 2.0  # the paper's SimMap: molmap at 2 A
DEFAULT_RESOLUTION = 3.5  # A: an entry's resolution when none is reported, and generation's when none is asked for


def network_input(
    structure: Structure,
    grid: DensityMap,
    kind: str = "molmap",
    resolution: float | None = None,
    *,
    b_factors: str = "auto",
) -> DensityMap:
    """The generator's input on ``grid``: ``kind`` 'molmap' (molmap at 2 A) or 'bfactor' (gemmi density with the
    model's B-factors, read as ``b_factors``, at ``resolution``), min-max to [0, 1]."""
    if kind == "molmap":
        density = molmap(structure, PAPER_INPUT_RESOLUTION, ref_map=grid)
    elif kind == "bfactor":
        if resolution is None:
            raise InputError("the 'bfactor' input is made at a resolution: give one")
        return bfactor_inputs(structure, grid, [resolution], b_factors=b_factors)[0]
    else:
        raise InputError(f"unknown input kind {kind!r}; choose one of {', '.join(INPUT_KINDS)}")
    return grid.copy(minmax(density.data))


def bfactor_inputs(structure: Structure, grid: DensityMap, resolutions, *, b_factors: str = "auto") -> list[DensityMap]:
    """The 'bfactor' input at each of ``resolutions`` (module docstring): one gemmi density at 2 A, then a Gaussian
    of sigma^2 = (R^2 - 4) / (2 pi^2) A^2 per R (scipy ``gaussian_filter``, zero beyond the box), min-max each."""
    base = gemmi_density(with_effective_b_factors(structure, b_factors)[0], PAPER_INPUT_RESOLUTION, ref_map=grid)
    out = []
    for r in resolutions:
        extra = max(float(r) ** 2 - PAPER_INPUT_RESOLUTION**2, 0.0) / (2 * math.pi**2)  # sigma^2 in A^2
        sigma = np.sqrt(extra) / grid.voxel_size[::-1]  # per array axis (z, y, x), voxels
        data = gaussian_filter(base.data.astype(np.float64), sigma, mode="constant") if extra > 0 else base.data
        out.append(grid.copy(minmax(data)))
    return out


def network_input_slabs(
    structure: Structure,
    grid: DensityMap,
    kind: str = "molmap",
    resolution: float | None = None,
    *,
    b_factors: str = "auto",
    sections: int | None = None,
) -> DensityMap:
    """:func:`network_input` made slab by slab (:func:`s2mlib.sim.simulate.slabs`) into one float32 array, for grids
    whose whole-grid arrays would not fit: each slab's molmap from the atoms near it
    (:func:`s2mlib.sim.simulate.gaussian_slabs`), or gemmi's density at 2 A on the slab and a halo of the blur's reach
    (scipy's kernel radius, int(4 sigma + 0.5) sections; :class:`s2mlib.sim.simulate.GemmiSlabs`) then the blur; the
    min-max over the whole grid is applied at the end, slab by slab. Equal to :func:`network_input` to float32
    rounding (the blurred slabs are kept in float32); what is held at once is the input and one slab's arrays."""
    if kind not in INPUT_KINDS:
        raise InputError(f"unknown input kind {kind!r}; choose one of {', '.join(INPUT_KINDS)}")
    extra = 0.0  # the B-factor input's blur beyond gemmi's density at 2 A: sigma^2 in A^2
    if kind == "bfactor":
        if resolution is None:
            raise InputError("the 'bfactor' input is made at a resolution: give one")
        extra = max(float(resolution) ** 2 - PAPER_INPUT_RESOLUTION**2, 0.0) / (2 * math.pi**2)
    ranges = slabs(grid, sections)
    out = np.empty(grid.data.shape, np.float32)
    if kind == "molmap":
        _, amplitude, sigma, cutoff = molmap_terms(structure, PAPER_INPUT_RESOLUTION)
        for (z0, z1), part in zip(ranges, gaussian_slabs(grid, structure.xyz, amplitude, sigma, cutoff, sections)):
            out[z0:z1] = part
    else:
        base = GemmiSlabs(with_effective_b_factors(structure, b_factors)[0], grid, 4 * PAPER_INPUT_RESOLUTION**2)
        sigma = np.sqrt(extra) / grid.voxel_size[::-1]
        halo = int(4.0 * sigma[0] + 0.5)  # scipy's gaussian_filter kernel radius along z (truncate 4)
        nz = grid.data.shape[0]
        for z0, z1 in ranges:
            a, b = max(z0 - halo, 0), min(z1 + halo, nz)
            data = base.sections(a, b).astype(np.float64)
            if extra > 0:
                data = gaussian_filter(data, sigma, mode="constant")
            out[z0:z1] = data[z0 - a : z1 - a]
    lo, hi = float(out.min()), float(out.max())
    for z0, z1 in ranges:  # minmax, in float64 per slab
        out[z0:z1] = (out[z0:z1].astype(np.float64) - lo) / (hi - lo) if hi > lo else 0.0
    return grid.copy(out)


def target_at(exp_map: DensityMap, resolution: float, native: float) -> DensityMap:
    """The training target at ``resolution`` R from a curated ExpMap of resolution ``native`` r0: the ExpMap itself
    when R <= r0, else minmax(max(lowpass(ExpMap, R), 0))."""
    if resolution <= native + 1e-6:
        return exp_map
    filtered = lowpass(exp_map, resolution).data
    return exp_map.copy(minmax(np.maximum(filtered, 0.0)))


def resolution_ladder(native: float, max_resolution: float = 10.0, step: float = 0.5) -> np.ndarray:
    """Target resolutions for one map: ``native`` r0, then the multiples of ``step`` above it up to
    ``max_resolution`` (just r0 when r0 >= ``max_resolution``)."""
    if not (step > 0 and native > 0):
        raise InputError(f"need a positive native resolution and step, got {native!r} and {step!r}")
    first = math.floor(native / step + 1e-9) * step + step
    return np.array([native] + [float(r) for r in np.arange(first, max_resolution + 1e-9, step)])


def known_resolution(value, default: float = DEFAULT_RESOLUTION) -> float:
    """A reported resolution as a float, or ``default`` when it is unknown (None, NaN, empty, not positive)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return float(default)
    return value if math.isfinite(value) and value > 0 else float(default)
