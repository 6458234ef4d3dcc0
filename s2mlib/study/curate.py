"""Training pairs of the paper (section 3.2): curated experimental maps (ExpMap), simulated inputs (SimMap),
and the curation of a whole manifest into a table of kept and excluded entries with their split.

ExpMap (:func:`curate_exp_map`), as ``phenix.map_box mask_atoms=True`` then ChimeraX ``volume resample``:
box the map around the model (atoms' bounding box + ``cushion``, phenix's box_cushion of 3 A), set voxels
farther than ``mask_radius`` (3 A) from every atom to 0, resample *trilinearly* onto a ``spacing`` (1 A) grid
that starts at the box's origin, and min-max to [0, 1]. SimMap (:func:`make_sim_map`): molmap at 2 A on the
ExpMap's grid, min-max to [0, 1].

Min-max of a masked map whose model region holds negative values lifts the zeroed background to
-min / (max - min); ``clip_negative=True`` (the default, :class:`CurationConfig`) sets negative values to 0 first
so the background stays 0 (the paper and the original code do not: ``clip_negative=False``).

Exclusions (:func:`curate_manifest`; each excluded row names its reasons): a download that failed
(:func:`s2mlib.io.download.fetch_manifest`'s ``download_error``: ``download failed: EMD-0093 header: not found (HTTP 404
...) at URL``); the model and the map against the
model (:mod:`s2mlib.study.filters`, 1-2); then the curated pair: ChimeraX ``measure correlation ExpMap inMap SimMap``
(the original code's order and its plain, cosine ``correlation``: ExpMap's points above its 1 % contour, SimMap
interpolated there) below ``min_correlation`` (0.65); then redundancy (:func:`s2mlib.study.filters.redundant_entries`).
Every threshold is a field of :class:`CurationConfig`.

Splits: a manifest's non-empty ``split`` is kept (the paper's lists); the other kept entries get a seeded
random split by EMDB ID, so copies of one EMDB entry never land on both sides (:func:`assign_splits`).

Example:
    >>> config = CurationConfig(clip_negative=True, val_fraction=0.2)
    >>> table = curate_manifest(load_manifest("pairs.tsv"), "runs/x/curated", config)  # doctest: +SKIP

Why one long module: the curation of a manifest end to end (settings, ExpMap/SimMap, splits, the per-entry cache
and the table); the exclusion reasons are in :mod:`s2mlib.study.filters`.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError, ManifestError, S2MError, StructureError, require_columns
from ..io.atoms import Structure, read_structure
from ..io.cache import file_stamp, matches, read_record, write_record
from ..io.density import DensityMap, read_map, write_map
from ..io.manifest import entry_file_name
from ..metrics import chimerax_correlation
from ..sim.maps import atom_mask, minmax
from ..sim.simulate import molmap
from ..version import __version__
from .filters import chain_sequences, map_model_issues, redundant_entries, structure_issues

SPLIT_FIELDS = ("max_identity", "val_fraction", "test_fraction", "seed")  # act on the whole table, not one entry
TABLE_COLUMNS = [
    "entry",
    "emdb_id",
    "pdb_id",
    "resolution",
    "split",
    "kept",
    "reason",
    "exp_map",
    "sim_map",
    "correlation",
    "correlation_about_mean",
    "map_shape",
    "exp_shape",
    "residues",
    "atoms",
    "atom_z",
    "fit_ratio",
    "atoms_outside",
    "unmodelled_fraction",
    "map",
    "model",
]


@dataclass(frozen=True)
class CurationConfig:
    """Curation settings; defaults are the paper's (section 3.2; README, Facts about the original code), except
    ``clip_negative`` (True: README, Decisions). ``s2m curate`` and the profiles take their defaults from here.

    ExpMap/SimMap: ``mask_radius``, ``spacing``, ``cushion`` (A), ``sim_resolution`` (A), ``clip_negative``.
    Filters (:mod:`s2mlib.study.filters`): ``max_backbone_only``, ``min_atom_z``, ``probe_shift``, ``max_unmodelled``,
    ``unmodelled_distance``, ``min_correlation``, ``max_identity``. Split: ``val_fraction``, ``test_fraction``,
    ``seed``. Invalid values raise :class:`~s2mlib.errors.InputError` at construction. The fields that act on one entry
    (all but :data:`SPLIT_FIELDS`) stamp each entry's cached result (:meth:`entry_stamp`).
    """

    mask_radius: float = 3.0
    spacing: float = 1.0
    cushion: float = 3.0
    sim_resolution: float = 2.0
    clip_negative: bool = True
    min_correlation: float = 0.65
    max_backbone_only: float = 0.9
    min_atom_z: float = 1.0
    probe_shift: float = 2.0
    max_unmodelled: float = 0.25
    unmodelled_distance: float = 6.0
    max_identity: float = 0.30
    val_fraction: float = 0.1
    test_fraction: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        positive = ("mask_radius", "spacing", "sim_resolution", "probe_shift", "unmodelled_distance")
        bad = [f"{k} {getattr(self, k)!r} (must be > 0)" for k in positive if not getattr(self, k) > 0]
        bad += [f"cushion {self.cushion!r} (must be >= 0)"] if not self.cushion >= 0 else []
        fractions = ("min_correlation", "max_backbone_only", "max_unmodelled", "max_identity")
        bad += [f"{k} {getattr(self, k)!r} (must be in [0, 1])" for k in fractions if not 0 <= getattr(self, k) <= 1]
        if not (0 <= self.val_fraction and 0 <= self.test_fraction and self.val_fraction + self.test_fraction < 1):
            bad.append(
                f"val_fraction {self.val_fraction!r} and test_fraction {self.test_fraction!r} "
                "(must be >= 0 and leave room for training: sum < 1)"
            )
        if bad:
            raise InputError("CurationConfig: " + "; ".join(bad))

    @classmethod
    def from_params(cls, params: dict) -> CurationConfig:
        """The settings a profile's parameters name (other keys are ignored)."""
        return cls(**{f.name: params[f.name] for f in fields(cls) if f.name in params})

    def entry_stamp(self) -> dict:
        """The settings that change one entry's curation: the cache stamp of :func:`curate_manifest`'s records."""
        return {k: v for k, v in asdict(self).items() if k not in SPLIT_FIELDS}


