"""Structure -> experimental-like map with a trained generator (paper section 3.4, "Inference").

The input is made exactly as in training (:mod:`s2mlib.sim.inputs`: molmap at 2 A, or the B-factor-aware map at the
target resolution, as the weights were trained) on a 1 A grid covering the atoms' bounding box plus a 3 A cushion,
min-max to [0, 1] (for a big model, made slab by slab: :func:`generator_input`). It is cut into 32^3 cubes at stride
20 after 32 voxels of zero padding (:mod:`s2mlib.gan.tiling`), each cube goes through the generator in batches (with the
target resolution, for a conditioned generator), and the central 20^3 of every output cube is written back (Si et
al.) as each batch comes out; the result keeps the input grid's origin and 1 A voxels, or is resampled onto a
reference map's grid.

``skip_empty=True`` (the default) does not run cubes whose input is all zero and leaves their centre 0; the
paper-faithful tiling (``skip_empty=False``) runs every cube.

The generator's output is the *expected* map: noise-free. ``noise=True`` returns a sample instead: two half maps
(the expected map, blurred locally by the model's B-factors and overall to the mean Q-score of EMDB's maps at the
target resolution and ``quality``, plus noise whose FSC falls through 0.143 at that resolution;
:mod:`s2mlib.sim.quality`, :mod:`s2mlib.sim.noise`), made on the output grid, and their average; ``last_sample`` holds
all three, the seed, the envelope's B and the mean Q aimed at and reached.

Example:
    >>> from s2mlib.io.atoms import read_structure
    >>> gen = MapGenerator(device="cpu")                                  # doctest: +SKIP
    >>> density = gen(read_structure("model.cif"), resolution=6.0)        # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..errors import InputError, S2MError
from ..io.atoms import Structure, read_structure
from ..io.density import DensityMap, read_map
from ..io.manifest import entry_file_name
from ..io.memory import grid_bytes, require_memory
from ..io.progress import tqdm
from ..sim.inputs import DEFAULT_RESOLUTION, known_resolution, network_input, network_input_slabs
from ..sim.noise import SampleMaps, check_nyquist, checked_seed, require_sample_memory
from ..sim.quality import DEFAULT_QUALITY, QUALITY_BYTES_PER_VOXEL, emdb_q, quality_sample
from ..sim.simulate import SLAB_COPIES, WHOLE_GRID_BYTES, bounding_grid, bounding_shape, check_inside, grid_spec, slabs
from .model import place, resolve_device
from .precision import check_precision, resolve_precision
from .runtime import CubeRunner, resolve_runtime
from .tiling import STRIDE, cube_corners, cut_cube, put_centre
from .weights import DEFAULT_NAME, load_generator, weights_path
from .writer import write_maps

GRID_SPACING = 1.0  # the network works on 1 A voxels
CUSHION = 3.0  # A around the atoms' bounding box, as the curated training maps (phenix.map_box)
# float32 grid copies alive at once at the peak: the B-factor input's float64 blur and min-max (about 10)
GRID_COPIES = 11
# ... when the input is made slab by slab: the input and the generated map, then the map and the copy and mask that
# writing it takes (mrcfile's rms, the finite check)
BLOCK_GRID_COPIES = 3
TRAINED_MAX_RESOLUTION = 10.0  # A: the top of the target ladder the shipped conditioned weights were trained on


def generator_input(
    structure: Structure,
    kind: str = "molmap",
    resolution: float | None = None,
    *,
    b_factors: str = "auto",
    sections: int | None = None,
) -> DensityMap:
    """The generator's input for ``structure`` on a 1 A grid (bounding box + 3 A), exactly as in training
    (:func:`s2mlib.sim.inputs.network_input`): molmap at 2 A, or the B-factor-aware map at ``resolution``; min-max [0,
    1].

    A grid whose whole-grid arrays (:data:`GRID_COPIES`) would need more than
    :data:`s2mlib.sim.simulate.WHOLE_GRID_BYTES` (a model of about 200,000 atoms and more), or any grid when
    ``sections`` is given, is made slab by slab (:func:`s2mlib.sim.inputs.network_input_slabs`, ``sections`` z-sections
    each; the same input to float32 rounding), so that the input and the generated map are the only whole grids
    (:data:`BLOCK_GRID_COPIES`). Raises :class:`~s2mlib.io.memory.MemoryLimitError` (one line: grid size, memory
    needed and available, counting ``ulimit -v``) before anything is allocated when the grid would not fit.
    """
    shape = bounding_shape(structure.xyz, GRID_SPACING, CUSHION)
    low = structure.xyz.min(axis=0) - CUSHION
    grid = grid_spec(low, shape[::-1], GRID_SPACING)
    whole = GRID_COPIES * grid_bytes(shape)
    by_slabs = sections is not None or whole > WHOLE_GRID_BYTES
    need = whole
    if by_slabs:
        thickest = max(z1 - z0 for z0, z1 in slabs(grid, sections))
        need = int((BLOCK_GRID_COPIES + SLAB_COPIES * thickest / shape[2]) * grid_bytes(shape))
    require_memory(
        need,
        f"{structure.path}: the generator's {' x '.join(map(str, shape))} grid at 1 A ({structure.n_atoms} atoms; "
        f"split the structure, e.g. by chain, and generate the parts separately)",
    )
    if by_slabs:
        return network_input_slabs(structure, grid, kind, resolution, b_factors=b_factors, sections=sections)
    return network_input(
        structure, bounding_grid(structure.xyz, GRID_SPACING, CUSHION), kind, resolution, b_factors=b_factors
    )


def refine(
    network: torch.nn.Module,
    array: np.ndarray,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 32,
    skip_empty: bool = True,
    precision: str = "fp32",
    channels_last: bool = False,
    stride: int = STRIDE,
    progress: bool = False,
    resolution: float | None = None,
    runner: CubeRunner | None = None,
) -> np.ndarray:
    """``network`` applied to a whole [z, y, x] array: 32^3 cubes at stride 20 (after 32 voxels of zero padding),
    in batches, the central 20^3 of each output written back; cubes with all-zero input are skipped (left 0)
    when ``skip_empty``. A larger even ``stride`` keeps a larger centre (fewer cubes; the paper's is 20).
    A resolution-conditioned network gets ``resolution`` (A) with every cube. ``precision``: 'fp32', 'bf16' or
    'auto' (:func:`s2mlib.gan.precision.resolve_precision`, without its warning). ``runner`` computes the cubes
    (:class:`s2mlib.gan.runtime.CubeRunner`, e.g. OpenVINO's); by default eager PyTorch on ``device``."""
    conditioned = getattr(network, "conditioned", False)
    level = float(resolution) if conditioned and resolution is not None else None
    if conditioned and level is None:
        raise ValueError("a resolution-conditioned generator needs the target resolution")
    if runner is None:
        device = torch.device(device)
        arithmetic = resolve_precision(precision, device, warn=False)
        runner = CubeRunner.build(network, device, arithmetic, runtime="torch", channels_last=channels_last)
    corners = cube_corners(array.shape, stride)
    run = [i for i, c in enumerate(corners) if not skip_empty or cut_cube(array, c).any()]
    result = np.zeros(array.shape, np.float32)  # each batch's centres written at once: no array of output cubes
    batches = range(0, len(run), batch_size)
    for start in tqdm(batches, desc="generating", unit="batch", disable=not progress, leave=False):
        index = run[start : start + batch_size]
        out = runner(np.stack([cut_cube(array, corners[i]) for i in index])[:, None], level)
        for i, cube in zip(index, out):
            put_centre(result, cube, corners[i], stride)
    return result


class MapGenerator:
    """A loaded generator that turns structures into maps; reuse one instance for many structures.

    ``weights``: a file written by :func:`s2mlib.gan.weights.export_generator`, or shipped weights by name (see
    :mod:`s2mlib.gan.weights`; each has a model card ``s2mlib/weights/<name>.md``). ``device``: 'auto' (CUDA when
    present), 'cpu' or 'cuda'. ``precision``: 'auto' (bf16 autocast where the device computes bf16 natively, float32
    elsewhere), 'fp32' or 'bf16' (:mod:`s2mlib.gan.precision`; the choice made is ``self.precision``). ``runtime``: what
    computes the cubes, 'auto' (OpenVINO for fp32 on a CPU where installed, else PyTorch), 'torch' or 'openvino'
    (:mod:`s2mlib.gan.runtime`; the choice made is ``self.runtime``);
    ``channels_last`` is a speed option.
    ``resolution`` (A): the target resolution of every map, for weights that use one (resolution-conditioned, or
    trained on an input made at the target resolution); None means each call's, else :data:`DEFAULT_RESOLUTION`.
    Asking a resolution of the paper's weights (unconditioned, molmap input) is an error. ``b_factors``: how to
    read the model's B-factor column for the 'bfactor' input ('auto', 'b', 'plddt', 'none';
    :func:`s2mlib.sim.structures.effective_b_factors`). ``noise``: return a sample map, the average of two half maps
    that cross FSC 0.143 at the target resolution (:mod:`s2mlib.sim.noise`), kept with them in ``last_sample``;
    ``seed`` makes it repeatable (None: a new seed each call, in ``last_sample.seed``); ``quality``: the sample's
    mean Q-score is EMDB's at that percentile (5-95) among maps at the target resolution
    (:func:`s2mlib.sim.quality.quality_sample`; 50, a typical map). Without ``noise`` the output is the expected map, as
    it always was.
    """

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        *,
        device: str = "auto",
        batch_size: int = 32,
        skip_empty: bool = True,
        precision: str = "auto",
        runtime: str = "auto",
        channels_last: bool = False,
        stride: int = STRIDE,
        progress: bool = True,
        resolution: float | None = None,
        b_factors: str = "auto",
        noise: bool = False,
        seed: int | None = None,
        quality: float = DEFAULT_QUALITY,
    ):
        if batch_size < 1:
            raise InputError(f"batch size must be at least 1, got {batch_size}")
        self.weights = weights_path(weights if weights is not None else DEFAULT_NAME)
        self.device = resolve_device(device)
        try:
            self.network = place(load_generator(self.weights, self.device), self.device, channels_last)
        except ValueError as exc:
            raise S2MError(str(exc)) from None
        self.batch_size, self.skip_empty = batch_size, skip_empty
        self.precision = resolve_precision(check_precision(precision), self.device)
        self.runtime = resolve_runtime(runtime, self.device, self.precision)
        self._runner: CubeRunner | None = None  # built at the first map (OpenVINO converts the network once)
        self._loaded, self._runner_for = self.network, None  # the network of the weights file; the runner's
        self.channels_last, self.stride, self.progress = channels_last, stride, progress
        self.b_factors = b_factors
        self.conditioned, self.input_kind = self.network.conditioned, self.network.input_kind
        self.resolution = self._checked(resolution)
        self.noise, self.seed = noise, None if seed is None else checked_seed(seed)
        emdb_q(3.0, quality)  # a quality outside the table's percentiles is a one-line error now, not after the work
        self.quality = float(quality)
        if noise and not self.uses_resolution:
            raise S2MError(
                f"{self.weights}: noise is set by the target resolution, and these weights take none (the paper's "
                f"generator); use resolution-aware weights such as --weights fast"
            )
        self.last_timing: dict[str, float] = {}
        self.last_cubes_run = 0  # cubes the network computed for the last map (the empty ones are skipped)
        self.last_resolution: float | None = None
        self.last_sample: SampleMaps | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any], prefix: str = "generate_") -> MapGenerator:
        """The generator a profile's parameters name: each argument from the key ``prefix + name`` when there (the
        profile's ``generate_precision`` is the generator's ``precision``, ``precision`` training's), else from
        ``name``; other keys are ignored (as :meth:`s2mlib.study.curate.CurationConfig.from_params`)."""
        names = [name for name in inspect.signature(cls).parameters if prefix + name in params or name in params]
        return cls(**{name: params[prefix + name] if prefix + name in params else params[name] for name in names})

    @property
    def uses_resolution(self) -> bool:
        """True when the weights make maps at a chosen resolution (conditioned, or an input made at R)."""
        return self.conditioned or self.input_kind != "molmap"

    def _checked(self, resolution: float | None) -> float | None:
        if resolution is None:
            return None
        if not self.uses_resolution:
            raise S2MError(
                f"{self.weights}: these weights are not resolution-conditioned (the paper's generator: "
                f"molmap 2 A in, one look out), so a resolution cannot be asked of them; use conditioned "
                f"weights such as --weights fast"
            )
        resolution = float(resolution)
        if not (np.isfinite(resolution) and 0 < resolution <= 50):
            raise S2MError(f"resolution must be a number of Angstrom in (0, 50], got {resolution}")
        if resolution < 2 * GRID_SPACING:
            raise S2MError(
                f"resolution {resolution:g} A is finer than the network's {GRID_SPACING:g} A grid can hold (its "
                f"Nyquist limit is {2 * GRID_SPACING:g} A)"
            )
        if resolution > TRAINED_MAX_RESOLUTION:
            warnings.warn(
                f"resolution {resolution:g} A is beyond the {TRAINED_MAX_RESOLUTION:g} A the weights were trained "
                f"up to: the map is an extrapolation",
                stacklevel=3,
            )
        return resolution

    def refine(self, array: np.ndarray, resolution: float | None = None) -> np.ndarray:
        """Run the loaded generator over a whole [z, y, x] input array (see :func:`refine`)."""
        if self._runner is None or self._runner_for is not self.network:  # a network set by hand gets its own
            self._runner = CubeRunner.build(  # runner, converted afresh, not the weights file's cached model
                self.network,
                self.device,
                self.precision,
                runtime=self.runtime,
                channels_last=self.channels_last,
                weights=self.weights if self.network is self._loaded else None,
            )
            self._runner_for = self.network
        before = self._runner.cubes
        refined = refine(
            self.network,
            array,
            device=self.device,
            batch_size=self.batch_size,
            skip_empty=self.skip_empty,
            precision=self.precision,
            channels_last=self.channels_last,
            stride=self.stride,
            progress=self.progress,
            resolution=resolution,
            runner=self._runner,
        )
        self.last_cubes_run = self._runner.cubes - before
        return refined

    def __call__(
        self,
        structure: Structure,
        ref_map: DensityMap | None = None,
        resolution: float | None = None,
        seed: int | None = None,
    ) -> DensityMap:
        """The generated map of ``structure`` (at ``resolution``, else the instance's, else
        :data:`DEFAULT_RESOLUTION`, for weights that use one) on its 1 A grid, or on ``ref_map``'s grid; with
        ``noise``, the average of two half maps drawn with ``seed`` (else the instance's; see the class)."""
        chosen = self._checked(resolution) or self.resolution
        if ref_map is not None:
            check_inside(structure, ref_map)  # before the work: a model outside the box would give an empty map
        r = (chosen or DEFAULT_RESOLUTION) if self.uses_resolution else None
        if self.noise:  # before the work: the output grid can hold the half maps' FSC at R, and their noise fits
            if ref_map is not None:
                shape, spacing = ref_map.data.shape, ref_map.voxel_size
            else:
                shape, spacing = bounding_shape(structure.xyz, GRID_SPACING, CUSHION)[::-1], np.array([GRID_SPACING])
            check_nyquist(chosen or DEFAULT_RESOLUTION, spacing, str(structure.path))
            require_sample_memory(shape, str(structure.path), QUALITY_BYTES_PER_VOXEL)
        t0 = time.perf_counter()
        source = generator_input(structure, self.input_kind, r, b_factors=self.b_factors)
        t1 = time.perf_counter()
        density = source.copy(self.refine(source.data, r if self.conditioned else None))
        t2 = time.perf_counter()
        if ref_map is not None:
            density = density.resampled_like(ref_map)
        if self.noise:
            at = chosen or DEFAULT_RESOLUTION  # r: noise needs weights that take a resolution (__init__)
            draw = self.seed if seed is None else checked_seed(seed)
            self.last_sample = quality_sample(
                density, structure, at, draw, quality=self.quality, b_factors=self.b_factors
            )
            density = self.last_sample.full
        self.last_timing = {"simulate_s": t1 - t0, "network_s": t2 - t1, "total_s": time.perf_counter() - t0}
        self.last_resolution = r
        return density


