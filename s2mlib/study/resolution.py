"""The study at chosen target resolutions (beyond the paper): maps of the entries made at a resolution R by the
generators and by the simulators, scored against the experimental map low-passed to R; and the matched-resolution
check that generated maps look like maps of the resolution asked for.

For an entry of reported resolution r0 (``default_resolution`` when unknown) and a target R >= r0, the reference is
:func:`s2mlib.sim.inputs.target_at` (the curated ExpMap low-passed to R, as the conditioned generator's training
targets; the ExpMap itself at r0). Generators that use a resolution make their map at R; the paper's generator
(unconditioned, molmap input) has one map whatever R. Simulators run at R on the ExpMap's grid. Every map is scored with
:func:`s2mlib.metrics.evaluate` (the paper's scores, plus Pearson inside 3 A of the model) against that reference.

Matched resolution (:func:`s2mlib.metrics.matched_resolution`): R' = the molmap resolution that correlates best with
a map inside 3 A of the model. A map generated at R passes the check when R' grows with R and lies within 1 A of
R' of the experimental map low-passed to R.

Example:
    >>> series = resolution_series(test, {"GAN": generator}, [3.5, 5.0], "runs/x/series")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..gan.generate import MapGenerator
from ..io.atoms import read_structure
from ..io.cache import safe_name
from ..io.density import read_map, write_map
from ..io.manifest import entry_file_name
from ..io.progress import tqdm
from ..metrics import evaluate, fsc_curve, fsc_resolution, matched_resolution
from ..metrics.qscore import QscoreSampler, mean_qscore
from ..sim.inputs import DEFAULT_RESOLUTION, known_resolution, target_at
from ..sim.quality import DEFAULT_QUALITY, QSCORE_SIGMA, quality_sample
from ..sim.simulate import simulate
from .benchmark import entry_rows

SIMULATORS = {"molmap": "molmap", "e2pdb2mrc": "e2pdb2mrc", "StructureBlurrer": "blurrer", "gemmi": "gemmi"}
NATIVE = "reported"  # the label of the entry's own resolution in a list of targets
# The scores whose mean over a series' targets is the weights' selection score (tools/evaluate_weights.py, notebook 08).
SELECTION_METRICS = ["correlation_about_mean", "pcc", "masked_correlation_about_mean", "ssim"]


def targets_for(native: float, resolutions: Sequence[float | str]) -> list[float]:
    """The target resolutions of an entry of resolution ``native``: each R of ``resolutions`` that is not finer than
    ``native`` ('reported' = ``native`` itself), in order, without repeats.

    >>> targets_for(3.2, ["reported", 3.0, 5.0, 5.0, 8.0])
    [3.2, 5.0, 8.0]
    """
    out: list[float] = []
    for r in resolutions:
        value = float(native) if r == NATIVE else float(r)
        if value >= native - 1e-6 and not any(abs(value - o) < 1e-6 for o in out):
            out.append(value)
    return out


def target_labels(series: pd.DataFrame, unit: str = "Å") -> list[str]:
    """A label per row of a series (columns target, native): 'reported' for the entry's own resolution, else e.g.
    '5 Å'.

    >>> target_labels(pd.DataFrame({"target": [3.2, 5.0], "native": [3.2, 3.2]}), unit="A")
    ['reported', '5 A']
    """
    return [NATIVE if abs(t - n) < 1e-6 else f"{t:g} {unit}" for t, n in zip(series["target"], series["native"])]


def resolution_series(
    entries: pd.DataFrame,
    generators: Mapping[str, MapGenerator],
    resolutions: Sequence,
    out_dir: str | os.PathLike,
    *,
    simulators: Sequence[str] = tuple(SIMULATORS),
    default_resolution: float = DEFAULT_RESOLUTION,
    mask_radius: float = 3.0,
    progress: bool = True,
    samples: Mapping[str, tuple[str, float]] | None = None,
    seed: int = 0,
    qscore: bool = False,
) -> pd.DataFrame:
    """Every entry at every target resolution (:func:`targets_for`): the reference (ExpMap low-passed to R), each
    generator's map and each simulator's map at R (names from :data:`SIMULATORS`), written to
    ``out_dir/<entry>/R<R>/<method>.mrc``, and their scores against the reference. ``samples`` maps a name to
    (a generator's name, a quality): that generator's map at R made a sample at that quality
    (:func:`s2mlib.sim.quality.quality_sample`, ``seed``), as ``MapGenerator(noise=True, quality=...)`` makes it.

    Returns a long table: entry, native (r0), target (R), method, path, then every key of
    :func:`s2mlib.metrics.evaluate` (with the model: ``masked_correlation_about_mean`` is Pearson inside
    ``mask_radius`` A of the atoms); with ``qscore``, also ``q_mean``, the map's mean Q-score against the model, and
    ``q_mean_emdb``, the same with EMDB's reference Gaussian (sigma 0.4 A, :data:`s2mlib.sim.quality.QSCORE_SIGMA`).
    """
    unknown = [m for m in simulators if m not in SIMULATORS]
    if unknown:
        raise InputError(f"unknown simulator(s) {unknown}; choose from {list(SIMULATORS)}")
    rows = entry_rows(entries)
    records = []
    for entry, row in tqdm(rows.items(), desc="resolution series", unit="entry", disable=not progress):
        structure, exp = read_structure(row["model"]), read_map(row["exp_map"])
        sampler = QscoreSampler(structure) if qscore else None
        native = known_resolution(row["resolution"], default_resolution)
        for target in targets_for(native, resolutions):
            folder = Path(out_dir) / entry_file_name(entry) / f"R{target:.2f}"
            reference = target_at(exp, target, native)
            maps = {"experimental": reference}
            for name, generator in generators.items():
                maps[name] = generator(structure, ref_map=exp, resolution=target if generator.uses_resolution else None)
            for name, (source, quality) in (samples or {}).items():
                maps[name] = quality_sample(maps[source], structure, target, seed, quality=quality).full
            for name in simulators:
                maps[name] = simulate(structure, SIMULATORS[name], target, ref_map=exp)
            for method, density in maps.items():
                path = write_map(density, folder / f"{safe_name(method)}.mrc")
                scores = evaluate(density, reference, structure, mask_radius=mask_radius)
                if sampler is not None:
                    scores["q_mean"] = mean_qscore(sampler.atom_qscores(density))
                    scores["q_mean_emdb"] = mean_qscore(sampler.atom_qscores(density, QSCORE_SIGMA))
                records.append(
                    {"entry": entry, "native": native, "target": target, "method": method, "path": str(path), **scores}
                )
    return pd.DataFrame(records)


def resolution_check(
    series: pd.DataFrame,
    entries: pd.DataFrame,
    targets: Sequence[float],
    methods: Sequence[str],
    *,
    progress: bool = True,
) -> pd.DataFrame:
    """Matched resolution R' of each map of ``methods`` and of the experimental reference in a
    :func:`resolution_series` table, at each target R of ``targets``.

    Returns entry, target, method, matched (R'), matched_experimental (R' of the reference at that R),
    difference (R' - R' of the reference), within_1A.
    """
    rows = entry_rows(entries)
    chosen = series[
        np.isin(series["target"].round(3), np.round(targets, 3)) & series["method"].isin([*methods, "experimental"])
    ]
    records = []
    for entry, part in tqdm(
        chosen.groupby("entry", sort=False), desc="matched resolution", unit="entry", disable=not progress
    ):
        structure = read_structure(rows[entry]["model"])
        for target, group in part.groupby("target"):
            matched = {m: matched_resolution(read_map(p), structure)[0] for m, p in zip(group["method"], group["path"])}
            for method in methods:
                if method in matched:
                    records.append(
                        {
                            "entry": entry,
                            "target": target,
                            "method": method,
                            "matched": matched[method],
                            "matched_experimental": matched["experimental"],
                            "difference": matched[method] - matched["experimental"],
                        }
                    )
    table = pd.DataFrame(
        records, columns=["entry", "target", "method", "matched", "matched_experimental", "difference"]
    )
    table["within_1A"] = table["difference"].abs() <= 1.0
    return table


def increases_with_target(check: pd.DataFrame) -> pd.DataFrame:
    """Per entry and method of a :func:`resolution_check` table: does R' increase strictly with the target R?"""
    ordered = check.sort_values("target")
    return (
        ordered.groupby(["entry", "method"])["matched"]
        .apply(lambda s: bool(np.all(np.diff(s.to_numpy()) > 0)))
        .rename("increases")
        .reset_index()
    )


def half_map_check(
    generator: MapGenerator,
    entries: pd.DataFrame,
    resolutions: Sequence[float],
    *,
    seed: int = 0,
    quality: float = DEFAULT_QUALITY,
    progress: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Half maps of every entry's sample map at each R of ``resolutions`` (``generator``'s expected map on the
    ExpMap's grid, a generator without noise, made a sample at ``quality`` by
    :func:`s2mlib.sim.quality.quality_sample`) and where their FSC
    (:func:`s2mlib.metrics.fsc_curve`) first falls below 0.143, interpolated between shells.

    Returns (check, curves): check has entry, target, fsc_0143 (A), shell (the FSC's shell width, 1/A),
    shells_off ((1/fsc_0143 - 1/R) / shell) and within_one_shell; curves has entry, target, frequency, fsc.
    """
    rows = entry_rows(entries)
    checks, curves = [], []
    for entry, row in tqdm(rows.items(), desc="half maps", unit="entry", disable=not progress):
        structure, exp = read_structure(row["model"]), read_map(row["exp_map"])
        for target in resolutions:
            expected = generator(structure, ref_map=exp, resolution=target)
            sample = quality_sample(expected, structure, target, seed, quality=quality)
            curve = fsc_curve(sample.half_1, sample.half_2)
            found = fsc_resolution(curve, 0.143, first_crossing=True, interpolate=True)
            shell = float(curve.frequency[1])  # the FSC's shell width, 1 / (nx voxel)
            off = (1.0 / found - 1.0 / target) / shell if found > 0 else np.nan
            checks.append(
                {
                    "entry": entry,
                    "target": target,
                    "fsc_0143": found,
                    "shell": shell,
                    "shells_off": off,
                    "within_one_shell": bool(abs(off) <= 1.0),
                }
            )
            curves.append(
                pd.DataFrame({"entry": entry, "target": target, "frequency": curve.frequency, "fsc": curve.fsc})
            )
    return pd.DataFrame(checks), pd.concat(curves, ignore_index=True)


def realism_at_reported(
    series: pd.DataFrame, entries: pd.DataFrame, methods: Sequence[str], *, progress: bool = True
) -> pd.DataFrame:
    """Every entry of a :func:`resolution_series` table (made with ``qscore``) at its own reported resolution R,
    for the experimental map (the ExpMap itself there) and each map of ``methods``: mean Q-score with mapq's default
    reference (``q_mean``, sigma 0.6 A) and EMDB's (``q_mean_emdb``, sigma 0.4 A), where the latter lies among EMDB's
    maps at R (``emdb_percentile``, :func:`s2mlib.sim.quality.emdb_percentile`; ``in_emdb_iqr``: 25th-75th), the
    difference of each from the experimental map's (``q_difference``, ``q_difference_emdb``), the correlation of its
    per-residue Q with the experimental map's (``residue_q_correlation``, :func:`s2mlib.study.benchmark.realism_table`)
    and its matched resolution R' with the difference from the experimental map's (``matched``, ``matched_difference``;
    :func:`resolution_check`)."""
    from ..sim.quality import emdb_percentile
    from .benchmark import realism_table

    native = series[(series["target"] - series["native"]).abs() < 1e-6]
    chosen = native[native["method"].isin([*methods, "experimental"])]
    residue = realism_table(chosen[["entry", "method", "path"]], entries, progress=progress)
    matched = resolution_check(series, entries, sorted(native["target"].unique()), methods, progress=progress)
    table = chosen[["entry", "native", "method", "q_mean", "q_mean_emdb"]].merge(
        residue[["entry", "method", "residue_q_correlation"]], on=["entry", "method"]
    )
    reference = table[table["method"] == "experimental"].set_index("entry")
    table["q_difference"] = table["q_mean"] - table["entry"].map(reference["q_mean"])
    table["q_difference_emdb"] = table["q_mean_emdb"] - table["entry"].map(reference["q_mean_emdb"])
    table["emdb_percentile"] = [emdb_percentile(q, r) for q, r in zip(table["q_mean_emdb"], table["native"])]
    table["in_emdb_iqr"] = table["emdb_percentile"].between(25, 75)
    mine = matched.rename(columns={"difference": "matched_difference"})
    table = table.merge(mine[["entry", "method", "matched", "matched_difference"]], on=["entry", "method"], how="left")
    own = matched.drop_duplicates("entry").set_index("entry")["matched_experimental"]
    is_exp = table["method"] == "experimental"
    table.loc[is_exp, "matched"] = table.loc[is_exp, "entry"].map(own)
    table.loc[is_exp, "matched_difference"] = 0.0
    rank = {key: i for i, key in enumerate([*dict.fromkeys(native["entry"]), "experimental", *methods])}
    table = table.sort_values(["entry", "method"], key=lambda column: column.map(rank))
    return table.rename(columns={"native": "resolution"}).reset_index(drop=True)