# ---------------------------------------------------------------------------------------------- maps


def box_around_model(density: DensityMap, structure: Structure, cushion: float = CurationConfig.cushion) -> DensityMap:
    """The map's voxels covering the atoms' bounding box widened by ``cushion`` A (phenix.map_box).

    Index range per axis: floor((min - cushion - origin) / voxel) .. ceil((max + cushion - origin) / voxel),
    clipped to the map; raises :class:`~s2mlib.errors.StructureError` when the model lies outside the map.
    """
    lo_xyz, hi_xyz = structure.bounds()
    lo = np.maximum(np.floor(density.world_to_index(lo_xyz - cushion)).astype(int), 0)
    hi = np.minimum(np.ceil(density.world_to_index(hi_xyz + cushion)).astype(int), np.array(density.shape_xyz) - 1)
    if np.any(hi < lo):
        raise StructureError(
            f"model {structure.path} (box {lo_xyz.round(1).tolist()}..{hi_xyz.round(1).tolist()} A) "
            f"lies outside the map box {[b.round(1).tolist() for b in density.bounds()]}"
        )
    data = density.data[lo[2] : hi[2] + 1, lo[1] : hi[1] + 1, lo[0] : hi[0] + 1]
    return DensityMap(data.copy(), density.index_to_world(lo[None])[0], density.voxel_size)


def curate_exp_map(
    density: DensityMap,
    structure: Structure,
    *,
    mask_radius: float | None = CurationConfig.mask_radius,
    spacing: float = CurationConfig.spacing,
    cushion: float = CurationConfig.cushion,
    clip_negative: bool = CurationConfig.clip_negative,
) -> DensityMap:
    """ExpMap: box around the model, zero beyond ``mask_radius`` A of every atom, trilinear resampling onto a
    ``spacing`` A grid starting at the box's origin (and not beyond it), min-max to [0, 1].
    ``mask_radius=None`` skips the mask: the uncurated "RawMap" of the paper's ablation (section 5).

    >>> exp = curate_exp_map(read_map("emd.map"), read_structure("model.pdb"))  # doctest: +SKIP
    """
    if not spacing > 0:
        raise InputError(f"spacing must be positive, got {spacing}")
    boxed = box_around_model(density, structure, cushion)
    if mask_radius is not None:
        boxed.data[~atom_mask(structure, boxed, mask_radius)] = 0.0
    extent = (np.array(boxed.shape_xyz) - 1) * boxed.voxel_size
    shape_xyz = np.floor(extent / spacing + 1e-6).astype(int) + 1
    resampled = boxed.resampled_on(boxed.origin, tuple(shape_xyz[::-1]), spacing)
    if clip_negative:
        np.maximum(resampled.data, 0.0, out=resampled.data)
    return resampled.copy(minmax(resampled.data))


