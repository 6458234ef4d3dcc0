"""Structures beyond reading them: what the B-factor column means (B-factors, AlphaFold-style pLDDT, or nothing),
secondary structure per residue (for drawing CA traces, Figure 4) and real structures of a chosen size, tiled from
copies of a model (for timing generation against size, Figure 7).

Example:
    >>> big = structure_of_size(read_structure("model.pdb"), residues=2501)   # doctest: +SKIP
    >>> big.n_residues                                                         # doctest: +SKIP
    2501
"""

from __future__ import annotations

import gzip
import math
import re

import gemmi
import numpy as np
import pandas as pd

from ..errors import InputError, StructureError
from ..io.atoms import Structure, structure_from_gemmi

CHAIN_BREAK = 4.2  # A: consecutive CAs farther apart than this are not bonded
HELIX_I3 = (4.5, 5.6)  # A: CA(i)-CA(i+3) in an alpha helix (ideal 5.0-5.4)
STRAND_I3 = 9.0  # A: CA(i)-CA(i+3) beyond this is extended (ideal strand ~10)
TILE_GAP = 5.0  # A between the bounding boxes of neighbouring copies in tile_structure
# Words in a model file (its first 64 kB) or name that mark a predicted model whose B-factor column holds pLDDT
PLDDT_HINTS = ("alphafold", "plddt", "_ma_qa_metric", "colabfold", "esmfold", "openfold")
PLDDT_NAME = re.compile(r"(^|[^a-z])af-[a-z0-9]+-f\d+", re.IGNORECASE)  # AlphaFold DB: AF-P12345-F1-model_v4
B_KINDS = ("auto", "b", "plddt", "none")


# ------------------------------------------------------------------------------------------------ B-factors


def _file_head(path) -> str:
    try:
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(path, "rt", errors="replace") as fh:
            return fh.read(65536).lower()
    except OSError:
        return ""


def b_factor_kind(structure: Structure) -> str:
    """What the model's B-factor column holds: 'plddt' (a predicted model: every value in 0-100 and the file or its
    name says AlphaFold / ColabFold / ESMFold / OpenFold / pLDDT / ModelCIF's ``_ma_qa_metric``), 'none' (every value
    zero or missing) or 'b' (B-factors)."""
    b = np.asarray(structure.b_factor, dtype=np.float64)
    if b.size == 0 or np.all(b <= 0):
        return "none"
    if np.all((b >= 0) & (b <= 100)):
        name = str(getattr(structure, "path", ""))
        if PLDDT_NAME.search(name.rsplit("/", 1)[-1]) or any(h in _file_head(name) for h in PLDDT_HINTS):
            return "plddt"
    return "b"


def model_notices(structure: Structure, b_factors: str | None = "auto") -> list[str]:
    """One line for each way ``structure`` lies outside what the generator's weights were trained on (protein
    maps with B-factors): no protein chain (nucleic acids only, or no polymer at all), and, when the B-factor column
    is read (``b_factors``, None when the input ignores it), a column read as pLDDT and converted."""
    kinds = set(structure.polymer_types.values())
    lines = []
    if "protein" not in kinds:
        what = "only nucleic-acid chains" if "nucleic acid" in kinds else "no polymer chain (ligands or fragments only)"
        lines.append(f"{structure.path}: the model has {what}; the weights were trained on protein maps")
    if b_factors is not None and (b_factor_kind(structure) if b_factors == "auto" else b_factors) == "plddt":
        lines.append(
            f"{structure.path}: the B-factor column is read as pLDDT (a predicted model) and converted to B "
            f"(--b-factors b reads it as B-factors)"
        )
    return lines