def generate_entries(
    generator: MapGenerator,
    entries,
    out_dir: str | os.PathLike,
    *,
    method: str = "struc2mapGAN",
    resolution: float | None = None,
    default_resolution: float = DEFAULT_RESOLUTION,
) -> pd.DataFrame:
    """Generate a map for every row of a curation table (columns entry, model, exp_map[, resolution]) on its ExpMap's
    grid; weights that use a resolution make each map at ``resolution``, else at the entry's reported resolution
    (``default_resolution`` when unknown).

    Writes ``out_dir/<entry>.mrc`` and returns a table: entry, method, path, resolution (the target resolution
    asked for; NaN for the paper's weights), residues, atoms, seconds (whole pipeline, structure -> map),
    simulate_s, network_s.
    """
    names = [entry_file_name(entry) for entry in entries["entry"]]  # every file name checked before the work
    rows = []
    for name, row in zip(
        names, tqdm(list(entries.itertuples()), desc=method, unit="entry", disable=not generator.progress)
    ):
        structure = read_structure(row.model)
        wanted = None
        if generator.uses_resolution:
            wanted = resolution or known_resolution(getattr(row, "resolution", None), default_resolution)
        density = generator(structure, ref_map=read_map(row.exp_map), resolution=wanted)
        (path,) = write_maps(Path(out_dir) / f"{name}.mrc", density)
        timing = generator.last_timing
        rows.append(
            {
                "entry": row.entry,
                "method": method,
                "path": str(path),
                "resolution": np.nan if wanted is None else wanted,
                "residues": structure.n_residues,
                "atoms": structure.n_atoms,
                "seconds": timing["total_s"],
                "simulate_s": timing["simulate_s"],
                "network_s": timing["network_s"],
            }
        )
    return pd.DataFrame(rows)


