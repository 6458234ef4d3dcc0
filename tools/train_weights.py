"""Train the generator weights shipped in s2mlib/weights/ (run by hand; resumable).

    .venv/bin/python tools/train_weights.py --width 8 --epochs 7 --lr 5e-4 --run-dir runs/weights

Curates the manifest with the default profile's curation settings and seeded split (so the entries held out as
test by the default profile are never trained on), trains on its 'train' split, validates on 'val', and exports
the last epoch's generator (fp16) to s2mlib/weights/struc2map_generator.pt. Interrupted runs resume from
run_dir/checkpoint.pt.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from s2mlib.config import ROOT, load_profile
from s2mlib.curate import curate_manifest
from s2mlib.generate import DEFAULT_WEIGHTS
from s2mlib.manifest import load_manifest
from s2mlib.patches import PatchDataset
from s2mlib.train import TrainConfig, export_generator, train

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
    start = time.time()
    history = train(config, train_ds, val_ds, args.run_dir)
    export_generator(args.run_dir / "checkpoint.pt", args.out, half=True)
    record = {"manifest": params["manifest"], "config": config.__dict__, "seconds_this_call": time.time() - start,
              "train_entries": sorted(table.entry[table.kept & (table.split == "train")]),
              "val_entries": sorted(table.entry[table.kept & (table.split == "val")]),
              "test_entries": sorted(table.entry[table.kept & (table.split == "test")]),
              "train_patches": len(train_ds), "val_patches": len(val_ds),
              "final": history.iloc[-1].to_dict()}
    (args.run_dir / "training_record.json").write_text(json.dumps(record, indent=2, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
