"""Density maps simulated from atomic models: ChimeraX molmap, EMAN2 e2pdb2mrc, TEMPy StructureBlurrer, gemmi.

Every simulator returns a :class:`~s2mlib.io.density.DensityMap` (``data[z, y, x]``, origin, voxel size). Given
``ref_map``, the map is evaluated on that map's grid (same origin, shape and voxel size); otherwise each method
builds its own grid (``molmap``'s bounding grid, or EMAN2's cubic box for ``e2pdb2mrc``).

Bounds, checked before any work: a resolution within :data:`RESOLUTION_RANGE` (0.5-100 A) and a grid (the method's
own, or ``ref_map``'s) whose arrays fit in the memory available (:func:`s2mlib.io.memory.require_memory`); otherwise one
line giving the grid size and the memory it would need. Big grids, block by block: :func:`simulate_slabs` gives the
map of ``molmap``, ``e2pdb2mrc`` or ``gemmi`` one slab of z-sections at a time (each from the atoms near it, the same
sums as on the whole grid), which ``s2m simulate`` writes as it goes when the whole grid's arrays would need more than
:data:`WHOLE_GRID_BYTES`.

Reference-grid policy: atoms whose centre lies outside the reference grid raise a ``UserWarning`` (their density
is cut off at the box edge); if no atom lies inside, a ``ValueError`` is raised (the map would be empty).

Alternate conformers and occupancy (one rule for the package): a residue at altloc A 0.5 / B 0.5 carries the
density of one residue, never two. ``molmap``, ``e2pdb2mrc`` and ``blurrer`` use the structure's atom arrays,
which hold one conformer per atom (:func:`s2mlib.io.atoms.kept_conformers`) at full weight, occupancy ignored, as
ChimeraX molmap does (it sums the atoms of the altloc ChimeraX shows: ``best_alt_locs``). ``gemmi`` uses every
conformer of the gemmi structure, each weighted by its occupancy, as ``gemmi.DensityCalculatorE`` does. EMAN2
and TEMPy differ: their readers (EMAN2's ``PointArray::read_from_pdb`` and e2pdb2mrc.py's ``pdb_2_mrc``; TEMPy's
gemmi-based ``PDBParser``) keep every ATOM record and ignore occupancy, so they count both conformers in full;
ours deliberately do not (that double count is the error this rule prevents).

Example:
    >>> from s2mlib.io.atoms import read_structure
    >>> st = read_structure("model.pdb")                      # doctest: +SKIP
    >>> sim = simulate(st, "molmap", 2.0, ref_map=exp_map)    # doctest: +SKIP

Why one long module: the four simulators share the grid rules and the exact Gaussian sum, and are tested against
one another.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator

import gemmi
import numpy as np

from ..errors import InputError, StructureError, optional_import
from ..io.atoms import Structure
from ..io.density import DensityMap
from ..io.memory import grid_bytes, require_memory

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


def grid_text(structure: Structure, method: str, shape_xyz, spacing) -> str:
    """'PATH: METHOD on a NX x NY x NZ grid of V A voxels (N atoms)', the start of a refusal."""
    size = " x ".join(str(int(n)) for n in shape_xyz)
    voxel = "/".join(f"{v:g}" for v in np.unique(np.round(np.broadcast_to(spacing, (3,)), 6)))
    return f"{structure.path}: {method} on a {size} grid of {voxel} A voxels ({structure.n_atoms} atoms)"


def _require_grid(structure: Structure, method: str, shape_xyz, spacing, atom_bytes: int = 0) -> None:
    """Refuse, before it is allocated, a grid whose arrays (:data:`GRID_COPIES`) do not fit in memory."""
    require_memory(
        GRID_COPIES[method] * grid_bytes(shape_xyz) + atom_bytes, grid_text(structure, method, shape_xyz, spacing)
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
    return DensityMap(np.zeros(bounding_shape(xyz, spacing, pad)[::-1], np.float32), low - pad, np.full(3, spacing))


def bounding_shape(xyz: np.ndarray, spacing: float, pad: float) -> tuple[int, int, int]:
    """The x, y, z size of :func:`bounding_grid` (nothing allocated): ceil((max - min + 2 pad) / spacing)."""
    low, high = xyz.min(axis=0), xyz.max(axis=0)
    x, y, z = (max(1, int(math.ceil((high[a] - low[a] + 2 * pad) / spacing))) for a in range(3))
    return x, y, z


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


def _own_grid(
    structure: Structure, resolution: float, ref_map: DensityMap | None, spacing: float | None, pad: float | None
) -> DensityMap:
    """``ref_map`` (after the containment check), else molmap's bounding grid (spacing R/3, pad 3R) without data
    (:func:`grid_spec`)."""
    if ref_map is not None:
        if spacing is not None or pad is not None:
            raise InputError("spacing/pad define a new grid and cannot be combined with ref_map (its grid is used)")
        check_inside(structure, ref_map)
        return ref_map
    spacing = _check_resolution(resolution / 3 if spacing is None else spacing, "grid spacing")
    pad = 3 * resolution if pad is None else pad
    if not math.isfinite(pad) or pad < 0:
        raise InputError(f"edge padding must be a non-negative number of Angstrom, got {pad!r}")
    return grid_spec(structure.xyz.min(axis=0) - pad, bounding_shape(structure.xyz, spacing, pad)[::-1], spacing)


def _target_grid(
    structure: Structure,
    resolution: float,
    ref_map: DensityMap | None,
    spacing: float | None,
    pad: float | None,
    method: str,
    cutoff: float = 0.0,
) -> DensityMap:
    """:func:`_own_grid`, all zeros; refused before allocation when it (and the per-atom arrays of a Gaussian sum
    reaching ``cutoff`` A) cannot fit."""
    grid = _own_grid(structure, resolution, ref_map, spacing, pad)
    atoms = _sum_bytes(structure, cutoff, grid.voxel_size) if cutoff else 0
    _require_grid(structure, method, grid.shape_xyz, grid.voxel_size, atoms)
    return _empty_like(grid)


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
    resolution, amplitude, sigma, cutoff = molmap_terms(structure, resolution, sigma_factor, cutoff_range)
    grid = _target_grid(structure, resolution, ref_map, spacing, pad, "molmap", cutoff)
    return grid.copy(gaussian_sum(grid, structure.xyz, amplitude, sigma, cutoff))


def molmap_terms(structure: Structure, resolution: float, sigma_factor: float = MOLMAP_SIGMA_FACTOR, cutoff_range=5.0):
    """molmap's checked resolution, per-atom amplitudes Z (2 pi)^-1.5 sigma^-3, sigma and cutoff (A)."""
    resolution = _check_map_resolution(resolution)
    _check_resolution(sigma_factor, "sigma_factor")
    _check_resolution(cutoff_range, "cutoff_range")
    _check_structure(structure)
    sigma = resolution * sigma_factor
    return resolution, structure.atomic_number * (2 * math.pi) ** -1.5 * sigma**-3, sigma, cutoff_range * sigma


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
    grid = _e2pdb2mrc_grid(structure, resolution, ref_map, spacing, box)
    _require_grid(
        structure,
        "e2pdb2mrc",
        grid.shape_xyz,
        grid.voxel_size,
        _sum_bytes(structure, EMAN2_CUTOFF * width, grid.voxel_size),
    )
    sigma = width / math.sqrt(2.0)  # exp(-(r/w)^2) = exp(-r^2 / (2 sigma^2))
    return grid.copy(
        gaussian_sum(grid, structure.xyz, structure.atomic_number.astype(np.float64), sigma, EMAN2_CUTOFF * width)
    )


