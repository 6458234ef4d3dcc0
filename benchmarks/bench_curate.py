"""Time the curation of one map/model pair, stage by stage (default: pair 0093_6GYN, a 220^3 map).

Run by hand: ``python benchmarks/bench_curate.py [ENTRY] [--repeat N]``. Prints seconds per stage (best of N)
and the ExpMap shape; nothing is written outside a temporary folder.
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import torch
from timing import SHARED, best_of, machine_line

from s2mlib.io.atoms import read_structure
from s2mlib.io.density import read_map
from s2mlib.metrics import chimerax_correlation
from s2mlib.study.curate import curate_entry, curate_exp_map, make_sim_map
from s2mlib.study.filters import map_model_issues, structure_issues


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("entry", nargs="?", default="0093_6GYN")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (molmap's accumulation)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(machine_line())
    with open(SHARED / "pairs.tsv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh, delimiter="\t") if r["entry"] == args.entry)
    map_path, model_path = SHARED / row["map_file"], SHARED / row["model_file"]

    t_read, (density, model) = best_of(args.repeat, lambda: (read_map(map_path), read_structure(model_path)))
    t_filters, _ = best_of(args.repeat, lambda: (structure_issues(model), map_model_issues(density, model)))
    t_exp, exp = best_of(args.repeat, lambda: curate_exp_map(density, model))
    t_sim, sim = best_of(args.repeat, lambda: make_sim_map(model, exp))
    t_cor, _ = best_of(args.repeat, lambda: chimerax_correlation(exp, sim))
    with tempfile.TemporaryDirectory() as tmp:
        t_total, result = best_of(
            args.repeat, lambda: curate_entry(map_path, model_path, Path(tmp) / "exp.mrc", Path(tmp) / "sim.mrc")
        )
    print(
        f"entry {args.entry}: map {density.shape_xyz} at {density.voxel_size[0]:.3f} A, {model.n_atoms} atoms; "
        f"ExpMap {exp.shape_xyz}; torch threads {args.threads}; best of {args.repeat}"
    )
    for name, seconds in [
        ("read map + model", t_read),
        ("filters (model, map-model)", t_filters),
        ("ExpMap (box, mask, resample, min-max)", t_exp),
        ("SimMap (molmap 2 A, min-max)", t_sim),
        ("correlation ExpMap in SimMap", t_cor),
        ("curate_entry total (incl. read, write)", t_total),
    ]:
        print(f"  {name:<40s} {seconds:7.2f} s")
    print(f"  correlation {result['correlation']:.3f}, issues: {result['issues'] or 'none'}")


if __name__ == "__main__":
    main()
