"""Speed and peak memory of the map simulators against atom count (run by hand, never by the test suite).

A real model (../shared/data 0093_6GYN, 16,016 protein atoms) is tiled by translated copies on a grid, cut to
~1k, 10k and 100k atoms (s2mlib.sim.structures.structure_of_size); every method is evaluated on the same 1 A bounding
grid (padding 3 x resolution).
Each case runs in a fresh subprocess; peak memory is the rise of the process's peak RSS (VmHWM, reset through
/proc/self/clear_refs) during the call, shown against the size of the float32 output grid.

    python benchmarks/bench_simulate.py                      # all methods, 1k/10k/100k atoms, 2 and 8 A
    python benchmarks/bench_simulate.py --methods molmap --sizes 100000 --resolutions 2 8
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import machine_line

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT.parent / "shared" / "data" / "pairs" / "0093_6GYN" / "6gyn.pdb"


def tiled_model(n_atoms: int, out: Path) -> Path:
    """MODEL's protein (ligands and waters removed) tiled by translated copies and cut to at most ``n_atoms``
    atoms in whole residues (:func:`s2mlib.sim.structures.structure_of_size`), written as mmCIF."""
    sys.path.insert(0, str(ROOT))
    from s2mlib.io.atoms import read_structure
    from s2mlib.sim.structures import structure_of_size

    st = structure_of_size(read_structure(MODEL, remove_hetero=True), atoms=n_atoms)
    path = out / f"tiled_{n_atoms}.cif"
    st.gemmi_structure.make_mmcif_document().write_file(str(path))
    return path


def _peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run_case(model: str, method: str, resolution: float, repeat: int, threads: int) -> dict:
    """One method on one model in this process: best wall time of ``repeat`` runs and peak memory rise."""
    import gc

    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(ROOT))
    from s2mlib.io.atoms import read_structure
    from s2mlib.sim.simulate import bounding_grid, simulate

    st = read_structure(model)
    grid = bounding_grid(st.xyz, 1.0, 3 * resolution)
    simulate(st, method, resolution, ref_map=grid)  # warm-up: imports and first-call costs
    times, peak = [], 0
    for _ in range(repeat):
        gc.collect()
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        before = _rss_kib()
        t0 = time.perf_counter()
        result = simulate(st, method, resolution, ref_map=grid)
        times.append(time.perf_counter() - t0)
        peak = max(peak, _peak_kib() - before)
        del result
    return {
        "method": method,
        "atoms": st.n_atoms,
        "resolution": resolution,
        "grid_zyx": list(grid.data.shape),
        "grid_mib": grid.data.nbytes / 2**20,
        "seconds": min(times),
        "peak_mib": peak / 1024,
        "threads": threads,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["molmap", "e2pdb2mrc", "blurrer", "gemmi"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 10000, 100000])
    parser.add_argument("--resolutions", nargs="+", type=float, default=[2.0, 8.0])
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs (peers: 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    parser.add_argument("--case", nargs=3, metavar=("MODEL", "METHOD", "RES"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        model, method, res = args.case
        print(json.dumps(run_case(model, method, float(res), args.repeat, args.threads)))
        return

    print(machine_line())
    print(
        f"{'method':10s} {'atoms':>7s} {'res':>4s} {'grid z,y,x':>16s} {'grid MiB':>8s} {'seconds':>8s} "
        f"{'peak MiB':>8s} {'peak/grid':>9s}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for n_atoms in args.sizes:
            model = tiled_model(n_atoms, Path(tmp))
            for res in args.resolutions:
                for method in args.methods:
                    repeat = args.repeat if method in ("molmap", "e2pdb2mrc") else 1
                    cmd = [
                        sys.executable,
                        __file__,
                        "--case",
                        str(model),
                        method,
                        str(res),
                        "--repeat",
                        str(repeat),
                        "--threads",
                        str(args.threads),
                    ]
                    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                    row = json.loads(out.strip().splitlines()[-1])
                    print(
                        f"{method:10s} {row['atoms']:7d} {res:4.0f} {','.join(map(str, row['grid_zyx'])):>16s} "
                        f"{row['grid_mib']:8.1f} {row['seconds']:8.3f} {row['peak_mib']:8.1f} "
                        f"{row['peak_mib'] / row['grid_mib']:9.2f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
