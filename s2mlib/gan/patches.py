"""The training patch dataset: (input, target) 32^3 cubes cut on the fly from whole (SimMap, ExpMap) pairs on the
cube grid of :mod:`s2mlib.gan.tiling`, the input augmented as in the paper (TorchIO), and patch counts per split.

Memory does not grow with the patches: a dataset holds its maps and a (map, z, y, x) row per patch (32 bytes), never
the patches. With ``mmap=True`` (:func:`load_pairs`, what training uses) the maps themselves stay on disk: curated maps
(uncompressed MRC, float32, axis order 1,2,3) are memory-mapped (:class:`MappedMap`) and each patch reads its 32^3
voxels, so the resident memory is bounded whatever the number of maps (the page cache holds what the OS can spare).
TorchIO is imported only to augment (:func:`augmentation`), so training with the device augmentation
(:mod:`s2mlib.gan.augment`) needs neither TorchIO nor SimpleITK.

Example:
    >>> import numpy as np
    >>> a = np.zeros((40, 40, 40), np.float32); a[:10, :10, :10] = 1
    >>> len(PatchDataset([(a, a)])), len(PatchDataset([(a, a)], keep_empty=False))
    (8, 1)

Why one long module: the training data as one piece (memory-mapped maps, the dataset at one or many target
resolutions, the TorchIO augmentation, table loading and counts); the cube geometry is in :mod:`s2mlib.gan.tiling`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from ..errors import InputError, MapError, require_columns
from ..io.atoms import read_structure
from ..io.cache import file_stamp
from ..io.density import DensityMap, read_map
from ..sim.inputs import DEFAULT_RESOLUTION, bfactor_inputs, known_resolution, resolution_ladder, target_at
from .tiling import CUBE, PAD, cube_corners, cut_cube

TABLE_COLUMNS = ("entry", "split", "kept", "exp_map", "sim_map")


def augmentation():
    """The paper's input augmentation (section 3.2), as the original code set it up in TorchIO (a ``tio.Compose``).

    RandomAnisotropy(downsampling 1-1.5, B-spline, p 0.25), RandomBlur(std 0-0.5, p 0.25),
    RandomNoise(std 0-0.1, p 0.25). The same on a batch on the device: :mod:`s2mlib.gan.augment`.
    """
    import torchio as tio  # only the TorchIO path needs it (and SimpleITK)

    return tio.Compose(
        [
            tio.RandomAnisotropy(downsampling=1.5, image_interpolation="bspline", p=0.25),
            tio.RandomBlur(std=(0, 0.5), p=0.25),
            tio.RandomNoise(std=(0, 0.1), p=0.25),
        ]
    )


class MappedMap:
    """A map's voxels read on demand from its uncompressed MRC file: a read-only ``np.memmap`` [z, y, x], opened
    lazily in each process. Used as an array by :class:`PatchDataset` (``shape``, slicing, ``np.asarray``); it
    pickles as its file and layout, so DataLoader workers map the file themselves instead of copying the voxels.

    :meth:`open` gives None for a file it cannot map (gzip, not float32, an axis order other than 1,2,3).
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, int, int], offset: int, dtype: str) -> None:
        self.path, self.shape, self.offset, self.dtype = str(path), tuple(shape), int(offset), np.dtype(dtype)
        self._data: np.memmap | None = None

    @classmethod
    def open(cls, path: str | os.PathLike) -> MappedMap | None:
        """The mapped map of an uncompressed float32 MRC file in axis order 1,2,3, else None."""
        with open(path, "rb") as fh:
            if fh.read(2) == b"\x1f\x8b":  # gzip
                return None
        with mrcfile.mmap(path, mode="r", permissive=True) as mrc:
            data, header = mrc.data, mrc.header
            order = (int(header.mapc), int(header.mapr), int(header.maps))
            if data is None or data.ndim != 3 or data.dtype.kind != "f" or data.itemsize != 4 or order != (1, 2, 3):
                return None
            return cls(path, data.shape, data.offset, data.dtype.str)

    @property
    def ndim(self) -> int:
        return 3

    @property
    def data(self) -> np.memmap:
        """The memory map (opened on first use in this process)."""
        if self._data is None:
            self._data = np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=self.shape)
        return self._data

    def __getitem__(self, key):
        return self.data[key]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return np.asarray(self.data, dtype=dtype)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_data": None}

    def __repr__(self) -> str:
        return f"MappedMap({self.path!r}, shape={self.shape})"


def _voxels(array) -> np.ndarray | MappedMap:
    """A mapped map as it is, anything else as a float32 array."""
    return array if isinstance(array, MappedMap) else np.asarray(array, dtype=np.float32)


