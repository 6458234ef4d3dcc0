"""Time the field's metrics (s2mlib.metrics: Phenix CCs, FSC, Q-score, SMOC) on one pair (default 0093_6GYN:
a 220^3 map at 1.34 A, 16,932 atoms).

Run by hand: ``python benchmarks/bench_metrics.py [ENTRY] [--resolution R] [--repeat N]``. Prints seconds per
step (best of N) and the values, so that a run also shows what was timed. Never run by the tests.
"""

from __future__ import annotations

import argparse
import csv

import numpy as np
from timing import SHARED, best_of, machine_line

from s2mlib.io.atoms import read_structure
from s2mlib.io.density import read_map
from s2mlib.metrics import (
    atom_qscores,
    field_scores,
    fsc_curve,
    fsc_resolution,
    map_model_cc,
    matched_resolution,
    mean_qscore,
    per_residue_scores,
    phenix_mask,
    residue_smoc,
)
from s2mlib.sim.simulate import blurrer, molmap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("entry", nargs="?", default="0093_6GYN")
    parser.add_argument("--resolution", type=float, help="default: the pair's reported resolution")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print(machine_line())
    with open(SHARED / "pairs.tsv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh, delimiter="\t") if r["entry"] == args.entry)
    resolution = args.resolution or float(row["resolution_A"].rstrip("?"))
    density, structure = read_map(SHARED / row["map_file"]), read_structure(SHARED / row["model_file"])
    nyquist = 2 * float(density.voxel_size.max())
    model = molmap(structure, resolution, ref_map=density)
    sharp = molmap(structure, nyquist, ref_map=density)
    tempy_model = blurrer(structure, resolution, ref_map=density, sigma_coeff=0.225)

    steps = [
        (f"model map: molmap {resolution} A", lambda: molmap(structure, resolution, ref_map=density), None),
        ("Phenix mask (mmtbx's)", lambda: phenix_mask(structure, density), lambda v: f"{int(v.sum())} voxels"),
        (
            "CC_mask/box/volume/peaks (map, model map)",
            lambda: map_model_cc(density, model, structure),
            lambda v: ", ".join(f"{k} {v[k]:.4f}" for k in ("cc_mask", "cc_box", "cc_volume", "cc_peaks")),
        ),
        (f"model map: molmap {nyquist:.2f} A (Nyquist)", lambda: molmap(structure, nyquist, ref_map=density), None),
        (
            "map-model FSC + 0.5 crossing",
            lambda: fsc_resolution(fsc_curve(density, sharp), 0.5),
            lambda v: f"{v:.2f} A",
        ),
        ("Q-score (all atoms)", lambda: atom_qscores(density, structure), lambda v: f"mean {mean_qscore(v):.4f}"),
        (
            "model map: TEMPy blurrer (SMOC's)",
            lambda: blurrer(structure, resolution, ref_map=density, sigma_coeff=0.225),
            None,
        ),
        (
            "SMOC per residue (model map given)",
            lambda: residue_smoc(density, structure, resolution, model_map=tempy_model),
            lambda v: f"{len(v)} residues, mean {v.smoc.mean():.4f}",
        ),
        (
            "matched molmap resolution",
            lambda: matched_resolution(density, structure),
            lambda v: f"R' {v[0]:.2f} A (CC {v[1]:.4f})",
        ),
        (
            "field_scores (all of the above that it needs)",
            lambda: field_scores(density, structure, resolution),
            lambda v: ", ".join(f"{k} {val:.3f}" for k, val in v.items() if k != "mask_voxels"),
        ),
        (
            "per_residue_scores (Q + SMOC with its model map)",
            lambda: per_residue_scores(density, structure, resolution),
            lambda v: f"{len(v)} rows, mean Q {np.nanmean(v.q):.4f}",
        ),
    ]
    print(
        f"entry {args.entry}: map {density.shape_xyz} at {density.voxel_size[0]:.3f} A, {structure.n_atoms} atoms, "
        f"resolution {resolution} A; best of {args.repeat}"
    )
    print("| step | seconds | result |\n| --- | ---: | --- |")
    for name, fn, describe in steps:
        seconds, value = best_of(args.repeat, fn)
        print(f"| {name} | {seconds:.2f} | {describe(value) if describe else ''} |", flush=True)


if __name__ == "__main__":
    main()