def make_sim_map(
    structure: Structure, exp_map: DensityMap, resolution: float = CurationConfig.sim_resolution
) -> DensityMap:
    """SimMap: ChimeraX-style molmap of ``structure`` at ``resolution`` A on ``exp_map``'s grid, min-max to [0, 1]."""
    sim = molmap(structure, resolution, ref_map=exp_map)
    return exp_map.copy(minmax(sim.data))


# ------------------------------------------------------------------------------------------- splits


def assign_splits(
    emdb_ids: pd.Series,
    preset: pd.Series,
    *,
    val_fraction: float = CurationConfig.val_fraction,
    test_fraction: float = CurationConfig.test_fraction,
    seed: int = CurationConfig.seed,
) -> pd.Series:
    """Split per row: the ``preset`` one where given, else a seeded random split of the EMDB IDs (all rows of
    one EMDB ID share it; an ID with a preset split passes it to its other rows).

    round(fraction x number of unassigned IDs) IDs go to test and val, the rest (at least one) to train.
    Raises ManifestError when one EMDB ID has two different preset splits.
    """
    if not (0 <= val_fraction and 0 <= test_fraction and val_fraction + test_fraction < 1):
        raise InputError(
            f"val_fraction {val_fraction} and test_fraction {test_fraction} must be >= 0 "
            "and leave room for training (sum < 1)"
        )
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


def _shape(density: DensityMap) -> str:
    return "x".join(map(str, density.shape_xyz))


def curate_entry(
    map_path: str | os.PathLike,
    model_path: str | os.PathLike,
    exp_path: Path,
    sim_path: Path,
    config: CurationConfig = CurationConfig(),
) -> dict:
    """Filters 1-3 for one map/model pair; writes ExpMap and SimMap when filters 1-2 pass. Returns the figures.

    Keys: ``issues`` (list of reasons, empty when kept so far), ``correlation``, ``correlation_about_mean``,
    ``map_shape``, ``exp_shape``, ``residues``, ``atoms``, ``sequences``, ``exp_map``, ``sim_map`` ('' when
    not written) and the figures of :func:`s2mlib.study.filters.map_model_issues`.
    """
    structure = read_structure(model_path)
    density = read_map(map_path)
    result = {
        "map_shape": _shape(density),
        "residues": structure.n_residues,
        "atoms": structure.n_atoms,
        "sequences": chain_sequences(structure),
        "exp_map": "",
        "sim_map": "",
        "exp_shape": "",
        "correlation": math.nan,
        "correlation_about_mean": math.nan,
    }
    issues = structure_issues(structure, config.max_backbone_only)
    map_issues, figures = map_model_issues(
        density,
        structure,
        min_atom_z=config.min_atom_z,
        probe_shift=config.probe_shift,
        max_unmodelled=config.max_unmodelled,
        unmodelled_distance=config.unmodelled_distance,
    )
    result.update(figures)
    issues += map_issues
    if not issues:
        exp = curate_exp_map(
            density,
            structure,
            mask_radius=config.mask_radius,
            spacing=config.spacing,
            cushion=config.cushion,
            clip_negative=config.clip_negative,
        )
        sim = make_sim_map(structure, exp, config.sim_resolution)
        cor, cor_mean = chimerax_correlation(exp, sim)
        result.update(
            correlation=cor,
            correlation_about_mean=cor_mean,
            exp_shape=_shape(exp),
            exp_map=str(write_map(exp, exp_path)),
            sim_map=str(write_map(sim, sim_path)),
        )
        if not cor >= config.min_correlation:
            issues.append(f"low correlation: ExpMap in SimMap {cor:.3f} < {config.min_correlation:g}")
    result["issues"] = issues
    return result