@dataclass
class Levels:
    """One map at several target resolutions: ``resolutions`` (A), one target per resolution, and one input for all
    of them (the paper's SimMap) or one per resolution (an input made at the target resolution). Arrays are float32
    arrays or :class:`MappedMap`."""

    inputs: list[np.ndarray | MappedMap]
    targets: list[np.ndarray | MappedMap]
    resolutions: np.ndarray

    def __post_init__(self) -> None:
        self.inputs = [_voxels(a) for a in self.inputs]
        self.targets = [_voxels(a) for a in self.targets]
        self.resolutions = np.asarray(self.resolutions, dtype=np.float32).reshape(-1)
        n = len(self.resolutions)
        if n == 0 or len(self.targets) != n or len(self.inputs) not in (1, n):
            raise ValueError(
                f"need one target per resolution and one input or one per resolution, got "
                f"{len(self.inputs)} inputs, {len(self.targets)} targets, {n} resolutions"
            )


class PatchDataset(Dataset):
    """(input, target) 32^3 patches cut on the fly from whole (SimMap, ExpMap) pairs, or (input, target, R) from
    maps at several target resolutions.

    ``pairs``: (input, target) arrays (or :class:`MappedMap`), or :class:`Levels` (then every item also returns its
    target resolution R, a float32 scalar tensor, drawn per item from the map's resolutions, seeded from
    ``(seed, epoch, i)``: uniformly, or with ``native_fraction`` f the map's first (native) resolution with
    probability f + (1 - f) / n and each other one with (1 - f) / n).
    Item ``i`` is ``(x, y)`` or ``(x, y, R)`` with x, y float32 tensors of shape (1, 32, 32, 32);
    ``index[i] = (map, z, y, x)``. With ``augment`` the INPUT only goes through :func:`augmentation`, seeded from
    ``(seed, epoch, i)``: the same seed, epoch and index give the same sample whatever the worker or order
    (``set_epoch`` changes the draw). ``keep_empty=False`` drops cubes whose input and target are all zero at every
    resolution (in the padding or in masked-out background); ``n_empty`` counts them either way, so ``len`` is
    ``n_cubes - n_empty`` when they are dropped.

    >>> import numpy as np
    >>> a = np.zeros((40, 40, 40), np.float32); a[:10, :10, :10] = 1
    >>> len(PatchDataset([(a, a)])), len(PatchDataset([(a, a)], keep_empty=False))
    (8, 1)
    """

    def __init__(
        self,
        pairs: Sequence[tuple[np.ndarray | MappedMap, np.ndarray | MappedMap] | Levels],
        *,
        augment: bool = False,
        seed: int = 0,
        keep_empty: bool = True,
        names: Sequence[str] | None = None,
        native_fraction: float | None = None,
    ) -> None:
        if native_fraction is not None and not 0 <= native_fraction <= 1:
            raise InputError(f"native_fraction must be None or in [0, 1], got {native_fraction}")
        self.native_fraction = native_fraction
        self.names = list(names) if names is not None else [f"pair {i}" for i in range(len(pairs))]
        if len(self.names) != len(pairs):
            raise ValueError(f"{len(self.names)} names for {len(pairs)} pairs")
        kinds = {isinstance(p, Levels) for p in pairs}
        if len(kinds) > 1:
            raise ValueError("pairs must be all (input, target) arrays or all Levels, not a mix")
        self.conditioned = kinds == {True}
        self.inputs, self.targets, self.resolutions, rows = [], [], [], []
        self.n_cubes = self.n_empty = 0
        for m, (pair, name) in enumerate(zip(pairs, self.names)):
            levels = pair if isinstance(pair, Levels) else Levels([pair[0]], [pair[1]], np.array([np.nan]))
            shapes = {a.shape for a in levels.inputs + levels.targets}
            if len(shapes) != 1 or len(next(iter(shapes))) != 3:
                raise ValueError(f"{name}: inputs and targets must be 3D maps of one shape, got {sorted(shapes)}")
            occupied = np.zeros(levels.targets[0].shape, dtype=bool)
            for array in levels.inputs + levels.targets:
                occupied |= np.asarray(array) != 0
            corners = cube_corners(occupied.shape)
            empty = empty_cubes(occupied, corners)
            del occupied
            self.n_cubes += len(corners)
            self.n_empty += int(empty.sum())
            if not keep_empty:
                corners = corners[~empty]
            rows.append(np.column_stack([np.full(len(corners), m), corners]))
            self.inputs.append(levels.inputs)
            self.targets.append(levels.targets)
            self.resolutions.append(levels.resolutions)
        self.index = np.concatenate(rows) if rows else np.zeros((0, 4), dtype=np.int64)
        self.augment, self.seed, self.epoch = augment, int(seed), 0
        self.keep_empty = keep_empty
        self._transform = augmentation() if augment else None

    @classmethod
    def from_table(
        cls, table: pd.DataFrame, split: str, *, root: str | os.PathLike | None = None, mmap: bool = False, **kwargs
    ) -> PatchDataset:
        """The dataset of one split of a curation table (see :func:`load_pairs`; ``mmap``: maps stay on disk)."""
        pairs, names = load_pairs(table, split, root=root, mmap=mmap)
        return cls(pairs, names=names, **kwargs)

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draw of an epoch (samples depend on ``(seed, epoch, index)`` only)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, ...]:
        m, *corner = self.index[i]
        level = 0
        if self.conditioned:
            rng = np.random.default_rng([self.seed, self.epoch, int(i), 1])
            level = int(rng.integers(len(self.resolutions[m])))
            if self.native_fraction is not None and rng.random() < self.native_fraction:
                level = 0
        inputs = self.inputs[m]
        x = torch.from_numpy(cut_cube(inputs[level if len(inputs) > 1 else 0], corner))[None]
        y = torch.from_numpy(cut_cube(self.targets[m][level], corner))[None]
        if self._transform is not None:
            sample_seed = int(np.random.SeedSequence([self.seed, self.epoch, int(i)]).generate_state(1)[0])
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(sample_seed)
                x = self._transform(x).float()
        if self.conditioned:
            return x, y, torch.tensor(self.resolutions[m][level])
        return x, y


