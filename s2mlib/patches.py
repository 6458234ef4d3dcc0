"""The training patch dataset: (input, target) 32^3 cubes cut on the fly from whole (SimMap, ExpMap) pairs on the
cube grid of :mod:`s2mlib.tiling`, the input augmented as in the paper (TorchIO), and patch counts per split.

Example:
    >>> import numpy as np
    >>> a = np.zeros((40, 40, 40), np.float32); a[:10, :10, :10] = 1
    >>> len(PatchDataset([(a, a)])), len(PatchDataset([(a, a)], keep_empty=False))
    (8, 1)
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torchio as tio
from torch.utils.data import Dataset

from .errors import MapError, require_columns
from .io import read_map
from .tiling import cube_corners, cut_cube

TABLE_COLUMNS = ("entry", "split", "kept", "exp_map", "sim_map")


def empty_cubes(inp: np.ndarray, target: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Boolean per corner: True where the input cube and the target cube are both all zero."""
    occupied = (inp != 0) | (target != 0)
    return np.array([not cut_cube(occupied, c).any() for c in corners], dtype=bool)


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


class PatchDataset(Dataset):
    """(input, target) 32^3 patches cut on the fly from whole (SimMap, ExpMap) pairs.

    Item ``i`` is ``(x, y)``, two float32 tensors of shape (1, 32, 32, 32); ``index[i] = (map, z, y, x)``.
    With ``augment`` the INPUT only goes through :func:`augmentation`, seeded from ``(seed, epoch, i)``: the same
    seed, epoch and index give the same sample whatever the worker or order (``set_epoch`` changes the draw).
    ``keep_empty=False`` drops cubes whose input and target are both all zero (in the padding or in masked-out
    background); ``n_empty`` counts them either way, so ``len`` is ``n_cubes - n_empty`` when they are dropped.

    >>> import numpy as np
    >>> a = np.zeros((40, 40, 40), np.float32); a[:10, :10, :10] = 1
    >>> len(PatchDataset([(a, a)])), len(PatchDataset([(a, a)], keep_empty=False))
    (8, 1)
    """

    def __init__(self, pairs: Sequence[tuple[np.ndarray, np.ndarray]], *, augment: bool = False, seed: int = 0,
                 keep_empty: bool = True, names: Sequence[str] | None = None) -> None:
        self.names = list(names) if names is not None else [f"pair {i}" for i in range(len(pairs))]
        if len(self.names) != len(pairs):
            raise ValueError(f"{len(self.names)} names for {len(pairs)} pairs")
        self.inputs, self.targets, rows = [], [], []
        self.n_cubes = self.n_empty = 0
        for m, ((inp, target), name) in enumerate(zip(pairs, self.names)):
            inp, target = np.asarray(inp, dtype=np.float32), np.asarray(target, dtype=np.float32)
            if inp.ndim != 3 or inp.shape != target.shape:
                raise ValueError(f"{name}: input {inp.shape} and target {target.shape} must be 3D maps of one shape")
            corners = cube_corners(inp.shape)
            empty = empty_cubes(inp, target, corners)
            self.n_cubes += len(corners)
            self.n_empty += int(empty.sum())
            if not keep_empty:
                corners = corners[~empty]
            rows.append(np.column_stack([np.full(len(corners), m), corners]))
            self.inputs.append(inp)
            self.targets.append(target)
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

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        m, *corner = self.index[i]
        x = torch.from_numpy(cut_cube(self.inputs[m], corner))[None]
        y = torch.from_numpy(cut_cube(self.targets[m], corner))[None]
        if self._transform is not None:
            sample_seed = int(np.random.SeedSequence([self.seed, self.epoch, int(i)]).generate_state(1)[0])
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(sample_seed)
                x = self._transform(x).float()
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
        sim, exp = (read_map(base / getattr(row, col)) for col in ("sim_map", "exp_map"))
        if (sim.data.shape != exp.data.shape or not np.allclose(sim.origin, exp.origin, atol=1e-3)
                or not np.allclose(sim.voxel_size, exp.voxel_size, atol=1e-4)):
            raise MapError(f"{row.entry}: SimMap {row.sim_map} and ExpMap {row.exp_map} are not on one grid "
                           f"(shapes {sim.data.shape} / {exp.data.shape}, origins {sim.origin} / {exp.origin}, "
                           f"voxel sizes {sim.voxel_size} / {exp.voxel_size})")
        pairs.append((sim.data, exp.data))
        names.append(str(row.entry))
    return pairs, names


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
