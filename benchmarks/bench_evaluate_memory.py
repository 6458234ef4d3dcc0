"""Peak memory and time of ``s2m evaluate`` on big maps: the shared full 360^3 map (EMD-44046) against itself, and two
smooth random maps of N^3 voxels (default 512) on different grids (so the generated one is resampled).

Run by hand: ``python benchmarks/bench_evaluate_memory.py [--size 512] [--cap-gb 6] [--package-root DIR]``. Each case
runs ``python -m s2mlib.cli evaluate MAP --ref REF --json`` in a fresh process under ``prlimit --as`` (the cap) and
``/usr/bin/time -v``; prints the exit status, wall time, peak RSS and the scores (or the error's last line).
``--package-root`` runs another checkout's ``s2mlib`` (e.g. ``git archive COMMIT s2mlib | tar -x -C DIR``) for a
before/after table. Never run by the tests.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter
from timing import SHARED, machine_line

from s2mlib.io.density import DensityMap, write_map


def smooth_random(size: int, seed: int) -> np.ndarray:
    """A positive, map-like volume: blurred noise with 60 % of the voxels at 0 (built in float32 slabs)."""
    rng = np.random.default_rng(seed)
    data = rng.random((size, size, size), dtype=np.float32)
    gaussian_filter(data, 1.5, output=data)
    data -= np.float32(np.percentile(data[::4, ::4, ::4], 60))
    np.clip(data, 0, None, out=data)
    return data


def run_case(label: str, map_path: Path, ref_path: Path, cap_gb: float, root: str | None) -> None:
    env = dict(os.environ)
    if root:
        env["PYTHONPATH"] = root
    command = [
        "/usr/bin/time", "-v", "prlimit", f"--as={int(cap_gb * 2**30)}",
        sys.executable, "-m", "s2mlib.cli", "evaluate", str(map_path), "--ref", str(ref_path), "--json",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", done.stderr)
    errors = [line for line in done.stderr.splitlines() if line and not line.startswith(("\t", "Command"))]
    print(
        f"{label}: exit {done.returncode}, wall {wall.group(1) if wall else '?'}, "
        f"peak RSS {int(rss.group(1)) / 2**20 if rss else float('nan'):.2f} GiB"
    )
    print("  " + (" ".join(done.stdout.split()) if done.returncode == 0 else (errors[-1] if errors else "")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="edge of the random maps (default 512)")
    parser.add_argument("--cap-gb", type=float, default=6.0, help="address-space cap of each run (default 6)")
    parser.add_argument("--package-root", help="a folder holding another s2mlib to measure instead")
    args = parser.parse_args()
    print(machine_line())
    print(f"s2mlib from {args.package_root or 'this checkout'}; cap {args.cap_gb} GiB of address space")
    real = SHARED / "maps_only" / "emd_44046.map.gz"
    run_case("EMD-44046 360^3 against itself", real, real, args.cap_gb, args.package_root)
    with tempfile.TemporaryDirectory() as folder:
        ref = write_map(DensityMap(smooth_random(args.size, 0)), Path(folder) / "ref.mrc")
        moved = DensityMap(smooth_random(args.size, 1), origin=(0.5, 0.25, 0.0), voxel_size=1.0)
        gen = write_map(moved, Path(folder) / "gen.mrc")
        del moved
        run_case(f"two random {args.size}^3 maps, other grids", gen, ref, args.cap_gb, args.package_root)


if __name__ == "__main__":
    main()