def empty_cubes(occupied: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """For each cube corner (:func:`s2mlib.gan.tiling.cube_corners`), True when the 32^3 cube holds no occupied voxel.

    Counts come from a summed-area table of the occupancy in 2-voxel blocks of the 32-padded map (corners
    ``20 k - 6 + 32`` and the edge 32 are even, so every cube is a union of 16^3 blocks): 8 look-ups per cube.
    """
    occupied = np.asarray(occupied, dtype=bool)
    padded = np.pad(occupied, [(PAD, PAD + n % 2) for n in occupied.shape])
    nz, ny, nx = (n // 2 for n in padded.shape)
    blocks = padded.reshape(nz, 2, ny, 2, nx, 2).any(axis=(1, 3, 5))
    del padded
    table = np.zeros((nz + 1, ny + 1, nx + 1), dtype=np.int32)
    table[1:, 1:, 1:] = blocks.cumsum(0, dtype=np.int32).cumsum(1, dtype=np.int32).cumsum(2, dtype=np.int32)
    lo = (np.asarray(corners) + PAD) // 2
    z0, y0, x0 = lo.T
    z1, y1, x1 = (lo + CUBE // 2).T
    count = (
        table[z1, y1, x1]
        - table[z0, y1, x1]
        - table[z1, y0, x1]
        - table[z1, y1, x0]
        + table[z0, y0, x1]
        + table[z0, y1, x0]
        + table[z1, y0, x0]
        - table[z0, y0, x0]
    )
    return count == 0


def load_pairs(
    table: pd.DataFrame, split: str, *, root: str | os.PathLike | None = None, mmap: bool = False
) -> tuple[list[tuple[np.ndarray | MappedMap, np.ndarray | MappedMap]], list[str]]:
    """(SimMap, ExpMap) arrays and entry names of the kept rows of ``split`` in a curation table.

    Paths in ``sim_map``/``exp_map`` are taken relative to ``root`` when not absolute. Both maps of a row must
    share one grid (shape, origin, voxel size), else :class:`MapError` naming the entry. With ``mmap`` each map is
    read once to check it, then kept as a :class:`MappedMap` of its file (uncompressed float32 MRC in axis order
    1,2,3, as curation writes them; other files, such as gzip, stay in memory), so memory holds one pair at a time.
    """
    require_columns(table, TABLE_COLUMNS, "curation table")
    base = Path(root) if root is not None else Path()
    rows = table[(table["split"] == split) & table["kept"].astype(bool)]
    pairs: list[tuple[np.ndarray | MappedMap, np.ndarray | MappedMap]] = []
    names = []
    for row in rows.itertuples(index=False):
        sim_path, exp_path = base / row.sim_map, base / row.exp_map
        sim, exp = _one_grid(str(row.entry), read_map(sim_path), read_map(exp_path), row.sim_map, row.exp_map)
        if mmap:
            pairs.append((_mapped(sim_path, sim.data), _mapped(exp_path, exp.data)))
        else:
            pairs.append((sim.data, exp.data))
        del sim, exp
        names.append(str(row.entry))
    return pairs, names


def _mapped(path: Path, data: np.ndarray) -> np.ndarray | MappedMap:
    """The file's :class:`MappedMap` when it maps to exactly ``data``'s layout, else ``data``."""
    mapped = MappedMap.open(path)
    return mapped if mapped is not None and mapped.shape == data.shape else data


def load_levels(
    table: pd.DataFrame,
    split: str,
    *,
    kind: str = "molmap",
    max_resolution: float = 10.0,
    step: float = 0.5,
    default_resolution: float = DEFAULT_RESOLUTION,
    root: str | os.PathLike | None = None,
) -> tuple[list[Levels], list[str]]:
    """Each kept entry of ``split`` at the target resolutions of :func:`s2mlib.sim.inputs.resolution_ladder` (from its
    reported resolution, ``default_resolution`` when unknown, to ``max_resolution`` every ``step`` A): targets
    :func:`s2mlib.sim.inputs.target_at`; inputs: the SimMap (``kind='molmap'``, one for every resolution) or the
    B-factor-aware input at each resolution (``kind='bfactor'``, from the entry's ``model``).

    The last few results are kept in memory (keyed by the files' stamps and the settings), so training several
    variants on one table computes the levels once.
    """
    require_columns(table, (*TABLE_COLUMNS, "resolution") + (("model",) if kind != "molmap" else ()), "curation table")
    base = Path(root) if root is not None else Path()
    rows = table[(table["split"] == split) & table["kept"].astype(bool)]
    entries = tuple(
        (
            str(row.entry),
            str(base / row.sim_map),
            str(base / row.exp_map),
            str(base / row.model) if kind != "molmap" else "",
            known_resolution(row.resolution, default_resolution),
        )
        for row in rows.itertuples(index=False)
    )
    stamps = tuple(tuple(file_stamp(p)) for e in entries for p in e[1:4] if p)
    levelled = _levels(entries, stamps, kind, float(max_resolution), float(step))
    return list(levelled), [e[0] for e in entries]


@functools.lru_cache(maxsize=4)
def _levels(entries: tuple, stamps: tuple, kind: str, max_resolution: float, step: float) -> tuple[Levels, ...]:
    """:func:`load_levels`' work, for (entry, SimMap path, ExpMap path, model path, resolution) rows."""
    levelled = []
    for entry, sim_path, exp_path, model_path, native in entries:
        sim, exp = _one_grid(entry, read_map(sim_path), read_map(exp_path), sim_path, exp_path)
        ladder = resolution_ladder(native, max_resolution, step)
        targets: list[np.ndarray | MappedMap] = [target_at(exp, r, native).data for r in ladder]
        inputs: list[np.ndarray | MappedMap]
        if kind == "molmap":
            inputs = [sim.data]
        else:
            structure = read_structure(model_path)
            inputs = [m.data for m in bfactor_inputs(structure, exp, ladder)]
        levelled.append(Levels(inputs, targets, ladder))
    return tuple(levelled)


def _one_grid(
    entry: str, sim: DensityMap, exp: DensityMap, sim_path: str | os.PathLike, exp_path: str | os.PathLike
) -> tuple[DensityMap, DensityMap]:
    """(sim, exp) when both maps share one grid (shape, origin, voxel size), else :class:`MapError`."""
    if (
        sim.data.shape != exp.data.shape
        or not np.allclose(sim.origin, exp.origin, atol=1e-3)
        or not np.allclose(sim.voxel_size, exp.voxel_size, atol=1e-4)
    ):
        raise MapError(
            f"{entry}: SimMap {sim_path} and ExpMap {exp_path} are not on one grid "
            f"(shapes {sim.data.shape} / {exp.data.shape}, origins {sim.origin} / {exp.origin}, "
            f"voxel sizes {sim.voxel_size} / {exp.voxel_size})"
        )
    return sim, exp


def patch_counts(table: pd.DataFrame, *, root: str | os.PathLike | None = None) -> pd.DataFrame:
    """Maps, cubes, empty cubes and non-empty cubes per split of a curation table (kept rows only).

    ``cubes`` is what training sees with ``keep_empty=True`` (the paper's counting), ``non_empty`` with
    ``keep_empty=False``.
    """
    rows = []
    for split in sorted(table.loc[table["kept"].astype(bool), "split"].unique()):
        pairs, names = load_pairs(table, split, root=root, mmap=True)
        ds = PatchDataset(pairs, names=names)
        rows.append(
            {
                "split": split,
                "maps": len(ds.inputs),
                "cubes": ds.n_cubes,
                "empty": ds.n_empty,
                "non_empty": ds.n_cubes - ds.n_empty,
            }
        )
    return pd.DataFrame(rows, columns=["split", "maps", "cubes", "empty", "non_empty"]).set_index("split")
