"""Train the generator weights shipped in s2mlib/weights/ and write their model card (run by hand; resumable).

    .venv/bin/python tools/train_weights.py --width 8 --epochs 14 --lr 5e-4 --run-dir runs/weights
    .venv/bin/python tools/train_weights.py --evaluate-only      # score the exported weights, rewrite the card

Curates the manifest with the default profile's curation settings and seeded split (so the entries held out as
test by the default profile are never trained on), trains on its 'train' split, validates on 'val', and exports
the last epoch's generator (fp16) to s2mlib/weights/struc2map_generator.pt, with run_dir/config.json and
run_dir/history.csv beside the checkpoint. Interrupted runs resume from run_dir/checkpoint.pt. Then the exported
weights generate the validation and test entries, which are scored against their ExpMaps beside molmap at 2 A, and
the model card (the weights' name with .md) is written from those numbers.

On a machine without ../shared (a GPU machine), train from a pack of the curated train/val maps:

    .venv/bin/python tools/train_weights.py --pack .devdata/curated          # here: write the pack
    python3 tools/train_weights.py --curation .devdata/curated/curation.csv --train-only --device cuda \
        --width 32 --time-limit 5 --run-dir /tmp/run --out /tmp/generator.pt  # there
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch

from s2mlib.config import ROOT, load_profile
from s2mlib.curate import CURATION_TABLE, CurationConfig, curate_manifest, load_curation, save_curation
from s2mlib.generate import MapGenerator, generate_entries
from s2mlib.io import read_map, write_map
from s2mlib.manifest import load_manifest
from s2mlib.model import resolve_device
from s2mlib.patches import patch_counts
from s2mlib.study import score_maps, simulate_baselines, summary_table
from s2mlib.train import TrainConfig, export_generator, train_from_table
from s2mlib.weights import DEFAULT_WEIGHTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", default=str(ROOT.parent / "shared/data/pairs.tsv"))
    parser.add_argument("--curation", type=Path, help="a packed curation table (see --pack) instead of curating")
    parser.add_argument("--pack", type=Path, help="write the curated train/val maps (gzip) and their table here, stop")
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs/weights")
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=7, help="epochs (a maximum with --time-limit)")
    parser.add_argument("--time-limit", type=float, help="minutes: stop after the epoch that passes this")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--max-val-patches", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--checkpoint-every", type=int, default=1, help="epochs between checkpoints")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA)")
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--remark", help="a paragraph for the model card (e.g. how these weights were chosen)")
    stage = parser.add_mutually_exclusive_group()
    stage.add_argument("--evaluate-only", action="store_true", help="no training: score --out, write the card")
    stage.add_argument("--train-only", action="store_true", help="train and export; no scoring, no card")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = load_profile("default", {"manifest": args.manifest})
    if args.curation is not None:
        if args.curation.name != CURATION_TABLE:
            parser.error(f"--curation: expected a pack's {CURATION_TABLE}, got {args.curation}")
        table, root = load_curation(args.curation.parent), args.curation.parent
    else:
        table, root = curate_manifest(load_manifest(params["manifest"]), args.run_dir / "curated",
                                      CurationConfig.from_params(params)), None
    if args.pack is not None:
        pack(table, args.pack)
        return
    if not args.evaluate_only:
        config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, width=args.width,
                             seed=params["seed"], device=args.device, keep_empty=False,
                             max_val_patches=args.max_val_patches, checkpoint_every=args.checkpoint_every,
                             num_workers=args.num_workers, bf16=args.bf16,
                             time_limit_s=None if args.time_limit is None else 60 * args.time_limit)
        args.run_dir.mkdir(parents=True, exist_ok=True)
        record = {**asdict(config), "hardware": hardware(resolve_device(config.device)),
                  "command": shlex.join(["tools/train_weights.py", *sys.argv[1:]]),
                  **{f"{split}_patches": int(n) for split, n in patch_counts(table, root=root)["non_empty"].items()}}
        (args.run_dir / "config.json").write_text(json.dumps(record, indent=1))
        train_from_table(config, table, args.run_dir, root=root)
        export_generator(args.run_dir / "checkpoint.pt", args.out, half=True)
        print(f"wrote {args.out}")
    if not args.train_only:
        evaluate(args, params, table)


def hardware(device: torch.device) -> str:
    """What trains, in words: the GPU's name, or the CPU and its core count."""
    if device.type == "cuda":
        return f"one {torch.cuda.get_device_name(device)}"
    return f"a {os.cpu_count()}-core CPU ({torch.get_num_threads()} torch threads)"


