"""Phenix map-model correlations (Afonine et al. 2018, Acta Cryst. D74:814): CC_mask, CC_box, CC_volume, CC_peaks.

Definitions of cctbx ``mmtbx/maps/correlation.py`` class ``five_cc`` (``map_calc`` given, ``compute_cc_box``),
for an experimental map m and a model map c on one grid, N = number of voxels inside the model mask:

- CC_box: Pearson over all voxels.
- CC_mask: Pearson over the voxels inside the model mask (:func:`phenix_mask`).
- CC_volume: Pearson over the voxels with c >= the (N+1)-th highest value of c (``get_selection_above_cutoff``).
- CC_peaks: Pearson over the union of those voxels of c and the same selection of m.

The mask (``mmtbx.masks.mask_from_xray_structure(p1=True)``, ``mmtbx/masks/atom_mask.cpp``, after Jiang &
Brunger 1994) is mmtbx's bulk-solvent mask, derived from the model only (not from the resolution): each atom a
sphere of its van der Waals radius (cctbx ``eltbx.van_der_waals_radii``, e.g. C 1.775, N 1.5, O 1.45, S 1.8 A)
plus the solvent radius 1.1 A; voxels closer than the vdW radius to an atom are macromolecule, voxels closer than
vdW + 1.1 A are contact, the rest solvent; then contact voxels with a solvent voxel closer than the shrink
truncation radius 0.9 A become solvent. Inside = macromolecule + remaining contact voxels. Distances are strict
(<), the box is periodic (P1 cell = the map box, as Phenix treats a map), so atoms near one face mask the other.

Example:
    >>> import numpy as np
    >>> from s2mlib.io.density import DensityMap
    >>> grid = DensityMap(np.zeros((20, 20, 20), np.float32), voxel_size=1.0)
    >>> int(phenix_mask(np.array([[10.0, 10.0, 10.0]]), grid, elements=["C"]).sum())  # |d| < 2.875 A
    93
"""

from __future__ import annotations

import itertools

import numpy as np

from ..errors import MapError
from ..io.atoms import Structure
from ..io.density import DensityMap
from .paper import pearson

SOLVENT_RADIUS = 1.1  # mmtbx.masks mask_master_params
SHRINK_TRUNCATION_RADIUS = 0.9

# cctbx.eltbx.van_der_waals_radii.vdw.table (cctbx-base 2025.11), Angstrom
VDW_RADII = {
    "Ac": 2.12,
    "Ag": 1.72,
    "Al": 1.5,
    "Am": 1.66,
    "Ar": 1.88,
    "As": 0.83,
    "At": 1.12,
    "Au": 1.66,
    "B": 1.75,
    "Ba": 2.41,
    "Be": 0.63,
    "Bi": 1.73,
    "Bk": 1.64,
    "Br": 1.85,
    "C": 1.775,
    "Ca": 1.95,
    "Cd": 1.58,
    "Ce": 1.86,
    "Cf": 1.63,
    "Cl": 1.75,
    "Cm": 1.65,
    "Co": 1.13,
    "Cr": 1.13,
    "Cs": 3.01,
    "Cu": 1.4,
    "D": 1.2,
    "Dy": 1.63,
    "Er": 1.59,
    "Es": 1.62,
    "Eu": 1.96,
    "F": 1.47,
    "Fe": 1.26,
    "Fm": 1.61,
    "Fr": 3.24,
    "Ga": 1.87,
    "Gd": 1.69,
    "Ge": 1.48,
    "H": 1.2,
    "He": 1.4,
    "Hf": 1.4,
    "Hg": 1.55,
    "Ho": 1.61,
    "I": 1.98,
    "In": 1.93,
    "Ir": 1.22,
    "K": 2.75,
    "Kr": 2.02,
    "La": 1.83,
    "Li": 1.82,
    "Lr": 1.58,
    "Lu": 1.53,
    "Md": 1.6,
    "Mg": 1.73,
    "Mn": 1.19,
    "Mo": 1.75,
    "N": 1.5,
    "Na": 2.27,
    "Nb": 1.33,
    "Nd": 1.79,
    "Ne": 1.54,
    "Ni": 1.63,
    "No": 1.59,
    "Np": 1.71,
    "O": 1.45,
    "Os": 1.58,
    "P": 1.9,
    "Pa": 1.6,
    "Pb": 2.02,
    "Pd": 1.63,
    "Pm": 1.76,
    "Po": 1.21,
    "Pr": 1.62,
    "Pt": 1.72,
    "Pu": 1.67,
    "Ra": 2.57,
    "Rb": 2.65,
    "Re": 1.3,
    "Rh": 1.22,
    "Rn": 2.3,
    "Ru": 1.2,
    "S": 1.8,
    "Sb": 1.12,
    "Sc": 1.32,
    "Se": 1.9,
    "Si": 2.1,
    "Sm": 1.74,
    "Sn": 2.17,
    "Sr": 2.02,
    "Ta": 1.22,
    "Tb": 1.66,
    "Tc": 2.0,
    "Te": 1.26,
    "Th": 1.84,
    "Ti": 1.95,
    "Tl": 1.96,
    "Tm": 1.57,
    "U": 1.75,
    "V": 1.06,
    "W": 1.26,
    "Xe": 2.16,
    "Y": 1.61,
    "Yb": 1.54,
    "Zn": 1.39,
    "Zr": 1.42,
}


