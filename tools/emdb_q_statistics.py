"""EMDB's mean Q-score against resolution, as percentiles per resolution (what ``s2mlib.sim.quality`` ships).

Source: the per-entry table that the Q-score authors published with gregdp/mapq (commit a887b43, 2025-01-09,
``data/emdb_scores_q_fsc_cc_2c - Q.csv.zip``; MIT licence): 10,188 EMDB entries with a fitted model, each with its
reported resolution (1.15-10 A) and the model's mean Q-score in the map as EMDB computes it (mapq, reference Gaussian
sigma 0.4 A: the same sheet's polynomial fit equals mapq's ``ExpectedQScore(RES, 0.4)`` without its +0.024 peak
offset, and EMDB reports sigma 0.4; gregdp/mapq README). This is the population behind EMDB's Q_relative_resolution
(Pintilie et al. 2025, Acta Cryst. D 81, 410-422: the percentile of an entry's mean Q among entries of similar
resolution).

For each R on a 0.25 A grid from 1.5 to 10 A, the entries whose resolution lies within w of R, w = 0.25 A widened in
0.05 A steps until at least 100 entries are in, and the 5th, 10th, ..., 95th percentiles of their Q. Writes the table
(resolution, half_width, entries, p5 ... p95) to ``s2mlib/tables/emdb_q_percentiles.csv``.

    python tools/emdb_q_statistics.py PATH/TO/emdb_scores_q_fsc_cc_2c-Q.csv[.zip]
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "s2mlib" / "tables" / "emdb_q_percentiles.csv"
GRID = np.round(np.arange(1.5, 10.0 + 1e-9, 0.25), 2)
PERCENTILES = list(range(5, 100, 5))
MIN_ENTRIES, MIN_HALF_WIDTH, STEP = 100, 0.25, 0.05


def read_entries(path: Path) -> pd.DataFrame:
    """EMD id, reported resolution and mean Q (the sheet's first columns) of every entry that has both."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            name = next(n for n in archive.namelist() if n.endswith(".csv") and not n.startswith("__MACOSX"))
            text = archive.read(name).decode("utf-8-sig")
    else:
        text = path.read_text(encoding="utf-8-sig")
    sheet = pd.read_csv(io.StringIO(text), header=None, skiprows=1, usecols=[0, 2, 3], low_memory=False)
    sheet.columns = ["emdb", "resolution", "q"]
    sheet = sheet.dropna()
    return sheet.astype({"resolution": float, "q": float})


def percentile_table(entries: pd.DataFrame) -> pd.DataFrame:
    """The percentiles of Q among the entries near each R of :data:`GRID` (module docstring)."""
    rows = []
    for r in GRID:
        width = MIN_HALF_WIDTH
        while (near := entries[(entries["resolution"] - r).abs() <= width + 1e-9]).shape[0] < MIN_ENTRIES:
            width += STEP
        values = np.percentile(near["q"], PERCENTILES)
        rows.append(
            {"resolution": r, "half_width": round(width, 2), "entries": len(near)}
            | {f"p{p}": round(float(v), 4) for p, v in zip(PERCENTILES, values)}
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sheet", type=Path, help="mapq's emdb_scores_q_fsc_cc_2c - Q.csv (or its .zip)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    entries = read_entries(args.sheet)
    print(f"{len(entries)} entries, resolution {entries['resolution'].min():g}-{entries['resolution'].max():g} A")
    table = percentile_table(entries)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table[["resolution", "half_width", "entries", "p10", "p25", "p50", "p75", "p90"]].to_string(index=False))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
