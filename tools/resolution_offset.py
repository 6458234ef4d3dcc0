"""Does asking the generator for a coarser resolution than the target help? Scores maps generated at R + offset
against the experimental map low-passed to R, with the matched resolution R' of both (run by hand).

    .venv/bin/python tools/resolution_offset.py --weights fast --split val --offsets 0 1 2

For each entry of the split (curated as the default profile does) and each R in {reported, 5 A, 8 A}: the
reference is :func:`s2mlib.sim.inputs.target_at` (ExpMap low-passed to R), the map is the generator's at R + offset;
prints the mean scores per offset (correlation about mean, PCC, Pearson inside 3 A, SSIM, their mean) and R' per
entry, R and offset beside the reference's (:func:`s2mlib.metrics.matched_resolution`). Tune on validation only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch

from s2mlib.gan.generate import MapGenerator
from s2mlib.io.atoms import read_structure
from s2mlib.io.density import read_map
from s2mlib.io.manifest import load_manifest
from s2mlib.metrics import evaluate, matched_resolution
from s2mlib.run.config import ROOT, load_profile
from s2mlib.sim.inputs import known_resolution, target_at
from s2mlib.study.curate import CurationConfig, curate_manifest

SCORES = {"correlation_about_mean": "cam", "pcc": "pcc", "masked_correlation_about_mean": "masked", "ssim": "ssim"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="fast", help="shipped name or a weights file (conditioned)")
    parser.add_argument("--manifest", default=str(ROOT.parent / "shared/data/pairs.tsv"))
    parser.add_argument("--split", default="val", choices=["val", "test"])
    parser.add_argument("--offsets", type=float, nargs="+", default=[0.0, 1.0, 2.0], help="A added to R")
    parser.add_argument("--resolutions", type=float, nargs="*", default=[5.0, 8.0], help="besides the reported")
    parser.add_argument("--work", type=Path, default=ROOT / "runs/resolution_offset", help="curation cache")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = load_profile("default", {"manifest": args.manifest})
    table = curate_manifest(
        load_manifest(params["manifest"]), args.work / "curated", CurationConfig.from_params(params)
    )
    generator = MapGenerator(args.weights, device="cpu", batch_size=16, progress=False)
    if not generator.uses_resolution:
        parser.error(f"{generator.weights}: not resolution-conditioned, so there is no resolution to offset")
    rows = []
    for entry in table[table["kept"] & (table["split"] == args.split)].itertuples():
        structure, exp = read_structure(entry.model), read_map(entry.exp_map)
        native = known_resolution(entry.resolution, params["default_resolution"])
        for target in [native, *args.resolutions]:
            reference = target_at(exp, target, native)
            reference_matched = matched_resolution(reference, structure)[0]
            for offset in args.offsets:
                density = generator(structure, ref_map=exp, resolution=target + offset)
                scores = evaluate(density, reference, structure)
                rows.append(
                    {
                        "entry": entry.entry,
                        "target": target,
                        "offset": offset,
                        "matched": matched_resolution(density, structure)[0],
                        "matched_reference": reference_matched,
                        **{short: scores[key] for key, short in SCORES.items()},
                    }
                )
    frame = pd.DataFrame(rows)
    frame["mean4"] = frame[list(SCORES.values())].mean(axis=1)
    print(frame.groupby("offset")[[*SCORES.values(), "mean4"]].mean().to_markdown(floatfmt=".3f"))
    print()
    print(
        frame[["entry", "target", "offset", "matched", "matched_reference", "mean4"]].to_markdown(
            index=False, floatfmt=".2f"
        )
    )


if __name__ == "__main__":
    main()