def _mark_within(xyz: np.ndarray, grid: DensityMap, radius: float, out: np.ndarray) -> None:
    """Set ``out`` (flat, periodic box) True at voxels strictly closer than ``radius`` to any atom."""
    shape_xyz = np.array(grid.shape_xyz)
    frac = grid.world_to_index(xyz)
    base = np.floor(frac).astype(np.int64)
    reach = np.ceil(radius / grid.voxel_size).astype(int)
    offsets = np.array(list(itertools.product(*(range(-r, r + 2) for r in reach))))
    chunk = max(1, (1 << 22) // len(offsets))
    for start in range(0, len(xyz), chunk):
        idx = base[start : start + chunk, None, :] + offsets[None]  # (atoms, stencil, xyz)
        d2 = (((idx - frac[start : start + chunk, None, :]) * grid.voxel_size) ** 2).sum(axis=2)
        idx = idx[d2 < radius * radius] % shape_xyz  # periodic box
        out[(idx[:, 2] * shape_xyz[1] + idx[:, 1]) * shape_xyz[0] + idx[:, 0]] = True


def phenix_mask(
    atoms: Structure | np.ndarray,
    grid: DensityMap,
    *,
    elements: list[str] | np.ndarray | None = None,
    solvent_radius: float = SOLVENT_RADIUS,
    shrink_truncation_radius: float = SHRINK_TRUNCATION_RADIUS,
) -> np.ndarray:
    """mmtbx's model mask on ``grid`` (bool ``[z, y, x]``, True inside; see the module docstring).

    ``atoms``: a Structure (its elements are used) or (N, 3) coordinates with ``elements``. Unknown elements
    raise ``KeyError`` (as mmtbx raises for atoms without a van der Waals radius).
    """
    xyz = np.asarray(getattr(atoms, "xyz", atoms), dtype=np.float64).reshape(-1, 3)
    elements = getattr(atoms, "element", None) if elements is None else elements
    if elements is None or len(elements) != len(xyz):
        raise ValueError(f"phenix_mask needs one element per atom ({len(xyz)} coordinates)")
    radii = np.array([VDW_RADII[e if e in VDW_RADII else e.capitalize()] for e in elements])
    size = int(np.prod(grid.shape_xyz))
    macromolecule = np.zeros(size, dtype=bool)
    contact = np.zeros(size, dtype=bool)
    for radius in np.unique(radii):
        chosen = xyz[radii == radius]
        _mark_within(chosen, grid, radius, macromolecule)
        _mark_within(chosen, grid, radius + solvent_radius, contact)
    shape = grid.data.shape
    shell = (contact & ~macromolecule).reshape(shape)
    solvent = ~(macromolecule.reshape(shape) | shell)
    reach = np.floor(shrink_truncation_radius / grid.voxel_size).astype(int)
    near_solvent = np.zeros(shape, dtype=bool)
    for step in itertools.product(*(range(-r, r + 1) for r in reach[::-1])):  # z, y, x voxel offsets
        if 0 < np.sum((np.array(step) * grid.voxel_size[::-1]) ** 2) < shrink_truncation_radius**2:
            near_solvent |= np.roll(solvent, step, axis=(0, 1, 2))
    return macromolecule.reshape(shape) | (shell & ~near_solvent)


def _top_selection(values: np.ndarray, n: int) -> np.ndarray:
    """mmtbx ``get_selection_above_cutoff``: values >= the (n+1)-th highest value (ties all included)."""
    flat = values.ravel()
    cutoff = np.partition(flat, flat.size - 1 - n)[flat.size - 1 - n]
    return values >= cutoff


def map_model_cc(
    density: DensityMap, model_map: DensityMap, structure: Structure | np.ndarray, *, mask: np.ndarray | None = None
) -> dict[str, float]:
    """Phenix's CC_mask, CC_box, CC_volume, CC_peaks of ``density`` (m) against ``model_map`` (c), one grid.

    ``mask`` defaults to :func:`phenix_mask` of ``structure``. Returns ``cc_mask``, ``cc_box``, ``cc_volume``,
    ``cc_peaks`` (Pearson correlations, see the module docstring) and ``mask_voxels`` (N).
    """
    m = np.asarray(density.data, dtype=np.float64)
    c = np.asarray(model_map.data, dtype=np.float64)
    if (
        m.shape != c.shape
        or not np.allclose(density.origin, model_map.origin, atol=1e-4)
        or not np.allclose(density.voxel_size, model_map.voxel_size, rtol=1e-6)
    ):
        raise ValueError("the map and the model map must share one grid (use on_grid_of / ref_map=)")
    if mask is None:
        mask = phenix_mask(structure, density)
    n = int(mask.sum())
    if n == 0 or n >= m.size:
        raise MapError(f"the model mask holds {n} of {m.size} voxels; Phenix's CCs need 0 < N < all")
    top_c = _top_selection(c, n)
    peaks = top_c | _top_selection(m, n)
    return {
        "cc_mask": pearson(m, c, mask),
        "cc_box": pearson(m, c),
        "cc_volume": pearson(m, c, top_c),
        "cc_peaks": pearson(m, c, peaks),
        "mask_voxels": n,
    }
