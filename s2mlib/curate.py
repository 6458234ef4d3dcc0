"""Training pairs of the paper (section 3.2): curated experimental maps (ExpMap), simulated inputs (SimMap),
the exclusion filters and the train/val/test split.

ExpMap (:func:`curate_exp_map`), as ``phenix.map_box mask_atoms=True`` then ChimeraX ``volume resample``:
box the map around the model (atoms' bounding box + ``cushion``, phenix's box_cushion of 3 A), set voxels
farther than ``mask_radius`` (3 A) from every atom to 0, resample *trilinearly* onto a ``spacing`` (1 A) grid
that starts at the box's origin, and min-max to [0, 1]. SimMap (:func:`make_sim_map`): molmap at 2 A on the
ExpMap's grid, min-max to [0, 1].

Min-max of a masked map whose model region holds negative values lifts the zeroed background to
-min / (max - min); ``clip_negative=True`` sets negative values to 0 first so the background stays 0 (the
paper and the original code do not).

Exclusions (:func:`curate_manifest`; each excluded row names its reasons), in this order:

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
3. the curated pair: ChimeraX ``measure correlation ExpMap inMap SimMap`` (the original code's order and its
   plain, cosine ``correlation``: ExpMap's points above its 1 % contour, SimMap interpolated there) below
   ``min_correlation`` (0.65).
4. redundancy: greedy over the entries left, by resolution (best first, unknown last), then EMDB ID, then
   entry name: an entry is dropped when any of its protein chains has sequence identity above
   ``max_identity`` (30 %) with a chain of an entry already kept (:func:`sequence_identity`).

Splits: a manifest's non-empty ``split`` is kept (the paper's lists); the other kept entries get a seeded
random split by EMDB ID, so copies of one EMDB entry never land on both sides (:func:`assign_splits`).
"""
from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from pathlib import Path

import gemmi
import numpy as np
import pandas as pd

from . import __version__
from .errors import ManifestError, S2MError
from .io import DensityMap, Structure, atomic_write, read_map, read_structure, write_map
from .maps import atom_mask, minmax
from .metrics import chimerax_correlation
from .simulate import molmap

STANDARD_AMINO_ACIDS = frozenset(
    "ALA ARG ASN ASP CYS GLN GLU GLY HIS ILE LEU LYS MET PHE PRO SER THR TRP TYR VAL".split())
UNKNOWN_RESIDUES = frozenset({"UNK", "UNX", "UNL"})
BACKBONE_ATOMS = frozenset({"N", "CA", "C", "O", "OXT"})
MIN_IDENTITY_LENGTH = 30  # chains shorter than this are not compared (short peptides align by chance)


# ---------------------------------------------------------------------------------------------- maps

def box_around_model(density: DensityMap, structure: Structure, cushion: float = 3.0) -> DensityMap:
    """The map's voxels covering the atoms' bounding box widened by ``cushion`` A (phenix.map_box).

    Index range per axis: floor((min - cushion - origin) / voxel) .. ceil((max + cushion - origin) / voxel),
    clipped to the map; raises ValueError when the model lies outside the map.
    """
    lo_xyz, hi_xyz = structure.bounds()
    lo = np.maximum(np.floor(density.world_to_index(lo_xyz - cushion)).astype(int), 0)
    hi = np.minimum(np.ceil(density.world_to_index(hi_xyz + cushion)).astype(int), np.array(density.shape_xyz) - 1)
    if np.any(hi < lo):
        raise ValueError(f"model {structure.path} (box {lo_xyz.round(1).tolist()}..{hi_xyz.round(1).tolist()} A) "
                         f"lies outside the map box {[b.round(1).tolist() for b in density.bounds()]}")
    data = density.data[lo[2]:hi[2] + 1, lo[1]:hi[1] + 1, lo[0]:hi[0] + 1]
    return DensityMap(data.copy(), density.index_to_world(lo[None])[0], density.voxel_size)


