"""Density maps simulated from atomic models: ChimeraX molmap, EMAN2 e2pdb2mrc, TEMPy StructureBlurrer, gemmi.

Every simulator returns a :class:`~s2mlib.io.DensityMap` (``data[z, y, x]``, origin, voxel size). Given
``ref_map``, the map is evaluated on that map's grid (same origin, shape and voxel size); otherwise each method
builds its own grid (``molmap``'s bounding grid, or EMAN2's cubic box for ``e2pdb2mrc``).

Bounds, checked before any work: a resolution within :data:`RESOLUTION_RANGE` (0.5-100 A) and a grid (the method's
own, or ``ref_map``'s) whose arrays fit in the memory available (:func:`s2mlib.memory.require_memory`); otherwise one
line giving the grid size and the memory it would need.

Reference-grid policy: atoms whose centre lies outside the reference grid raise a ``UserWarning`` (their density
is cut off at the box edge); if no atom lies inside, a ``ValueError`` is raised (the map would be empty).

Alternate conformers and occupancy (one rule for the package): a residue at altloc A 0.5 / B 0.5 carries the
density of one residue, never two. ``molmap``, ``e2pdb2mrc`` and ``blurrer`` use the structure's atom arrays,
which hold one conformer per atom (:func:`s2mlib.atoms.kept_conformers`) at full weight, occupancy ignored, as
ChimeraX molmap does (it sums the atoms of the altloc ChimeraX shows: ``best_alt_locs``). ``gemmi`` uses every
conformer of the gemmi structure, each weighted by its occupancy, as ``gemmi.DensityCalculatorE`` does. EMAN2
and TEMPy differ: their readers (EMAN2's ``PointArray::read_from_pdb`` and e2pdb2mrc.py's ``pdb_2_mrc``; TEMPy's
gemmi-based ``PDBParser``) keep every ATOM record and ignore occupancy, so they count both conformers in full;
ours deliberately do not (that double count is the error this rule prevents).

Example:
    >>> from s2mlib.atoms import read_structure
    >>> st = read_structure("model.pdb")                      # doctest: +SKIP
    >>> sim = simulate(st, "molmap", 2.0, ref_map=exp_map)    # doctest: +SKIP

Why one long module: the four simulators share the grid rules and the exact Gaussian sum, and are tested against
one another.
"""

from __future__ import annotations

import math
import warnings

import gemmi
import numpy as np

from .atoms import Structure
from .errors import InputError, StructureError, optional_import
from .io import DensityMap
from .memory import grid_bytes, require_memory

METHODS = ("molmap", "e2pdb2mrc", "blurrer", "gemmi")
MOLMAP_SIGMA_FACTOR = 1.0 / (math.pi * math.sqrt(2.0))  # ChimeraX: sigma = resolution * sigma_factor
EMAN2_CUTOFF = math.sqrt(math.log(1e7))  # EMAN2 tabulates exp(-x^2) down to 1e-7: cutoff = 4.015 w
TEMPY_SIGMA_COEFF = 0.356  # TEMPy StructureBlurrer default: sigma = 0.356 * resolution
TEMPY_INSTALL = "pip install --no-deps BioTEMPy==2.1.2 voxcov pyFFTW"  # its own pins do not build on 3.11
_CHUNK_VALUES = 1 << 22  # values per accumulation step of the Gaussian sum (16 MiB of float32)
RESOLUTION_RANGE = (0.5, 100.0)  # A: finer is not cryo-EM (and asks for a sub-0.2 A grid), coarser is a blob
# float32 grid copies alive at once: the empty grid and the sum (molmap, e2pdb2mrc, gemmi on its padded cell, plus
# gemmi's transposed copy); TEMPy's blurrer works in float64 on several copies
GRID_COPIES = {"molmap": 2, "e2pdb2mrc": 2, "gemmi": 3, "blurrer": 10}


# ------------------------------------------------------------------------------------------------ checks


def _check_resolution(resolution: float, name: str = "resolution") -> float:
    value = float(resolution)
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"{name} must be a positive number of Angstrom, got {resolution!r}")
    return value


