"""The training patch dataset: (input, target) 32^3 cubes cut on the fly from whole (SimMap, ExpMap) pairs on the
cube grid of :mod:`s2mlib.tiling`, the input augmented as in the paper (TorchIO), and patch counts per split.

Example:
    >>> import numpy as np
    >>> a = np.zeros((40, 40, 40), np.float32); a[:10, :10, :10] = 1
    >>> len(PatchDataset([(a, a)])), len(PatchDataset([(a, a)], keep_empty=False))
    (8, 1)
"""
from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torchio as tio
from torch.utils.data import Dataset

from .cache import file_stamp
from .errors import MapError, require_columns
from .inputs import DEFAULT_RESOLUTION, known_resolution, network_input, resolution_ladder, target_at
from .io import read_map, read_structure
from .tiling import cube_corners, cut_cube

TABLE_COLUMNS = ("entry", "split", "kept", "exp_map", "sim_map")


def augmentation() -> tio.Compose:
    """The paper's input augmentation (section 3.2), as the original code set it up in TorchIO.

    RandomAnisotropy(downsampling 1-1.5, B-spline, p 0.25), RandomBlur(std 0-0.5, p 0.25),
    RandomNoise(std 0-0.1, p 0.25).
    """
    return tio.Compose([
        tio.RandomAnisotropy(downsampling=1.5, image_interpolation="bspline", p=0.25),
        tio.RandomBlur(std=(0, 0.5), p=0.25),
        tio.RandomNoise(std=(0, 0.1), p=0.25),
    ])


@dataclass
class Levels:
    """One map at several target resolutions: ``resolutions`` (A), one target per resolution, and one input for all
    of them (the paper's SimMap) or one per resolution (an input made at the target resolution)."""

    inputs: list[np.ndarray]
    targets: list[np.ndarray]
    resolutions: np.ndarray

    def __post_init__(self) -> None:
        self.inputs = [np.asarray(a, dtype=np.float32) for a in self.inputs]
        self.targets = [np.asarray(a, dtype=np.float32) for a in self.targets]
        self.resolutions = np.asarray(self.resolutions, dtype=np.float32).reshape(-1)
        n = len(self.resolutions)
        if n == 0 or len(self.targets) != n or len(self.inputs) not in (1, n):
            raise ValueError(f"need one target per resolution and one input or one per resolution, got "
                             f"{len(self.inputs)} inputs, {len(self.targets)} targets, {n} resolutions")