def plddt_to_b(plddt: np.ndarray) -> np.ndarray:
    """B-factor (A^2) from pLDDT: rmsd = 1.5 exp(4 (0.7 - pLDDT / 100)) A, B = 8 pi^2 rmsd^2 / 3 (Oeffner et al.
    2022, Acta D 78:1303; Phenix ``process_predicted_model``).

    >>> plddt_to_b(np.array([90.0, 50.0])).round(1).tolist()
    [12.0, 293.3]
    """
    rmsd = 1.5 * np.exp(4.0 * (0.7 - np.asarray(plddt, dtype=np.float64) / 100.0))
    return 8.0 * math.pi**2 * rmsd**2 / 3.0


MAX_B_FACTOR = 999.99  # A^2: the largest B-factor the PDB format holds (a B column beyond it is an error)


def _as_b(kind: str):
    """B (A^2) from a B-factor column holding ``kind`` (elementwise on an array)."""
    return {"plddt": plddt_to_b, "none": np.zeros_like, "b": lambda b: np.maximum(b, 0.0)}[kind]


def effective_b_factors(structure: Structure, kind: str = "auto") -> tuple[np.ndarray, str]:
    """Per-atom B-factors (A^2) to blur a model's density with, and the kind the column was read as
    (:func:`b_factor_kind` when ``kind='auto'``): B-factors as they are (negative ones as 0); pLDDT converted by
    :func:`plddt_to_b`; zeros when the column is empty ('none', every atom equally sharp)."""
    if kind not in B_KINDS:
        raise InputError(f"B-factor kind must be one of {', '.join(B_KINDS)}, got {kind!r}")
    kind = b_factor_kind(structure) if kind == "auto" else kind
    raw = np.asarray(structure.b_factor, dtype=np.float64)
    if kind == "b" and raw.size and not (np.all(np.isfinite(raw)) and raw.max() <= MAX_B_FACTOR):
        worst = int(np.argmax(np.where(np.isfinite(raw), raw, np.inf)))
        raise StructureError(
            f"{structure.path}: atom {worst + 1} has B-factor {raw[worst]:g} A^2, beyond the {MAX_B_FACTOR:g} A^2 a "
            f"model can hold (the PDB format's limit): correct the model, or read its B column as none "
            f"(--b-factors none)"
        )
    return _as_b(kind)(raw), kind


def with_effective_b_factors(structure: Structure, kind: str = "auto") -> tuple[Structure, str]:
    """A copy of ``structure`` whose every atom (every alternate conformer too, as gemmi's density sees them) carries
    its :func:`effective_b_factors` value, isotropic (anisotropic ADPs dropped); and the kind read."""
    _, kind = effective_b_factors(structure, kind)
    return with_b_factors(structure, _as_b(kind)), kind


def with_b_factors(structure: Structure, convert) -> Structure:
    """A copy of ``structure`` whose every atom's B-factor ``b`` becomes ``convert(b)`` (a function of an array of B,
    elementwise), isotropic; anisotropic ADPs are dropped."""
    st = structure.gemmi_structure.clone()
    atoms = [atom for chain in st[0] for residue in chain for atom in residue]
    values = np.asarray(convert(np.array([a.b_iso for a in atoms], dtype=np.float64)), dtype=np.float64)
    if values.shape != (len(atoms),):
        raise ValueError(f"the B-factor conversion gave {values.shape} values for {len(atoms)} atoms")
    for atom, b in zip(atoms, values.tolist()):
        atom.b_iso = b
        atom.aniso = gemmi.SMat33f(0, 0, 0, 0, 0, 0)
    return structure_from_gemmi(st, structure.path)


# ------------------------------------------------------------------------------------ secondary structure


