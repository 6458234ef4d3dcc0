"""Cutting maps into 32^3 cubes, putting generated cubes back, and the training patch dataset.

Grid (paper section 3.2 and 3.4; the original's ``map2cube.create_cube``): the map is zero-padded by
``PAD = 32`` voxels on every side and cut into ``CUBE = 32`` cubes at stride ``STRIDE = 20``. The first cube
starts ``MARGIN = (32 - 20) / 2 = 6`` voxels before the map, so that cube ``k`` along an axis has its corner at
map index ``20 k - 6`` (padded index ``20 k + 26``) and its central ``20^3`` (cube indices ``6:26``) covers map
indices ``[20 k, 20 k + 20)``. An axis of length ``n`` therefore gets ``ceil(n / 20)`` cubes; reassembly writes
each central ``20^3`` back and crops to the map's shape, so every voxel comes from exactly one cube centre.

Corners are given in map index coordinates (z, y, x; may be negative); voxels outside the map read as 0,
which is exactly slicing the 32-padded map at ``corner + 32``.

TorchIO's ``GridSampler``/``GridAggregator`` are not used: they pad by half the overlap only (6 voxels) and move
the last patch of each axis back inside the volume, off the stride-20 grid, so they cut different cubes from
the paper's.

Example:
    >>> import numpy as np
    >>> a = np.arange(45 * 30 * 21, dtype=np.float32).reshape(45, 30, 21)
    >>> c, corners = cubes(a)
    >>> c.shape, corners[0].tolist()
    ((12, 32, 32, 32), [-6, -6, -6])
    >>> bool(np.array_equal(reassemble(c, corners, a.shape), a))
    True
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torchio as tio
from torch.utils.data import Dataset

from .errors import ManifestError, MapError
from .io import read_map

CUBE = 32  # edge of a network input cube (voxels)
STRIDE = 20  # distance between cube corners = edge of the central region kept at inference
PAD = 32  # zero padding on every side of a map, as in the paper
MARGIN = (CUBE - STRIDE) // 2  # 6: the kept centre is cube[6:26, 6:26, 6:26]
TABLE_COLUMNS = ("entry", "split", "kept", "exp_map", "sim_map")


def _margin(stride: int) -> int:
    if stride not in range(2, CUBE + 1, 2):
        raise ValueError(f"the kept centre (stride) must be an even number of voxels up to {CUBE}, got {stride}")
    return (CUBE - stride) // 2


def cube_corners(shape: Sequence[int], stride: int = STRIDE) -> np.ndarray:
    """Corners (z, y, x map indices, shape (N, 3), C order) of the cubes covering a map of ``shape``.

    Along an axis of length n: corners ``20 k - 6`` for ``k = 0 .. ceil(n / 20) - 1`` (the paper's tiling);
    another even ``stride`` s keeps a larger or smaller centre: corners ``s k - (32 - s) / 2``.

    >>> cube_corners((45, 30, 21)).shape
    (12, 3)
    """
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"need a non-empty 3D shape, got {tuple(shape)}")
    axes = [np.arange(math.ceil(n / stride)) * stride - _margin(stride) for n in shape]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def cut_cube(array: np.ndarray, corner: Sequence[int], size: int = CUBE) -> np.ndarray:
    """The ``size^3`` block of ``array`` starting at ``corner`` (may be negative); outside the map is 0."""
    out = np.zeros((size,) * 3, dtype=np.float32)
    src, dst = [], []
    for c, n in zip(corner, array.shape):
        lo, hi = max(int(c), 0), min(int(c) + size, n)
        if hi <= lo:
            return out
        src.append(slice(lo, hi))
        dst.append(slice(lo - int(c), hi - int(c)))
    out[tuple(dst)] = array[tuple(src)]
    return out


def cubes(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All cubes of a 3D map, ``(N, 32, 32, 32)`` float32, and their corners ``(N, 3)`` (see :func:`cube_corners`)."""
    array = np.asarray(array)
    if array.ndim != 3:
        raise ValueError(f"need a 3D map, got shape {array.shape}")
    corners = cube_corners(array.shape)
    return np.stack([cut_cube(array, c) for c in corners]), corners


def reassemble(cubes: np.ndarray, corners: np.ndarray, shape: Sequence[int], stride: int = STRIDE) -> np.ndarray:
    """Write the centre ``cube[6:26, 6:26, 6:26]`` of each cube back at ``corner + 6`` and crop to ``shape``
    (for another ``stride`` s, the central s^3 at ``corner + (32 - s) / 2``)."""
    cubes = np.asarray(cubes)
    corners = np.asarray(corners)
    if cubes.ndim == 5 and cubes.shape[1] == 1:  # (N, 1, 32, 32, 32) straight from the network
        cubes = cubes[:, 0]
    if cubes.shape[1:] != (CUBE,) * 3 or len(cubes) != len(corners):
        raise ValueError(f"need (N, {CUBE}, {CUBE}, {CUBE}) cubes and N corners, got {cubes.shape} and {corners.shape}")
    margin = _margin(stride)
    span = [math.ceil(n / stride) * stride for n in shape]
    out = np.zeros(span, dtype=np.float32)
    centre = slice(margin, margin + stride)
    for cube, (z, y, x) in zip(cubes, corners + margin):
        if min(z, y, x) < 0 or z + stride > span[0] or y + stride > span[1] or x + stride > span[2]:
            raise ValueError(f"corner {(z - margin, y - margin, x - margin)} is not on the cube grid of shape {tuple(shape)}")
        out[z:z + stride, y:y + stride, x:x + stride] = cube[centre, centre, centre]
    return out[: shape[0], : shape[1], : shape[2]]


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
                   **kwargs) -> "PatchDataset":
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
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ManifestError(f"curation table lacks columns {missing} (has {list(table.columns)})")
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
