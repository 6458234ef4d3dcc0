"""Notebook 08's comparisons that train, over seeds: the paper's ablation (section 5) and input x conditioning.

Every variant is trained once per seed (:func:`s2mlib.study.spread.seed_list`) with the same budget, a training that two
comparisons share (the base model is also the "paper input" variant) runs once, and a finished training is not run
again (:func:`s2mlib.gan.train.train_from_table` resumes). Each trained generator is scored per seed; the tables of
:mod:`s2mlib.study.spread` then give means, spreads over seeds and the winners that hold.

Example (the notebook's calls):
    >>> config = ablation_config(TrainConfig(epochs=3), epochs=2, patches_per_epoch=48)       # doctest: +SKIP
    >>> tables = {"curated": table, "raw": raw_table}                                        # doctest: +SKIP
    >>> runs = train_variants(paper_variants(config), tables, [0, 1, 2], "runs/x")            # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd

from ..gan.generate import MapGenerator, generate_entries
from ..gan.train import TrainConfig, train_from_table
from ..io.cache import safe_name
from .benchmark import score_maps
from .resolution import SELECTION_METRICS, resolution_series, target_labels

# The input x conditioning grid: variant name -> (input_kind, conditioned).
CONDITIONING = {
    "paper input": ("molmap", False),
    "paper input, conditioned": ("molmap", True),
    "B-factor input": ("bfactor", False),
    "B-factor input, conditioned": ("bfactor", True),
}
# Short names for tables on a page.
SHORT_NAMES = {
    "paper input": "paper",
    "paper input, conditioned": "paper, cond.",
    "B-factor input": "B-factor",
    "B-factor input, conditioned": "B-factor, cond.",
    "paper ablation (test)": "paper ablation",
    "input x conditioning (val)": "input x cond.",
}


def ablation_config(
    config: TrainConfig, epochs: int | None = None, patches_per_epoch: int | None = None
) -> TrainConfig:
    """``config`` with the ablation's per-seed budget (None: the training's own): ``epochs`` x ``patches_per_epoch``.

    >>> ablation_config(TrainConfig(epochs=3, max_patches_per_epoch=160), 2, 48).max_patches_per_epoch
    48
    """
    return replace(
        config,
        epochs=config.epochs if epochs is None else int(epochs),
        max_patches_per_epoch=config.max_patches_per_epoch if patches_per_epoch is None else int(patches_per_epoch),
        progress=False,
    )


def paper_variants(config: TrainConfig) -> dict[str, tuple[TrainConfig, str]]:
    """The paper's ablation: the base model, no SmoothL1 (adversarial loss only), raw maps as targets; each a
    (config, table name) pair, the table 'curated' or 'raw'."""
    return {
        "base": (config, "curated"),
        "no SmoothL1": (replace(config, l1=False), "curated"),
        "raw maps": (config, "raw"),
    }


def conditioning_variants(config: TrainConfig) -> dict[str, tuple[TrainConfig, str]]:
    """The four input x conditioning variants (:data:`CONDITIONING`), otherwise trained as ``config``."""
    return {
        name: (replace(config, input_kind=kind, conditioned=conditioned), "curated")
        for name, (kind, conditioned) in CONDITIONING.items()
    }


def training_key(config: TrainConfig, table: str, seed: int | None = None) -> tuple[str, str]:
    """What identifies a training: its settings as JSON (with ``seed`` when given; progress bars aside) and its
    table name."""
    config = replace(config, progress=False, seed=config.seed if seed is None else int(seed))
    return json.dumps(asdict(config), sort_keys=True, default=str), table


def train_variants(
    variants: Mapping[str, tuple[TrainConfig, str]],
    tables: Mapping[str, pd.DataFrame],
    seeds: Sequence[int],
    out_dir: str | os.PathLike,
    trained: dict[tuple[str, str], Path] | None = None,
) -> pd.DataFrame:
    """Train every variant with every seed in ``out_dir/<variant>_seed<S>`` (config.seed = S). ``trained`` maps a
    :func:`training_key` already trained (e.g. notebook 04's model) to its generator and is filled as this goes, so
    calls share trainings, and one variant under two names is trained once. Returns one row per (variant, seed):
    variant, seed, weights (the generator file)."""
    trained = {} if trained is None else trained
    rows = []
    for seed in seeds:
        for name, (config, table) in variants.items():
            key = training_key(config, table, seed)
            if key not in trained:
                run_dir = Path(out_dir) / f"{safe_name(name)}_seed{seed}"
                _, trained[key] = train_from_table(replace(config, seed=int(seed)), tables[table], run_dir)
            rows.append({"variant": name, "seed": int(seed), "weights": str(trained[key])})
    return pd.DataFrame(rows)


def generator_for(weights: str | os.PathLike, params: Mapping) -> MapGenerator:
    """A quiet :class:`MapGenerator` with the profile's ``generate_*`` settings and these ``weights``."""
    return MapGenerator.from_params({**params, "weights": str(weights), "progress": False})


def score_on_entries(
    runs: pd.DataFrame, entries: pd.DataFrame, out_dir: str | os.PathLike, params: Mapping
) -> pd.DataFrame:
    """The paper's ablation scores: every (variant, seed) generator makes the ``entries``' maps
    (``out_dir/<variant>_seed<S>/``), scored against their ExpMaps as notebook 06 does; one row per (entry, variant,
    seed) with every score of :func:`s2mlib.study.benchmark.score_maps` (method = the variant)."""
    parts = []
    for run in runs.itertuples():
        folder = Path(out_dir) / f"{safe_name(run.variant)}_seed{run.seed}"
        generated = generate_entries(generator_for(run.weights, params), entries, folder, method=run.variant)
        scores = score_maps(
            generated,
            entries,
            contour_fraction=params["contour_fraction"],
            mask_radius=params["mask_radius"],
            progress=False,
        )
        parts.append(scores.assign(seed=run.seed))
    return pd.concat(parts, ignore_index=True)


def series_on_entries(
    runs: pd.DataFrame, entries: pd.DataFrame, out_dir: str | os.PathLike, params: Mapping
) -> pd.DataFrame:
    """Input x conditioning scores: per seed, every variant's maps at the profile's ``ablation_resolutions``
    (:func:`s2mlib.study.resolution.resolution_series`, against the experimental map low-passed to R); one row per
    (entry, R, variant, seed), with ``R`` as text ('reported' or e.g. '5 Å') and ``score`` the selection rule's score
    (mean of :data:`s2mlib.study.resolution.SELECTION_METRICS`)."""
    parts = []
    for seed, group in runs.groupby("seed", sort=True):
        generators = {run.variant: generator_for(run.weights, params) for run in group.itertuples()}
        series = resolution_series(
            entries,
            generators,
            params["ablation_resolutions"],
            Path(out_dir) / f"seed{seed}",
            simulators=(),
            default_resolution=params["default_resolution"],
            mask_radius=params["mask_radius"],
            progress=False,
        )
        parts.append(series[series["method"] != "experimental"].assign(seed=seed))
    series = pd.concat(parts, ignore_index=True)
    series["R"] = target_labels(series)
    series["score"] = series[SELECTION_METRICS].mean(axis=1)
    return series.rename(columns={"method": "variant"})
