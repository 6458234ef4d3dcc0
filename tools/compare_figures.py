"""Compare another run's tables with the committed ``figures/``: the largest difference per table, against the
spread each table is expected to show (README "Reproducibility").

    .venv/bin/python tools/compare_figures.py OTHER_RUN/figures [--base figures] [--out report.md]

Rows are matched on the text columns both tables share (entry, method, variant, R, ...), numbers compared column by
column. Expected spread per table:
- a table with ``X_sd`` columns (notebook 08: mean over n seeds): two runs' means of n seeds differ with standard
  deviation sd * sqrt(2 / n), so ``X`` may differ by up to 3 sd sqrt(2 / n), ``X_sd`` by up to the larger sd;
- a winners table (its ``verdict`` column): named winners must agree; a change between a name and "within noise"
  is expected now and then;
- a table that one training in the run makes (:data:`TRAINED_ONCE`): no spread is known (one seed); reported only;
- times: the tables of :data:`TIMINGS` are reported only; columns named ``*seconds`` or ``*_s`` elsewhere are
  left out;
- every other table (shipped weights, simulators, curation: no training in the run): 1e-3, for float rounding
  across CPUs and library builds (Table 1 has reproduced across machines to 2e-5).
Exit status 1 when a table differs beyond its expected spread (or its rows or columns differ, or it is missing),
else 0.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from s2mlib.study.spread import ONE_SEED, WITHIN_NOISE

TRAINED_ONCE = {"table_training_history"}  # notebook 04's one training of this run
TIMINGS = {"table_generation_time", "table_simulator_timing"}  # wall-clock times: machine and load, not results
FLOAT_TOLERANCE = 1e-3
VERDICTS = ("leader", "runner_up", "verdict")  # text columns of a winners table that are results, not row keys


def compare_table(base: pd.DataFrame, other: pd.DataFrame, name: str) -> dict:
    """One report row: rows compared, largest absolute difference (column and row key), expected spread, verdict."""
    numeric = pd.api.types.is_numeric_dtype
    text = [c for c in base.columns if c in other.columns and not numeric(base[c]) and not numeric(other[c])]
    keys = [c for c in text if c not in VERDICTS]
    numbers = [c for c in base.columns if c in other.columns and c not in text and numeric(base[c])]
    if name not in TIMINGS:  # a time beside results (training history: seconds, patches/s) is not a result
        numbers = [c for c in numbers if not c.endswith(("seconds", "_s"))]
    row: dict[str, object] = {
        "table": name,
        "rows": len(base),
        "largest |diff|": math.nan,
        "where": "",
        "expected": "",
        "verdict": "",
    }
    if list(base.columns) != list(other.columns):
        row["verdict"] = "columns differ: " + ", ".join(sorted(set(base.columns) ^ set(other.columns)))
        return row
    if keys and not base.duplicated(keys).any() and not other.duplicated(keys).any():
        merged = base.merge(other, on=keys, how="outer", suffixes=("", "__other"), indicator=True)
        if (merged["_merge"] != "both").any():
            row["verdict"] = f"rows differ ({int((merged['_merge'] != 'both').sum())} unmatched)"
            return row
        a_side, b_side = merged, merged.rename(columns=lambda c: c.removesuffix("__other"))
        b_side = b_side.loc[:, ~b_side.columns.duplicated(keep="last")]
        label = merged[keys].apply(lambda values: " / ".join(map(str, values)), axis=1)
    elif len(base) == len(other):
        a_side, b_side = base.reset_index(drop=True), other.reset_index(drop=True)
        label = pd.Series([f"row {i}" for i in range(len(base))])
    else:
        row["verdict"] = f"rows differ ({len(base)} against {len(other)})"
        return row
    seeded = any(c.endswith("_sd") for c in base.columns)
    worst, beyond = (0.0, ""), []
    for column in numbers:
        a, b = a_side[column].astype(float).to_numpy(), b_side[column].astype(float).to_numpy()
        diff = np.where(np.isnan(a) & np.isnan(b), 0.0, np.where(np.isnan(a) ^ np.isnan(b), np.inf, np.abs(a - b)))
        if len(diff) and diff.max() > worst[0]:
            worst = (float(diff.max()), f"{column} @ {label.iloc[int(diff.argmax())]}")
        if seeded and f"{column}_sd" in numbers:  # a mean over n seeds: two runs differ with sd * sqrt(2 / n)
            sd = np.fmax(a_side[f"{column}_sd"].astype(float), b_side[f"{column}_sd"].astype(float)).to_numpy()
            n = a_side["seeds"].astype(float).to_numpy() if "seeds" in numbers else 1.0
            limit = 3 * sd * np.sqrt(2 / n) + FLOAT_TOLERANCE
        elif seeded and column.endswith("_sd"):
            limit = np.fmax(a, b) + FLOAT_TOLERANCE
        elif name in TRAINED_ONCE or name in TIMINGS:
            limit = None  # one training, or times
        else:
            limit = 0.0 if column == "seeds" else FLOAT_TOLERANCE
        if limit is not None and np.any(diff > limit):
            beyond.append(column)
    row["largest |diff|"], row["where"] = worst
    if "verdict" in base.columns and "verdict" in other.columns and len(a_side) == len(b_side):  # leads: own intervals
        named = lambda v: v.astype(str).where(~v.astype(str).isin([WITHIN_NOISE, ONE_SEED]))  # noqa: E731
        va, vb = named(a_side["verdict"]), named(b_side["verdict"])
        contradicted = int((va.notna() & vb.notna() & (va != vb)).sum())
        changed = int((a_side["verdict"].astype(str) != b_side["verdict"].astype(str)).sum())
        row["expected"] = "named winners agree"
        verdicts = f"{changed} of {len(va)} verdicts changed, {contradicted} to another winner"
        row["verdict"] = "beyond: " + verdicts if contradicted else verdicts
        return row
    if name in TRAINED_ONCE or name in TIMINGS:
        row["expected"] = "one training: unknown" if name in TRAINED_ONCE else "times: machine and load"
        row["verdict"] = "reported"
        return row
    row["expected"] = "3 sd sqrt(2/n) per mean" if seeded else f"{FLOAT_TOLERANCE:g}"
    row["verdict"] = "beyond: " + ", ".join(beyond) if beyond else "within"
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other run's figures folder")
    parser.add_argument("--base", type=Path, default=Path(__file__).resolve().parents[1] / "figures")
    parser.add_argument("--out", type=Path, help="also write the report here (Markdown)")
    args = parser.parse_args(argv)
    for folder in (args.base, args.other):
        if not folder.is_dir():
            parser.error(f"{folder}: not a folder")
    if args.out:
        for folder in (args.base, args.other):
            if args.out.resolve().parent == folder.resolve():
                print(
                    f"compare_figures: error: --out {args.out}: in the compared folder {folder}, where it could "
                    f"replace a compared table or its Markdown: write the report elsewhere",
                    file=sys.stderr,
                )
                return 2
    rows = []
    for path in sorted(args.base.glob("*.csv")):
        twin = args.other / path.name
        if not twin.exists():
            rows.append({"table": path.stem, "verdict": "missing in the other run"})
            continue
        rows.append(compare_table(pd.read_csv(path), pd.read_csv(twin), path.stem))
    rows += [
        {"table": p.stem, "verdict": "new in the other run"}
        for p in sorted(args.other.glob("*.csv"))
        if not (args.base / p.name).exists()
    ]
    report = pd.DataFrame(rows).to_markdown(index=False, floatfmt=".2g")
    print(report)
    if args.out:
        args.out.write_text(report + "\n")
    bad = [r for r in rows if str(r.get("verdict", "")).startswith(("beyond", "rows differ", "columns", "missing"))]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