SAMPLE = "struc2mapGAN (sample)"  # the method name of sample maps (at the default quality) in the study's tables


def sample_name(quality: float = DEFAULT_QUALITY) -> str:
    """The study's method name of sample maps at ``quality``: :data:`SAMPLE` at the default.

    >>> sample_name(), sample_name(10)
    ('struc2mapGAN (sample)', 'struc2mapGAN (sample, quality 10)')
    """
    return SAMPLE if quality == DEFAULT_QUALITY else f"struc2mapGAN (sample, quality {quality:g})"


def sample_entries(
    generated: pd.DataFrame,
    entries: pd.DataFrame,
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    b_factors: str = "auto",
    method: str = SAMPLE,
    quality: float = DEFAULT_QUALITY,
) -> pd.DataFrame:
    """A sample map and its half maps for every expected map of a :func:`generate_entries` table (columns entry,
    path, resolution; rows without a resolution, the paper's weights, are left out): the expected map made a sample
    at ``quality`` on its own grid (:func:`s2mlib.sim.quality.quality_sample` with ``seed`` and the model from
    ``entries``' ``model`` column), exactly as ``MapGenerator(noise=True)`` makes it.

    Writes ``out_dir/<entry>_sample.mrc`` with ``<entry>_sample_half_map_1.mrc`` and ``_2`` beside it; returns a
    table: entry, method, path, resolution, seed, envelope_b, target_q, sample_q, half_map_1, half_map_2.
    """
    models = dict(zip(entries["entry"], entries["model"]))
    rows = []
    for row in generated.dropna(subset=["resolution"]).itertuples():
        expected = read_map(row.path)
        structure = read_structure(models[row.entry])
        sample = quality_sample(expected, structure, float(row.resolution), seed, quality=quality, b_factors=b_factors)
        out = Path(out_dir) / f"{entry_file_name(row.entry)}_sample.mrc"
        half_1, half_2, path = write_maps(out, sample.full, (sample.half_1, sample.half_2))
        rows.append(
            {
                "entry": row.entry,
                "method": method,
                "path": str(path),
                "resolution": row.resolution,
                "seed": sample.seed,
                "envelope_b": sample.envelope_b,
                "target_q": sample.target_q,
                "sample_q": sample.sample_q,
                "half_map_1": str(half_1),
                "half_map_2": str(half_2),
            }
        )
    columns = ["entry", "method", "path", "resolution", "seed", "envelope_b", "target_q", "sample_q"]
    return pd.DataFrame(rows, columns=[*columns, "half_map_1", "half_map_2"])
