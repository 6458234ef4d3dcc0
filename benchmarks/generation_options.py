"""Which generation speed-ups keep the maps: metrics and time of each option against the paper-faithful tiling.

    .venv/bin/python benchmarks/generation_options.py [--weights W] [--threads 2] [--run-dir runs/default]

For each validation entry of the run's curation table (01_curate), the map is generated with the paper's tiling
(every cube, central 20^3, fp32) and with each option; every option is scored against the ExpMap with
metrics.evaluate, and the largest change of any Table 1 metric over the entries is printed beside the network time.
Issue rule: an option is kept only if no metric moves by 0.005 or more.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from s2mlib.atoms import read_structure
from s2mlib.config import load_profile
from s2mlib.curate import load_curation
from s2mlib.generate import MapGenerator
from s2mlib.io import read_map
from s2mlib.metrics import evaluate
from s2mlib.weights import DEFAULT_WEIGHTS

METRICS = ["ssim", "correlation", "correlation_about_mean", "pcc"]
OPTIONS = {
    "paper tiling (all cubes, centre 20, fp32)": dict(skip_empty=False),
    "all cubes + bf16": dict(skip_empty=False, bf16=True),
    "skip empty cubes": dict(skip_empty=True),
    "skip empty + centre 24": dict(skip_empty=True, stride=24),
    "skip empty + centre 28": dict(skip_empty=True, stride=28),
    "skip empty + bf16": dict(skip_empty=True, bf16=True),
    "skip empty + bf16 + channels-last": dict(skip_empty=True, bf16=True, channels_last=True),
    "skip empty + centre 24 + bf16": dict(skip_empty=True, stride=24, bf16=True),
    "skip empty + centre 28 + bf16": dict(skip_empty=True, stride=28, bf16=True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    parser.add_argument("--run-dir", default=load_profile("default")["run_dir"])
    parser.add_argument("--splits", nargs="+", default=["val"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    entries = load_curation(args.run_dir, args.splits)
    rows = []
    for name, options in OPTIONS.items():
        generator = MapGenerator(args.weights, device="cpu", progress=False, **options)
        for row in entries.itertuples():
            structure, reference = read_structure(row.model), read_map(row.exp_map)
            generator(structure)  # warm-up
            start = time.perf_counter()
            density = generator(structure, ref_map=reference)
            seconds = time.perf_counter() - start
            scores = evaluate(density, reference)
            rows.append(
                {
                    "option": name,
                    "entry": row.entry,
                    "seconds": seconds,
                    "network_s": generator.last_timing["network_s"],
                    **{m: scores[m] for m in METRICS},
                }
            )
    table = pd.DataFrame(rows)
    base = table[table["option"] == next(iter(OPTIONS))].set_index("entry")[METRICS]
    summary = []
    for name, part in table.groupby("option", sort=False):
        delta = (part.set_index("entry")[METRICS] - base).abs().max().max()
        summary.append(
            {
                "option": name,
                "network_s": part["network_s"].sum(),
                "total_s": part["seconds"].sum(),
                "max_metric_change": delta,
                "kept (< 0.005)": bool(delta < 0.005),
            }
        )
    pd.set_option("display.width", 200)
    print(table.round(4).to_string(index=False))
    print()
    print(pd.DataFrame(summary).round(4).to_string(index=False))
    print(f"\nentries: {', '.join(entries['entry'])}; weights {args.weights}; threads {args.threads}")


if __name__ == "__main__":
    main()
