"""The seed spread of the weights' selection score for a training recipe, at a stated (proxy) budget.

    .venv/bin/python tools/seed_spread.py --run-dir runs/default --seeds 3 --epochs 3 --patches 160 \
        -p width 8 -p conditioned true -p input_kind bfactor -p native_fraction 0.5

Trains the recipe (the default profile's settings, ``-p KEY VALUE`` overrides, the budget ``--epochs`` x
``--patches``) once per seed on the run folder's curated training entries (notebook 01 made them), scores every
generator on the validation entries with the selection score of ``tools/evaluate_weights.py`` (mean of correlation
about mean, PCC, Pearson inside 3 A and SSIM over the reported resolution, 5 and 8 A, against the experimental map
low-passed to R), and prints per-seed scores, their mean and standard deviation sd, and the selection rule's
margin: two single trainings of equally good recipes differ with standard deviation sqrt(2) sd, so a candidate must
beat the incumbent by more than 1.96 sqrt(2) sd (95 %, two-sided) to count as better (model cards). Writes
``OUT/seed_spread.csv``. The test entries play no part.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from s2mlib.gan.train import TrainConfig
from s2mlib.io.manifest import load_curation
from s2mlib.run.config import add_override_option, check_overrides, kwargs_for, parse_value
from s2mlib.study import ablation
from s2mlib.study.spread import seed_list


def margin(sd: float) -> float:
    """The lead a candidate needs over the incumbent: 1.96 sqrt(2) sd (two single trainings, 95 %, two-sided).

    >>> round(margin(0.01), 4)
    0.0277
    """
    return 1.96 * math.sqrt(2) * sd


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True, help="a run folder curated by notebook 01")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--patches", type=int, default=160, help="patches per epoch")
    parser.add_argument("--out", type=Path, default=None, help="default: RUN_DIR/seed_spread")
    add_override_option(parser, "a profile key of the recipe, as ./run_all.sh -p")
    args = parser.parse_args(argv)
    overrides = {key: parse_value(value) for key, value in args.parameter}
    params = check_overrides("default", {**overrides, "run_dir": str(args.run_dir)})
    config = ablation.ablation_config(TrainConfig(**kwargs_for(TrainConfig, params)), args.epochs, args.patches)
    out = args.out or args.run_dir / "seed_spread"
    seeds = seed_list(args.first_seed, args.seeds)
    table = load_curation(args.run_dir)
    runs = ablation.train_variants({"recipe": (config, "curated")}, {"curated": table}, seeds, out)
    series = ablation.series_on_entries(runs, load_curation(args.run_dir, "val"), out / "series", params)
    per_seed = series.groupby("seed")["score"].mean()
    per_seed.rename("selection_score").to_csv(out / "seed_spread.csv")
    sd = per_seed.std(ddof=1)
    print(f"recipe: {config}")
    print(f"budget: {config.epochs} epochs x {config.max_patches_per_epoch} patches per seed; seeds {seeds}")
    print("selection score per seed: " + ", ".join(f"{s}: {v:.4f}" for s, v in per_seed.items()))
    print(f"mean {per_seed.mean():.4f}, sd {sd:.4f}; a candidate must lead by more than {margin(sd):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
