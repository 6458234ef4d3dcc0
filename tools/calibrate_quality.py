"""Choose the sample maps' local-resolution variant on the training and validation entries, and estimate how well
samples at the default quality match the experimental maps there, leave-one-entry-out (s2mlib.sim.quality).

For each entry of the run's curation table in the chosen splits (never the test entries): the expected map E (the
default weights at the reported resolution R, 3.5 A when unknown, not finer than 2 A, the 1 A grid's Nyquist, on the
ExpMap's grid) and, for every variant (local blur scale, noise exponent) and seed, a sample at the default quality
(:func:`s2mlib.sim.quality.quality_sample`). Per map: the envelope B, mean Q (sigma 0.4, EMDB's, and 0.6) and the
correlation of its per-residue Q (sigma 0.6) with the experimental map's; the experimental map's mean Q and its
EMDB percentile at R (:func:`s2mlib.sim.quality.emdb_percentile`); the expected map's mean Q, and the experimental map's
B relative to the expected map's by their Guinier slopes over 1/10-1/R (ln |F|^2 against k^2).

The variant kept is the one with the highest per-residue correlation averaged over entries and seeds. Leave one
entry out: for each entry, the variant best on the others, and that entry's correlation with it (against the expected
map's), and the sample's |Q - Q(experimental)| (nothing else is fitted: the quality's target is EMDB's percentile).

    python tools/calibrate_quality.py --run-dir runs/default --splits train val --seeds 0 1 2 3 --out quality.csv
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from s2mlib.gan.generate import MapGenerator
from s2mlib.io.atoms import read_structure
from s2mlib.io.density import read_map
from s2mlib.io.manifest import load_curation
from s2mlib.metrics.qscore import QscoreSampler, residue_ids
from s2mlib.sim.inputs import known_resolution
from s2mlib.sim.noise import fourier_shells
from s2mlib.sim.quality import QSCORE_SIGMA, emdb_percentile, quality_sample

VARIANTS = ["0:0", "0:2", "1:0", "2:0", "3:0", "1:2", "2:2", "3:2"]  # blur scale : noise exponent


def guinier_slope(density, resolution: float) -> float:
    """Slope of ln(mean |F|^2 per shell) against k^2 over 1/10 <= k <= 1/R (s2mlib.sim.noise.fourier_shells' shells):
    -B/2 for a map of B-factor B; the difference of two maps' slopes times -2 is their difference in B."""
    k, label, width = fourier_shells(density.data.shape, density.voxel_size)
    power = np.abs(np.fft.rfftn(density.data.astype(np.float64))) ** 2
    count, total = np.bincount(label.ravel()), np.bincount(label.ravel(), weights=power.ravel())
    centre = (np.arange(len(count)) + 0.5) * width
    use = (count > 0) & (centre >= 0.1) & (centre <= 1.0 / resolution)
    return float(np.polyfit(centre[use] ** 2, np.log(total[use] / count[use]), 1)[0])


def residue_means(sampler: QscoreSampler, ids: pd.DataFrame, density) -> np.ndarray:
    """Per-residue mean Q (sigma 0.6) in model order (as s2mlib.metrics.residue_qscores)."""
    table = ids.assign(q=sampler.atom_qscores(density))
    return table.groupby(["chain", "residue_number", "insertion_code", "residue_name"], sort=False)["q"].mean().values


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    both = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[both], b[both])[0, 1])


