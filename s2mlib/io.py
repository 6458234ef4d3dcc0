"""Density-map (MRC/CCP4) and atomic-structure (PDB/mmCIF) input and output.

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

import errno
import gzip
import os
import re
import signal
import tempfile
import time
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import gemmi
import mrcfile
import numpy as np

from .errors import MapError, OutputError, S2MError, StructureError, Terminated

MAP_SUFFIXES = (".mrc", ".map", ".ccp4", ".rec")
STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")
STALE_PART_AGE_S = 600  # a temporary file without its writer's PID counts as stale after this long


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
        """This map interpolated (trilinear for ``order=1``) onto another grid; outside the box gives 0."""
        from scipy.ndimage import map_coordinates

        voxel_size = np.broadcast_to(np.asarray(voxel_size, dtype=np.float64), (3,))
        origin = np.asarray(origin, dtype=np.float64)
        axes = [
            (origin[a] + np.arange(n) * voxel_size[a] - self.origin[a]) / self.voxel_size[a]
            for a, n in zip((2, 1, 0), shape_zyx)
        ]  # fractional indices along z, y, x of this map
        coords = np.meshgrid(*axes, indexing="ij", sparse=False)
        data = map_coordinates(self.data, coords, order=order, mode="constant", cval=0.0, prefilter=order > 1)
        return DensityMap(data, origin, voxel_size)

    def resampled_like(self, other: DensityMap, order: int = 1) -> DensityMap:
        """This map interpolated onto ``other``'s grid (same origin, shape and voxel size as ``other``)."""
        return self.resampled_on(other.origin, other.data.shape, other.voxel_size, order)

    def copy(self, data: np.ndarray | None = None) -> DensityMap:
        """A copy on the same grid, optionally with other data."""
        return DensityMap(self.data.copy() if data is None else data, self.origin, self.voxel_size)


def _check_exists(path: Path, what: str, error: type[Exception]) -> None:
    if not path.exists():
        raise error(f"{path}: {what} file not found")
    if not path.is_file():
        raise error(f"{path}: not a file")


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def read_map(path: str | os.PathLike, *, min_size: int = 1, purpose: str = "this operation") -> DensityMap:
    """Read an MRC/CCP4 map (.mrc, .map, .ccp4, optionally .gz) into a :class:`DensityMap` indexed [z, y, x].

    Any MAPC/MAPR/MAPS axis order is transposed to x, y, z. The origin is taken from the ORIGIN fields
    when they are non-zero, else from NXSTART/NYSTART/NZSTART x voxel size (the convention of ChimeraX and
    EMDB). Raises :class:`MapError` for a missing, non-MRC, truncated or corrupt file, or NaN/Inf values, and for
    a map with fewer than ``min_size`` voxels along some axis (``purpose`` names what needs them, e.g. trilinear
    resampling needs 2 per axis; a one-section map is a valid MRC file but not a 3D density to resample).
    """
    path = Path(path)
    _check_exists(path, "map", MapError)
    if path.stat().st_size == 0:
        raise MapError(f"{path}: empty file, not an MRC/CCP4 map")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mrcfile.open(path, mode="r", permissive=False) as mrc:
                header = mrc.header
                raw = np.asarray(mrc.data)
                if raw is None or raw.ndim != 3:
                    raise MapError(f"{path}: not a 3D map (data shape {None if raw is None else raw.shape})")
                order = (int(header.mapc), int(header.mapr), int(header.maps))
                cell = np.array([float(header.cella.x), float(header.cella.y), float(header.cella.z)])
                sampling = np.array([int(header.mx), int(header.my), int(header.mz)], dtype=np.float64)
                origin_field = np.array([float(header.origin.x), float(header.origin.y), float(header.origin.z)])
                nstart_crs = (int(header.nxstart), int(header.nystart), int(header.nzstart))
                data = raw.astype(np.float32, copy=True)
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


def _part_prefix(path: Path) -> str:
    """Prefix of this process's temporary files for ``path``: ``.NAME.p<PID>-`` (the PID tells stale ones)."""
    return f".{path.name}.p{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except (OverflowError, ValueError):
        return False
    return True


