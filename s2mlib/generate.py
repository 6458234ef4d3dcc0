"""Structure -> experimental-like map with a trained generator (paper section 3.4, "Inference").

The input is made exactly as in training (:mod:`s2mlib.curate`): molmap at 2 A on a 1 A grid covering the atoms'
bounding box plus a 3 A cushion, min-max to [0, 1]. It is cut into 32^3 cubes at stride 20 after 32 voxels of zero
padding (:mod:`s2mlib.patches`), each cube goes through the generator in batches, and the central 20^3 of every
output cube is written back (Si et al.); the result keeps the input grid's origin and 1 A voxels, or is resampled
onto a reference map's grid.

``skip_empty=True`` (the default) does not run cubes whose input is all zero and leaves their centre 0; the
paper-faithful tiling (``skip_empty=False``) runs every cube.

Example:
    >>> from s2mlib.io import read_structure
    >>> gen = MapGenerator(device="cpu")                                  # doctest: +SKIP
    >>> density = gen(read_structure("model.cif"))                        # doctest: +SKIP
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .errors import S2MError
from .io import DensityMap, Structure, read_map, read_structure, write_map
from .maps import minmax
from .model import place, resolve_device
from .simulate import bounding_grid, molmap
from .tiling import CUBE, STRIDE, cube_corners, cut_cube, reassemble
from .weights import load_generator, weights_path

INPUT_RESOLUTION = 2.0  # molmap resolution of the network's input (paper section 3.2)
GRID_SPACING = 1.0  # the network works on 1 A voxels
CUSHION = 3.0  # A around the atoms' bounding box, as the curated training maps (phenix.map_box)
BYTES_PER_VOXEL = 4 * 6  # float32 grid copies alive at once (molmap, input, padded cubes, output, resample)


def available_memory() -> int:
    """Bytes of memory available now (MemAvailable from /proc/meminfo; physical pages elsewhere)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def network_input(structure: Structure) -> DensityMap:
    """The generator's input for ``structure``: molmap at 2 A on a 1 A grid (bounding box + 3 A), min-max [0, 1].

    Raises :class:`S2MError` when the grid would not fit in the memory available.
    """
    grid = bounding_grid(structure.xyz, GRID_SPACING, CUSHION)
    need = int(np.prod(grid.shape_xyz, dtype=np.int64)) * BYTES_PER_VOXEL
    if need > available_memory():
        raise S2MError(f"{structure.path}: a {'x'.join(map(str, grid.shape_xyz))} grid at 1 A needs about "
                       f"{need / 2**30:.1f} GiB, more than the {available_memory() / 2**30:.1f} GiB available; "
                       f"split the structure (e.g. by chain) and generate the parts separately")
    density = molmap(structure, INPUT_RESOLUTION, ref_map=grid)
    return density.copy(minmax(density.data))


@torch.inference_mode()
def refine(network: torch.nn.Module, array: np.ndarray, *, device: torch.device | str = "cpu", batch_size: int = 32,
           skip_empty: bool = True, bf16: bool = False, channels_last: bool = False, stride: int = STRIDE,
           progress: bool = False) -> np.ndarray:
    """``network`` applied to a whole [z, y, x] array: 32^3 cubes at stride 20 (after 32 voxels of zero padding),
    in batches, the central 20^3 of each output written back; cubes with all-zero input are skipped (left 0)
    when ``skip_empty``. A larger even ``stride`` keeps a larger centre (fewer cubes; the paper's is 20)."""
    device = torch.device(device)
    corners = cube_corners(array.shape, stride)
    run = [i for i, c in enumerate(corners) if not skip_empty or cut_cube(array, c).any()]
    outputs = np.zeros((len(corners), CUBE, CUBE, CUBE), np.float32)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)
    batches = range(0, len(run), batch_size)
    for start in tqdm(batches, desc="generating", unit="batch", disable=not progress, leave=False):
        index = run[start:start + batch_size]
        batch = torch.from_numpy(np.stack([cut_cube(array, corners[i]) for i in index]))[:, None]
        with autocast:
            out = network(place(batch, device, channels_last))
        outputs[index] = out.float()[:, 0].cpu().numpy()
    return reassemble(outputs, corners, array.shape, stride)


class MapGenerator:
    """A loaded generator that turns structures into maps; reuse one instance for many structures.

    ``weights``: a file written by :func:`s2mlib.train.export_generator`, or a shipped set by name: 'shipped'
    (the default: paper width) or 'fast' (width 8, for CPUs); each has a model card ``s2mlib/weights/<name>.md``.
    ``device``: 'auto' (CUDA when present), 'cpu' or 'cuda'. ``bf16`` autocast and ``channels_last`` are CUDA
    speed options (they also run on the CPU).
    """

    def __init__(self, weights: str | os.PathLike | None = None, *, device: str = "auto", batch_size: int = 32,
                 skip_empty: bool = True, bf16: bool = False, channels_last: bool = False, stride: int = STRIDE,
                 progress: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {batch_size}")
        self.weights = weights_path(weights if weights is not None else "shipped")
        self.device = resolve_device(device)
        try:
            self.network = place(load_generator(self.weights, self.device), self.device, channels_last)
        except ValueError as exc:
            raise S2MError(str(exc)) from None
        self.batch_size, self.skip_empty = batch_size, skip_empty
        self.bf16, self.channels_last, self.stride, self.progress = bf16, channels_last, stride, progress
        self.last_timing: dict[str, float] = {}

    def refine(self, array: np.ndarray) -> np.ndarray:
        """Run the loaded generator over a whole [z, y, x] input array (see :func:`refine`)."""
        return refine(self.network, array, device=self.device, batch_size=self.batch_size,
                      skip_empty=self.skip_empty, bf16=self.bf16, channels_last=self.channels_last,
                      stride=self.stride, progress=self.progress)

    def __call__(self, structure: Structure, ref_map: DensityMap | None = None) -> DensityMap:
        """The generated map of ``structure`` on its 1 A grid, or on ``ref_map``'s grid when given."""
        t0 = time.perf_counter()
        source = network_input(structure)
        t1 = time.perf_counter()
        density = source.copy(self.refine(source.data))
        t2 = time.perf_counter()
        if ref_map is not None:
            density = density.resampled_like(ref_map)
        self.last_timing = {"simulate_s": t1 - t0, "network_s": t2 - t1, "total_s": time.perf_counter() - t0}
        return density



def generate_entries(generator: MapGenerator, entries, out_dir: str | os.PathLike, *,
                     method: str = "struc2mapGAN") -> pd.DataFrame:
    """Generate a map for every row of a curation table (columns entry, model, exp_map) on its ExpMap's grid.

    Writes ``out_dir/<entry>.mrc`` and returns a table: entry, method, path, residues, atoms, seconds (whole
    pipeline, structure -> map), simulate_s, network_s.
    """
    rows = []
    for row in tqdm(list(entries.itertuples()), desc=method, unit="entry", disable=not generator.progress):
        structure = read_structure(row.model)
        density = generator(structure, ref_map=read_map(row.exp_map))
        path = write_map(density, Path(out_dir) / f"{row.entry}.mrc")
        timing = generator.last_timing
        rows.append({"entry": row.entry, "method": method, "path": str(path), "residues": structure.n_residues,
                     "atoms": structure.n_atoms, "seconds": timing["total_s"], "simulate_s": timing["simulate_s"],
                     "network_s": timing["network_s"]})
    return pd.DataFrame(rows)
