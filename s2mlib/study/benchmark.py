"""The comparison study of the paper (section 4): baseline simulators against the experimental maps (Table 1,
Figures 5 and 6) and generation time against size (Figure 7).

Baselines (:data:`BASELINES`, paper section 4.1: "simulation-based maps ... with a resolution cutoff at 2 A",
plus molmap at each entry's reported resolution for Figure 5) are simulated on the grid of each entry's curated
ExpMap, which is also the reference every map is scored against (:func:`score_maps`, all of
:func:`s2mlib.metrics.evaluate`). :func:`summary_table` gives Table 1 (mean and median per method), beside the
paper's values when its CSV is given; :func:`resolution_fits` the lines of Figure 5.

Example:
    >>> entries = load_curation("runs/default", "test")                          # doctest: +SKIP
    >>> maps = simulate_baselines(entries, "runs/default/baselines")            # doctest: +SKIP
    >>> table1 = summary_table(score_maps(maps, entries), "table1_paper.csv")   # doctest: +SKIP

Why one long module: the paper's comparison as one piece (baselines and their cache, scoring with the paper's
and the field's scores, Table 1, Figure 5's fits, per-residue profiles, generation timing).
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..errors import InputError, ManifestError, require_columns
from ..gan.generate import MapGenerator
from ..gan.tiling import cube_corners
from ..io.atoms import Structure, read_structure
from ..io.cache import file_stamp, matches, read_record, safe_name, write_record
from ..io.density import DensityMap, read_map, write_map
from ..io.manifest import entry_file_name
from ..io.progress import tqdm
from ..metrics import (
    atom_qscores,
    evaluate,
    field_scores,
    fsc_resolution,
    map_model_fsc,
    mean_qscore,
    on_grid_of,
    residue_qscores,
)
from ..sim.inputs import DEFAULT_RESOLUTION, known_resolution
from ..sim.simulate import simulate
from ..sim.structures import secondary_structure

# display name -> (simulate() method, resolution in A; None: the entry's reported resolution). The paper compares
# at 2 A; at the reported resolution molmap and gemmi (which also uses the model's B-factors) are the fair rivals.
BASELINES: dict[str, tuple[str, float | None]] = {
    "molmap": ("molmap", 2.0),
    "molmap (reported res.)": ("molmap", None),
    "e2pdb2mrc": ("e2pdb2mrc", 2.0),
    "StructureBlurrer": ("blurrer", 2.0),
    "gemmi": ("gemmi", 2.0),
    "gemmi (reported res.)": ("gemmi", None),
}
TABLE1_METRICS = ("ssim", "correlation", "correlation_about_mean", "pcc")
MASKED_METRICS = tuple(f"masked_{m}" for m in TABLE1_METRICS)
# the field's model-fit scores of each map against the entry's model (s2mlib.metrics.field_scores)
FIELD_METRICS = ("cc_mask", "cc_box", "fsc_0.5_resolution", "q_mean")
# Whole-pipeline generation time reported by the paper (section 4.5; 32-core AMD Threadripper 2950X, CPU only)
PAPER_GENERATION_SECONDS = {644: 14.0, 2501: 20.0, 12868: 53.0}
TIMINGS = "timings.json"  # per-entry sidecar of simulate_baselines: what each cached map was made with, and its time


def entry_rows(entries: pd.DataFrame) -> dict[str, dict]:
    """entry -> its row, checking that each names an existing ExpMap and model file."""
    require_columns(entries, ("entry", "resolution", "exp_map", "model"), "entries table")
    rows = {}
    for row in entries.to_dict("records"):
        name = str(row["entry"])
        for column in ("exp_map", "model"):
            if not isinstance(row[column], str) or not row[column]:
                raise ManifestError(
                    f"{name}: no {column} path in the entries table (only kept, curated entries can be compared)"
                )
            if not Path(row[column]).is_file():
                raise ManifestError(f"{name}: {column} file not found: {row[column]}")
        rows[name] = row
    return rows


# --------------------------------------------------------------------------------------------- baselines


def simulate_baselines(
    entries: pd.DataFrame,
    out_dir: str | os.PathLike,
    *,
    methods: Sequence[str] | None = None,
    default_resolution: float = 3.5,
    progress: bool = True,
) -> pd.DataFrame:
    """Simulate each entry with each baseline on its ExpMap's grid, into ``out_dir/<entry>/<method>.mrc``.

    ``entries``: curation-table rows (columns entry, resolution, exp_map, model). ``methods``: keys of
    :data:`BASELINES` (default all). A reported resolution that is unknown (NaN) is replaced by
    ``default_resolution``. Maps are written atomically; ``out_dir/<entry>/timings.json`` records for each map
    the simulator, resolution, input file stamps (path, size, mtime) and simulation seconds. A map is not
    recomputed when its file exists and its record matches (cached rows keep their recorded time).

    Returns a long table: entry, method, sim_method, sim_resolution, path, seconds (the simulate() call alone),
    cached.
    """
    names = list(BASELINES) if methods is None else list(methods)
    unknown = [m for m in names if m not in BASELINES]
    if unknown:
        raise InputError(f"unknown baseline(s) {unknown}; choose from {list(BASELINES)}")
    rows = entry_rows(entries)
    out_dir = Path(out_dir)
    records = []
    for entry, row in tqdm(rows.items(), desc="baselines", unit="entry", disable=not progress):
        folder = out_dir / entry_file_name(entry)
        sidecar = folder / TIMINGS
        timings = read_record(sidecar)
        stamps = [file_stamp(row["exp_map"]), file_stamp(row["model"])]
        structure = reference = None
        for name in names:
            method, resolution = BASELINES[name]
            resolution = known_resolution(row["resolution"], default_resolution) if resolution is None else resolution
            path = folder / f"{safe_name(name)}.mrc"
            stamp = {"method": name, "sim_method": method, "resolution": resolution, "inputs": stamps}
            record = timings.get(name, {})
            cached = path.is_file() and matches(record, stamp)
            if not cached:
                if structure is None:
                    structure, reference = read_structure(row["model"]), read_map(row["exp_map"])
                t0 = time.perf_counter()
                density = simulate(structure, method, resolution, ref_map=reference)
                seconds = time.perf_counter() - t0
                write_map(density, path)
                timings[name] = record = {**stamp, "seconds": seconds}
                write_record(sidecar, timings)
            records.append(
                {
                    "entry": entry,
                    "method": name,
                    "sim_method": method,
                    "sim_resolution": resolution,
                    "path": str(path),
                    "seconds": float(record["seconds"]),
                    "cached": cached,
                }
            )
    return pd.DataFrame(
        records, columns=["entry", "method", "sim_method", "sim_resolution", "path", "seconds", "cached"]
    )


def score_maps(
    maps: pd.DataFrame,
    entries: pd.DataFrame,
    *,
    contour_fraction: float = 0.01,
    mask_radius: float = 3.0,
    model_fit: bool = False,
    default_resolution: float = DEFAULT_RESOLUTION,
    progress: bool = True,
) -> pd.DataFrame:
    """Score every map against its entry's curated ExpMap with :func:`s2mlib.metrics.evaluate` (model-masked
    scores within ``mask_radius`` A of the entry's model included); with ``model_fit`` also the field's scores of the
    map against the model (:func:`s2mlib.metrics.field_scores` at the entry's reported resolution,
    ``default_resolution`` when unknown: Phenix CCs, map-model FSC 0.5 resolution, mean Q-score). A map-model FSC that
    never falls below 0.5 (noise-free simulated maps; TEMPy reports 0) is NaN here.

    ``maps``: long table entry, method, path (any grid: maps are interpolated onto the ExpMap's). Returns one row
    per map: entry, method, resolution (reported; NaN when unknown), residues (``Structure.n_residues`` of the
    model file), then every key of ``evaluate`` (and of ``field_scores``).
    """
    require_columns(maps, ("entry", "method", "path"), "maps table")
    rows = entry_rows(entries)
    unknown = sorted(set(map(str, maps["entry"])) - set(rows))
    if unknown:
        raise ManifestError(f"maps of entries not in the entries table: {', '.join(unknown)}")
    records = []
    groups = maps.groupby(maps["entry"].astype(str), sort=False)
    for entry, group in tqdm(groups, desc="scoring", unit="entry", disable=not progress):
        row = rows[entry]
        structure, reference = read_structure(row["model"]), read_map(row["exp_map"])
        resolution = known_resolution(row["resolution"], math.nan)
        for method, path in zip(group["method"], group["path"]):
            density = read_map(path)
            scores = evaluate(density, reference, structure, mask_radius=mask_radius, contour_fraction=contour_fraction)
            if model_fit:
                fit_resolution = known_resolution(row["resolution"], default_resolution)
                fit = field_scores(on_grid_of(density, reference), structure, fit_resolution)
                if fit["fsc_0.5_resolution"] == 0:  # TEMPy's rule for a curve that never falls below 0.5
                    fit["fsc_0.5_resolution"] = math.nan
                scores.update(fit)
            records.append(
                {"entry": entry, "method": method, "resolution": resolution, "residues": structure.n_residues, **scores}
            )
    return pd.DataFrame(records)


def map_quality(table: pd.DataFrame, *, progress: bool = True) -> pd.DataFrame:
    """The experimental maps' own fit to their models, per kept entry of a curation table (a data-quality view):
    mean Q-score (:func:`s2mlib.metrics.atom_qscores`, mapq) and map-model FSC 0.5 resolution (against molmap at
    Nyquist, TEMPy's rule) of the deposited map as given (``map`` column), not of the curated ExpMap.

    Returns entry, q_mean, fsc_0.5_resolution.
    """
    require_columns(table, ("entry", "kept", "map", "model"), "curation table")
    records = []
    kept = table[table["kept"].astype(bool)]
    for row in tqdm(list(kept.itertuples()), desc="map quality", unit="entry", disable=not progress):
        density, structure = read_map(row.map), read_structure(row.model)
        records.append(
            {
                "entry": row.entry,
                "q_mean": mean_qscore(atom_qscores(density, structure)),
                "fsc_0.5_resolution": fsc_resolution(map_model_fsc(density, structure), 0.5),
            }
        )
    return pd.DataFrame(records, columns=["entry", "q_mean", "fsc_0.5_resolution"])


def map_q_means(table: pd.DataFrame, sigma: float = 0.6, *, progress: bool = True) -> pd.DataFrame:
    """Mean Q-score, with a reference Gaussian of ``sigma`` A (EMDB's: 0.4), of each kept entry's deposited map
    (``map`` column of a curation table, as :func:`map_quality`) against its model. Returns entry, q_mean."""
    require_columns(table, ("entry", "kept", "map", "model"), "curation table")
    kept = table[table["kept"].astype(bool)]
    means = [
        mean_qscore(atom_qscores(read_map(row.map), read_structure(row.model), sigma=sigma))
        for row in tqdm(list(kept.itertuples()), desc="map Q", unit="entry", disable=not progress)
    ]
    return pd.DataFrame({"entry": kept["entry"].to_list(), "q_mean": means})


def residue_profiles(maps: Mapping[str, DensityMap], structure: Structure) -> pd.DataFrame:
    """Per-residue Q-score of each map (one column per name of ``maps``, mapq's Q averaged over the residue's heavy
    atoms) for the amino acids with a CA, with their secondary structure
    (:func:`s2mlib.sim.structures.secondary_structure`): chain, residue_number, insertion_code, residue_name, ss, then
    the maps' columns (waters, ligands left out)."""
    if not maps:
        raise InputError("residue_profiles needs at least one map")
    keys = ["chain", "residue_number", "insertion_code", "residue_name"]
    tables = [
        residue_qscores(structure, atom_qscores(density, structure)).rename(columns={"q": name}).drop(columns="n_atoms")
        for name, density in maps.items()
    ]
    table = functools.reduce(lambda a, b: a.merge(b, on=keys, how="outer", sort=False), tables)
    ss = secondary_structure(structure).rename(columns={"residue": "residue_number", "icode": "insertion_code"})
    ss["insertion_code"] = ss["insertion_code"].str.strip()
    table["insertion_code"] = table["insertion_code"].astype(str).str.strip()
    table = ss[["chain", "residue_number", "insertion_code", "ss"]].merge(
        table, how="inner", on=["chain", "residue_number", "insertion_code"], sort=False
    )
    return table[["chain", "residue_number", "insertion_code", "residue_name", "ss", *maps]]


def summary_table(
    scores: pd.DataFrame, paper_csv: str | os.PathLike | None = None, *, masked: bool = False
) -> pd.DataFrame:
    """Table 1: one row per method (in order of first appearance): n (entries), ``<metric>_mean`` and
    ``<metric>_median`` of ssim, correlation, correlation_about_mean and pcc (NaN scores left out), named as the
    paper's CSV; ``masked=True``: the same for their model-masked variants (:data:`MASKED_METRICS`). The
    field's scores (:data:`FIELD_METRICS`), when the table has them, add ``<metric>_mean`` columns to Table 1.

    With ``paper_csv`` (``method`` column plus those names) the paper's values are added as ``paper_<column>``
    for the methods it lists (NaN for the others). Methods are matched by name: our ``molmap`` row is the paper's
    molmap at 2 A. The paper has no masked scores.
    """
    metrics = MASKED_METRICS if masked else TABLE1_METRICS
    require_columns(scores, ("entry", "method", *metrics), "scores table")
    order = list(dict.fromkeys(scores["method"]))
    grouped = scores.groupby("method")
    table = pd.DataFrame({"method": order, "n": grouped["entry"].nunique().reindex(order).to_numpy()})
    for metric in metrics:
        table[f"{metric}_mean"] = grouped[metric].mean().reindex(order).to_numpy()
        table[f"{metric}_median"] = grouped[metric].median().reindex(order).to_numpy()
    for metric in () if masked else [m for m in FIELD_METRICS if m in scores.columns]:
        table[f"{metric}_mean"] = grouped[metric].mean().reindex(order).to_numpy()
    if paper_csv is not None:
        paper = pd.read_csv(paper_csv)
        if "method" not in paper.columns:
            raise ManifestError(f"{paper_csv}: no 'method' column (has: {', '.join(paper.columns)})")
        shared = [c for c in table.columns[2:] if c in paper.columns]
        values = paper.set_index("method")[shared].add_prefix("paper_")
        table = table.join(values, on="method")
    return table


# Short column names of the two page-wide views of Table 1 (paper_scores_table, field_scores_table)
TABLE1_LABELS = {
    "ssim": "SSIM",
    "correlation": "correlation",
    "correlation_about_mean": "corr. about mean",
    "pcc": "PCC",
}
FIELD_LABELS = {"cc_mask": "CC_mask", "cc_box": "CC_box", "fsc_0.5_resolution": "FSC 0.5 (Å)", "q_mean": "Q-score"}


def paper_scores_table(summary: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Table 1 as the paper prints it, narrow enough for a page: per method a row of our scores ('ours', n entries)
    and, below it, the paper's ('paper', where the paper lists the method); each cell 'mean / median' of SSIM,
    correlation, correlation about mean and PCC. ``summary``: :func:`summary_table` with ``paper_csv``.

    >>> s = pd.DataFrame({"method": ["m"], "n": [2], "ssim_mean": [0.5], "ssim_median": [0.25]})
    >>> paper_scores_table(s).to_dict("records")
    [{'method': 'm', 'scores': 'ours', 'n': '2', 'SSIM': '0.500 / 0.250'}]
    """
    metrics = [m for m in TABLE1_METRICS if f"{m}_mean" in summary.columns]

    def cells(row, prefix: str) -> dict[str, str]:
        return {
            TABLE1_LABELS[m]: f"{row[f'{prefix}{m}_mean']:.{digits}f} / {row[f'{prefix}{m}_median']:.{digits}f}"
            for m in metrics
        }

    rows = []
    for _, row in summary.iterrows():
        rows.append({"method": row["method"], "scores": "ours", "n": str(row["n"]), **cells(row, "")})
        if f"paper_{metrics[0]}_mean" in summary.columns and pd.notna(row[f"paper_{metrics[0]}_mean"]):
            rows.append({"method": row["method"], "scores": "paper", "n": "", **cells(row, "paper_")})
    return pd.DataFrame(rows)


def field_scores_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The field's scores of Table 1's maps against the entries' models, means per method (``summary``:
    :func:`summary_table`): Phenix CC_mask and CC_box, map-model FSC 0.5 resolution (Å), mean Q-score.

    >>> s = pd.DataFrame({"method": ["m"], "n": [2], "ssim_mean": [0.5], "q_mean_mean": [0.7]})
    >>> field_scores_table(s).to_dict("records")
    [{'method': 'm', 'n': 2, 'Q-score': 0.7}]
    """
    columns = {f"{m}_mean": label for m, label in FIELD_LABELS.items() if f"{m}_mean" in summary.columns}
    return summary[["method", "n", *columns]].rename(columns=columns)


def resolution_fits(scores: pd.DataFrame, metrics: Sequence[str] = ("correlation", "ssim")) -> pd.DataFrame:
    """Figure 5's lines: per method and metric, the least-squares fit metric = intercept + slope x resolution
    (``scipy.stats.linregress`` over the rows with both values). Returns method, metric, n, slope (per A),
    slope_ci95 (half-width, Student t with n - 2 degrees of freedom), intercept, r (Pearson), p (slope = 0).
    """
    from scipy import stats

    require_columns(scores, ("method", "resolution", *metrics), "scores table")
    rows = []
    for method in dict.fromkeys(scores["method"]):
        part = scores[scores["method"] == method]
        for metric in metrics:
            both = part[["resolution", metric]].dropna()
            row = {"method": method, "metric": metric, "n": len(both)}
            if len(both) >= 3 and both["resolution"].nunique() > 1:
                fit = stats.linregress(both["resolution"], both[metric])
                row.update(
                    slope=fit.slope,
                    slope_ci95=stats.t.ppf(0.975, len(both) - 2) * fit.stderr,
                    intercept=fit.intercept,
                    r=fit.rvalue,
                    p=fit.pvalue,
                )
            rows.append(row)
    return pd.DataFrame(rows, columns=["method", "metric", "n", "slope", "slope_ci95", "intercept", "r", "p"])


# ------------------------------------------------------------------------- Figure 7: generation timing


def time_generation(
    generator: MapGenerator, structures: Mapping[str, Structure], *, warmup: bool = True
) -> pd.DataFrame:
    """Wall time of ``generator(structure)`` (the whole pipeline, structure -> map) for each structure.

    Returns name, residues, atoms, grid (nx x ny x nz at 1 A), cubes, cubes_run (those the network saw: all, or
    the non-empty ones with ``skip_empty``), seconds, simulate_s (network input), network_s (cubes and
    reassembly), device, precision and runtime. ``warmup`` first runs the smallest structure once, untimed
    (first-call costs).
    """
    rows = []
    if warmup and structures:
        generator(min(structures.values(), key=lambda s: s.n_atoms))
    for name, structure in structures.items():
        if generator.device.type == "cuda":
            torch.cuda.synchronize(generator.device)
        t0 = time.perf_counter()
        density = generator(structure)
        seconds = time.perf_counter() - t0
        rows.append(
            {
                "name": name,
                "residues": structure.n_residues,
                "atoms": structure.n_atoms,
                "grid": "x".join(map(str, density.shape_xyz)),
                "cubes": len(cube_corners(density.data.shape)),
                "cubes_run": generator.last_cubes_run,
                "seconds": seconds,
                "simulate_s": generator.last_timing["simulate_s"],
                "network_s": generator.last_timing["network_s"],
                "device": str(generator.device),
                "precision": generator.precision,
                "runtime": generator.runtime,
            }
        )
    return pd.DataFrame(rows)


def realism_table(maps: pd.DataFrame, entries: pd.DataFrame, *, progress: bool = True) -> pd.DataFrame:
    """How experimental each map looks at the residue level: per entry and method of ``maps`` (columns entry,
    method, path), ``q_mean`` (mapq's mean Q-score), ``q_difference`` (that minus the experimental map's: the
    entry's ExpMap, ``exp_map`` of ``entries``) and ``residue_q_correlation`` (Pearson of its per-residue Q with the
    experimental map's, over the residues both define).
    """
    rows = entry_rows(entries)
    records = []
    for entry, part in tqdm(maps.groupby("entry", sort=False), desc="realism", unit="entry", disable=not progress):
        structure = read_structure(rows[entry]["model"])
        exp_q = atom_qscores(read_map(rows[entry]["exp_map"]), structure)
        reference = residue_qscores(structure, exp_q)["q"]
        for method, path in zip(part["method"], part["path"]):
            atom_q = atom_qscores(read_map(path), structure)
            per_residue = residue_qscores(structure, atom_q)["q"]
            both = per_residue.notna() & reference.notna()
            records.append(
                {
                    "entry": entry,
                    "method": method,
                    "q_mean": mean_qscore(atom_q),
                    "q_difference": mean_qscore(atom_q) - mean_qscore(exp_q),
                    "residue_q_correlation": float(np.corrcoef(per_residue[both], reference[both])[0, 1]),
                }
            )
    return pd.DataFrame(records)
