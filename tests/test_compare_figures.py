"""Tests of tools/compare_figures.py (run as a script, as a user would): a rerun within the expected spread passes,
a value moved beyond it, a named winner that changes, or a missing table fail, each named in the report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

TOOL = Path(__file__).resolve().parents[1] / "tools" / "compare_figures.py"


def run(base: Path, other: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), str(other), "--base", str(base)], capture_output=True, text=True)


def write(folder: Path, name: str, table: pd.DataFrame) -> None:
    folder.mkdir(exist_ok=True)
    table.to_csv(folder / f"{name}.csv", index=False)


def tables(pcc_b: float = 0.70, table1_b: float = 0.5, verdict: str = "a") -> dict[str, pd.DataFrame]:
    return {
        "table1": pd.DataFrame({"method": ["molmap", "gemmi"], "correlation_mean": [0.8, table1_b]}),
        # means over 3 seeds with their sd: the limit is 3 sd sqrt(2/3) + 1e-3 = 0.0255 for sd 0.01
        "table_ablation": pd.DataFrame(
            {"variant": ["a", "b"], "pcc": [0.80, pcc_b], "pcc_sd": [0.01, 0.01], "seeds": 3}
        ),
        "table_ablation_winners": pd.DataFrame(
            {"metric": ["pcc", "ssim"], "leader": ["a", "a"], "lead": [0.1, 0.01], "verdict": [verdict, "within noise"]}
        ),
        "table_generation_time": pd.DataFrame({"name": ["x"], "seconds": [3.0]}),
    }


def test_a_rerun_within_the_spread_passes_and_differences_are_reported(tmp_path):
    for name, table in tables().items():
        write(tmp_path / "base", name, table)
    rerun = tables(pcc_b=0.72, table1_b=0.5 + 2e-5)  # 0.02 < 0.0255; float rounding
    rerun["table_generation_time"]["seconds"] = 9.0  # times are only reported
    for name, table in rerun.items():
        write(tmp_path / "other", name, table)
    result = run(tmp_path / "base", tmp_path / "other")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {line.split("|")[1].strip(): line for line in result.stdout.splitlines()[2:]}
    assert "pcc @ b" in lines["table_ablation"] and "within" in lines["table_ablation"]
    assert "0 of 2 verdicts changed" in lines["table_ablation_winners"]
    assert "reported" in lines["table_generation_time"]


def test_beyond_the_spread_a_changed_winner_or_a_missing_table_fail(tmp_path):
    for name, table in tables().items():
        write(tmp_path / "base", name, table)
    for name, table in tables(pcc_b=0.74, table1_b=0.51, verdict="b").items():
        if name != "table_generation_time":
            write(tmp_path / "other", name, table)
    write(tmp_path / "base", "table_scores", pd.DataFrame({"method": ["a"], "pcc": [0.5]}))
    write(tmp_path / "other", "table_scores", pd.DataFrame({"variant": ["a"], "pcc_mean": [0.5]}))
    result = run(tmp_path / "base", tmp_path / "other")
    assert result.returncode == 1
    lines = {line.split("|")[1].strip(): line for line in result.stdout.splitlines()[2:]}
    assert "beyond: pcc" in lines["table_ablation"]  # 0.04 > 0.0255
    assert "beyond: correlation_mean" in lines["table1"]  # 0.01 > 1e-3
    assert "1 to another winner" in lines["table_ablation_winners"]
    assert "missing in the other run" in lines["table_generation_time"]
    assert "columns differ: method, pcc, pcc_mean, variant" in lines["table_scores"]
