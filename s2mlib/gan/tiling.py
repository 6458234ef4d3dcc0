"""Cube geometry shared by training and inference: cutting a map into 32^3 cubes and putting cubes back.

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
from collections.abc import Sequence

import numpy as np

from ..errors import InputError

CUBE = 32  # edge of a network input cube (voxels)
STRIDE = 20  # distance between cube corners = edge of the central region kept at inference
PAD = 32  # zero padding on every side of a map, as in the paper
MARGIN = (CUBE - STRIDE) // 2  # 6: the kept centre is cube[6:26, 6:26, 6:26]


def _margin(stride: int) -> int:
    if stride not in range(2, CUBE + 1, 2):
        raise InputError(f"the kept centre (stride) must be an even number of voxels up to {CUBE}, got {stride}")
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
    out = np.zeros(tuple(shape), dtype=np.float32)
    for cube, corner in zip(cubes, corners):
        z, y, x = corner + margin
        if min(z, y, x) < 0 or z + stride > span[0] or y + stride > span[1] or x + stride > span[2]:
            raise ValueError(f"corner {tuple(int(v) for v in corner)} is not on the cube grid of shape {tuple(shape)}")
        put_centre(out, cube, corner, stride)
    return out


def put_centre(out: np.ndarray, cube: np.ndarray, corner: Sequence[int], stride: int = STRIDE) -> None:
    """Write the central ``stride^3`` of ``cube`` (cut at ``corner``) into ``out`` at ``corner + (32 - stride) / 2``,
    cropped to ``out``'s shape, in place: one cube of :func:`reassemble`, so that inference needs no array of cubes."""
    margin = _margin(stride)
    target = tuple(slice(int(c) + margin, min(int(c) + margin + stride, n)) for c, n in zip(corner, out.shape))
    out[target] = cube[tuple(slice(margin, margin + t.stop - t.start) for t in target)]
