"""Density maps: the :class:`DensityMap` grid and MRC/CCP4 input and output (models: :mod:`s2mlib.io.atoms`; safe
output files: :mod:`s2mlib.io.outputs`).

Maps are held as :class:`DensityMap`: ``data`` indexed ``[z, y, x]`` (float32), ``origin`` and ``voxel_size``
in Angstrom in x, y, z order, so that voxel ``data[k, j, i]`` sits at world position
``origin + (i, j, k) * voxel_size``.

Example:
    >>> import numpy as np
    >>> m = DensityMap(np.zeros((2, 3, 4), np.float32), origin=(10.0, 0.0, 0.0), voxel_size=1.5)
    >>> m.shape_xyz
    (4, 3, 2)
    >>> m.index_to_world([[1, 0, 0]]).tolist()
    [[11.5, 0.0, 0.0]]
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import tempfile
import warnings
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import mrcfile
import numpy as np
from mrcfile.mrcinterpreter import MrcInterpreter

from ..errors import MapError, require_file
from .memory import grid_bytes, require_memory
from .outputs import MAP_SUFFIXES, atomic_write


@dataclass
class DensityMap:
    """A 3D density on a regular grid. ``data[z, y, x]``; ``origin`` and ``voxel_size`` in Angstrom (x, y, z)."""

    data: np.ndarray
    origin: np.ndarray = field(default_factory=lambda: np.zeros(3))
    voxel_size: np.ndarray = field(default_factory=lambda: np.ones(3))
    axis_order: tuple[int, int, int] = (1, 2, 3)  # MAPC/MAPR/MAPS of the file it was read from

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=np.float32)
        if self.data.ndim != 3:
            raise ValueError(f"a density map must be 3-dimensional, got shape {self.data.shape}")
        self.origin = np.broadcast_to(np.asarray(self.origin, dtype=np.float64), (3,)).copy()
        self.voxel_size = np.broadcast_to(np.asarray(self.voxel_size, dtype=np.float64), (3,)).copy()
        if np.any(self.voxel_size <= 0):
            raise ValueError(f"voxel size must be positive, got {self.voxel_size}")

    @property
    def shape_xyz(self) -> tuple[int, int, int]:
        """Grid size along x, y, z (the MRC header's NX, NY, NZ for axis order 1,2,3)."""
        nz, ny, nx = self.data.shape
        return nx, ny, nz

    def index_to_world(self, ijk) -> np.ndarray:
        """World coordinates (Angstrom) of voxel indices given in x, y, z order, shape (N, 3)."""
        return np.asarray(ijk, dtype=np.float64) * self.voxel_size + self.origin

    def world_to_index(self, xyz) -> np.ndarray:
        """Fractional voxel indices (x, y, z order) of world coordinates, shape (N, 3)."""
        return (np.asarray(xyz, dtype=np.float64) - self.origin) / self.voxel_size

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """World coordinates of the first and last voxel centres (x, y, z)."""
        return self.origin.copy(), self.index_to_world(np.array(self.shape_xyz) - 1)

    def interpolate(self, xyz, order: int = 1) -> np.ndarray:
        """Map values at world points (trilinear for ``order=1``); points outside the box get 0."""
        from scipy.ndimage import map_coordinates

        idx = self.world_to_index(np.atleast_2d(xyz))[:, ::-1].T  # -> (z, y, x) rows
        return map_coordinates(self.data, idx, order=order, mode="constant", cval=0.0, prefilter=order > 1)

    def resampled_on(self, origin, shape_zyx, voxel_size, order: int = 1) -> DensityMap:
        """This map interpolated (trilinear for ``order=1``) onto another grid; outside the box gives 0.

        Trilinear (and nearest) interpolation goes 8 z-sections at a time, so the coordinates never cost more than
        a few sections (a whole-grid float64 meshgrid was 24 bytes per voxel); a spline (``order > 1``) needs the
        whole prefiltered map and is done at once."""
        from scipy.ndimage import map_coordinates

        voxel_size = np.broadcast_to(np.asarray(voxel_size, dtype=np.float64), (3,))
        origin = np.asarray(origin, dtype=np.float64)
        axes = [
            (origin[a] + np.arange(n) * voxel_size[a] - self.origin[a]) / self.voxel_size[a]
            for a, n in zip((2, 1, 0), shape_zyx)
        ]  # fractional indices along z, y, x of this map
        step = 8 if order <= 1 else max(1, len(axes[0]))
        data = np.empty(tuple(len(a) for a in axes), dtype=np.float32)
        for z in range(0, len(axes[0]), step):
            coords = np.meshgrid(axes[0][z : z + step], axes[1], axes[2], indexing="ij", sparse=False)
            data[z : z + step] = map_coordinates(
                self.data, coords, order=order, mode="constant", cval=0.0, prefilter=order > 1
            )
        return DensityMap(data, origin, voxel_size)

    def resampled_like(self, other: DensityMap, order: int = 1) -> DensityMap:
        """This map interpolated onto ``other``'s grid (same origin, shape and voxel size as ``other``)."""
        return self.resampled_on(other.origin, other.data.shape, other.voxel_size, order)

    def copy(self, data: np.ndarray | None = None) -> DensityMap:
        """A copy on the same grid, optionally with other data."""
        return DensityMap(self.data.copy() if data is None else data, self.origin, self.voxel_size)


MRC_HEADER = 1024  # bytes of the MRC/CCP4 main header
_MODE_BITS = {0: 8, 1: 16, 2: 32, 3: 32, 4: 64, 6: 16, 12: 16, 101: 4}  # MRC2014 modes (3, 4: complex)


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def mrc_declared_size(header: bytes) -> int:
    """Bytes an MRC/CCP4 file holds according to its 1024-byte header: 1024 + NSYMBT + NX*NY*NZ*bytes of MODE
    (byte order from the machine stamp; MRC2014). Raises ``ValueError`` for bytes that are not an MRC header.

    >>> h = np.zeros(256, "<i4"); h[:4] = (10, 20, 30, 2); h[52] = int.from_bytes(b"MAP ", "little")
    >>> mrc_declared_size(h.tobytes())
    25024
    """
    if len(header) < MRC_HEADER:
        raise ValueError(f"{len(header)} bytes, shorter than an MRC header ({MRC_HEADER})")
    if header[208:212] != b"MAP ":
        raise ValueError("no 'MAP ' identifier at byte 208 of the header")
    endian = ">" if header[212] == 0x11 else "<"
    nx, ny, nz, mode = struct.unpack(endian + "4i", header[:16])
    nsymbt = struct.unpack(endian + "i", header[92:96])[0]
    if mode not in _MODE_BITS or min(nx, ny, nz) < 1 or nsymbt < 0:
        raise ValueError(f"header holds NX, NY, NZ = {nx}, {ny}, {nz}, MODE {mode}, NSYMBT {nsymbt}")
    data = (nx + 1) // 2 * ny * nz if mode == 101 else nx * ny * nz * _MODE_BITS[mode] // 8
    return MRC_HEADER + nsymbt + data


def _check_declared(path: Path, gz: bool) -> int:
    """The size the header declares, after the checks every read makes before inflating anything: an MRC header,
    memory for the grid (raw data and two float32 copies), and for a plain file a size equal to the declared one.
    A gzip file's data is compared with it while it is read (:func:`read_map`)."""
    with (gzip.open if gz else open)(path, "rb") as fh:
        head = fh.read(MRC_HEADER)
    try:
        declared = mrc_declared_size(head)
    except ValueError as exc:
        raise MapError(f"{path}: not a valid MRC/CCP4 map ({exc})") from None
    nx, ny, nz = struct.unpack((">" if head[212] == 0x11 else "<") + "3i", head[:12])
    require_memory(declared + 2 * grid_bytes((nx, ny, nz)), f"{path}: a map of {nx} x {ny} x {nz} voxels")
    if not gz and path.stat().st_size != declared:
        raise MapError(
            f"{path}: truncated or corrupt map: its header declares {declared} bytes, the file holds "
            f"{path.stat().st_size}"
        )
    return declared


def read_map(path: str | os.PathLike, *, min_size: int = 1, purpose: str = "this operation") -> DensityMap:
    """Read an MRC/CCP4 map (.mrc, .map, .ccp4, optionally .gz) into a :class:`DensityMap` indexed [z, y, x].

    Any MAPC/MAPR/MAPS axis order is transposed to x, y, z. The origin is taken from the ORIGIN fields
    when they are non-zero, else from NXSTART/NYSTART/NZSTART x voxel size (the convention of ChimeraX and
    EMDB). Raises :class:`MapError` for a missing, non-MRC, truncated or corrupt file, or NaN/Inf values, and for
    a map with fewer than ``min_size`` voxels along some axis (``purpose`` names what needs them, e.g. trilinear
    resampling needs 2 per axis; a one-section map is a valid MRC file but not a 3D density to resample).
    Before any data is read, the size the header declares (header, extended header and data, as ``s2m fetch``
    checks downloads) must equal the file's (for gzip, the inflated data's: never more is inflated) and fit in
    memory (:class:`~s2mlib.io.memory.MemoryLimitError` otherwise).
    """
    path = Path(path)
    require_file(path, "map", MapError)
    if path.stat().st_size == 0:
        raise MapError(f"{path}: empty file, not an MRC/CCP4 map")
    try:
        gz = _is_gzip(path)
        declared = _check_declared(path, gz)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with (gzip.open if gz else open)(path, "rb") as fh:
                mrc = MrcInterpreter(iostream=fh, permissive=False)  # reads exactly the declared bytes
                if gz and fh.read(1):
                    raise MapError(
                        f"{path}: corrupt map: its header declares {declared} bytes, the gzip data holds more"
                    )
                header = mrc.header
                raw = None if mrc.data is None else np.asarray(mrc.data)
                if raw is None or raw.ndim != 3:
                    raise MapError(f"{path}: not a 3D map (data shape {None if raw is None else raw.shape})")
                order = (int(header.mapc), int(header.mapr), int(header.maps))
                cell = np.array([float(header.cella.x), float(header.cella.y), float(header.cella.z)])
                angles = np.array([float(header.cellb.alpha), float(header.cellb.beta), float(header.cellb.gamma)])
                sampling = np.array([int(header.mx), int(header.my), int(header.mz)], dtype=np.float64)
                origin_field = np.array([float(header.origin.x), float(header.origin.y), float(header.origin.z)])
                nstart_crs = (int(header.nxstart), int(header.nystart), int(header.nzstart))
                data = raw.astype(np.float32, copy=True)
                del mrc, raw
    except MapError:
        raise
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise MapError(f"{path}: truncated or corrupt gzip data ({exc})") from None
    except (ValueError, OSError) as exc:
        msg = str(exc)
        kind = "truncated or corrupt map" if "bytes" in msg or "size" in msg.lower() else "not a valid MRC/CCP4 map"
        raise MapError(f"{path}: {kind} ({msg})") from None
    if sorted(order) != [1, 2, 3]:
        raise MapError(f"{path}: invalid axis order MAPC/MAPR/MAPS = {order}")
    # Array axes are (sections, rows, columns) = axes (MAPS, MAPR, MAPC); bring them to (Z, Y, X) = (3, 2, 1).
    file_axes = (order[2], order[1], order[0])
    data = np.ascontiguousarray(data.transpose([file_axes.index(a) for a in (3, 2, 1)]))
    if not np.all(np.isfinite(data)):
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise MapError(f"{path}: map holds {bad} NaN or infinite values")
    nx_ny_nz = np.array(data.shape[::-1], dtype=np.float64)
    sampling = np.where(sampling > 0, sampling, nx_ny_nz)
    if np.any(cell <= 0):
        raise MapError(f"{path}: cell dimensions must be positive, header has {cell.tolist()}")
    if not np.all((np.abs(angles - 90.0) < 1e-3) | (angles == 0.0)):  # 0: not set, read as 90 (mrcfile, ChimeraX)
        raise MapError(
            f"{path}: cell angles {'/'.join(f'{a:g}' for a in angles)}: a non-orthogonal cell, and struc2map reads "
            f"orthogonal maps only (90/90/90): resample it onto an orthogonal grid first (e.g. ChimeraX volume "
            f"resample)"
        )
    voxel_size = cell / sampling
    if np.any(origin_field != 0):
        origin = origin_field
    else:
        start_xyz = np.zeros(3)
        for value, axis in zip(nstart_crs, order):  # NXSTART belongs to the column axis, etc.
            start_xyz[axis - 1] = value
        origin = start_xyz * voxel_size
    density = DensityMap(data, origin, voxel_size, axis_order=order)
    if min(density.shape_xyz) < min_size:
        raise MapError(
            f"{path}: the map is {' x '.join(map(str, density.shape_xyz))} voxels; {purpose} needs at "
            f"least {min_size} voxels along every axis"
        )
    return density


def _label(header) -> None:
    """One label naming the writer, with no date: mrcfile's default label holds the time of writing, so two writes
    of the same map gave different files."""
    from ..version import __version__

    header.label[0] = f"Created by struc2map {__version__}".ljust(80).encode()
    header.nlabl = 1


def _gzip(raw, out) -> None:
    """Compress the open binary file ``raw`` (from its start) into the open binary file ``out``, with no file name or
    time in the gzip header, so the same map gives the same bytes."""
    raw.seek(0)
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as fh:
        shutil.copyfileobj(raw, fh, 1 << 24)


def write_map(density: DensityMap, path: str | os.PathLike) -> Path:
    """Write a standard MRC (mode 2, axis order 1,2,3, ORIGIN and NSTART set) atomically; gzip if ``.gz``.

    NXSTART/NYSTART/NZSTART are 0 and ORIGIN holds the origin, so readers of either convention agree. The same map
    gives the same bytes (no date in the header's label or the gzip header).
    """
    path = Path(path)
    data = np.asarray(density.data)
    if data.ndim != 3 or not np.isrealobj(data):
        raise MapError(f"{path}: cannot write data of shape {data.shape} and type {data.dtype} as a 3D map")
    if not np.all(np.isfinite(data)):
        raise MapError(f"{path}: refusing to write a map holding NaN or infinite values")

    def write(tmp: Path) -> None:
        with mrcfile.new(tmp, overwrite=True) as mrc:
            mrc.set_data(np.ascontiguousarray(data, dtype=np.float32))
            mrc.voxel_size = tuple(float(v) for v in density.voxel_size)
            mrc.header.origin = tuple(float(v) for v in density.origin)
            mrc.header.nxstart = mrc.header.nystart = mrc.header.nzstart = 0
            mrc.update_header_stats()
            _label(mrc.header)
        if path.suffix == ".gz":
            with open(tmp, "rb") as raw, tempfile.TemporaryFile(dir=tmp.parent) as packed:
                _gzip(raw, packed)
                packed.seek(0)
                with open(tmp, "wb") as out:
                    shutil.copyfileobj(packed, out, 1 << 24)

    atomic_write(write, path)
    return path


def write_map_slabs(grid: DensityMap, parts: Iterable[np.ndarray], path: str | os.PathLike) -> Path:
    """:func:`write_map` for a map made slab by slab (:func:`s2mlib.sim.simulate.simulate_slabs`): ``grid``'s origin,
    shape and voxel size (its data unused), the z-sections from ``parts`` in order, one slab in memory at a time; the
    header's min, max, mean and rms accumulated in float64 and written when the data is whole. A ``.gz`` map is
    compressed from an unnamed temporary file in the same folder."""
    path = Path(path)
    nz, ny, nx = grid.data.shape
    mrc = MrcInterpreter()
    mrc._create_default_attributes()  # a write-only header, as mrcfile's documentation describes
    mrc.set_data(np.zeros((2, 1, 1), np.float32))  # mode 2, a volume
    header = mrc.header
    header.nx, header.ny, header.nz = header.mx, header.my, header.mz = nx, ny, nz
    mrc.voxel_size = tuple(float(v) for v in grid.voxel_size)
    header.origin = tuple(float(v) for v in grid.origin)
    header.nxstart = header.nystart = header.nzstart = 0
    _label(header)

    def write_data(fh) -> None:
        total, square, low, high, done = 0.0, 0.0, np.inf, -np.inf, 0
        fh.write(header.tobytes())
        for part in parts:
            part = np.ascontiguousarray(part, dtype=np.float32)
            if part.shape[1:] != (ny, nx) or done + len(part) > nz or not np.all(np.isfinite(part)):
                raise MapError(f"{path}: a slab of shape {part.shape} does not continue the {nx} x {ny} x {nz} map")
            total += float(part.sum(dtype=np.float64))
            square += float(np.square(part, dtype=np.float64).sum())
            low, high = min(low, float(part.min())), max(high, float(part.max()))
            fh.write(part.tobytes())
            done += len(part)
        if done != nz:
            raise MapError(f"{path}: the slabs hold {done} of the map's {nz} z-sections")
        mean = total / (nx * ny * nz)
        header.dmin, header.dmax, header.dmean = low, high, mean
        header.rms = np.sqrt(max(square / (nx * ny * nz) - mean**2, 0.0))
        fh.seek(0)
        fh.write(header.tobytes())

    def write(tmp: Path) -> None:
        if path.suffix != ".gz":
            with open(tmp, "wb") as fh:
                write_data(fh)
            return
        with tempfile.TemporaryFile(dir=tmp.parent) as raw, open(tmp, "wb") as out:
            write_data(raw)
            _gzip(raw, out)

    atomic_write(write, path)
    return path


def is_map_path(path: str | os.PathLike) -> bool:
    """True when the file name looks like a density map (.mrc/.map/.ccp4/.rec, optionally .gz)."""
    name = str(path).lower().removesuffix(".gz")
    return name.endswith(MAP_SUFFIXES)
