"""Train the generator weights shipped in s2mlib/weights/ and write their model card (run by hand; resumable).

    .venv/bin/python tools/train_weights.py --width 8 --epochs 14 --lr 5e-4 --run-dir runs/weights
    .venv/bin/python tools/train_weights.py --evaluate-only      # export the checkpoint as it is, score, write card

Curates the manifest with the default profile's curation settings and seeded split (so the entries held out as
test by the default profile are never trained on), trains on its 'train' split, validates on 'val', and exports
the last epoch's generator (fp16) to s2mlib/weights/struc2map_generator.pt. Interrupted runs resume from
run_dir/checkpoint.pt. Then the exported weights generate the validation and test entries, which are scored
against their ExpMaps beside molmap at 2 A, and s2mlib/weights/MODEL_CARD.md is written from those numbers.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd
import torch

from s2mlib.benchmark import score_maps, simulate_baselines, summary_table
from s2mlib.config import ROOT, load_profile
from s2mlib.curate import curate_manifest
from s2mlib.generate import DEFAULT_WEIGHTS, MapGenerator, generate_entries
from s2mlib.manifest import load_manifest
from s2mlib.model import resolve_device
from s2mlib.patches import PatchDataset
from s2mlib.train import TrainConfig, export_generator, load_checkpoint, train

CURATION_KEYS = ("mask_radius", "spacing", "sim_resolution", "min_correlation", "clip_negative", "max_identity",
                 "val_fraction", "test_fraction", "seed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", default=str(ROOT.parent / "shared/data/pairs.tsv"))
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs/weights")
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--max-val-patches", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--evaluate-only", action="store_true", help="no training: export, score, write the card")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = load_profile("default", {"manifest": args.manifest})
    table = curate_manifest(load_manifest(params["manifest"]), args.run_dir / "curated",
                            **{k: params[k] for k in CURATION_KEYS})
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, width=args.width,
                         seed=params["seed"], device=args.device, keep_empty=False,
                         max_val_patches=args.max_val_patches, checkpoint_every=1)
    train_ds = PatchDataset.from_table(table, "train", augment=True, seed=config.seed, keep_empty=False)
    val_ds = PatchDataset.from_table(table, "val", augment=False, keep_empty=False)
    print(f"train entries {sorted(table.entry[table.kept & (table.split == 'train')])}: {len(train_ds)} patches; "
          f"val entries {sorted(table.entry[table.kept & (table.split == 'val')])}: {len(val_ds)} patches", flush=True)
    if not args.evaluate_only:
        train(config, train_ds, val_ds, args.run_dir)
    checkpoint = load_checkpoint(args.run_dir / "checkpoint.pt")
    export_generator(args.run_dir / "checkpoint.pt", args.out, half=True)
    print(f"wrote {args.out}")
    history = pd.DataFrame(checkpoint["history"])
    entries = table[table.kept & table.split.isin(["val", "test"])]
    generator = MapGenerator(args.out, device=args.device, batch_size=16)
    maps = pd.concat([generate_entries(generator, entries, args.run_dir / "generated"),
                      simulate_baselines(entries, args.run_dir / "baselines", methods=["molmap"])], ignore_index=True)
    scores = score_maps(maps, entries)
    scores["split"] = scores["entry"].map(dict(zip(table.entry, table.split)))
    scores.to_csv(args.run_dir / "scores.csv", index=False)
    write_card(args, params, table, checkpoint, history, scores, len(train_ds), len(val_ds))


def write_card(args, params, table, checkpoint, history, scores, n_train, n_val) -> None:
    """MODEL_CARD.md beside the weights, from the checkpoint's settings and history and the measured scores."""
    kept = table[table.kept]
    names = {s: ", ".join(sorted(kept.entry[kept.split == s])) for s in ("train", "val", "test")}
    config = checkpoint["config"]
    columns = ["entry", "split", "method", "ssim", "correlation", "correlation_about_mean", "pcc",
               "masked_correlation_about_mean"]
    per_entry = scores[columns].sort_values(["split", "entry", "method"]).to_markdown(index=False, floatfmt=".3f")
    by_split = "\n\n".join(f"**{split}** entries\n\n" + summary_table(part).to_markdown(index=False, floatfmt=".3f")
                            for split, part in scores.groupby("split"))
    wins = scores[scores.split == "val"].pivot(index="entry", columns="method", values=["correlation_about_mean", "pcc"])
    beats = {m: bool((wins[m]["struc2mapGAN"] > wins[m]["molmap"]).all()) for m in ("correlation_about_mean", "pcc")}
    interim = config["width"] < 32
    seconds = history["seconds"].sum()
    card = f"""# struc2map generator weights: `{args.out.name}`

{f"**INTERIM WEIGHTS**: a narrow network trained for {seconds / 60:.0f} minutes on a 2-core CPU, because no GPU was available. They are not the paper's network (width 32, 150 epochs on 8 A100s) and are far less trained; replace them with paper-width weights trained on a GPU (`tools/train_weights.py --width 32 --device cuda`)." if interim else ""}

- **Network**: U-Net++ generator of width {config["width"]} (the paper's is 32), fp16 weights, {args.out.stat().st_size / 1e6:.1f} MB.
- **Data**: the curated shared pairs of `{Path(params["manifest"]).name}` (real EMDB maps with fitted models), curated
  as the default profile does (3 A mask, 1 A grid, min-max, clip_negative={params["clip_negative"]}), split by EMDB ID
  with seed {params["seed"]}: the default profile holds out the same test entries, so they were never trained on.
  - train: {names["train"]} ({n_train} patches of 32^3, empty cubes dropped)
  - validation: {names["val"]} ({n_val} patches)
  - test (not used here for training or selection): {names["test"]}
- **Training**: {len(history)} epochs, batch {config["batch_size"]}, NAdam lr {config["lr"]} (the paper: 1e-4; raised
  for the short CPU budget), alpha {config["alpha"]}, SmoothL1 + adversarial loss, paper augmentation; the last epoch's
  generator is shipped. {seconds / 60:.0f} minutes of training on {resolve_device(config["device"])} ({history["patches_per_s"].mean():.1f} patches/s on average).
  Final validation losses: G {history["val_loss_G"].iloc[-1]:.4f}, D {history["val_loss_D"].iloc[-1]:.4f}.
- **Command**: `.venv/bin/python tools/train_weights.py --width {config["width"]} --epochs {len(history)} --lr {config["lr"]} --batch-size {config["batch_size"]}`
  (resumable; `--evaluate-only` re-scores the checkpoint and rewrites this card).

## Validation: generated map vs molmap at 2 A, against the experimental map (ExpMap)

Scored with `s2mlib.benchmark.score_maps` (the metrics of `s2m evaluate`). On every validation entry the generated
map beats molmap at 2 A on correlation about mean: **{beats["correlation_about_mean"]}**; on PCC: **{beats["pcc"]}**.

{by_split}

Per entry:

{per_entry}
"""
    path = args.out.parent / "MODEL_CARD.md"
    path.write_text(card)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