def _annotated(structure: Structure) -> dict[tuple[str, int], str]:
    """(chain name, residue index in chain) -> 'helix' / 'strand' from the file's HELIX/SHEET records
    (mmCIF struct_conf / struct_sheet_range), through gemmi; helix wins where both apply."""
    st = structure.gemmi_structure
    spans = [("helix", h.start, h.end) for h in st.helices]
    spans += [("strand", s.start, s.end) for sheet in st.sheets for s in sheet.strands]
    chains: dict[str, dict[str, int]] = {}
    for chain in st[0]:
        chains.setdefault(chain.name, {str(res.seqid): i for i, res in enumerate(chain)})
    marks: dict[tuple[str, int], str] = {}
    for kind, start, end in spans:
        index = chains.get(start.chain_name, {})
        first, last = index.get(str(start.res_id.seqid)), index.get(str(end.res_id.seqid))
        if first is None or last is None or start.chain_name != end.chain_name:
            continue
        for i in range(first, last + 1):
            marks.setdefault((start.chain_name, i), kind)
    return marks


def _geometric(xyz: np.ndarray) -> np.ndarray:
    """Secondary structure of one unbroken CA run from CA(i)-CA(i+3) distances d: d in [4.5, 5.6] A marks
    residues i..i+3 helix; d > 9 A marks them strand (where not helix); the rest is coil."""
    ss = np.full(len(xyz), "coil", dtype=object)
    if len(xyz) < 4:
        return ss
    d = np.linalg.norm(xyz[3:] - xyz[:-3], axis=1)
    for kind, hit in (("helix", (d >= HELIX_I3[0]) & (d <= HELIX_I3[1])), ("strand", d > STRAND_I3)):
        for i in np.flatnonzero(hit):
            window = ss[i : i + 4]
            window[window == "coil"] = kind
    return ss


def secondary_structure(structure: Structure) -> pd.DataFrame:
    """One row per amino-acid residue with a CA: chain, residue (number), icode, name, x, y, z (CA), ss
    ('helix', 'strand' or 'coil'), source, run (number of the unbroken CA run: a new one at every chain break).

    ss comes from the file's HELIX/SHEET annotations when they mark any residue of the model
    (source 'annotation'); otherwise from CA geometry (source 'geometry', see :func:`_geometric`: CA(i)-CA(i+3)
    of 4.5-5.6 A is helix, > 9 A strand), applied to each run of CAs without a chain break (CA-CA > 4.2 A).
    """
    rows = []
    for chain in structure.gemmi_structure[0]:
        for i, res in enumerate(chain):
            info = gemmi.find_tabulated_residue(res.name)
            ca = res.find_atom("CA", "*", gemmi.Element("C"))
            if ca is not None and info is not None and info.is_amino_acid():
                rows.append(
                    {
                        "chain": chain.name,
                        "index": i,
                        "residue": res.seqid.num,
                        "icode": res.seqid.icode,
                        "name": res.name,
                        "x": ca.pos.x,
                        "y": ca.pos.y,
                        "z": ca.pos.z,
                    }
                )
    table = pd.DataFrame(rows, columns=["chain", "index", "residue", "icode", "name", "x", "y", "z"])
    marks = _annotated(structure)
    if any((c, i) in marks for c, i in zip(table["chain"], table["index"])):
        table["ss"] = [marks.get((c, i), "coil") for c, i in zip(table["chain"], table["index"])]
        table["source"] = "annotation"
    else:
        xyz = table[["x", "y", "z"]].to_numpy(dtype=float)
        ss = np.full(len(table), "coil", dtype=object)
        for run in _runs(table):
            ss[run] = _geometric(xyz[run])
        table["ss"] = ss
        table["source"] = "geometry"
    run = np.zeros(len(table), dtype=np.int64)
    for k, rows_of_run in enumerate(_runs(table)):
        run[rows_of_run] = k
    table["run"] = run
    return table.drop(columns="index")


def _runs(table: pd.DataFrame) -> list[np.ndarray]:
    """Row indices of unbroken CA runs: same chain, consecutive CAs at most CHAIN_BREAK apart."""
    xyz = table[["x", "y", "z"]].to_numpy(dtype=float)
    chain = table["chain"].to_numpy()
    breaks = np.ones(len(table), dtype=bool)
    if len(table) > 1:
        breaks[1:] = (chain[1:] != chain[:-1]) | (np.linalg.norm(xyz[1:] - xyz[:-1], axis=1) > CHAIN_BREAK)
    starts = np.flatnonzero(breaks)
    return np.split(np.arange(len(table)), starts[1:])