def leave_one_out(table: pd.DataFrame) -> pd.DataFrame:
    """Per entry: the variant with the best mean correlation over the other entries, and this entry's mean
    correlation (over seeds) with it, beside the expected map's."""
    per = table.groupby(["entry", "variant"], sort=False)["residue_q_correlation"].mean().unstack("variant")
    rows = []
    for entry in per.index:
        chosen = per.drop(index=entry).mean().idxmax()
        held = table[(table["entry"] == entry) & (table["variant"] == chosen)]
        rows.append(
            {
                "entry": entry,
                "variant": chosen,
                "residue_q_correlation": per.loc[entry, chosen],
                "expected_correlation": held["expected_correlation"].iloc[0],
                "q_difference": (held["q_sample"] - held["q_experimental"]).abs().mean(),
                "q_difference_emdb": (held["q_sample_emdb"] - held["q_experimental_emdb"]).abs().mean(),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, default=Path("runs/default"))
    parser.add_argument("--splits", nargs="+", default=["train", "val"], choices=["train", "val", "test"])
    parser.add_argument("--variants", nargs="+", default=VARIANTS, help="blur:exponent pairs")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3])
    parser.add_argument("--weights", default=None)
    parser.add_argument("--default-resolution", type=float, default=3.5)
    parser.add_argument("--out", type=Path, help="write the per-map table here (CSV)")
    args = parser.parse_args()
    if "test" in args.splits:
        print("note: test entries are for reporting; the shipped variant is chosen on train and val only")
    generator = MapGenerator(args.weights, device="cpu", precision="fp32", progress=False)
    rows = []
    for row in load_curation(args.run_dir, args.splits).itertuples():
        structure, x = read_structure(row.model), read_map(row.exp_map)
        resolution = max(known_resolution(row.resolution, args.default_resolution), 2.0)
        e = generator(structure, ref_map=x, resolution=resolution)
        sampler, ids = QscoreSampler(structure), pd.DataFrame(residue_ids(structure))
        reference = residue_means(sampler, ids, x)
        q_x = float(np.nanmean(sampler.atom_qscores(x, QSCORE_SIGMA)))
        base = {
            "entry": row.entry,
            "split": row.split,
            "resolution": resolution,
            "q_experimental": float(np.nanmean(sampler.atom_qscores(x))),
            "q_experimental_emdb": q_x,
            "experimental_percentile": emdb_percentile(q_x, resolution),
            "q_expected_emdb": float(np.nanmean(sampler.atom_qscores(e, QSCORE_SIGMA))),
            "expected_correlation": correlation(residue_means(sampler, ids, e), reference),
            "guinier_b_difference": -2.0 * (guinier_slope(x, resolution) - guinier_slope(e, resolution)),
        }
        for variant in args.variants:
            blur, exponent = (float(v) for v in variant.split(":"))
            for seed in args.seeds:
                start = time.perf_counter()
                sample = quality_sample(e, structure, resolution, seed, blur=blur, exponent=exponent)
                rows.append(
                    base
                    | {
                        "variant": variant,
                        "seed": seed,
                        "envelope_b": sample.envelope_b,
                        "q_target_emdb": sample.target_q,
                        "q_sample_emdb": sample.sample_q,
                        "q_sample": float(np.nanmean(sampler.atom_qscores(sample.full))),
                        "residue_q_correlation": correlation(residue_means(sampler, ids, sample.full), reference),
                        "seconds": time.perf_counter() - start,
                    }
                )
        done = pd.DataFrame([r for r in rows if r["entry"] == row.entry])
        print(
            f"{row.entry} ({row.split}, R {resolution:g} A): experimental Q {q_x:.3f} (EMDB percentile "
            f"{base['experimental_percentile']:.0f}), expected map's Q {base['q_expected_emdb']:.3f}, "
            f"B(experimental) - B(expected) by Guinier {base['guinier_b_difference']:.0f} A^2, expected map's "
            f"correlation {base['expected_correlation']:.3f}; "
            + ", ".join(
                f"{v} {c:.3f}" for v, c in done.groupby("variant", sort=False)["residue_q_correlation"].mean().items()
            ),
            flush=True,
        )
    table = pd.DataFrame(rows)
    if args.out:
        table.to_csv(args.out, index=False)
    per_variant = table.groupby("variant", sort=False)["residue_q_correlation"].agg(["mean", "std"])
    print("per-residue Q correlation with the experimental map, mean over entries and seeds (blur:exponent):")
    print(per_variant.round(3).to_string())
    print(f"expected map: {table.drop_duplicates('entry')['expected_correlation'].mean():.3f}")
    print(f"kept: {per_variant['mean'].idxmax()}")
    loo = leave_one_out(table)
    print("leave one entry out (the variant best on the other entries):")
    print(loo.round(3).to_string(index=False))
    print(loo[["residue_q_correlation", "expected_correlation", "q_difference", "q_difference_emdb"]].mean().round(3))


if __name__ == "__main__":
    main()