def pack(table: pd.DataFrame, folder: Path) -> None:
    """Copy the kept train/val entries' curated maps (gzip) and a curation table with paths relative to it."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = table[table["kept"].astype(bool) & table["split"].isin(["train", "val"])].copy()
    for column in ("sim_map", "exp_map"):
        names = []
        for path in rows[column]:
            name = Path(path).name.removesuffix(".gz") + ".gz"
            write_map(read_map(path), folder / name)
            names.append(name)
        rows[column] = names
    save_curation(rows, folder)
    size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
    print(f"packed {len(rows)} entries into {folder} ({size:.1f} MiB)")


def evaluate(args, params, table: pd.DataFrame) -> None:
    """Generate the val/test entries with ``args.out``, score them beside molmap 2 A, write the model card."""
    config = json.loads((args.run_dir / "config.json").read_text())
    history = pd.read_csv(args.run_dir / "history.csv")
    entries = table[table.kept & table.split.isin(["val", "test"])]
    generator = MapGenerator(args.out, device=args.device, batch_size=16)
    maps = pd.concat([generate_entries(generator, entries, args.run_dir / "generated"),
                      simulate_baselines(entries, args.run_dir / "baselines", methods=["molmap"])], ignore_index=True)
    scores = score_maps(maps, entries)
    scores["split"] = scores["entry"].map(dict(zip(table.entry, table.split)))
    scores.to_csv(args.run_dir / "scores.csv", index=False)
    write_card(args, params, table, config, history, scores)


def write_card(args, params, table, config, history, scores) -> None:
    """The model card (the weights' name with .md) from the run's config.json and history.csv and the scores."""
    kept = table[table.kept]
    names = {s: ", ".join(sorted(kept.entry[kept.split == s])) for s in ("train", "val", "test")}
    columns = ["entry", "split", "method", "ssim", "correlation", "correlation_about_mean", "pcc",
               "masked_correlation_about_mean"]
    per_entry = scores[columns].sort_values(["split", "entry", "method"]).to_markdown(index=False, floatfmt=".3f")
    by_split = "\n\n".join(f"**{split}** entries\n\n" + summary_table(part).to_markdown(index=False, floatfmt=".3f")
                            for split, part in scores.groupby("split"))
    wins = scores[scores.split == "val"].pivot(index="entry", columns="method", values=["correlation_about_mean", "pcc"])
    beats = {m: bool((wins[m]["struc2mapGAN"] > wins[m]["molmap"]).all()) for m in ("correlation_about_mean", "pcc")}
    interim = config["width"] < 32
    minutes = history["seconds"].sum() / 60
    status = (f"**INTERIM WEIGHTS**: a narrow network (width {config['width']}) trained for {minutes:.0f} minutes on "
              f"{config['hardware']}, because no GPU was available. Replace them with paper-width weights trained on a "
              "GPU (see the command below with `--width 32 --device cuda`)." if interim else
              f"Paper-width network trained for {minutes:.0f} minutes on {config['hardware']}: far shorter than the "
              "paper's 150 epochs over 403,710 patches on 8 A100s, on 5 training maps instead of the paper's 200; "
              "longer runs on more data should do better.")
    card = f"""# struc2map generator weights: `{args.out.name}`

{status}

- **Network**: U-Net++ generator of width {config["width"]} (the paper's is 32), fp16 weights, {args.out.stat().st_size / 1e6:.1f} MB.
- **Data**: the curated shared pairs of `{Path(params["manifest"]).name}` (real EMDB maps with fitted models), curated
  as the default profile does (3 A mask, 1 A grid, min-max, clip_negative={params["clip_negative"]}), split by EMDB ID
  with seed {params["seed"]}: the default profile holds out the same test entries, so they were never trained on.
  - train: {names["train"]} ({config["train_patches"]} patches of 32^3, empty cubes dropped)
  - validation: {names["val"]} ({config["val_patches"]} patches)
  - test (not used here for training or selection): {names["test"]}
- **Training**: {len(history)} epochs, batch {config["batch_size"]}, NAdam lr {config["lr"]} (the paper: 1e-4 at batch
  128), alpha {config["alpha"]}, SmoothL1 + adversarial loss, the paper's augmentation, ReduceLROnPlateau(0.5, 15) on
  each network's own validation loss; the last epoch's generator is shipped. {minutes:.1f} minutes of training on
  {config["hardware"]} ({history["patches_per_s"].median():.0f} patches/s, median over epochs).
  Final validation losses: G {history["val_loss_G"].iloc[-1]:.4f}, D {history["val_loss_D"].iloc[-1]:.4f}
  (per epoch: `{args.out.stem}_history.csv` beside the weights).
- **Command**: `{config["command"]}`, then `tools/train_weights.py --evaluate-only` here for the scores below.
{args.remark or ""}

## Validation: generated map vs molmap at 2 A, against the experimental map (ExpMap)

Scored with `s2mlib.study.score_maps` (the metrics of `s2m evaluate`). On every validation entry the generated
map beats molmap at 2 A on correlation about mean: **{beats["correlation_about_mean"]}**; on PCC: **{beats["pcc"]}**.

{by_split}

Per entry:

{per_entry}
"""
    history.to_csv(args.out.with_name(args.out.stem + "_history.csv"), index=False)
    path = args.out.with_suffix(".md")
    path.write_text(card)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