class PatchDataset(Dataset):
    """(input, target) 32^3 patches cut on the fly from whole (SimMap, ExpMap) pairs, or (input, target, R) from
    maps at several target resolutions.

    ``pairs``: (input, target) arrays, or :class:`Levels` (then every item also returns its target resolution R, a
    float32 scalar tensor, drawn per item from the map's resolutions, seeded from ``(seed, epoch, i)``).
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

    def __init__(self, pairs: Sequence[tuple[np.ndarray, np.ndarray] | Levels], *, augment: bool = False,
                 seed: int = 0, keep_empty: bool = True, names: Sequence[str] | None = None) -> None:
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
            levels = pair if isinstance(pair, Levels) else Levels([pair[0]], [pair[1]], [np.nan])
            shapes = {a.shape for a in levels.inputs + levels.targets}
            if len(shapes) != 1 or len(next(iter(shapes))) != 3:
                raise ValueError(f"{name}: inputs and targets must be 3D maps of one shape, got {sorted(shapes)}")
            occupied = np.zeros(levels.targets[0].shape, dtype=bool)
            for array in levels.inputs + levels.targets:
                occupied |= array != 0
            corners = cube_corners(occupied.shape)
            empty = np.array([not cut_cube(occupied, c).any() for c in corners], dtype=bool)
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
    def from_table(cls, table: pd.DataFrame, split: str, *, root: str | os.PathLike | None = None,
                   **kwargs) -> PatchDataset:
        """The dataset of one split of a curation table (see :func:`load_pairs`)."""
        pairs, names = load_pairs(table, split, root=root)
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
            level = int(np.random.default_rng([self.seed, self.epoch, int(i), 1]).integers(len(self.resolutions[m])))
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


def load_pairs(table: pd.DataFrame, split: str, *, root: str | os.PathLike | None = None
               ) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[str]]:
    """(SimMap, ExpMap) arrays and entry names of the kept rows of ``split`` in a curation table.

    Paths in ``sim_map``/``exp_map`` are taken relative to ``root`` when not absolute. Both maps of a row must
    share one grid (shape, origin, voxel size), else :class:`MapError` naming the entry.
    """
    require_columns(table, TABLE_COLUMNS, "curation table")
    base = Path(root) if root is not None else Path()
    rows = table[(table["split"] == split) & table["kept"].astype(bool)]
    pairs, names = [], []
    for row in rows.itertuples(index=False):
        paths = [base / getattr(row, col) for col in ("sim_map", "exp_map")]
        sim, exp = _one_grid(str(row.entry), *(read_map(p) for p in paths), row.sim_map, row.exp_map)
        pairs.append((sim.data, exp.data))
        names.append(str(row.entry))
    return pairs, names


def load_levels(table: pd.DataFrame, split: str, *, kind: str = "molmap", max_resolution: float = 10.0,
                step: float = 0.5, default_resolution: float = DEFAULT_RESOLUTION,
                root: str | os.PathLike | None = None) -> tuple[list[Levels], list[str]]:
    """Each kept entry of ``split`` at the target resolutions of :func:`s2mlib.inputs.resolution_ladder` (from its
    reported resolution, ``default_resolution`` when unknown, to ``max_resolution`` every ``step`` A): targets
    :func:`s2mlib.inputs.target_at`; inputs: the SimMap (``kind='molmap'``, one for every resolution) or the
    B-factor-aware input at each resolution (``kind='bfactor'``, from the entry's ``model``).

    The last few results are kept in memory (keyed by the files' stamps and the settings), so training several
    variants on one table computes the levels once.
    """
    require_columns(table, (*TABLE_COLUMNS, "resolution") + (("model",) if kind != "molmap" else ()),
                    "curation table")
    base = Path(root) if root is not None else Path()
    rows = table[(table["split"] == split) & table["kept"].astype(bool)]
    entries = tuple((str(row.entry), *(str(base / getattr(row, c)) for c in ("sim_map", "exp_map")),
                     str(base / row.model) if kind != "molmap" else "",
                     known_resolution(row.resolution, default_resolution)) for row in rows.itertuples(index=False))
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
        targets = [target_at(exp, r, native).data for r in ladder]
        if kind == "molmap":
            inputs = [sim.data]
        else:
            structure = read_structure(model_path)
            inputs = [network_input(structure, exp, kind, r).data for r in ladder]
        levelled.append(Levels(inputs, targets, ladder))
    return tuple(levelled)


def _one_grid(entry: str, sim, exp, sim_path, exp_path):
    """(sim, exp) when both maps share one grid (shape, origin, voxel size), else :class:`MapError`."""
    if (sim.data.shape != exp.data.shape or not np.allclose(sim.origin, exp.origin, atol=1e-3)
            or not np.allclose(sim.voxel_size, exp.voxel_size, atol=1e-4)):
        raise MapError(f"{entry}: SimMap {sim_path} and ExpMap {exp_path} are not on one grid "
                       f"(shapes {sim.data.shape} / {exp.data.shape}, origins {sim.origin} / {exp.origin}, "
                       f"voxel sizes {sim.voxel_size} / {exp.voxel_size})")
    return sim, exp


def patch_counts(table: pd.DataFrame, *, root: str | os.PathLike | None = None) -> pd.DataFrame:
    """Maps, cubes, empty cubes and non-empty cubes per split of a curation table (kept rows only).

    ``cubes`` is what training sees with ``keep_empty=True`` (the paper's counting), ``non_empty`` with
    ``keep_empty=False``.
    """
    rows = []
    for split in sorted(table.loc[table["kept"].astype(bool), "split"].unique()):
        pairs, names = load_pairs(table, split, root=root)
        ds = PatchDataset(pairs, names=names)
        rows.append({"split": split, "maps": len(ds.inputs), "cubes": ds.n_cubes, "empty": ds.n_empty,
                     "non_empty": ds.n_cubes - ds.n_empty})
    return pd.DataFrame(rows, columns=["split", "maps", "cubes", "empty", "non_empty"]).set_index("split")