def _check_map_resolution(resolution: float) -> float:
    """A simulated map's resolution: positive, and within :data:`RESOLUTION_RANGE`."""
    value = _check_resolution(resolution)
    low, high = RESOLUTION_RANGE
    if not low <= value <= high:
        raise InputError(f"resolution must be within {low:g}-{high:g} A, got {resolution:g}")
    return value


def _require_grid(structure: Structure, method: str, shape_xyz, spacing, atom_bytes: int = 0) -> None:
    """Refuse, before it is allocated, a grid whose arrays (:data:`GRID_COPIES`) do not fit in memory."""
    size = " x ".join(str(int(n)) for n in shape_xyz)
    voxel = "/".join(f"{v:g}" for v in np.unique(np.round(np.broadcast_to(spacing, (3,)), 6)))
    require_memory(
        GRID_COPIES[method] * grid_bytes(shape_xyz) + atom_bytes,
        f"{structure.path}: {method} on a {size} grid of {voxel} A voxels ({structure.n_atoms} atoms)",
    )


def _sum_bytes(structure: Structure, cutoff: float, spacing) -> int:
    """Memory of the Gaussian sum's per-atom arrays: three axes of weights and indices per atom, and its centre."""
    width = 2 * cutoff / np.min(np.broadcast_to(spacing, (3,))) + 2
    return int(structure.n_atoms * (3 * width * 24 + 96))


def _check_structure(structure: Structure) -> None:
    if structure.n_atoms == 0:
        raise StructureError(f"{structure.path}: the structure has no atoms to simulate a map from")
    if not np.all(np.isfinite(structure.xyz)):
        raise StructureError(f"{structure.path}: atom coordinates hold NaN or infinite values")


def check_inside(structure: Structure, grid: DensityMap) -> None:
    """Warn when atoms lie outside ``grid``'s box; raise ``ValueError`` when none lies inside (a map on that grid
    would be empty). ``s2m generate --ref-map`` makes the same check."""
    low, high = grid.bounds()
    half = grid.voxel_size / 2
    outside = np.any((structure.xyz < low - half) | (structure.xyz > high + half), axis=1)
    n_out = int(outside.sum())
    if n_out == 0:
        return
    box = ", ".join(f"{a} {lo:.1f}..{hi:.1f}" for a, lo, hi in zip("xyz", low, high))
    if n_out == structure.n_atoms:
        raise StructureError(
            f"{structure.path}: none of the {n_out} atoms lies inside the reference map grid ({box} A)"
        )
    warnings.warn(
        f"{structure.path}: {n_out} of {structure.n_atoms} atoms lie outside the reference map grid "
        f"({box} A); their density is cut off at the box edge",
        UserWarning,
        stacklevel=3,
    )


def _empty_like(ref_map: DensityMap) -> DensityMap:
    return DensityMap(np.zeros(ref_map.data.shape, np.float32), ref_map.origin, ref_map.voxel_size)


def bounding_grid(xyz: np.ndarray, spacing: float, pad: float) -> DensityMap:
    """ChimeraX molmap's grid (all zeros): origin = min(xyz) - pad; shape = ceil((max - min + 2 pad) / spacing).

    >>> g = bounding_grid(np.array([[0.0, 0.0, 0.0], [10.0, 4.0, 1.0]]), 1.0, 2.0)
    >>> g.origin.tolist(), g.shape_xyz
    ([-2.0, -2.0, -2.0], (14, 8, 5))
    """
    spacing = _check_resolution(spacing, "grid spacing")
    if not math.isfinite(pad) or pad < 0:
        raise InputError(f"edge padding must be a non-negative number of Angstrom, got {pad!r}")
    low = xyz.min(axis=0)
    return DensityMap(np.zeros(bounding_shape(xyz, spacing, pad)[::-1], np.float32), low - pad, spacing)


def bounding_shape(xyz: np.ndarray, spacing: float, pad: float) -> tuple[int, int, int]:
    """The x, y, z size of :func:`bounding_grid` (nothing allocated): ceil((max - min + 2 pad) / spacing)."""
    low, high = xyz.min(axis=0), xyz.max(axis=0)
    return tuple(max(1, int(math.ceil((high[a] - low[a] + 2 * pad) / spacing))) for a in range(3))


# ---------------------------------------------------------------------------------- exact Gaussian sums