def _e2pdb2mrc_grid(
    structure: Structure, resolution: float, ref_map: DensityMap | None, spacing: float | None, box: int | None
) -> DensityMap:
    """e2pdb2mrc's grid (no data, :func:`grid_spec`): ``ref_map``'s, else EMAN2's cubic box (see :func:`e2pdb2mrc`)."""
    width = resolution / math.pi
    if ref_map is not None:
        if spacing is not None or box is not None:
            raise InputError("spacing/box define a new grid and cannot be combined with ref_map (its grid is used)")
        check_inside(structure, ref_map)
        return ref_map
    apix = _check_resolution(1.0 if spacing is None else spacing, "grid spacing")
    extent = float(np.max(structure.xyz.max(axis=0) - structure.xyz.min(axis=0)))
    reach = float(np.abs(structure.xyz).max()) + EMAN2_CUTOFF * width
    needed = 2 * (math.ceil(reach / apix) + 1)
    if box is None:
        box = max(int(1.9 * extent / apix + 2 * resolution / apix), needed)
    elif int(box) != box or box < 1:
        raise InputError(f"box must be a positive whole number of voxels, got {box!r}")
    require_memory(  # one z-section at least (a map made slab by slab), before the grid is even described
        SLAB_COPIES * grid_bytes((int(box), int(box))),
        f"{structure.path}: e2pdb2mrc's {int(box)}^3 box at {apix:g} A (EMAN2 centres its cubic box on the "
        f"coordinate origin, and the model reaches {reach:.0f} A from it; --ref-map gives a grid around the model)",
    )
    grid = grid_spec(-(int(box) // 2) * apix, (int(box),) * 3, apix)
    check_inside(structure, grid)
    return grid


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
    if not np.any(structure.occupancy > 0):
        raise StructureError(
            f"{structure.path}: every atom has occupancy 0, so gemmi's density (each atom weighted by its "
            f"occupancy) would be empty"
        )
    blur = 4 * resolution**2 if blur is None else float(blur)
    if not math.isfinite(blur) or blur < 0:
        raise InputError(f"blur must be a non-negative B value (A^2), got {blur!r}")
    grid = _target_grid(structure, resolution, ref_map, spacing, pad, "gemmi")
    st, radius = _gemmi_model(structure, grid, blur)
    shape = np.array(grid.shape_xyz)
    size = shape + 2 * np.ceil(radius / grid.voxel_size).astype(int) + 2
    _require_grid(structure, "gemmi", size, grid.voxel_size)
    calc = _gemmi_calculator(size, grid.voxel_size, blur)
    calc.add_model_density_to_grid(st[0])
    values = np.array(calc.grid, copy=False)[: shape[0], : shape[1], : shape[2]]  # [x, y, z]
    return grid.copy(np.ascontiguousarray(values.transpose(2, 1, 0), dtype=np.float32))


def _gemmi_model(structure: Structure, grid: DensityMap, blur: float) -> tuple[gemmi.Structure, float]:
    """A copy of ``structure``'s gemmi structure, its first model moved by -origin of ``grid`` and without the atoms
    farther than gemmi's density radius from the box, and that radius (A): where a Gaussian of the largest B
    (coefficient b + ADP + blur) falls to 1e-6 of its peak, a generous bound on gemmi's 1e-5 cutoff."""
    st = structure.gemmi_structure.clone()
    model = st[0]
    model.transform_pos_and_adp(gemmi.Transform(gemmi.Mat33(), gemmi.Vec3(*map(float, -grid.origin))))
    widest = 0.0
    for cra in model.all():
        atom = cra.atom
        adp = (
            max(atom.aniso.u11, atom.aniso.u22, atom.aniso.u33) * 8 * math.pi**2 if atom.aniso.nonzero() else atom.b_iso
        )
        widest = max(widest, max(atom.element.c4322.get_coefs()[5:]) + adp + blur)
    radius = math.sqrt(widest * math.log(1e6) / (4 * math.pi**2))
    shape = np.array(grid.shape_xyz)
    lo, hi = [-radius] * 3, [float(v) for v in (shape - 1) * grid.voxel_size + radius]
    for chain in model:  # atoms beyond the margin could wrap into the box: drop them (they add nothing to it)
        for residue in chain:
            for i in range(len(residue) - 1, -1, -1):
                p = residue[i].pos  # already moved by -origin
                if not all(a <= v <= b for a, v, b in zip(lo, (p.x, p.y, p.z), hi)):
                    del residue[i]
    return st, radius


def _gemmi_calculator(size, voxel_size, blur: float) -> gemmi.DensityCalculatorE:
    """An empty periodic P1 cell of ``size`` (x, y, z) voxels for gemmi's density with ``blur``."""
    calc = gemmi.DensityCalculatorE()
    calc.blur = blur
    cell_x, cell_y, cell_z = (float(v) for v in np.asarray(size) * voxel_size)
    calc.grid.set_unit_cell(gemmi.UnitCell(cell_x, cell_y, cell_z, 90, 90, 90))
    calc.grid.set_size(*map(int, size))
    return calc


class GemmiSlabs:
    """gemmi's density on ``grid`` (:func:`gemmi_density`'s sum) for a range of z-sections at a time.

    The cell of a slab is the box along x and y (with :func:`gemmi_density`'s margin) and, along z, the slab plus
    the density radius on each side; only the atoms within that radius of the slab are added (in the model's order,
    so every voxel sums the same atoms in the same order as on the whole grid), at their own z: the cell is
    periodic, so section z lies at z mod its length, and it is long enough that no atom reaches a slab voxel twice.
    """

    def __init__(self, structure: Structure, grid: DensityMap, blur: float):
        self.structure, self.radius = _gemmi_model(structure, grid, blur)  # the atoms below live in it
        self.atoms = [atom for chain in self.structure[0] for residue in chain for atom in residue]
        self.z = np.array([atom.pos.z for atom in self.atoms], dtype=np.float64)
        self.grid, self.blur = grid, blur
        self.margin = np.ceil(self.radius / grid.voxel_size).astype(int) + 1  # x, y, z voxels

    def cell_bytes(self, sections: int) -> int:
        """Bytes of one slab's float32 cell of ``sections`` z-sections."""
        nx, ny, _ = self.grid.shape_xyz
        return grid_bytes((nx + 2 * self.margin[0], ny + 2 * self.margin[1], sections + 2 * self.margin[2]))

    def sections(self, z0: int, z1: int) -> np.ndarray:
        """Sections ``z0 .. z1 - 1`` of the density, float32 [z, y, x]."""
        nx, ny, _ = self.grid.shape_xyz
        vz = self.grid.voxel_size[2]
        size = (nx + 2 * self.margin[0], ny + 2 * self.margin[1], z1 - z0 + 2 * self.margin[2])
        calc = _gemmi_calculator(size, self.grid.voxel_size, self.blur)
        near = (self.z >= z0 * vz - self.radius - vz) & (self.z <= (z1 - 1) * vz + self.radius + vz)
        for i in np.flatnonzero(near):
            calc.add_atom_density_to_grid(self.atoms[i])
        values = np.array(calc.grid, copy=False)[:nx, :ny][:, :, np.arange(z0, z1) % size[2]]  # [x, y, z]
        return np.ascontiguousarray(values.transpose(2, 1, 0), dtype=np.float32)


_SIMULATORS: dict[str, Callable[..., DensityMap]] = {
    "molmap": molmap,
    "e2pdb2mrc": e2pdb2mrc,
    "blurrer": blurrer,
    "gemmi": gemmi_density,
}


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


# --------------------------------------------------------------------------------------- block by block

SLAB_BYTES = 1 << 26  # 64 MiB: the float32 z-sections of one slab when a grid is made block by block
WHOLE_GRID_BYTES = 2 << 30  # 2 GiB: a grid whose arrays need more is made slab by slab (where the method can)
BLOCKWISE = ("molmap", "e2pdb2mrc", "gemmi")
# float32 slab arrays alive at once, at most (gemmi: its cell with the margins, about two slabs, its copy and output)
SLAB_COPIES = 6


def grid_spec(origin, shape_zyx, voxel_size) -> DensityMap:
    """A grid that holds no data (``data`` a zero-strided view of one 0): the origin, shape and voxel size of a map
    made slab by slab."""
    return DensityMap(np.broadcast_to(np.float32(0), tuple(int(n) for n in shape_zyx)), origin, voxel_size)


def slabs(grid: DensityMap, sections: int | None = None) -> list[tuple[int, int]]:
    """The z-section ranges ``[z0, z1)`` of ``grid``'s slabs: ``sections`` each, default as many as fit in
    :data:`SLAB_BYTES` of float32 (at least one)."""
    nz, ny, nx = grid.data.shape
    step = int(sections) if sections else max(1, SLAB_BYTES // grid_bytes((nx, ny)))
    return [(z, min(z + step, nz)) for z in range(0, nz, step)]


def slab_grid(grid: DensityMap, z0: int, z1: int) -> DensityMap:
    """Sections ``z0 .. z1 - 1`` of ``grid`` as a grid of their own (no data)."""
    origin = grid.origin + np.array([0.0, 0.0, z0 * grid.voxel_size[2]])
    return grid_spec(origin, (z1 - z0, *grid.data.shape[1:]), grid.voxel_size)


def blockwise(grid: DensityMap, method: str) -> bool:
    """True when ``method`` on ``grid`` is made slab by slab: it can be, and its whole-grid arrays
    (:data:`GRID_COPIES`) would need more than :data:`WHOLE_GRID_BYTES`."""
    return method in BLOCKWISE and GRID_COPIES[method] * grid_bytes(grid.data.shape) > WHOLE_GRID_BYTES


def gaussian_slabs(
    grid: DensityMap, xyz: np.ndarray, amplitude: np.ndarray, sigma: float, cutoff: float, sections: int | None = None
) -> Iterator[np.ndarray]:
    """:func:`gaussian_sum` on ``grid``, one slab (:func:`slabs`) at a time, each from the atoms within ``cutoff``
    (and a voxel) of it along z: an atom farther away adds exact zeros, so the sums are the whole grid's."""
    xyz, amplitude = np.asarray(xyz, np.float64), np.asarray(amplitude, np.float64)
    z, reach = xyz[:, 2], cutoff + grid.voxel_size[2]
    for z0, z1 in slabs(grid, sections):
        part = slab_grid(grid, z0, z1)
        low, high = part.bounds()
        near = (z >= low[2] - reach) & (z <= high[2] + reach)
        yield gaussian_sum(part, xyz[near], amplitude[near], sigma, cutoff)


def simulate_slabs(
    structure: Structure,
    method: str,
    resolution: float,
    ref_map: DensityMap | None = None,
    spacing: float | None = None,
    sections: int | None = None,
) -> tuple[DensityMap, Iterator[np.ndarray]]:
    """:func:`simulate`'s map as its grid (no data) and its slabs of z-sections in order (:func:`slabs`), for the
    methods of :data:`BLOCKWISE`: the same sums, with one slab's arrays in memory at a time. Refused before the work
    (one line: the grid, the slab and the memory needed) when one slab does not fit."""
    if method not in BLOCKWISE:
        raise InputError(f"{method} cannot be simulated block by block; choose one of {', '.join(BLOCKWISE)}")
    resolution = _check_map_resolution(resolution)
    _check_structure(structure)
    if method == "molmap":
        resolution, amplitude, sigma, cutoff = molmap_terms(structure, resolution)
        grid = _own_grid(structure, resolution, ref_map, spacing, None)
    elif method == "e2pdb2mrc":
        width = resolution / math.pi
        grid = _e2pdb2mrc_grid(structure, resolution, ref_map, spacing, None)
        amplitude, sigma, cutoff = (
            structure.atomic_number.astype(np.float64),
            width / math.sqrt(2.0),
            EMAN2_CUTOFF * width,
        )
    else:
        grid, cutoff = _own_grid(structure, resolution, ref_map, spacing, None), 0.0
    ranges = slabs(grid, sections)
    thickest = max(z1 - z0 for z0, z1 in ranges)
    nz, ny, nx = grid.data.shape
    atom_bytes = 0
    if cutoff:  # the Gaussian sum's per-atom arrays of the slab with the most atoms near it
        z, reach = np.sort(structure.xyz[:, 2]), cutoff + grid.voxel_size[2]
        low = grid.origin[2] + np.array(ranges)[:, 0] * grid.voxel_size[2] - reach
        high = grid.origin[2] + (np.array(ranges)[:, 1] - 1) * grid.voxel_size[2] + reach
        most = int(np.max(np.searchsorted(z, high, "right") - np.searchsorted(z, low)))
        atom_bytes = _sum_bytes(structure, cutoff, grid.voxel_size) * most // structure.n_atoms
    require_memory(
        SLAB_COPIES * grid_bytes((nx, ny, thickest)) + atom_bytes,
        f"{grid_text(structure, method, grid.shape_xyz, grid.voxel_size)}, {thickest} z-section"
        f"{'s' if thickest > 1 else ''} at a time,",
    )
    if method == "gemmi":

        def parts() -> Iterator[np.ndarray]:
            density = GemmiSlabs(structure, grid, 4 * resolution**2)
            for z0, z1 in ranges:
                yield density.sections(z0, z1)

        return grid, parts()
    return grid, gaussian_slabs(grid, structure.xyz, amplitude, sigma, cutoff, sections)