def remove_stale_parts(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files ``.NAME.p<PID>-*.part`` beside ``path`` whose writer is gone (killed by SIGKILL
    or a crash); files of live writers stay, and names without a PID (older versions) go after
    :data:`STALE_PART_AGE_S` seconds. Returns the files removed. Called by every :func:`atomic_write`."""
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(?:p(\d+)-)?[A-Za-z0-9_]+\.part$")
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if not match:
            continue
        try:
            if match.group(1) is not None:
                pid = int(match.group(1))
                stale = pid != os.getpid() and not _alive(pid)
            else:
                stale = time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_PART_AGE_S
            if stale:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _cannot_write(path: Path, exc: OSError) -> str:
    """One line naming the output and why it cannot be written."""
    if isinstance(exc, IsADirectoryError) or path.is_dir():
        return f"{path}: cannot write: the path is a folder, not a file name"
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno:
        reason = f"[Errno {exc.errno}] {reason}"
    other = (
        exc.filename
        if exc.filename is not None
        and not str(exc.filename).startswith((str(path), str(path.parent / f".{path.name}.")))
        else None
    )
    return f"{path}: cannot write: {reason}" + (f" ({other})" if other else "")


def check_output(path: str | os.PathLike, *, suffixes: tuple[str, ...] | None = MAP_SUFFIXES) -> Path:
    """Check where an output will go before the work that makes it; returns ``path``.

    Refuses (:class:`OutputError`, one line naming the path): a path that is a folder; a name not ending in one
    of ``suffixes`` (optionally + ``.gz``; default the map extensions, ``None`` accepts any name); a folder that
    cannot be created or written (read-only, no permission: a temporary file is created there and removed).
    A full disk can only show when the file is written (:func:`atomic_write` reports it the same way).
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: cannot write: the path is a folder, not a file name")
    if suffixes and not path.name.lower().removesuffix(".gz").endswith(suffixes):
        raise OutputError(f"{path}: not a map file name: maps are written as {', '.join(suffixes)} (optionally + .gz)")
    remove_stale_parts(path)
    try:
        _probe(path.parent, _part_prefix(path))
    except OSError as exc:
        raise OutputError(_cannot_write(path, exc)) from None
    return path


def _probe(folder: Path, prefix: str) -> None:
    """Create ``folder`` if needed, then a temporary file in it, and remove that: raises OSError if it cannot."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=folder)
    os.close(fd)
    os.unlink(probe)


def check_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` (and its parents) if needed and check that files can be written in it, before the work
    that writes them; raises :class:`OutputError` with one line naming the folder and the reason."""
    folder = Path(folder)
    try:
        _probe(folder, ".write-test.")
    except OSError as exc:
        reason = f"[Errno {exc.errno}] {exc.strerror}" if exc.errno else str(exc)
        raise OutputError(f"{folder}: cannot write into this folder: {reason}") from None
    return folder


def atomic_write(write, path: str | os.PathLike) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place.

    The temporary file is ``.NAME.p<PID>-XXXXXXXX.part``; it is removed when ``write`` raises, on Ctrl-C, and on
    SIGTERM inside :func:`sigterm_raises`; ones left by killed writers are removed on the next write to ``path``
    (:func:`remove_stale_parts`). Any ``OSError`` (a full disk, a read-only folder, ``path`` being a folder)
    becomes an :class:`OutputError` with one line naming ``path``; the previous file at ``path`` is kept.
    """
    path = Path(path)
    remove_stale_parts(path)
    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=_part_prefix(path), suffix=".part", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(_cannot_write(path, exc)) from None
    tmp = Path(name)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the permissions a plain open() would
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, S2MError):
            raise OutputError(_cannot_write(path, exc)) from exc
        raise


_NOT_INSTALLED = object()


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`~s2mlib.errors.Terminated` (a BaseException, like Ctrl-C's
    KeyboardInterrupt) so that :func:`atomic_write` removes its temporary file and a command can exit with one
    line. Only the main thread can install the handler; elsewhere the block runs unchanged."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread
        previous = _NOT_INSTALLED
    try:
        yield
    finally:
        if previous is not _NOT_INSTALLED:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def write_map(density: DensityMap, path: str | os.PathLike) -> Path:
    """Write a standard MRC (mode 2, axis order 1,2,3, ORIGIN and NSTART set) atomically; gzip if ``.gz``.

    NXSTART/NYSTART/NZSTART are 0 and ORIGIN holds the origin, so readers of either convention agree.
    """
    path = Path(path)
    compression = "gzip" if path.suffix == ".gz" else None
    data = np.asarray(density.data)
    if data.ndim != 3 or not np.isrealobj(data):
        raise MapError(f"{path}: cannot write data of shape {data.shape} and type {data.dtype} as a 3D map")
    if not np.all(np.isfinite(data)):
        raise MapError(f"{path}: refusing to write a map holding NaN or infinite values")

    def write(tmp: Path) -> None:
        with mrcfile.new(tmp, overwrite=True, compression=compression) as mrc:
            mrc.set_data(np.ascontiguousarray(data, dtype=np.float32))
            mrc.voxel_size = tuple(float(v) for v in density.voxel_size)
            mrc.header.origin = tuple(float(v) for v in density.origin)
            mrc.header.nxstart = mrc.header.nystart = mrc.header.nzstart = 0
            mrc.update_header_stats()

    atomic_write(write, path)
    return path


# --------------------------------------------------------------------------------------------- structures


@dataclass
class Structure:
    """Atoms of one model as flat arrays, plus the gemmi structure they came from.

    ``xyz`` (N, 3) Angstrom; ``element`` symbols; ``atomic_number`` Z; ``b_factor``; ``occupancy`` (as in the
    file); ``chain``, ``residue_name``, ``residue_number``, ``atom_name``; ``polymer_types`` maps chain ->
    'protein', 'nucleic acid' or 'other'. The arrays hold one conformer per atom (:func:`kept_conformers`);
    ``gemmi_structure`` holds every conformer, for the simulator that weights them by occupancy (gemmi).
    """

    path: Path
    xyz: np.ndarray
    element: np.ndarray
    atomic_number: np.ndarray
    b_factor: np.ndarray
    occupancy: np.ndarray
    chain: np.ndarray
    residue_name: np.ndarray
    residue_number: np.ndarray
    atom_name: np.ndarray
    is_hetero: np.ndarray
    polymer_types: dict[str, str]
    n_residues: int
    gemmi_structure: gemmi.Structure

    @property
    def n_atoms(self) -> int:
        return len(self.xyz)

    @property
    def chains(self) -> list[str]:
        return list(dict.fromkeys(self.chain.tolist()))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Minimum and maximum atom coordinates (x, y, z)."""
        return self.xyz.min(axis=0), self.xyz.max(axis=0)

    def translated(self, shift) -> Structure:
        """A copy with every atom moved by ``shift`` (x, y, z, Angstrom)."""
        st = self.gemmi_structure.clone()
        st[0].transform_pos_and_adp(gemmi.Transform(gemmi.Mat33(), gemmi.Vec3(*map(float, shift))))
        return structure_from_gemmi(st, self.path)


def _polymer_kind(chain: gemmi.Chain) -> str:
    polymer = chain.get_polymer()
    if len(polymer) == 0:
        return "other"
    ptype = polymer.check_polymer_type()
    if ptype in (gemmi.PolymerType.PeptideL, gemmi.PolymerType.PeptideD):
        return "protein"
    if ptype in (gemmi.PolymerType.Dna, gemmi.PolymerType.Rna, gemmi.PolymerType.DnaRnaHybrid):
        return "nucleic acid"
    return "other"


def kept_conformers(model: gemmi.Model) -> list[list[list[bool]]]:
    """Which atoms of ``model`` make its one conformer: ``keep[chain][residue][atom]``.

    ChimeraX's rule (``best_alt_locs`` in its atomstruct library; Biopython's disordered atoms also show one): for each
    residue (residues sharing a sequence number, i.e. microheterogeneity, together) with alternate locations,
    the altloc of the highest mean occupancy, then of the lowest mean B-factor, then the first by letter. Kept:
    atoms without an altloc, atoms of that altloc, and for an atom name missing from that altloc its own copy of
    highest occupancy (unless its residue holds only other altlocs: an alternative residue). So a model with
    side chains at A 0.5 / B 0.5 gives the same atoms, and the same molmap, as its A conformer alone.
    """
    keep = []
    for chain in model:
        flags = [[True] * len(res) for res in chain]
        start = 0
        while start < len(chain):
            seqid = (chain[start].seqid.num, chain[start].seqid.icode)
            end = start + 1
            while end < len(chain) and (chain[end].seqid.num, chain[end].seqid.icode) == seqid:
                end += 1
            stats: dict[str, list[tuple[float, float]]] = {}
            for r in range(start, end):
                for atom in chain[r]:
                    if atom.has_altloc():
                        stats.setdefault(atom.altloc, []).append((atom.occ, atom.b_iso))
            if stats:
                best = min(
                    stats,
                    key=lambda alt: (-np.mean([o for o, _ in stats[alt]]), np.mean([b for _, b in stats[alt]]), alt),
                )
                at_best = {atom.name for r in range(start, end) for atom in chain[r] if atom.altloc == best}
                fallback: dict[str, tuple[int, int, float]] = {}
                for r in range(start, end):
                    res = chain[r]
                    main = any(not a.has_altloc() or a.altloc == best for a in res)
                    for k, atom in enumerate(res):
                        if not atom.has_altloc() or atom.altloc == best:
                            continue
                        flags[r][k] = False
                        if main and atom.name not in at_best:
                            held = fallback.get(atom.name)
                            if held is None or atom.occ > held[2]:
                                fallback[atom.name] = (r, k, atom.occ)
                for r, k, _ in fallback.values():
                    flags[r][k] = True
            start = end
        keep.append(flags)
    return keep


def structure_from_gemmi(st: gemmi.Structure, path: Path) -> Structure:
    """A :class:`Structure` of the first model of a gemmi structure (``path``: the file it stands for), one
    conformer per atom (:func:`kept_conformers`); ``st`` itself is kept whole as ``gemmi_structure``."""
    model = st[0]
    keep = kept_conformers(model)
    pos, element, z, b, occ, chain, resn, resi, name, het = ([] for _ in range(10))
    n_residues = 0
    for ch, ch_keep in zip(model, keep):
        for res, res_keep in zip(ch, ch_keep):
            n_residues += any(res_keep)
            for atom, kept in zip(res, res_keep):
                if not kept:
                    continue
                pos.append((atom.pos.x, atom.pos.y, atom.pos.z))
                element.append(atom.element.name)
                z.append(atom.element.atomic_number)
                b.append(atom.b_iso)
                occ.append(atom.occ)
                chain.append(ch.name)
                resn.append(res.name)
                resi.append(res.seqid.num)
                name.append(atom.name)
                het.append(res.het_flag == "H")
    return Structure(
        path=path,
        xyz=np.array(pos, dtype=np.float64).reshape(-1, 3),
        element=np.array(element, dtype=object),
        atomic_number=np.array(z, dtype=np.int64),
        b_factor=np.array(b),
        occupancy=np.array(occ),
        chain=np.array(chain, dtype=object),
        residue_name=np.array(resn, dtype=object),
        residue_number=np.array(resi, dtype=np.int64),
        atom_name=np.array(name, dtype=object),
        is_hetero=np.array(het, dtype=bool),
        polymer_types={ch.name: _polymer_kind(ch) for ch in model},
        n_residues=n_residues,
        gemmi_structure=st,
    )


def read_structure(
    path: str | os.PathLike,
    *,
    remove_waters: bool = False,
    remove_hydrogens: bool = False,
    remove_hetero: bool = False,
    unknown_elements: str = "error",
) -> Structure:
    """Read the first model of a PDB or mmCIF file (optionally .gz) through gemmi.

    Options drop waters, hydrogens, or hetero groups (ligands and waters). Atoms whose element gemmi cannot
    determine (element 'X') are an error by default (``unknown_elements="error"``); with ``"warn"`` they are
    listed in a warning and removed. Raises :class:`StructureError` for a missing, unreadable or empty file.

    Alternate conformers (altlocs): the atom arrays hold one conformer per atom, chosen as ChimeraX does
    (:func:`kept_conformers`), so molmap, e2pdb2mrc and the StructureBlurrer count every atom once, at its full
    weight, as ChimeraX's molmap does (EMAN2 and TEMPy would count both conformers; see :mod:`s2mlib.simulate`);
    occupancies stay as in the file.
    ``gemmi_structure`` keeps every conformer: the gemmi simulator weights each by its occupancy, as gemmi does.
    Curation, generation and every other user of the arrays see the same single conformer.
    """
    path = Path(path)
    _check_exists(path, "model", StructureError)
    if path.stat().st_size == 0:
        raise StructureError(f"{path}: empty file, not a PDB or mmCIF model")
    if unknown_elements not in ("error", "warn"):
        raise ValueError("unknown_elements must be 'error' or 'warn'")
    try:
        st = gemmi.read_structure(str(path), merge_chain_parts=True)
    except (RuntimeError, ValueError, OSError, EOFError, zlib.error) as exc:
        raise StructureError(f"{path}: not a readable PDB or mmCIF model ({exc})") from None
    if len(st) == 0 or st[0].count_atom_sites() == 0:
        raise StructureError(f"{path}: the model holds no atoms (not a PDB/mmCIF file, or an empty model)")
    for i in range(len(st) - 1, 0, -1):  # keep the first model only
        del st[i]
    st.setup_entities()
    if remove_hetero:
        st.remove_ligands_and_waters()
    elif remove_waters:
        st.remove_waters()
    if remove_hydrogens:
        st.remove_hydrogens()
    st.remove_empty_chains()
    unknown = [
        f"{ch.name}/{res.name}{res.seqid.num}/{a.name}"
        for ch in st[0]
        for res in ch
        for a in res
        if a.element == gemmi.Element("X")
    ]
    if unknown:
        listed = ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        if unknown_elements == "error":
            raise StructureError(f"{path}: {len(unknown)} atoms of unknown element: {listed}")
        warnings.warn(f"{path}: removing {len(unknown)} atoms of unknown element: {listed}", stacklevel=2)
        for ch in st[0]:
            for res in ch:
                for i in range(len(res) - 1, -1, -1):
                    if res[i].element == gemmi.Element("X"):
                        del res[i]
        st.remove_empty_chains()
    if st[0].count_atom_sites() == 0:
        raise StructureError(f"{path}: no atoms left after removing waters/hydrogens/hetero groups")
    return structure_from_gemmi(st, path)


def is_map_path(path: str | os.PathLike) -> bool:
    """True when the file name looks like a density map (.mrc/.map/.ccp4/.rec, optionally .gz)."""
    name = str(path).lower().removesuffix(".gz")
    return name.endswith(MAP_SUFFIXES)


STRUCTURE_FORMATS = {".pdb": "pdb", ".ent": "pdb", ".cif": "mmcif", ".mmcif": "mmcif"}


def structure_format(path: str | os.PathLike) -> str:
    """``"pdb"`` or ``"mmcif"`` by the name's extension (optionally + ``.gz``); :class:`OutputError` (one line
    naming ``path``) for any other name, so a command can refuse it before its work."""
    path = Path(path)
    suffix = Path(path.name.lower().removesuffix(".gz")).suffix
    if suffix not in STRUCTURE_FORMATS:
        raise OutputError(
            f"{path}: not a model file name: models are written as {', '.join(STRUCTURE_FORMATS)} (optionally + .gz)"
        )
    return STRUCTURE_FORMATS[suffix]


def write_structure(structure: Structure | gemmi.Structure, path: str | os.PathLike) -> Path:
    """Write a model as PDB (.pdb, .ent) or mmCIF (.cif, .mmcif), gzipped for ``.gz``, atomically.

    Text from gemmi (``Structure.make_pdb_string``, ``make_mmcif_document``); a :class:`Structure` is written
    whole from its ``gemmi_structure`` (every conformer). A model PDB cannot hold (e.g. a chain name longer than
    two characters) is an :class:`OutputError` naming ``path``; mmCIF holds any model.
    """
    path = Path(path)
    kind = structure_format(path)
    st = structure.gemmi_structure if isinstance(structure, Structure) else structure
    try:
        text = st.make_pdb_string() if kind == "pdb" else st.make_mmcif_document().as_string()
    except (RuntimeError, ValueError) as exc:
        raise OutputError(f"{path}: cannot write the model as {kind.upper()} ({exc}); try .cif") from None

    def write(tmp: Path) -> None:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(tmp, "wt", encoding="utf-8") as fh:
            fh.write(text)

    atomic_write(write, path)
    return path
