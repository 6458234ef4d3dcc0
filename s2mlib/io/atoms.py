"""Atomic models: the :class:`Structure` arrays of a model's atoms (one conformer per atom), and PDB/mmCIF input
and output through gemmi.

Example:
    >>> model = read_structure("model.cif")            # doctest: +SKIP
    >>> model.n_atoms, model.chains                      # doctest: +SKIP
    (2865, ['9'])
"""

from __future__ import annotations

import gzip
import os
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import gemmi
import numpy as np

from ..errors import InputError, OutputError, StructureError, require_file
from .outputs import atomic_write

STRUCTURE_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")


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
    """Read the first model of a PDB or mmCIF file (optionally .gz) through gemmi (a warning says so when the file
    holds several, e.g. an NMR ensemble).

    Options drop waters, hydrogens, or hetero groups (ligands and waters). Atoms whose element gemmi cannot
    determine (element 'X') are an error by default (``unknown_elements="error"``); with ``"warn"`` they are
    listed in a warning and removed. Raises :class:`StructureError` for a missing, unreadable or empty file.

    Alternate conformers (altlocs): the atom arrays hold one conformer per atom, chosen as ChimeraX does
    (:func:`kept_conformers`), so molmap, e2pdb2mrc and the StructureBlurrer count every atom once, at its full
    weight, as ChimeraX's molmap does (EMAN2 and TEMPy would count both conformers; see :mod:`s2mlib.sim.simulate`);
    occupancies stay as in the file.
    ``gemmi_structure`` keeps every conformer: the gemmi simulator weights each by its occupancy, as gemmi does.
    Curation, generation and every other user of the arrays see the same single conformer.
    """
    path = Path(path)
    require_file(path, "model", StructureError)
    if path.stat().st_size == 0:
        raise StructureError(f"{path}: empty file, not a PDB or mmCIF model")
    if unknown_elements not in ("error", "warn"):
        raise InputError("unknown_elements must be 'error' or 'warn'")
    try:
        st = gemmi.read_structure(str(path), merge_chain_parts=True)
    except (RuntimeError, ValueError, OSError, EOFError, zlib.error) as exc:
        raise StructureError(f"{path}: not a readable PDB or mmCIF model ({exc})") from None
    if len(st) == 0 or st[0].count_atom_sites() == 0:
        raise StructureError(f"{path}: the model holds no atoms (not a PDB/mmCIF file, or an empty model)")
    if len(st) > 1:
        warnings.warn(f"{path}: {len(st)} models (an NMR ensemble?): only the first is used", stacklevel=2)
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
    structure = structure_from_gemmi(st, path)
    bad = ~np.all(np.isfinite(structure.xyz), axis=1)
    if bad.any():
        first = int(np.argmax(bad))
        raise StructureError(
            f"{path}: {int(bad.sum())} atoms have NaN or infinite coordinates (the first: "
            f"{structure.chain[first]}/{structure.residue_name[first]}{structure.residue_number[first]}/"
            f"{structure.atom_name[first]})"
        )
    return structure


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
