"""Fit the noise model's falloff b (s2mlib.sim.noise.SNR_FALLOFF) on real maps: training and validation entries only.

For each entry of the run's curation table (notebook 01) in the chosen splits, the expected map E (the default
weights at the reported resolution R, on the ExpMap's grid) against the experimental map X, per Fourier shell:
S = sum |E|^2, C = sum Re(X E*), P = sum |X|^2; the part of X along E has power C^2 / S, the rest P - C^2 / S is
what the expected map lacks (noise, and what the model or the network does not explain). As a half map has twice the
noise of the average, SNR_half = (C^2 / S) / (2 (P - C^2 / S)). b is the count-weighted least-squares slope of
log(SNR_half / SNR_R) on 1 - (kR)^2 over 0 < k <= 1/R (the line through SNR_R at 1/R that s2mlib.sim.noise uses), per
entry; the model takes the median. Also printed: where the implied half-map FSC first falls below 0.143 beyond
1/(2R), and the mean Q-score of X, of E and of a sample with the fitted b (seed 0, the noise weighted by the
model's B-factors; the noise alone, without the blur and envelope that s2mlib.sim.quality adds for a quality:
tools/calibrate_quality.py).

    python tools/calibrate_noise.py --run-dir runs/default --splits train val --out calibration.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from s2mlib.gan.generate import MapGenerator
from s2mlib.io.atoms import read_structure
from s2mlib.io.density import read_map
from s2mlib.io.manifest import load_curation
from s2mlib.metrics.qscore import atom_qscores, mean_qscore
from s2mlib.sim.inputs import known_resolution
from s2mlib.sim.noise import SNR_AT_RESOLUTION, fourier_shells, model_weight, sample_maps


def shell_sums(x: np.ndarray, e: np.ndarray, voxel: float) -> tuple[np.ndarray, ...]:
    """Shell centres (1/A), counts, S, C and P per shell of :func:`s2mlib.sim.noise.fourier_shells` (the noise
    model's)."""
    _, label, width = fourier_shells(x.shape, voxel)
    fx, fe = np.fft.rfftn(x.astype(np.float64)), np.fft.rfftn(e.astype(np.float64))
    parts = (np.abs(fe) ** 2, np.real(fx * np.conj(fe)), np.abs(fx) ** 2)
    sums = [np.bincount(label.ravel(), weights=v.ravel()) for v in parts]
    return ((np.arange(len(sums[0])) + 0.5) * width, np.bincount(label.ravel()), *sums)


def falloff(x: np.ndarray, e: np.ndarray, voxel: float, resolution: float) -> tuple[float, float]:
    """(b, the resolution where the implied half-map FSC first falls below 0.143) of one entry."""
    k, count, s, c, p = shell_sums(x, e, voxel)
    with np.errstate(divide="ignore", invalid="ignore"):
        along = c**2 / s
        snr_half = along / (2.0 * (p - along))
    use = (k > 0) & (k * resolution <= 1.0) & (count > 0) & np.isfinite(snr_half) & (snr_half > 0)
    xs, ys, w = 1.0 - (k[use] * resolution) ** 2, np.log(snr_half[use] / SNR_AT_RESOLUTION), count[use]
    b = float((w * xs * ys).sum() / (w * xs * xs).sum())
    below = np.flatnonzero((k * resolution > 0.5) & (snr_half < SNR_AT_RESOLUTION))
    return b, (float(1.0 / k[below[0]]) if len(below) else float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-dir", type=Path, default=Path("runs/default"))
    parser.add_argument("--splits", nargs="+", default=["train", "val"], choices=["train", "val", "test"])
    parser.add_argument("--weights", default=None)
    parser.add_argument("--default-resolution", type=float, default=3.5)
    parser.add_argument("--out", type=Path, help="write the per-entry table here (CSV)")
    args = parser.parse_args()
    if "test" in args.splits:
        print("note: test entries are for reporting; the shipped b is fitted on train and val only")
    generator = MapGenerator(args.weights, device="cpu", precision="fp32", progress=False)
    rows, maps = [], []
    for row in load_curation(args.run_dir, args.splits).itertuples():
        structure, x = read_structure(row.model), read_map(row.exp_map)
        # a reported resolution finer than the ExpMap grid's Nyquist (20026: 1.75 A on 1 A voxels) is taken at Nyquist
        resolution = max(known_resolution(row.resolution, args.default_resolution), 2.0 * float(x.voxel_size.max()))
        e = generator(structure, ref_map=x, resolution=resolution)
        maps.append((structure, x, e))
        b, crossing = falloff(x.data, e.data, float(x.voxel_size[0]), resolution)
        rows.append({"entry": row.entry, "split": row.split, "resolution": resolution, "b": b, "fsc_0.143": crossing})
        print(f"{row.entry}: R {resolution:g} A, b {b:.2f}, implied half-map FSC 0.143 at {crossing:.2f} A")
    table = pd.DataFrame(rows)
    fitted = float(table["b"].median())
    print(f"median b over {len(table)} entries ({', '.join(args.splits)}): {fitted:.2f}")
    for i, (structure, x, e) in enumerate(maps):
        weight = model_weight(e, structure)
        sample = sample_maps(e, table.loc[i, "resolution"], seed=0, falloff=fitted, weight=weight).full
        for name, density in (("q_experimental", x), ("q_expected", e), ("q_sample", sample)):
            table.loc[i, name] = mean_qscore(atom_qscores(density, structure))
    print(table.round(3).to_string(index=False))
    if args.out:
        table.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
