"""Curate, pack, export and score the generator weights shipped in s2mlib/weights/ and write their model card.
Training itself is the notebooks' call, ``python -m s2mlib.run.train`` (torchrun for several GPUs): run by hand.

    .venv/bin/python tools/train_weights.py --curate --run-dir runs/weights        # 1. curate (default profile)
    .venv/bin/python -m s2mlib.run.train --profile default -p run_dir runs/weights -p width 8 -p epochs 14 \
        -p lr 5e-4 -p max_patches_per_epoch null -p max_val_patches 64               # 2. train (resumable)
    .venv/bin/python tools/train_weights.py --run-dir runs/weights --out s2mlib/weights/struc2map_generator_fast.pt
                                                                                     # 3. export fp16, score, card

Step 1 curates the manifest with the default profile's curation settings and seeded split (so the entries held out
as test by the default profile are never trained on) into RUN_DIR (curated/ and curation.csv), where step 2 finds
it. Step 3 exports RUN_DIR/train/checkpoint.pt (fp16), or with ``--average-last K`` the mean of the last K epochs'
generators (RUN_DIR/train/snapshots), to ``--out`` (skipped with ``--no-export``, for weights that came back from
elsewhere), generates the validation and test entries with it, scores them against their ExpMaps
beside molmap at 2 A and writes the model card (the weights' name with .md) from RUN_DIR/train/config.json and
history.csv (the record and history of step 2) and those scores.

On a machine without ../shared (a GPU machine), train from a pack of the curated train/val maps:

    .venv/bin/python tools/train_weights.py --run-dir runs/weights --pack .devdata/curated        # here
    torchrun --standalone --nproc-per-node 8 -m s2mlib.run.train --profile paper \
        --curation .devdata/curated/curation.csv -p run_dir /tmp/run -p time_limit_s 300         # there
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import pandas as pd
import torch

from s2mlib.gan.checkpoints import CHECKPOINT, WeightSnapshots
from s2mlib.gan.generate import MapGenerator, generate_entries
from s2mlib.gan.train import HISTORY, RECORD
from s2mlib.gan.weights import DEFAULT_WEIGHTS, average_generators, export_generator
from s2mlib.io.density import read_map, write_map
from s2mlib.io.manifest import load_curation, load_manifest, save_curation
from s2mlib.io.outputs import atomic_write
from s2mlib.run.config import ROOT, load_profile
from s2mlib.study.benchmark import score_maps, simulate_baselines, summary_table
from s2mlib.study.curate import CurationConfig, curate_manifest

WHERE = (
    "Which weights where: `fast` (width 8, resolution-conditioned, B-factor input) is the default on every "
    "device: best on the validation entries at the reported resolution (mean of correlation about mean, PCC, "
    "Pearson inside 3 A and SSIM: 0.584 against 0.578 for `shipped`) and over the reported resolution, 5 and 8 A "
    "together (0.711 against 0.640; `tools/evaluate_weights.py`), and about 4x faster on a CPU (bf16, 2 cores) "
    "than `shipped` (the paper's width-32 network, unconditioned). `shipped` cannot be asked for a resolution and "
    "falls behind at 5 and 8 A; it stays for the paper's own maps (molmap 2 A in), best on a GPU. Paper-width "
    "conditioned weights, trained on a GPU, should replace both when they exist."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", default=str(ROOT.parent / "shared/data/pairs.tsv"))
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=ROOT / "runs/weights",
        help="curation here, training in RUN_DIR/train (python -m s2mlib.run.train -p run_dir RUN_DIR)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto", help="where to generate the scored maps")
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--no-export", action="store_true", help="score --out as it is (no export from the checkpoint)")
    parser.add_argument(
        "--average-last",
        type=int,
        metavar="K",
        help="ship the mean of the last K epochs' generators (RUN_DIR/train/snapshots) instead of the last one",
    )
    parser.add_argument("--remark", help="a paragraph for the model card (e.g. how these weights were chosen)")
    stage = parser.add_mutually_exclusive_group()
    stage.add_argument("--curate", action="store_true", help="curate the manifest into RUN_DIR and stop")
    stage.add_argument("--pack", type=Path, help="write RUN_DIR's curated train/val maps (gzip) and table here, stop")
    args = parser.parse_args()
    args.run_dir = args.run_dir.resolve()  # the curation table's map paths must not depend on the working directory
    torch.set_num_threads(args.threads)
    params = load_profile("default", {"manifest": args.manifest})
    if args.curate:
        table = curate_manifest(
            load_manifest(params["manifest"]),
            args.run_dir / "curated",
            CurationConfig.from_params(params),
            progress=True,
        )
        print(f"wrote {save_curation(table, args.run_dir)}")
        return
    table = load_curation(args.run_dir)
    if args.pack is not None:
        pack(table, args.pack)
        return
    train_dir = args.run_dir / "train"
    args.shipped = "the last epoch's generator is shipped"
    if args.average_last:
        saved = WeightSnapshots(train_dir / "snapshots").files()
        epochs = list(saved)[-args.average_last :]
        if len(epochs) < args.average_last:
            parser.error(f"--average-last {args.average_last}: {train_dir / 'snapshots'} holds {len(epochs)}")
        snapshots = [saved[epoch] for epoch in epochs]
        args.shipped = (
            f"the mean of the generator weights after epochs {epochs[0]}-{epochs[-1]} is shipped (weight averaging)"
        )
    if not args.no_export:
        source = average_generators(snapshots) if args.average_last else train_dir / CHECKPOINT
        export_generator(source, args.out, half=True)
        print(f"wrote {args.out}")
    evaluate(args, params, table, train_dir)


def pack(table: pd.DataFrame, folder: Path) -> None:
    """Copy the kept train/val entries' curated maps and models (gzip) and a curation table with paths relative to
    it (the models are for the 'bfactor' input, made from the model on the machine that trains)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = table[table["kept"].astype(bool) & table["split"].isin(["train", "val"])].copy()
    for column in ("sim_map", "exp_map"):
        names = []
        for path in rows[column]:
            name = Path(path).name.removesuffix(".gz") + ".gz"
            write_map(read_map(path), folder / name)
            names.append(name)
        rows[column] = names
    models = []
    for entry, path in zip(rows["entry"], rows["model"]):
        name = f"{entry}_{Path(path).name.removesuffix('.gz')}.gz"
        data = Path(path).read_bytes()
        packed = data if path.endswith(".gz") else gzip.compress(data)
        atomic_write(lambda tmp, packed=packed: Path(tmp).write_bytes(packed), folder / name)
        models.append(name)
    rows["model"] = models
    save_curation(rows, folder)
    size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
    print(f"packed {len(rows)} entries into {folder} ({size:.1f} MiB)")