# ------------------------------------------------------------------------------ structures of a chosen size


def tile_structure(structure: Structure, copies: int, spacing: float | None = None) -> Structure:
    """``copies`` translated copies of ``structure`` on a grid: ``ceil(copies^(1/3))`` places per axis, filled
    x first, ``spacing`` A apart (default: the model's largest bounding-box edge + 5 A, so copies never
    overlap). Copy k > 0 renames each chain to ``<name>_<k>`` and repeats the HELIX/SHEET annotations for it.

    >>> big = tile_structure(read_structure("model.pdb"), 8)   # doctest: +SKIP
    >>> big.n_atoms == 8 * small.n_atoms                        # doctest: +SKIP
    True
    """
    if int(copies) != copies or copies < 1:
        raise InputError(f"copies must be a positive whole number, got {copies!r}")
    copies = int(copies)
    lo, hi = structure.bounds()
    extent = float((hi - lo).max())
    step = extent + TILE_GAP if spacing is None else float(spacing)
    if not step > extent:
        raise InputError(
            f"{structure.path}: spacing {step:g} A must exceed the model's extent {extent:.1f} A, else copies overlap"
        )
    per_axis = max(1, math.ceil(round(copies ** (1 / 3), 9)))
    st = structure.gemmi_structure.clone()
    model = st[0]
    helices, sheets = structure.gemmi_structure.helices, structure.gemmi_structure.sheets
    for k in range(1, copies):
        shift = step * np.array([k % per_axis, (k // per_axis) % per_axis, k // per_axis**2], dtype=float)
        moved = structure.gemmi_structure[0].clone()
        moved.transform_pos_and_adp(gemmi.Transform(gemmi.Mat33(), gemmi.Vec3(*shift)))
        for chain in moved:
            chain.name = f"{chain.name}_{k}"
            model.add_chain(chain)
        for helix in helices:
            st.helices.append(helix)
            for address in (st.helices[-1].start, st.helices[-1].end):
                address.chain_name = f"{address.chain_name}_{k}"
        for sheet in sheets:
            st.sheets.append(sheet)
            st.sheets[-1].name = f"{sheet.name}_{k}"
            for strand in st.sheets[-1].strands:
                for address in (strand.start, strand.end):
                    address.chain_name = f"{address.chain_name}_{k}"
    return structure_from_gemmi(st, structure.path)


def structure_of_size(
    structure: Structure, *, residues: int | None = None, atoms: int | None = None, spacing: float | None = None
) -> Structure:
    """A real structure of a chosen size: :func:`tile_structure` with enough copies, cut to the first
    ``residues`` residues, or to the most whole residues holding at most ``atoms`` atoms (chain order; the last
    chain is partial). Give exactly one of ``residues`` / ``atoms``.
    """
    if (residues is None) == (atoms is None):
        raise InputError("give exactly one of residues / atoms")
    want = residues if residues is not None else atoms
    if want is None or int(want) != want or want < 1:
        raise InputError(f"the size must be a positive whole number, got {want!r}")
    have = structure.n_residues if residues is not None else structure.n_atoms
    big = tile_structure(structure, math.ceil(want / have), spacing)
    st = big.gemmi_structure
    count = 0
    for chain in st[0]:
        keep = 0
        for res in chain:
            size = 1 if residues is not None else len(res)
            if count + size > want:
                break
            count += size
            keep += 1
        for i in range(len(chain) - 1, keep - 1, -1):
            del chain[i]
    st.remove_empty_chains()
    if count == 0:
        raise StructureError(f"{structure.path}: no whole residue fits in {want} atoms")
    return structure_from_gemmi(st, structure.path)
