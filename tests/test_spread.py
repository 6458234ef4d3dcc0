"""Tests of s2mlib.study.spread: spreads over seeds and winners named only where a paired interval says so, against
hand-computed values (t(0.975, 2) = 4.302652729911275 and t(0.975, 4) = 2.7764451051977987, from tables)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from s2mlib.study.spread import (
    ONE_SEED,
    WITHIN_NOISE,
    leaders,
    paired_interval,
    readable_leaders,
    seed_list,
    seed_means,
    spread_table,
    with_spreads,
)


def long_table(values: dict[str, list[float]], metric: str = "pcc", **extra) -> pd.DataFrame:
    return pd.DataFrame(
        [{"variant": v, "seed": s, metric: x, **extra} for v, xs in values.items() for s, x in enumerate(xs)]
    )


def test_seed_list():
    assert seed_list(0, 3) == [0, 1, 2] and seed_list(7, 1) == [7]
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="seeds must be"):
            seed_list(0, bad)


def test_seed_means_average_entries_per_seed():
    scores = pd.DataFrame(
        {"variant": ["a"] * 4, "seed": [0, 0, 1, 1], "entry": ["x", "y", "x", "y"], "pcc": [0.5, 0.7, 0.2, 0.4]}
    )
    per_seed = seed_means(scores, ["variant"], ["pcc"])
    assert per_seed["pcc"].tolist() == pytest.approx([0.6, 0.3])


def test_spread_table_against_hand_values():
    table = spread_table(long_table({"a": [0.80, 0.82, 0.81], "b": [0.5]}), ["variant"], ["pcc"])
    a, b = table.set_index("variant").loc["a"], table.set_index("variant").loc["b"]
    assert a["pcc"] == pytest.approx(0.81) and a["pcc_sd"] == pytest.approx(0.01) and a["seeds"] == 3
    assert b["pcc"] == 0.5 and math.isnan(b["pcc_sd"]) and b["seeds"] == 1
    text = with_spreads(table, ["pcc"]).set_index("variant")["pcc"]
    assert text["a"] == "0.810 ± 0.010" and text["b"] == "0.500"


def test_paired_interval_against_hand_values():
    lead, half = paired_interval([0.80, 0.82, 0.81], [0.70, 0.74, 0.71])  # d = 0.10, 0.08, 0.10
    sd = math.sqrt(((0.10 - 0.28 / 3) ** 2 * 2 + (0.08 - 0.28 / 3) ** 2) / 2)
    assert lead == pytest.approx(0.28 / 3) and half == pytest.approx(4.302652729911275 * sd / math.sqrt(3))
    lead, half = paired_interval([1, 2, 3, 4, 5], [0, 2, 2, 5, 3])  # d = 1, 0, 1, -1, 2: mean 0.6, sd 1.140175
    assert lead == pytest.approx(0.6) and half == pytest.approx(2.7764451051977987 * 1.140175425 / math.sqrt(5))
    assert math.isnan(paired_interval([0.5], [0.4])[1])


def test_a_lead_in_every_seed_with_a_tight_interval_names_the_winner():
    table = leaders(
        long_table({"a": [0.80, 0.82, 0.81], "b": [0.70, 0.74, 0.71], "c": [0.60, 0.61, 0.62]}), "variant", ["pcc"]
    )
    row = table.iloc[0]
    assert (row["leader"], row["runner_up"], row["verdict"]) == ("a", "b", "a")
    assert row["ci_low"] > 0 and row["lead"] == pytest.approx(0.28 / 3)


def test_a_lead_that_a_seed_reverses_is_within_noise():
    # a is ahead on average, but seed 2 reverses it: the paired interval includes 0
    table = leaders(long_table({"a": [0.90, 0.85, 0.70], "b": [0.80, 0.80, 0.78]}), "variant", ["pcc"])
    assert table.iloc[0]["leader"] == "a" and table.iloc[0]["verdict"] == WITHIN_NOISE
    assert table.iloc[0]["ci_low"] < 0 < table.iloc[0]["ci_high"]
    one = leaders(long_table({"a": [0.9], "b": [0.1]}), "variant", ["pcc"])
    assert one.iloc[0]["verdict"] == ONE_SEED and math.isnan(one.iloc[0]["ci_low"])


def test_the_runner_up_is_the_rival_led_least_surely_and_groups_are_separate():
    # against b the lead is large but noisy; against c small but sure: b is the one that decides the verdict
    per_seed = pd.concat(
        [
            long_table({"a": [0.80, 0.90, 0.85], "b": [0.40, 0.89, 0.60], "c": [0.79, 0.89, 0.84]}, R="5 Å"),
            long_table({"a": [0.50, 0.51, 0.52], "b": [0.60, 0.62, 0.61], "c": [0.1, 0.1, 0.1]}, R="8 Å"),
        ]
    )
    table = leaders(per_seed, "variant", ["pcc"], within=["R"]).set_index("R")
    assert table.loc["5 Å", "runner_up"] == "b" and table.loc["5 Å", "verdict"] == WITHIN_NOISE
    assert table.loc["8 Å", "leader"] == "b" and table.loc["8 Å", "verdict"] == "b"
    text = readable_leaders(table.reset_index(), {"pcc": "PCC", "b": "B"})
    assert text.loc[1, "metric"] == "PCC" and text.loc[1, "verdict"] == "B"
    assert text.loc[1, "lead [95 % CI]"].startswith("+0.100 [+")  # b - a: 0.10, 0.11, 0.09
