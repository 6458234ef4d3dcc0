"""Why a map/model pair is excluded from training (paper section 3.2), each reason in words.

1. the model (:func:`structure_issues`): nucleic acids; unknown residues (UNK/UNX/UNL) or non-standard
   polymer residues (in a polymer chain, a modified amino acid such as MSE or a residue unknown to gemmi's
   table; end caps such as ACE/NH2 are allowed); backbone-only models (more than ``max_backbone_only`` =
   90 % of the non-glycine amino acids have only N/CA/C/O/OXT, CA-only included); no amino acid at all.
2. the map against the model (:func:`map_model_issues`): *misaligned* when the mean map value at the atoms
   is less than ``min_atom_z`` (1) standard deviations above the map's mean, or not higher than with the
   model moved by ``probe_shift`` (2 A) along any of +-x, +-y, +-z (the model must sit on a local maximum;
   atoms outside the map count as 0); otherwise *large unmodelled regions* when more than ``max_unmodelled``
   (25 %) of the voxels at or above the median map value at the atoms lie farther than
   ``unmodelled_distance`` (6 A) from every atom (density of unmodelled chains, micelles, ...).
3. (in :mod:`s2mlib.study.curate`) the curated pair's correlation below ``min_correlation``.
4. redundancy (:func:`redundant_entries`): greedy over the entries left, by resolution (best first, unknown last),
   then EMDB ID, then entry name: an entry is dropped when any of its protein chains has sequence identity above
   ``max_identity`` (30 %) with a chain of an entry already kept (:func:`sequence_identity`).

Example:
    >>> sequence_identity("MKTAYIAKQRQISFVKSHFSRQ", "TAYIAKQRQI")
    1.0
"""

from __future__ import annotations

import math
from collections import Counter

import gemmi
import numpy as np
import pandas as pd

from ..io.atoms import Structure
from ..io.density import DensityMap
from ..sim.maps import atom_mask

STANDARD_AMINO_ACIDS = frozenset(
    "ALA ARG ASN ASP CYS GLN GLU GLY HIS ILE LEU LYS MET PHE PRO SER THR TRP TYR VAL".split()
)
UNKNOWN_RESIDUES = frozenset({"UNK", "UNX", "UNL"})
BACKBONE_ATOMS = frozenset({"N", "CA", "C", "O", "OXT"})
MIN_IDENTITY_LENGTH = 30  # chains shorter than this are not compared (short peptides align by chance)


def structure_issues(structure: Structure, max_backbone_only: float = 0.9) -> list[str]:
    """Reasons to exclude a model: nucleic acids, unknown or non-standard polymer residues, backbone only,
    no amino acids (module docstring, 1). Empty when the model passes."""
    nucleic: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    nonstandard: Counter[str] = Counter()
    n_amino, n_side, n_backbone_only = 0, 0, 0
    for chain in structure.gemmi_structure[0]:
        for res in chain:
            info = gemmi.find_tabulated_residue(res.name)
            if info is not None and info.is_nucleic_acid():
                nucleic[chain.name] += 1
            elif res.name in UNKNOWN_RESIDUES:
                unknown[res.name] += 1
            elif res.name in STANDARD_AMINO_ACIDS:
                n_amino += 1
                if res.name != "GLY":
                    n_side += 1
                    heavy = {atom.name for atom in res if not atom.is_hydrogen()}
                    n_backbone_only += heavy <= BACKBONE_ATOMS
            elif res.entity_type == gemmi.EntityType.Polymer and (
                info is None or not info.found() or info.is_amino_acid()
            ):
                nonstandard[res.name] += 1

    def listed(counts: Counter) -> str:
        return ", ".join(f"{name} x{n}" for name, n in counts.most_common())

    issues = []
    if nucleic:
        issues.append(f"nucleic acids: {sum(nucleic.values())} nucleotides (chains {', '.join(nucleic)})")
    if unknown:
        issues.append(f"unknown residues: {listed(unknown)}")
    if nonstandard:
        issues.append(f"non-standard polymer residues: {listed(nonstandard)}")
    if n_amino == 0 and not nucleic:
        issues.append("no amino-acid residues")
    if n_side and n_backbone_only / n_side > max_backbone_only:
        issues.append(f"backbone only: {n_backbone_only} of {n_side} non-glycine residues have only N/CA/C/O")
    return issues