def evaluate(args, params, table: pd.DataFrame, train_dir: Path) -> None:
    """Generate the val/test entries with ``args.out``, score them beside molmap 2 A, write the model card."""
    config = json.loads((train_dir / RECORD).read_text())
    history = pd.read_csv(train_dir / HISTORY)
    entries = table[table.kept & table.split.isin(["val", "test"])]
    generator = MapGenerator(args.out, device=args.device, batch_size=16)
    maps = pd.concat(
        [
            generate_entries(generator, entries, args.run_dir / "generated"),
            simulate_baselines(entries, args.run_dir / "baselines", methods=["molmap"]),
        ],
        ignore_index=True,
    )
    scores = score_maps(maps, entries)
    scores["split"] = scores["entry"].map(dict(zip(table.entry, table.split)))
    scores.to_csv(args.run_dir / "scores.csv", index=False)
    write_card(args, params, table, config, history, scores)


def write_card(args, params, table, config, history, scores) -> None:
    """The model card (the weights' name with .md) from the run's config.json and history.csv and the scores."""
    kept = table[table.kept]
    names = {s: ", ".join(sorted(kept.entry[kept.split == s])) for s in ("train", "val", "test")}
    columns = [
        "entry",
        "split",
        "method",
        "ssim",
        "correlation",
        "correlation_about_mean",
        "pcc",
        "masked_correlation_about_mean",
    ]
    per_entry = scores[columns].sort_values(["split", "entry", "method"]).to_markdown(index=False, floatfmt=".3f")
    by_split = "\n\n".join(
        f"**{split}** entries\n\n" + summary_table(part).to_markdown(index=False, floatfmt=".3f")
        for split, part in scores.groupby("split")
    )
    wins = scores[scores.split == "val"].pivot(
        index="entry", columns="method", values=["correlation_about_mean", "pcc"]
    )
    beats = {m: bool((wins[m]["struc2mapGAN"] > wins[m]["molmap"]).all()) for m in ("correlation_about_mean", "pcc")}
    interim = config["width"] < 32
    empty = "kept" if config["keep_empty"] else "dropped"
    minutes = history["seconds"].sum() / 60
    status = (
        f"**INTERIM WEIGHTS**: a narrow network (width {config['width']}) trained for {minutes:.0f} minutes on "
        f"{config['hardware']}, because no GPU was available. Replace them with paper-width weights trained on a "
        "GPU (the command below with `--profile paper` under torchrun)."
        if interim
        else f"Paper-width network trained for {minutes:.0f} minutes on {config['hardware']}: far shorter than the "
        "paper's 150 epochs over 403,710 patches on 8 A100s, on 5 training maps instead of the paper's 200; "
        "longer runs on more data should do better."
    )
    card = f"""# struc2map generator weights: `{args.out.name}`

{status}

{WHERE}

- **Network**: U-Net++ generator of width {config["width"]} (the paper's is 32), fp16 weights,
  {args.out.stat().st_size / 1e6:.1f} MB.
- **Data**: the curated shared pairs of `{Path(params["manifest"]).name}` (real EMDB maps with fitted models), curated
  as the default profile does (3 A mask, 1 A grid, min-max, clip_negative={params["clip_negative"]}), split by EMDB ID
  with seed {params["seed"]}: the default profile holds out the same test entries, so they were never trained on.
  - train: {names["train"]} ({config["train_patches"]} patches of 32^3, empty cubes {empty})
  - validation: {names["val"]} ({config["val_patches"]} patches)
  - test (not used here for training or selection): {names["test"]}
- **Training**: {len(history)} epochs, batch {config["batch_size"]}, NAdam lr {config["lr"]} (the paper: 1e-4 at batch
  128), alpha {config["alpha"]}, SmoothL1 + adversarial loss, the paper's augmentation, ReduceLROnPlateau(0.5, 15) on
  each network's own validation loss; {args.shipped}. {minutes:.1f} minutes of training on
  {config["hardware"]} ({history["patches_per_s"].median():.0f} patches/s, median over epochs).
  Final validation losses: G {history["val_loss_G"].iloc[-1]:.4f}, D {history["val_loss_D"].iloc[-1]:.4f}
  (per epoch: `{args.out.stem}_history.csv` beside the weights).
- **Command**: `{config["command"]}` ({config["world_size"]} process(es)), then `tools/train_weights.py` here
  (export, and the scores below).
{args.remark or ""}

## Validation: generated map vs molmap at 2 A, against the experimental map (ExpMap)

Scored with `s2mlib.study.benchmark.score_maps` (the metrics of `s2m evaluate`). On every validation entry the generated
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
