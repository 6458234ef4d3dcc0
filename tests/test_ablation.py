"""Tests of s2mlib.study.ablation: the variants of notebook 08, their per-seed budget, and trainings shared between the
paper's ablation and input x conditioning (each trained once per seed)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from s2mlib.gan.train import TrainConfig
from s2mlib.study import ablation


def test_budget_and_variants():
    config = TrainConfig(epochs=3, max_patches_per_epoch=160, width=4)
    budget = ablation.ablation_config(config, 2, 48)
    assert (budget.epochs, budget.max_patches_per_epoch, budget.width) == (2, 48, 4)
    assert ablation.ablation_config(config).epochs == 3  # None: the training's own budget
    paper = ablation.paper_variants(budget)
    assert paper["no SmoothL1"][0].l1 is False and paper["raw maps"] == (budget, "raw")
    conditioning = ablation.conditioning_variants(budget)
    assert {(c.input_kind, c.conditioned) for c, _ in conditioning.values()} == set(ablation.CONDITIONING.values())


def test_trainings_are_shared_and_run_once_per_seed(tmp_path, monkeypatch):
    calls = []

    def fake_train(config, table, run_dir):
        calls.append((config, table.attrs["name"], Path(run_dir).name))
        return pd.DataFrame(), Path(run_dir) / "generator.pt"

    monkeypatch.setattr(ablation, "train_from_table", fake_train)
    tables = {name: pd.DataFrame() for name in ("curated", "raw")}
    for name, table in tables.items():
        table.attrs["name"] = name
    config = TrainConfig(epochs=3, max_patches_per_epoch=160, width=4, progress=True)
    budget = ablation.ablation_config(config)  # the same budget as 04's: its model stands in for base, seed 0
    trained = {ablation.training_key(config, "curated"): tmp_path / "04" / "generator.pt"}
    paper = ablation.train_variants(ablation.paper_variants(budget), tables, [0, 1], tmp_path, trained)
    conditioning = ablation.train_variants(ablation.conditioning_variants(budget), tables, [0, 1], tmp_path, trained)
    # seed 0: no SmoothL1, raw; seed 1: base, no SmoothL1, raw; then 3 new conditioning variants per seed
    assert len(calls) == 2 + 3 + 3 * 2
    assert sorted({c[2] for c in calls}) == sorted(
        [f"{name}_seed{s}" for name in ("no_SmoothL1", "raw_maps") for s in (0, 1)]
        + ["base_seed1"]
        + [
            f"{n}_seed{s}"
            for n in ("paper_input__conditioned", "B-factor_input", "B-factor_input__conditioned")
            for s in (0, 1)
        ]
    )
    assert all(c[0].seed == int(c[2][-1]) for c in calls) and [c[1] for c in calls].count("raw") == 2
    base = paper.set_index(["variant", "seed"])["weights"]
    same = conditioning.set_index(["variant", "seed"])["weights"]
    assert base["base", 0] == same["paper input", 0] == str(tmp_path / "04" / "generator.pt")
    assert base["base", 1] == same["paper input", 1] != base["base", 0]
    assert set(paper["seed"]) == {0, 1} and len(paper) == 6 and len(conditioning) == 8
