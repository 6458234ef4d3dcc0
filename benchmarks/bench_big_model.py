"""Time and peak memory of ``s2m simulate`` and ``s2m generate`` on big models: copies of a shared model (default
0093_6GYN, 16,932 atoms) tiled to 0.2, 0.5, 1 and 2 million atoms (``s2mlib.sim.structures.structure_of_size``).

Run by hand: ``nice -n 10 python benchmarks/bench_big_model.py [--atoms 200000 2000000] [--commands simulate
generate] [--cap-gb 8] [--timeout 7200] [--generate-options='--precision fp32']``. Each run is a fresh
``python -m s2mlib.cli``
under ``prlimit --as`` (the cap) and ``/usr/bin/time -v``; prints the exit status, wall time, CPU time, peak RSS and
the command's last line (its result, or the one-line refusal with the grid size and the memory it would need), then a
Markdown table of them all with the load average before and after (the README's 'Big inputs' table). Never run by
the tests.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import SHARED, machine_line

from s2mlib.io.atoms import read_structure
from s2mlib.sim.structures import structure_of_size

COMMANDS = {
    "simulate": ["simulate", "{model}", "-o", "{out}/sim.mrc", "--method", "molmap"],
    "generate": ["generate", "{model}", "-o", "{out}/gen.mrc", "--resolution", "4"],
}


def run_case(label: str, arguments: list[str], cap_gb: float, timeout: float) -> dict:
    """One command under the cap: its exit status, wall and CPU time, peak RSS (GiB) and last line."""
    command = ["/usr/bin/time", "-v", "prlimit", f"--as={int(cap_gb * 2**30)}", sys.executable, "-m", "s2mlib.cli"]
    try:
        done = subprocess.run(command + arguments, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"{label}: not finished within {timeout:.0f} s", flush=True)
        return {"exit": "timeout", "wall": f"> {timeout:.0f} s", "cpu_s": math.nan, "rss_gib": math.nan, "last": ""}

    def field(name: str) -> str | None:
        found = re.search(rf"{re.escape(name)}: (\S+)", done.stderr)
        return found.group(1) if found else None

    rss = field("Maximum resident set size (kbytes)")
    cpu = sum(float(field(f"{kind} time (seconds)") or "nan") for kind in ("User", "System"))
    lines = [x for x in (done.stdout + done.stderr).splitlines() if x and not x.startswith(("\t", "Command"))]
    lines = [x.split("\r")[-1].strip() for x in lines]  # progress bars
    lines = [x for x in lines if x]
    result = {
        "exit": done.returncode,
        "wall": field("Elapsed (wall clock) time (h:mm:ss or m:ss)") or "?",
        "cpu_s": cpu,
        "rss_gib": int(rss) / 2**20 if rss else math.nan,
        "last": lines[-1] if lines else "",
    }
    print(
        f"{label}: exit {result['exit']}, wall {result['wall']}, CPU {cpu:.0f} s, peak RSS {result['rss_gib']:.2f} "
        f"GiB\n  {result['last']}",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entry", default="0093_6GYN")
    parser.add_argument("--atoms", type=int, nargs="+", default=[200_000, 500_000, 1_000_000, 2_000_000])
    parser.add_argument("--commands", nargs="+", choices=list(COMMANDS), default=list(COMMANDS))
    parser.add_argument("--cap-gb", type=float, default=8.0, help="address-space cap of each run (default 8)")
    parser.add_argument("--timeout", type=float, default=7200.0, help="seconds per run (default 7200)")
    parser.add_argument(
        "--generate-options",
        nargs="*",
        default=[],
        help="more options of s2m generate, e.g. '--precision bf16' (half the CPU time of fp32 where bf16 is native)",
    )
    args = parser.parse_args()
    with open(SHARED / "pairs.tsv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh, delimiter="\t") if r["entry"] == args.entry)
    base = read_structure(SHARED / row["model_file"])
    print(machine_line())
    print(f"{args.entry}: {base.n_atoms} atoms; cap {args.cap_gb} GiB of address space")
    load = os.getloadavg()
    rows = []
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
            del big
            for name in args.commands:
                argv = [a.format(model=model, out=out) for a in COMMANDS[name]]
                argv += args.generate_options if name == "generate" else []
                label = " ".join([name, *argv[4:]])  # the options after MODEL -o OUT
                found = run_case(f"  {label} {atoms} atoms", argv, args.cap_gb, args.timeout)
                rows.append({"atoms": atoms, "command": label, **found})
                for made in out.glob("*.mrc"):
                    made.unlink()
            model.unlink()
    print(f"\nload average (1 min) {load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end\n")
    print("| atoms | command | exit | wall | CPU s | peak RSS (GiB) |\n|---:|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['atoms']:,} | {row['command']} | {row['exit']} | {row['wall']} | {row['cpu_s']:.0f} | "
            f"{row['rss_gib']:.2f} |"
        )


if __name__ == "__main__":
    main()