def curate_exp_map(density: DensityMap, structure: Structure, *, mask_radius: float | None = 3.0,
                   spacing: float = 1.0, cushion: float = 3.0, clip_negative: bool = False) -> DensityMap:
    """ExpMap: box around the model, zero beyond ``mask_radius`` A of every atom, trilinear resampling onto a
    ``spacing`` A grid starting at the box's origin (and not beyond it), min-max to [0, 1].
    ``mask_radius=None`` skips the mask: the uncurated "RawMap" of the paper's ablation (section 5).

    >>> exp = curate_exp_map(read_map("emd.map"), read_structure("model.pdb"))  # doctest: +SKIP
    """
    if not spacing > 0:
        raise ValueError(f"spacing must be positive, got {spacing}")
    boxed = box_around_model(density, structure, cushion)
    if mask_radius is not None:
        boxed.data[~atom_mask(structure, boxed, mask_radius)] = 0.0
    extent = (np.array(boxed.shape_xyz) - 1) * boxed.voxel_size
    shape_xyz = np.floor(extent / spacing + 1e-6).astype(int) + 1
    resampled = boxed.resampled_on(boxed.origin, tuple(shape_xyz[::-1]), spacing)
    if clip_negative:
        np.maximum(resampled.data, 0.0, out=resampled.data)
    return resampled.copy(minmax(resampled.data))


def make_sim_map(structure: Structure, exp_map: DensityMap, resolution: float = 2.0) -> DensityMap:
    """SimMap: ChimeraX-style molmap of ``structure`` at ``resolution`` A on ``exp_map``'s grid, min-max to [0, 1]."""
    sim = molmap(structure, resolution, ref_map=exp_map)
    return exp_map.copy(minmax(sim.data))


# ------------------------------------------------------------------------------------------- filters

def structure_issues(structure: Structure, max_backbone_only: float = 0.9) -> list[str]:
    """Reasons to exclude a model: nucleic acids, unknown or non-standard polymer residues, backbone only,
    no amino acids (see the module docstring). Empty when the model passes."""
    nucleic, unknown, nonstandard = Counter(), Counter(), Counter()
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
            elif res.entity_type == gemmi.EntityType.Polymer and (info is None or not info.found()
                                                                  or info.is_amino_acid()):
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


def map_model_issues(density: DensityMap, structure: Structure, *, min_atom_z: float = 1.0, probe_shift: float = 2.0,
                     max_unmodelled: float = 0.25, unmodelled_distance: float = 6.0) -> tuple[list[str], dict]:
    """Misalignment and unmodelled density (see the module docstring): (reasons, figures).

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
    unmodelled = float(np.count_nonzero(strong & far) / max(1, np.count_nonzero(strong)))
    issues = []
    if atom_z < min_atom_z or not fit_ratio > 1.0:
        issues.append(f"misaligned: mean map value at the atoms is {atom_z:+.2f} sd from the map mean "
                      f"(need >= {min_atom_z:g}) and {fit_ratio:.2f} x that of the model moved by {probe_shift:g} A "
                      f"(need > 1); {outside:.0%} of atoms outside the map")
    elif unmodelled > max_unmodelled:
        issues.append(f"large unmodelled regions: {unmodelled:.0%} of the density above the model's median level "
                      f"lies > {unmodelled_distance:g} A from the model (> {max_unmodelled:.0%})")
    return issues, {"atom_z": atom_z, "fit_ratio": fit_ratio, "atoms_outside": outside,
                    "unmodelled_fraction": unmodelled}


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

        _ALIGNER = PairwiseAligner(mode="global", substitution_matrix=substitution_matrices.load("BLOSUM62"),
                                   open_gap_score=-10.0, extend_gap_score=-0.5, end_gap_score=0.0)
    alphabet = set(_ALIGNER.substitution_matrix.alphabet)
    a, b = ("".join(c if c in alphabet else "X" for c in s.upper().translate(_PARENT_LETTER)) for s in (a, b))
    if not a or not b:
        return 0.0
    return _ALIGNER.align(a, b)[0].counts().identities / min(len(a), len(b))


def assign_splits(emdb_ids: pd.Series, preset: pd.Series, *, val_fraction: float = 0.1, test_fraction: float = 0.0,
                  seed: int = 0) -> pd.Series:
    """Split per row: the ``preset`` one where given, else a seeded random split of the EMDB IDs (all rows of
    one EMDB ID share it; an ID with a preset split passes it to its other rows).

    round(fraction x number of unassigned IDs) IDs go to test and val, the rest (at least one) to train.
    Raises ManifestError when one EMDB ID has two different preset splits.
    """
    if not (0 <= val_fraction and 0 <= test_fraction and val_fraction + test_fraction < 1):
        raise ValueError(f"val_fraction {val_fraction} and test_fraction {test_fraction} must be >= 0 "
                         "and leave room for training (sum < 1)")
    fixed: dict[str, str] = {}
    for emdb, split in zip(emdb_ids, preset):
        if split:
            if fixed.setdefault(emdb, split) != split:
                raise ManifestError(f"EMDB {emdb} is listed in both the {fixed[emdb]} and the {split} split")
    free = sorted(set(emdb_ids) - set(fixed))
    order = np.random.default_rng(seed).permutation(len(free))
    n_test = min(round(test_fraction * len(free)), max(0, len(free) - 1))
    n_val = min(round(val_fraction * len(free)), max(0, len(free) - n_test - 1))
    for rank, i in enumerate(order):
        fixed[free[i]] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return pd.Series([fixed[e] for e in emdb_ids], index=emdb_ids.index, dtype=object)


# ------------------------------------------------------------------------------------------ manifest

def file_stamp(path: str) -> list:
    """[path, size, mtime_ns]: what a cache record compares to notice a changed input file."""
    stat = os.stat(path)
    return [str(path), stat.st_size, stat.st_mtime_ns]


def safe_name(entry: str) -> str:
    """``entry`` with every character outside [A-Za-z0-9_.-] replaced by '_', for file names."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", entry)


