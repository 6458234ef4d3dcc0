"""Which generation speed-ups keep the maps: metrics and time of each option against the paper-faithful tiling.

    .venv/bin/python benchmarks/generation_options.py [--weights W] [--threads 2] [--run-dir runs/default]
        [--splits val train]

For each entry of the run's curation table (01_curate; validation entries by default, never test entries), the map
is generated at the entry's reported resolution with the paper's tiling (every cube, central 20^3, fp32, eager
PyTorch) and with each option; every map is scored against the ExpMap with metrics.evaluate, and the largest change
of any Table 1 metric over the entries is printed beside the CPU time, against the paper's tiling and against the
previous default (empty cubes skipped, fp32, PyTorch). Rule (issue 27): an option may become the default only if no
metric moves by 0.005 or more against the default it replaces. bf16 options run only where the CPU computes bf16
natively. The first line names the CPU.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch
from timing import machine_line

from s2mlib.gan.generate import MapGenerator
from s2mlib.gan.precision import bf16_native
from s2mlib.gan.weights import DEFAULT_WEIGHTS
from s2mlib.io.atoms import read_structure
from s2mlib.io.density import read_map
from s2mlib.io.manifest import load_curation
from s2mlib.metrics import evaluate
from s2mlib.run.config import load_profile
from s2mlib.sim.inputs import known_resolution

METRICS = ["ssim", "correlation", "correlation_about_mean", "pcc"]
PAPER, PREVIOUS = "paper tiling (all cubes, centre 20, fp32, PyTorch)", "skip empty cubes (fp32, PyTorch)"
OPTIONS = {
    PAPER: dict(skip_empty=False, runtime="torch"),
    PREVIOUS: dict(runtime="torch"),
    "skip empty, OpenVINO": dict(runtime="openvino"),
    "skip empty + centre 24": dict(stride=24, runtime="torch"),
    "skip empty + centre 28": dict(stride=28, runtime="torch"),
    "skip empty + bf16": dict(precision="bf16", runtime="torch"),
    "skip empty + bf16 + channels-last": dict(precision="bf16", channels_last=True, runtime="torch"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS))
    parser.add_argument("--run-dir", default=load_profile("default")["run_dir"])
    parser.add_argument("--splits", nargs="+", default=["val"], choices=["train", "val"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_line(precision="fp32"))
    native = bf16_native(torch.device("cpu"))
    entries = load_curation(args.run_dir, args.splits)
    rows = []
    for name, options in OPTIONS.items():
        if options.get("precision") == "bf16" and not native:
            print(f"{name}: skipped, bf16 is emulated on this CPU")
            continue
        generator = MapGenerator(args.weights, device="cpu", progress=False, **{"precision": "fp32", **options})
        for row in entries.itertuples():
            structure, reference = read_structure(row.model), read_map(row.exp_map)
            # the reported resolution, at least the ExpMap grid's Nyquist (20026: 1.75 A on 1 A voxels)
            at = max(known_resolution(row.resolution), 2.0 * float(reference.voxel_size.max()))
            at = at if generator.uses_resolution else None
            generator(structure, resolution=at)  # warm-up (OpenVINO converts the network at the first map)
            start = time.process_time()
            density = generator(structure, ref_map=reference, resolution=at)
            rows.append(
                {
                    "option": name,
                    "entry": row.entry,
                    "cpu_s": time.process_time() - start,
                    **{m: evaluate(density, reference)[m] for m in METRICS},
                }
            )
    table = pd.DataFrame(rows)
    summary = []
    for name, part in table.groupby("option", sort=False):
        changes = {}
        for label, base_name in (("vs paper", PAPER), ("vs previous default", PREVIOUS)):
            base = table[table["option"] == base_name].set_index("entry")[METRICS]
            changes[f"max change {label}"] = (part.set_index("entry")[METRICS] - base).abs().max().max()
        summary.append(
            {
                "option": name,
                "cpu_s": part["cpu_s"].sum(),
                **changes,
                "kept (< 0.005)": bool(changes["max change vs previous default"] < 0.005),
            }
        )
    pd.set_option("display.width", 200)
    print(table.round(4).to_string(index=False))
    print()
    print(pd.DataFrame(summary).round(4).to_string(index=False))
    print(f"\nentries: {', '.join(entries['entry'])}; weights {args.weights}; threads {args.threads}")


if __name__ == "__main__":
    main()