def gaussian_sum(grid: DensityMap, xyz: np.ndarray, amplitude: np.ndarray, sigma: float, cutoff: float) -> np.ndarray:
    """Sum over atoms of ``amplitude * exp(-|p - x|^2 / (2 sigma^2))`` at every grid point ``p`` with
    ``|p_i - x_i| <= cutoff`` on each axis (a cube, as ChimeraX's ``sum_of_gaussians`` and EMAN2's summation).

    Exact (no FFT, no lookup table): the cube makes each atom's kernel separable, ``gz(z) gy(y) gx(x)``, so 1D
    weights are computed once per atom (float64) and their outer products are accumulated in float32 with
    ``torch.index_add_``, one call per chunk of atoms sharing the same first x index (contiguous row segments).
    Returns a float32 array ``[z, y, x]`` shaped like ``grid.data``.
    """
    import torch

    xyz, amplitude = np.asarray(xyz, np.float64), np.asarray(amplitude, np.float64)
    if xyz.ndim != 2 or xyz.shape[1] != 3 or amplitude.shape != (len(xyz),):
        raise ValueError(f"need coordinates (N, 3) and N amplitudes, got {xyz.shape} and {amplitude.shape}")
    _check_resolution(sigma, "sigma")
    _check_resolution(cutoff, "cutoff")
    shape = np.array(grid.data.shape[::-1])  # nx, ny, nz
    centre = grid.world_to_index(xyz)  # fractional indices, x y z
    reach = cutoff / grid.voxel_size  # cutoff in voxels per axis
    width = np.floor(2 * reach).astype(np.int64) + 1  # most grid points in [c - r, c + r]
    start = np.ceil(centre - reach).astype(np.int64)
    hits = np.all((start < shape) & (start + width > 0), axis=1)  # the atom's cube meets the grid
    out = torch.zeros(tuple(grid.data.shape), dtype=torch.float32)
    if not hits.any():
        return out.numpy()
    centre, start, amplitude = centre[hits], start[hits], amplitude[hits]
    order = np.argsort(start[:, 0], kind="stable")
    centre, start, amplitude = centre[order], start[order], amplitude[order]

    weights, index = [], []
    for a in range(3):
        idx = start[:, a, None] + np.arange(width[a])
        d = idx - centre[:, a, None]
        w = np.exp(-0.5 * (d * grid.voxel_size[a] / sigma) ** 2) * (np.abs(d) <= reach[a])
        if a > 0:  # rows outside the grid get zero weight (x is clipped by slicing instead)
            w *= (idx >= 0) & (idx < shape[a])
            index.append(torch.from_numpy(np.clip(idx, 0, shape[a] - 1)))
        weights.append(torch.from_numpy((w * amplitude[:, None] if a == 2 else w).astype(np.float32)))
    gx, gy, gz = weights
    iy, iz = index
    nx, ny = int(shape[0]), int(shape[1])
    rows_of = out.view(-1, nx)

    first = start[:, 0]
    bounds = np.flatnonzero(np.diff(first)) + 1
    group_starts = np.concatenate([[0], bounds])
    group_ends = np.concatenate([bounds, [len(first)]])
    per_chunk = max(1, _CHUNK_VALUES // int(width.prod()))
    for g0, g1 in zip(group_starts, group_ends):
        x0 = int(first[g0])
        lo, hi = max(x0, 0), min(x0 + int(width[0]), nx)
        target = rows_of[:, lo:hi]
        for c0 in range(g0, g1, per_chunk):
            c1 = min(c0 + per_chunk, g1)
            rows = (iz[c0:c1, :, None] * ny + iy[c0:c1, None, :]).reshape(-1)
            plane = gz[c0:c1, :, None] * gy[c0:c1, None, :]
            values = (plane[:, :, :, None] * gx[c0:c1, None, None, lo - x0 : hi - x0]).reshape(rows.numel(), hi - lo)
            target.index_add_(0, rows, values)
    return out.numpy()


def _target_grid(
    structure: Structure,
    resolution: float,
    ref_map: DensityMap | None,
    spacing: float | None,
    pad: float | None,
    method: str,
    cutoff: float = 0.0,
) -> DensityMap:
    """``ref_map``'s grid (after the containment check), else molmap's bounding grid (spacing R/3, pad 3R); refused
    before allocation when it (and the per-atom arrays of a Gaussian sum reaching ``cutoff`` A) cannot fit."""
    if ref_map is not None:
        if spacing is not None or pad is not None:
            raise InputError("spacing/pad define a new grid and cannot be combined with ref_map (its grid is used)")
        check_inside(structure, ref_map)
        atoms = _sum_bytes(structure, cutoff, ref_map.voxel_size) if cutoff else 0
        _require_grid(structure, method, ref_map.shape_xyz, ref_map.voxel_size, atoms)
        return _empty_like(ref_map)
    spacing = _check_resolution(resolution / 3 if spacing is None else spacing, "grid spacing")
    pad = 3 * resolution if pad is None else pad
    if math.isfinite(pad) and pad >= 0:
        shape = bounding_shape(structure.xyz, spacing, pad)
        _require_grid(structure, method, shape, spacing, _sum_bytes(structure, cutoff, spacing) if cutoff else 0)
    return bounding_grid(structure.xyz, spacing, pad)


# ----------------------------------------------------------------------------------------------- methods


def molmap(
    structure: Structure,
    resolution: float,
    *,
    ref_map: DensityMap | None = None,
    spacing: float | None = None,
    pad: float | None = None,
    sigma_factor: float = MOLMAP_SIGMA_FACTOR,
    cutoff_range: float = 5.0,
) -> DensityMap:
    """ChimeraX ``molmap``: each atom a Gaussian of weight Z (atomic number, H and waters included when present;
    occupancy ignored; one conformer per atom, as ChimeraX shows one).

    rho(p) = sum_a Z_a (2 pi)^-1.5 sigma^-3 exp(-|p - x_a|^2 / (2 sigma^2)), sigma = resolution * sigma_factor
    (default 1 / (pi sqrt 2)), summed over the cube |p_i - x_a,i| <= cutoff_range * sigma (ChimeraX molmap.py and
    _map/gaussian.cpp). Grid: ``ref_map``'s ("onGrid"), else spacing ``resolution / 3`` and padding
    ``3 * resolution`` (origin = min(xyz) - pad, shape = ceil((max - min + 2 pad) / spacing)).
    """
    resolution = _check_map_resolution(resolution)
    _check_resolution(sigma_factor, "sigma_factor")
    _check_resolution(cutoff_range, "cutoff_range")
    _check_structure(structure)
    sigma = resolution * sigma_factor
    grid = _target_grid(structure, resolution, ref_map, spacing, pad, "molmap", cutoff_range * sigma)
    amplitude = structure.atomic_number * (2 * math.pi) ** -1.5 * sigma**-3
    return grid.copy(gaussian_sum(grid, structure.xyz, amplitude, sigma, cutoff_range * sigma))


def e2pdb2mrc(
    structure: Structure,
    resolution: float = 2.8,
    *,
    ref_map: DensityMap | None = None,
    spacing: float | None = None,
    box: int | None = None,
) -> DensityMap:
    """EMAN2 ``e2pdb2mrc`` (``PointArray::pdb2mrc_by_summation``), unnormalised electron-count Gaussians.

    rho(p) = sum_a e_a exp(-(|p - x_a| / w)^2), w = resolution / pi, on the cube |p_i - x_a,i| <= 4.015 w
    (EMAN2 tabulates exp(-x^2) down to 1e-7). Electrons e: EMAN2's H 1, C 6, N 7, O 8, P 15, S 16, i.e. Z, and
    Z for other elements. Defaults as EMAN2: voxel ``spacing`` (apix) 1.0 A, resolution 2.8 A. Own grid: a cube
    of ``box`` voxels with the coordinate origin (0, 0, 0) on voxel ``box // 2``; the default is EMAN2's
    ``int(1.9 * extent / apix + 2 * resolution / apix)``, enlarged when needed so that every atom's cube fits
    (EMAN2 expects a model centred at 0). Differences from EMAN2: exact exponentials instead of its 0.001-voxel
    table, a symmetric window (EMAN2 loops ``int(xc) - gbox .. int(xc) + gbox - 1``), and one conformer per atom
    (EMAN2's PDB readers take every ATOM line, altloc column ignored, so EMAN2 counts alternate conformers twice).
    """
    resolution = _check_map_resolution(resolution)
    _check_structure(structure)
    width = resolution / math.pi
    if ref_map is not None:
        if spacing is not None or box is not None:
            raise InputError("spacing/box define a new grid and cannot be combined with ref_map (its grid is used)")
        check_inside(structure, ref_map)
        atoms = _sum_bytes(structure, EMAN2_CUTOFF * width, ref_map.voxel_size)
        _require_grid(structure, "e2pdb2mrc", ref_map.shape_xyz, ref_map.voxel_size, atoms)
        grid = _empty_like(ref_map)
    else:
        apix = _check_resolution(1.0 if spacing is None else spacing, "grid spacing")
        extent = float(np.max(structure.xyz.max(axis=0) - structure.xyz.min(axis=0)))
        reach = float(np.abs(structure.xyz).max()) + EMAN2_CUTOFF * width
        needed = 2 * (math.ceil(reach / apix) + 1)
        if box is None:
            box = max(int(1.9 * extent / apix + 2 * resolution / apix), needed)
        elif int(box) != box or box < 1:
            raise InputError(f"box must be a positive whole number of voxels, got {box!r}")
        half = int(box) // 2
        _require_grid(structure, "e2pdb2mrc", (int(box),) * 3, apix, _sum_bytes(structure, EMAN2_CUTOFF * width, apix))
        grid = DensityMap(np.zeros((int(box),) * 3, np.float32), -half * apix, apix)
        check_inside(structure, grid)
    sigma = width / math.sqrt(2.0)  # exp(-(r/w)^2) = exp(-r^2 / (2 sigma^2))
    return grid.copy(
        gaussian_sum(grid, structure.xyz, structure.atomic_number.astype(np.float64), sigma, EMAN2_CUTOFF * width)
    )


def blurrer(
    structure: Structure,
    resolution: float,
    *,
    ref_map: DensityMap | None = None,
    spacing: float | None = None,
    pad: float | None = None,
    sigma_coeff: float = TEMPY_SIGMA_COEFF,
) -> DensityMap:
    """TEMPy ``StructureBlurrer.gaussian_blur_real_space`` run through BioTEMPy itself (a true peer).

    TEMPy puts each atom's mass (by the first letter of its name: H 1, C 12, N 14, O 16, S 32, else 1) on the
    nearest voxel of a ~1 A copy of the grid, applies ``scipy.ndimage.gaussian_filter`` with
    sigma = ``sigma_coeff * resolution`` (default 0.356), interpolates back onto the grid and standardises
    ((x - mean) / std). Grid: ``ref_map``'s, else molmap's bounding grid. voxcov acceleration is not used.
    Atoms: the structure's one conformer per atom (TEMPy's own parser would keep every alternate conformer).
    Without BioTEMPy installed: :class:`~s2mlib.errors.MissingDependency`, one line saying how to install it.
    """
    optional_import(
        "TEMPy.protein.structure_blurrer", "simulation method 'blurrer' (TEMPy's StructureBlurrer)", TEMPY_INSTALL
    )
    from TEMPy.maps.em_map import Map
    from TEMPy.protein.prot_rep_biopy import Atom, BioPy_Structure
    from TEMPy.protein.structure_blurrer import StructureBlurrer

    resolution = _check_map_resolution(resolution)
    _check_resolution(sigma_coeff, "sigma_coeff")
    _check_structure(structure)
    grid = _target_grid(structure, resolution, ref_map, spacing, pad, "blurrer")
    template = Map(np.zeros(grid.data.shape), grid.origin.copy(), grid.voxel_size.copy(), "reference")
    atoms = [
        Atom(name, xyz, element=element)
        for name, xyz, element in zip(structure.atom_name, structure.xyz.tolist(), structure.element)
    ]
    tempy_blurrer = StructureBlurrer()
    tempy_blurrer.use_vc = False  # the environment variable BLUR_WITH_VC would switch TEMPy to voxcov
    result = tempy_blurrer.gaussian_blur_real_space(
        BioPy_Structure(atoms), resolution, densMap=template, sigma_coeff=sigma_coeff, normalise=True
    )
    return grid.copy(np.asarray(result.fullMap, dtype=np.float32))


def gemmi_density(
    structure: Structure,
    resolution: float,
    *,
    ref_map: DensityMap | None = None,
    spacing: float | None = None,
    pad: float | None = None,
    blur: float | None = None,
) -> DensityMap:
    """Electron-scattering density from ``gemmi.DensityCalculatorE`` (ITC table 4.3.2.2 coefficients).

    rho(r) = sum_a occ_a sum_i a_i (4 pi / (b_i + B_a))^1.5 exp(-4 pi^2 r^2 / (b_i + B_a)), B_a = B-factor + blur
    (anisotropic ADPs as gemmi), over every atom of ``structure.gemmi_structure``, alternate conformers
    included, each weighted by its occupancy (gemmi's rule; the other simulators see one conformer). ``blur``
    defaults to 4 * resolution^2, the B of a Gaussian with molmap's sigma = resolution / (pi sqrt 2)
    (B = 8 pi^2 sigma^2); ``blur=0`` gives gemmi's unblurred density. Grid:
    ``ref_map``'s, else molmap's bounding grid. The periodic gemmi cell is the box plus an empty margin wider than
    gemmi's density radius, so nothing wraps around.
    """
    resolution = _check_map_resolution(resolution)
    _check_structure(structure)
    blur = 4 * resolution**2 if blur is None else float(blur)
    if not math.isfinite(blur) or blur < 0:
        raise InputError(f"blur must be a non-negative B value (A^2), got {blur!r}")
    grid = _target_grid(structure, resolution, ref_map, spacing, pad, "gemmi")

    st = structure.gemmi_structure.clone()
    model = st[0]
    model.transform_pos_and_adp(gemmi.Transform(gemmi.Mat33(), gemmi.Vec3(*map(float, -grid.origin))))
    widest = 0.0  # largest Gaussian B among atoms: coefficient b + ADP + blur
    for cra in model.all():
        atom = cra.atom
        adp = (
            max(atom.aniso.u11, atom.aniso.u22, atom.aniso.u33) * 8 * math.pi**2 if atom.aniso.nonzero() else atom.b_iso
        )
        widest = max(widest, max(atom.element.c4322.get_coefs()[5:]) + adp + blur)
    radius = math.sqrt(widest * math.log(1e6) / (4 * math.pi**2))  # generous bound on gemmi's 1e-5 cutoff
    shape = np.array(grid.shape_xyz)
    low, high = -radius, (shape - 1) * grid.voxel_size + radius
    lo, hi = [float(low)] * 3, [float(v) for v in high]
    for chain in model:  # atoms beyond the margin could wrap into the box: drop them (they add nothing to it)
        for residue in chain:
            for i in range(len(residue) - 1, -1, -1):
                p = residue[i].pos  # already moved by -origin
                if not all(a <= v <= b for a, v, b in zip(lo, (p.x, p.y, p.z), hi)):
                    del residue[i]

    size = shape + 2 * np.ceil(radius / grid.voxel_size).astype(int) + 2
    _require_grid(structure, "gemmi", size, grid.voxel_size)
    calc = gemmi.DensityCalculatorE()
    calc.blur = blur
    calc.grid.set_unit_cell(gemmi.UnitCell(*(size * grid.voxel_size), 90, 90, 90))
    calc.grid.set_size(*map(int, size))
    calc.add_model_density_to_grid(model)
    values = np.array(calc.grid, copy=False)[: shape[0], : shape[1], : shape[2]]  # [x, y, z]
    return grid.copy(np.ascontiguousarray(values.transpose(2, 1, 0), dtype=np.float32))


_SIMULATORS = {"molmap": molmap, "e2pdb2mrc": e2pdb2mrc, "blurrer": blurrer, "gemmi": gemmi_density}


def simulate(
    structure: Structure,
    method: str,
    resolution: float,
    ref_map: DensityMap | None = None,
    spacing: float | None = None,
) -> DensityMap:
    """Simulate a map with one of :data:`METHODS`; with ``ref_map`` the result lies on that map's grid.

    ``spacing`` (A per voxel) sets the voxel size of the method's own grid (``e2pdb2mrc``: EMAN2's apix).
    """
    if method not in _SIMULATORS:
        raise InputError(f"unknown simulation method {method!r}; choose one of {', '.join(METHODS)}")
    return _SIMULATORS[method](structure, resolution, ref_map=ref_map, spacing=spacing)