def _shape(density: DensityMap) -> str:
    return "x".join(map(str, density.shape_xyz))


def curate_entry(map_path: str | os.PathLike, model_path: str | os.PathLike, exp_path: Path, sim_path: Path, *,
                 mask_radius: float = 3.0, spacing: float = 1.0, sim_resolution: float = 2.0,
                 min_correlation: float = 0.65, cushion: float = 3.0, clip_negative: bool = False,
                 max_backbone_only: float = 0.9, min_atom_z: float = 1.0, probe_shift: float = 2.0,
                 max_unmodelled: float = 0.25, unmodelled_distance: float = 6.0) -> dict:
    """Filters 1-3 for one map/model pair; writes ExpMap and SimMap when filters 1-2 pass. Returns the figures.

    Keys: ``issues`` (list of reasons, empty when kept so far), ``correlation``, ``correlation_about_mean``,
    ``map_shape``, ``exp_shape``, ``residues``, ``atoms``, ``sequences``, ``exp_map``, ``sim_map`` ('' when
    not written) and the figures of :func:`map_model_issues`.
    """
    structure = read_structure(model_path)
    density = read_map(map_path)
    result = {"map_shape": _shape(density), "residues": structure.n_residues, "atoms": structure.n_atoms,
              "sequences": chain_sequences(structure), "exp_map": "", "sim_map": "", "exp_shape": "",
              "correlation": math.nan, "correlation_about_mean": math.nan}
    issues = structure_issues(structure, max_backbone_only)
    map_issues, figures = map_model_issues(density, structure, min_atom_z=min_atom_z, probe_shift=probe_shift,
                                           max_unmodelled=max_unmodelled, unmodelled_distance=unmodelled_distance)
    result.update(figures)
    issues += map_issues
    if not issues:
        exp = curate_exp_map(density, structure, mask_radius=mask_radius, spacing=spacing, cushion=cushion,
                             clip_negative=clip_negative)
        sim = make_sim_map(structure, exp, sim_resolution)
        cor, cor_mean = chimerax_correlation(exp, sim)
        result.update(correlation=cor, correlation_about_mean=cor_mean, exp_shape=_shape(exp),
                      exp_map=str(write_map(exp, exp_path)), sim_map=str(write_map(sim, sim_path)))
        if not cor >= min_correlation:
            issues.append(f"low correlation: ExpMap in SimMap {cor:.3f} < {min_correlation:g}")
    result["issues"] = issues
    return result