def curate_manifest(
    manifest_df: pd.DataFrame,
    out_dir: str | os.PathLike,
    config: CurationConfig = CurationConfig(),
    *,
    progress: bool = False,
) -> pd.DataFrame:
    """Curate every manifest row into ``out_dir`` (``<entry>_exp.mrc``, ``<entry>_sim.mrc`` and a
    ``<entry>.json`` record) and return one row per entry (columns :data:`TABLE_COLUMNS`).

    Columns: entry, emdb_id, pdb_id, resolution, split, kept, reason ('; '-joined, '' when kept), exp_map,
    sim_map, correlation, correlation_about_mean, map_shape, exp_shape (nx x ny x nz), residues, atoms,
    atom_z, fit_ratio, atoms_outside, unmodelled_fraction, map, model. An entry whose record matches the same
    inputs (path, size, mtime), :meth:`CurationConfig.entry_stamp` and s2mlib version is not recomputed.
    Unreadable files exclude their entry with the error as reason, and so does a non-empty ``download_error`` (a
    download that failed, :func:`s2mlib.io.download.fetch_manifest`: reason ``download failed: ...``); other rows
    without a local map or model raise ManifestError (fetch them first, :mod:`s2mlib.io.download`), as does a manifest
    without rows.
    """
    require_columns(manifest_df, ("entry", "emdb_id", "map", "model"), "manifest")
    if manifest_df.empty:
        raise ManifestError("the manifest has no entries: add rows (entry, emdb_id, pdb_id, map, model) to it")
    failed = manifest_df.get("download_error", pd.Series("", index=manifest_df.index)).fillna("").astype(str)
    fetched = manifest_df[failed == ""]
    missing = [str(e) for e, m, p in zip(fetched["entry"], fetched["map"], fetched["model"]) if not m or not p]
    if missing:
        raise ManifestError(f"no local map or model for {', '.join(missing)}: fetch them first")
    lost = [
        f"{e}: {f}"
        for e, m, p in zip(fetched["entry"], fetched["map"], fetched["model"])
        for f in (m, p)
        if not Path(f).is_file()
    ]
    if lost:
        raise ManifestError(f"file(s) not found: {'; '.join(lost)}")
    out_dir = Path(out_dir)
    rows = manifest_df.to_dict("records")
    if progress:
        from ..io.progress import tqdm

        rows = tqdm(rows, desc="curate", unit="entry")
    records = []
    for row, error in zip(rows, failed):
        if error:
            records.append({"issues": [f"download failed: {error}"], "sequences": []})
            continue
        name = entry_file_name(row["entry"])
        record_path = out_dir / f"{name}.json"
        stamp = {
            "inputs": [file_stamp(row["map"]), file_stamp(row["model"])],
            "params": config.entry_stamp(),
            "version": __version__,
        }
        record = read_record(record_path)
        result = record.get("result", {}) if matches(record, stamp) else None
        if result is not None and any(result.get(k) and not Path(result[k]).is_file() for k in ("exp_map", "sim_map")):
            result = None
        if result is None:
            try:
                result = curate_entry(
                    row["map"], row["model"], out_dir / f"{name}_exp.mrc", out_dir / f"{name}_sim.mrc", config
                )
            except S2MError as exc:
                result = {"issues": [f"unreadable: {exc}"], "sequences": []}
            write_record(record_path, {**stamp, "result": result})
        records.append(result)

    table = manifest_df.reindex(columns=["entry", "emdb_id", "pdb_id", "resolution", "map", "model"]).copy()
    figures = pd.DataFrame(records, index=table.index).drop(columns=["sequences", "issues"])
    table = table.join(figures)
    reasons = pd.Series(["; ".join(r["issues"]) for r in records], index=table.index, dtype=object)
    candidates = table[reasons == ""]
    dropped = redundant_entries(
        candidates, {e: r["sequences"] for e, r in zip(table["entry"], records)}, config.max_identity
    )
    reasons[table["entry"].isin(dropped)] = table["entry"].map(dropped)
    table["kept"] = reasons == ""
    table["reason"] = reasons
    preset = manifest_df.get("split", pd.Series("", index=table.index)).fillna("")
    table["split"] = preset
    if table["kept"].any():
        kept = table["kept"]
        table.loc[kept, "split"] = assign_splits(
            table.loc[kept, "emdb_id"],
            preset[kept],
            val_fraction=config.val_fraction,
            test_fraction=config.test_fraction,
            seed=config.seed,
        )
    return table.reindex(columns=TABLE_COLUMNS).reset_index(drop=True)


def make_raw_targets(
    table: pd.DataFrame,
    out_dir: str | os.PathLike,
    *,
    spacing: float = CurationConfig.spacing,
    cushion: float = CurationConfig.cushion,
) -> pd.DataFrame:
    """The ablation's uncurated targets: for each kept entry, its map boxed and resampled like the ExpMap but not
    masked nor clipped (``curate_exp_map(mask_radius=None, clip_negative=False)``), on the SimMap's grid; returns the
    table with ``exp_map`` pointing at ``out_dir/<entry>_raw.mrc`` (written atomically, reused when present)."""
    out_dir = Path(out_dir)
    raw = table[table["kept"]].copy()
    paths = []
    for row in raw.itertuples():
        path = out_dir / f"{entry_file_name(row.entry)}_raw.mrc"
        if not path.exists():
            write_map(
                curate_exp_map(
                    read_map(row.map),
                    read_structure(row.model),
                    mask_radius=None,
                    spacing=spacing,
                    cushion=cushion,
                    clip_negative=False,
                ),
                path,
            )
        paths.append(str(path))
    raw["exp_map"] = paths
    return raw.reset_index(drop=True)
