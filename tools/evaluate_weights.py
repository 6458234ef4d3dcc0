"""Score generator weights on the validation and test entries against every simulator, at each entry's reported
resolution and at coarser target resolutions, for a model card (run by hand; writes Markdown and CSV).

    .venv/bin/python tools/evaluate_weights.py --weights fast --out runs/cards/fast

Curates the manifest as the default profile does (same seeded split, so its test entries were never trained on),
then for the validation and test entries runs :func:`s2mlib.study.resolution.resolution_series` with the weights ("GAN")
and every simulator at each target R ('reported' and the coarser ``--resolutions``), against the experimental map
low-passed to R; and the paper's comparison at 2 A (molmap 2 A). Writes ``OUT/series.csv`` (every score),
``OUT/summary.md`` (means per split, target and method; who wins per entry) and prints the summary. With
``--card CARD.md`` the summary (without the table of every score) also replaces the card's section between
``<!-- evaluate_weights -->`` and ``<!-- /evaluate_weights -->`` (appended when the card has none).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd
import torch

from s2mlib.gan.generate import MapGenerator
from s2mlib.io.atoms import read_structure
from s2mlib.io.density import read_map
from s2mlib.io.manifest import load_manifest
from s2mlib.metrics import evaluate
from s2mlib.run.config import ROOT, load_profile
from s2mlib.sim.simulate import molmap
from s2mlib.study.curate import CurationConfig, curate_manifest
from s2mlib.study.resolution import SELECTION_METRICS, resolution_series, target_labels

RIVALS = ["molmap", "gemmi"]  # the simulators the goal names: the GAN must beat both at the reported resolution


def wins(series: pd.DataFrame) -> pd.DataFrame:
    """Per split, entry and target: does the GAN beat every rival on each metric (strictly)?"""
    rows = []
    for (split, entry, target), part in series.groupby(["split", "entry", "target"], sort=False):
        scores = part.set_index("method")
        row = {"split": split, "entry": entry, "target": target}
        for metric in SELECTION_METRICS:
            row[metric] = bool(all(scores.loc["GAN", metric] > scores.loc[r, metric] for r in RIVALS))
        rows.append(row)
    return pd.DataFrame(rows)


START, END = "<!-- evaluate_weights -->", "<!-- /evaluate_weights -->"


def write_card_section(card: Path, section: str) -> None:
    """Replace the text between START and END in ``card`` (inclusive) by ``section``, or append it."""
    text = card.read_text()
    if START in text and END in text:
        text = text[: text.index(START)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    card.write_text(text.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="fast", help="shipped name or a weights file")
    parser.add_argument("--manifest", default=str(ROOT.parent / "shared/data/pairs.tsv"))
    parser.add_argument(
        "--resolutions",
        type=float,
        nargs="*",
        default=[5.0, 8.0],
        help="coarser target resolutions besides each entry's reported one (A)",
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--precision", default="fp32", choices=["auto", "fp32", "bf16"], help="the generator's arithmetic (fp32)"
    )
    parser.add_argument("--card", type=Path, help="model card whose evaluate_weights section gets the summary")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    params = load_profile("default", {"manifest": args.manifest})
    table = curate_manifest(load_manifest(params["manifest"]), args.out / "curated", CurationConfig.from_params(params))
    entries = table[table["kept"] & table["split"].isin(["val", "test"])]
    generator = MapGenerator(args.weights, device="cpu", batch_size=16, precision=args.precision, progress=False)
    series = resolution_series(
        entries,
        {"GAN": generator},
        ["reported", *args.resolutions],
        args.out / "maps",
        default_resolution=params["default_resolution"],
    )
    series["split"] = series["entry"].map(dict(zip(table["entry"], table["split"])))
    series.to_csv(args.out / "series.csv", index=False)
    paper_rows = []
    for row in entries.itertuples():
        structure, exp = read_structure(row.model), read_map(row.exp_map)
        native = series[(series["entry"] == row.entry) & (series["method"] == "GAN")].sort_values("target").iloc[0]
        molmap_2a = evaluate(molmap(structure, 2.0, ref_map=exp), exp, structure)
        paper_rows.append(
            {
                "split": row.split,
                "entry": row.entry,
                **{f"GAN {m}": native[m] for m in SELECTION_METRICS},
                **{f"molmap 2 A {m}": molmap_2a[m] for m in SELECTION_METRICS},
            }
        )
    paper = pd.DataFrame(paper_rows)
    series = series[series["method"] != "experimental"]
    series["R"] = target_labels(series, unit="A")
    means = series.groupby(["split", "R", "method"], sort=False)[SELECTION_METRICS].mean().reset_index()
    won = wins(series)
    text = [
        f"# Weights {generator.weights} (conditioned {generator.conditioned}, input {generator.input_kind})",
        "",
        "## Mean scores against the experimental map low-passed to R (per split, target R, method)",
        "",
        means.to_markdown(index=False, floatfmt=".3f"),
        "",
        f"## Does the GAN beat {' and '.join(RIVALS)} at that R on each metric (per entry)?",
        "",
        won.to_markdown(index=False),
        "",
        "## The paper's comparison: GAN (at the reported resolution) vs molmap at 2 A, against the ExpMap",
        "",
        paper.to_markdown(index=False, floatfmt=".3f"),
        "",
        "## Every score",
        "",
        series.drop(columns=["path"]).to_markdown(index=False, floatfmt=".3f"),
    ]
    (args.out / "summary.md").write_text("\n".join(text) + "\n")
    if args.card:
        command = " ".join(["tools/evaluate_weights.py", *sys.argv[1:]])
        reported = series[series["R"] == "reported"].sort_values(["split", "entry", "method"])
        per_entry = reported[["split", "entry", "method", "target", *SELECTION_METRICS]].to_markdown(
            index=False, floatfmt=".3f"
        )
        section = "\n".join(
            [
                START,
                f"## Against every simulator at the reported resolution and coarser (`{command}`)",
                "",
                "Validation and test entries (never trained on; the weights were chosen on validation only); the",
                "targets are the experimental maps low-passed to R as in training.",
                "",
                re.sub(r"^## ", "### ", "\n".join(text[2:-4]), flags=re.MULTILINE),
                "### Per entry at the reported resolution (target = R in A)",
                "",
                per_entry,
                END,
            ]
        )
        write_card_section(args.card, section)
    print("\n".join(text[:9]))


if __name__ == "__main__":
    main()