def map_model_issues(
    density: DensityMap,
    structure: Structure,
    *,
    min_atom_z: float = 1.0,
    probe_shift: float = 2.0,
    max_unmodelled: float = 0.25,
    unmodelled_distance: float = 6.0,
) -> tuple[list[str], dict]:
    """Misalignment and unmodelled density (module docstring, 2): (reasons, figures).

    Figures (map values trilinear, 0 outside the map): ``atom_z`` = (mean value at the atoms - map mean) / map
    std; ``fit_ratio`` = mean value at the atoms / the largest mean value at the atoms moved by
    ``probe_shift`` A along +-x, +-y, +-z (> 1 when the model sits on a local density maximum);
    ``atoms_outside`` fraction; ``unmodelled_fraction`` of the voxels at or above the median value at the
    atoms that lie farther than ``unmodelled_distance`` A from every atom.
    """
    xyz = structure.xyz
    values = density.interpolate(xyz)
    lo, hi = density.bounds()
    outside = float(np.mean(np.any((xyz < lo) | (xyz > hi), axis=1)))
    std = float(density.data.std())
    atom_z = (float(values.mean()) - float(density.data.mean())) / std if std > 0 else 0.0
    probes = np.vstack([np.eye(3), -np.eye(3)]) * probe_shift
    moved = max(float(density.interpolate(xyz + shift).mean()) for shift in probes)
    fit_ratio = float(values.mean()) / moved if moved > 0 else math.inf
    strong = density.data >= np.median(values)
    far = ~atom_mask(structure, density, unmodelled_distance)
    unmodelled = float(np.count_nonzero(strong & far) / max(1, int(np.count_nonzero(strong))))
    issues = []
    if atom_z < min_atom_z or not fit_ratio > 1.0:
        issues.append(
            f"misaligned: mean map value at the atoms is {atom_z:+.2f} sd from the map mean "
            f"(need >= {min_atom_z:g}) and {fit_ratio:.2f} x that of the model moved by {probe_shift:g} A "
            f"(need > 1); {outside:.0%} of atoms outside the map"
        )
    elif unmodelled > max_unmodelled:
        issues.append(
            f"large unmodelled regions: {unmodelled:.0%} of the density above the model's median level "
            f"lies > {unmodelled_distance:g} A from the model (> {max_unmodelled:.0%})"
        )
    return issues, {
        "atom_z": atom_z,
        "fit_ratio": fit_ratio,
        "atoms_outside": outside,
        "unmodelled_fraction": unmodelled,
    }


def chain_sequences(structure: Structure) -> list[str]:
    """One-letter sequences of the amino-acid polymer chains (modified residues by their parent, unknown 'X')."""
    sequences = []
    for chain in structure.gemmi_structure[0]:
        letters = []
        for res in chain:
            info = gemmi.find_tabulated_residue(res.name)
            if res.entity_type == gemmi.EntityType.Polymer and info is not None and info.is_amino_acid():
                code = info.one_letter_code.upper()
                letters.append(code if code.isalpha() else "X")
        if letters:
            sequences.append("".join(letters))
    return sequences


_ALIGNER = None  # Bio.Align.PairwiseAligner, built on first use (Biopython is imported only where it is needed)
_PARENT_LETTER = str.maketrans("UO", "CK")  # selenocysteine, pyrrolysine: letters BLOSUM62 lacks


def sequence_identity(a: str, b: str) -> float:
    """Identical aligned residues / length of the shorter sequence, from a global alignment (Biopython
    PairwiseAligner, BLOSUM62, gap open -10, extend -0.5, free end gaps so a fragment aligns inside its chain).
    U and O are read as C and K; other letters outside BLOSUM62 as X.

    >>> sequence_identity("MKTAYIAKQRQISFVKSHFSRQ", "TAYIAKQRQI")
    1.0
    """
    global _ALIGNER
    if _ALIGNER is None:
        from Bio.Align import PairwiseAligner, substitution_matrices

        _ALIGNER = PairwiseAligner(
            mode="global",
            substitution_matrix=substitution_matrices.load("BLOSUM62"),
            open_gap_score=-10.0,
            extend_gap_score=-0.5,
            end_gap_score=0.0,
        )
    alphabet = set(_ALIGNER.substitution_matrix.alphabet)
    a, b = ("".join(c if c in alphabet else "X" for c in s.upper().translate(_PARENT_LETTER)) for s in (a, b))
    if not a or not b:
        return 0.0
    return _ALIGNER.align(a, b)[0].counts().identities / min(len(a), len(b))


def redundant_entries(
    rows: pd.DataFrame, sequences: dict[str, list[str]], max_identity: float = 0.30
) -> dict[str, str]:
    """entry -> reason, for the rows (columns entry, emdb_id, resolution) dropped by the greedy identity filter
    (order and rule: the module docstring); ``sequences`` maps entry -> its chains' one-letter sequences."""
    order = rows.assign(_res=rows["resolution"].fillna(np.inf)).sort_values(["_res", "emdb_id", "entry"])
    kept: list[str] = []
    dropped: dict[str, str] = {}
    cache: dict[tuple[str, str], float] = {}
    for entry in order["entry"]:
        mine = [s for s in sequences[entry] if len(s) >= MIN_IDENTITY_LENGTH]
        for other in kept:
            best = 0.0
            for a in mine:
                for b in (s for s in sequences[other] if len(s) >= MIN_IDENTITY_LENGTH):
                    key = (a, b) if a <= b else (b, a)
                    if key not in cache:
                        cache[key] = sequence_identity(a, b)
                    best = max(best, cache[key])
            if best > max_identity:
                dropped[entry] = f"redundant: sequence identity {best:.0%} to {other} (> {max_identity:.0%})"
                break
        else:
            kept.append(entry)
    return dropped