def _redundancy(rows: pd.DataFrame, sequences: dict[str, list[str]], max_identity: float) -> dict[str, str]:
    """entry -> reason for the candidates dropped by the greedy identity filter (order: module docstring)."""
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


def curate_manifest(manifest_df: pd.DataFrame, out_dir: str | os.PathLike, *, mask_radius: float = 3.0,
                    spacing: float = 1.0, sim_resolution: float = 2.0, min_correlation: float = 0.65,
                    max_identity: float = 0.30, val_fraction: float = 0.1, test_fraction: float = 0.0,
                    seed: int = 0, cushion: float = 3.0, clip_negative: bool = False,
                    max_backbone_only: float = 0.9, min_atom_z: float = 1.0, probe_shift: float = 2.0,
                    max_unmodelled: float = 0.25, unmodelled_distance: float = 6.0,
                    progress: bool = False) -> pd.DataFrame:
    """Curate every manifest row into ``out_dir`` (``<entry>_exp.mrc``, ``<entry>_sim.mrc`` and a
    ``<entry>.json`` record) and return one row per entry.

    Columns: entry, emdb_id, pdb_id, resolution, split, kept, reason ('; '-joined, '' when kept), exp_map,
    sim_map, correlation, correlation_about_mean, map_shape, exp_shape (nx x ny x nz), residues, atoms,
    atom_z, fit_ratio, atoms_outside, unmodelled_fraction. An entry whose record matches the same inputs (path,
    size, mtime), parameters and s2mlib version is not recomputed. Unreadable files exclude their entry with the
    error as reason; rows without a local map or model raise ManifestError (fetch them first, :mod:`s2mlib.data`).
    """
    absent = [c for c in ("entry", "emdb_id", "map", "model") if c not in manifest_df.columns]
    if absent:
        raise ManifestError(f"manifest lacks column(s) {', '.join(absent)} (has: {', '.join(manifest_df.columns)})")
    missing = [str(e) for e, m, p in zip(manifest_df["entry"], manifest_df["map"], manifest_df["model"])
               if not m or not p]
    if missing:
        raise ManifestError(f"no local map or model for {', '.join(missing)}: fetch them first")
    lost = [f"{e}: {f}" for e, m, p in zip(manifest_df["entry"], manifest_df["map"], manifest_df["model"])
            for f in (m, p) if not Path(f).is_file()]
    if lost:
        raise ManifestError(f"file(s) not found: {'; '.join(lost)}")
    out_dir = Path(out_dir)
    params = dict(mask_radius=mask_radius, spacing=spacing, sim_resolution=sim_resolution,
                  min_correlation=min_correlation, cushion=cushion, clip_negative=clip_negative,
                  max_backbone_only=max_backbone_only, min_atom_z=min_atom_z, probe_shift=probe_shift,
                  max_unmodelled=max_unmodelled, unmodelled_distance=unmodelled_distance)
    rows = manifest_df.to_dict("records")
    if progress:
        from tqdm import tqdm
        rows = tqdm(rows, desc="curate", unit="entry")
    records = []
    for row in rows:
        name = safe_name(str(row["entry"]))
        record_path = out_dir / f"{name}.json"
        stamp = {"inputs": [file_stamp(row["map"]), file_stamp(row["model"])], "params": params,
                 "version": __version__}
        result = _cached(record_path, stamp)
        if result is None:
            try:
                result = curate_entry(row["map"], row["model"], out_dir / f"{name}_exp.mrc",
                                      out_dir / f"{name}_sim.mrc", **params)
            except S2MError as exc:
                result = {"issues": [f"unreadable: {exc}"], "sequences": []}
            atomic_write(lambda tmp: tmp.write_text(json.dumps({**stamp, "result": result}, indent=1)), record_path)
        records.append(result)

    table = manifest_df.reindex(columns=["entry", "emdb_id", "pdb_id", "resolution", "map", "model"]).copy()
    figures = pd.DataFrame(records, index=table.index).drop(columns=["sequences", "issues"])
    table = table.join(figures)
    reasons = pd.Series(["; ".join(r["issues"]) for r in records], index=table.index, dtype=object)
    candidates = table[reasons == ""]
    dropped = _redundancy(candidates, {e: r["sequences"] for e, r in zip(table["entry"], records)}, max_identity)
    reasons[table["entry"].isin(dropped)] = table["entry"].map(dropped)
    table["kept"] = reasons == ""
    table["reason"] = reasons
    preset = manifest_df.get("split", pd.Series("", index=table.index)).fillna("")
    table["split"] = preset
    if table["kept"].any():
        kept = table["kept"]
        table.loc[kept, "split"] = assign_splits(table.loc[kept, "emdb_id"], preset[kept], val_fraction=val_fraction,
                                                 test_fraction=test_fraction, seed=seed)
    columns = ["entry", "emdb_id", "pdb_id", "resolution", "split", "kept", "reason", "exp_map", "sim_map",
               "correlation", "correlation_about_mean", "map_shape", "exp_shape", "residues", "atoms", "atom_z",
               "fit_ratio", "atoms_outside", "unmodelled_fraction", "map", "model"]
    return table.reindex(columns=columns).reset_index(drop=True)


