"""Time and peak memory of ``s2m simulate`` and ``s2m generate`` on big models: copies of a shared model (default
0093_6GYN, 16,932 atoms) tiled to 0.2, 0.5, 1 and 2 million atoms (``s2mlib.structures.structure_of_size``).

Run by hand: ``python benchmarks/bench_big_model.py [--atoms 200000 2000000] [--commands simulate generate]
[--cap-gb 8] [--timeout 1800]``. Each run is a fresh ``python -m s2mlib.cli`` under ``prlimit --as`` (the cap) and
``/usr/bin/time -v``; prints the exit status, wall time, peak RSS and the command's last line (its result, or the
one-line refusal with the grid size and the memory it would need). Never run by the tests.
"""

from __future__ import annotations

import argparse
import csv
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import SHARED

from s2mlib.atoms import read_structure
from s2mlib.structures import structure_of_size

COMMANDS = {
    "simulate": lambda model, out: ["simulate", str(model), "-o", str(out / "sim.mrc"), "--method", "molmap"],
    "generate": lambda model, out: ["generate", str(model), "-o", str(out / "gen.mrc"), "--resolution", "4"],
}


def run_case(label: str, arguments: list[str], cap_gb: float, timeout: float) -> None:
    command = ["/usr/bin/time", "-v", "prlimit", f"--as={int(cap_gb * 2**30)}", sys.executable, "-m", "s2mlib.cli"]
    try:
        done = subprocess.run(command + arguments, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"{label}: not finished within {timeout:.0f} s")
        return
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", done.stderr)
    lines = [x for x in (done.stdout + done.stderr).splitlines() if x and not x.startswith(("\t", "Command"))]
    print(
        f"{label}: exit {done.returncode}, wall {wall.group(1) if wall else '?'}, "
        f"peak RSS {int(rss.group(1)) / 2**20 if rss else float('nan'):.2f} GiB\n  {lines[-1] if lines else ''}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entry", default="0093_6GYN")
    parser.add_argument("--atoms", type=int, nargs="+", default=[200_000, 500_000, 1_000_000, 2_000_000])
    parser.add_argument("--commands", nargs="+", choices=list(COMMANDS), default=list(COMMANDS))
    parser.add_argument("--cap-gb", type=float, default=8.0, help="address-space cap of each run (default 8)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run (default 1800)")
    args = parser.parse_args()
    with open(SHARED / "pairs.tsv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh, delimiter="\t") if r["entry"] == args.entry)
    base = read_structure(SHARED / row["model_file"])
    print(f"{args.entry}: {base.n_atoms} atoms; cap {args.cap_gb} GiB of address space")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        for atoms in args.atoms:
            t0 = time.perf_counter()
            big = structure_of_size(base, atoms=atoms)
            model = out / f"big_{atoms}.cif"
            big.gemmi_structure.make_mmcif_document().write_file(str(model))
            print(
                f"{big.n_atoms} atoms written in {time.perf_counter() - t0:.0f} s ({model.stat().st_size / 1e6:.0f} MB)"
            )
            for name in args.commands:
                run_case(f"  {name} {big.n_atoms} atoms", COMMANDS[name](model, out), args.cap_gb, args.timeout)
            model.unlink()


if __name__ == "__main__":
    main()