def make_raw_targets(table: pd.DataFrame, out_dir: str | os.PathLike, *, spacing: float = 1.0,
                     cushion: float = 3.0) -> pd.DataFrame:
    """The ablation's uncurated targets: for each kept entry, its map boxed and resampled like the ExpMap but not
    masked (``curate_exp_map(mask_radius=None)``), on the SimMap's grid; returns the table with ``exp_map``
    pointing at ``out_dir/<entry>_raw.mrc`` (written atomically, reused when present)."""
    out_dir = Path(out_dir)
    raw = table[table["kept"]].copy()
    paths = []
    for row in raw.itertuples():
        path = out_dir / f"{safe_name(str(row.entry))}_raw.mrc"
        if not path.exists():
            write_map(curate_exp_map(read_map(row.map), read_structure(row.model), mask_radius=None,
                                     spacing=spacing, cushion=cushion), path)
        paths.append(str(path))
    raw["exp_map"] = paths
    return raw.reset_index(drop=True)


CURATION_TABLE = "curation.csv"


def save_curation(table: pd.DataFrame, run_dir: str | os.PathLike) -> Path:
    """Write the curation table to ``run_dir/curation.csv`` (atomically), for the later notebooks."""
    path = Path(run_dir) / CURATION_TABLE
    atomic_write(lambda tmp: table.to_csv(tmp, index=False), path)
    return path


def load_curation(run_dir: str | os.PathLike, splits: str | list[str] | None = None) -> pd.DataFrame:
    """The table :func:`save_curation` wrote; with ``splits``, only kept entries of those splits."""
    path = Path(run_dir) / CURATION_TABLE
    if not path.exists():
        raise ManifestError(f"{path}: no curation table; run notebook 01_curate first")
    table = pd.read_csv(path, dtype={"emdb_id": str, "pdb_id": str, "kept": bool})
    for column in ("pdb_id", "split", "reason", "exp_map", "sim_map"):
        table[column] = table[column].fillna("").astype(str)
    if splits is not None:
        wanted = [splits] if isinstance(splits, str) else list(splits)
        table = table[table["kept"] & table["split"].isin(wanted)].reset_index(drop=True)
    return table


def _cached(record_path: Path, stamp: dict) -> dict | None:
    """The stored result when the record matches ``stamp`` and its map files still exist; else None."""
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        return None
    if {k: record.get(k) for k in stamp} != json.loads(json.dumps(stamp)):
        return None
    result = record.get("result", {})
    if any(result.get(k) and not Path(result[k]).is_file() for k in ("exp_map", "sim_map")):
        return None
    return result
