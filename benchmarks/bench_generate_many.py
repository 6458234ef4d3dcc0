"""Structures per hour with ``s2m generate --out-dir`` (s2mlib.gan.batch), and one call for 8 models against 8 calls.

Each case runs the real command in a fresh process (imports and weights load included, as a user pays them), on
``--threads`` torch threads, into a fresh folder:

- ``copies``: ``--copies`` copies (symlinks) of one ~300-residue shared model (``5778_3J5P_b``: 311 residues);
- ``test mix``: the default profile's test entries on the shared pairs (``6272_3J9S`` 507, ``2513_4CI0`` 385,
  ``5778_3J5P_b`` 311 residues), ``--mix-copies`` copies of each;
- ``8 models``: the first 8 of the copies, in one call and in 8 separate ``s2m generate MODEL -o OUT`` calls.

Besides wall-clock seconds, each case reports the CPU seconds of its processes (user + system, from
``getrusage(RUSAGE_CHILDREN)``) and, from them, structures per hour on ``--cores`` free cores (CPU seconds spread
over the cores: with ``--threads 1``, what ``--cores`` one-thread shards (``--shard I/N``) make side by side; with
``--threads 2`` an upper bound that assumes the threads scale perfectly), which stays comparable on a shared
machine where the wall clock does not (busy threads waiting for each other count as CPU time, so oversubscribed
multi-thread runs read slow).

Run by hand (never by the tests):

    python benchmarks/bench_generate_many.py --threads 2 --copies 100 --mix-copies 10 [--precision auto] \
        [--runtime auto] [--device cuda]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from timing import machine_line

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "pairs"
COPY_MODEL = SHARED / "5778_3J5P_b" / "5778_native.pdb"
TEST_MIX = [
    SHARED / "6272_3J9S" / "pdb3j9s.ent",
    SHARED / "2513_4CI0" / "2513A_native.pdb",
    SHARED / "5778_3J5P_b" / "5778_native.pdb",
]


def links(folder: Path, models: list[Path], copies: int) -> list[Path]:
    """``copies`` symlinks to each model in ``folder`` (distinct names, so distinct outputs)."""
    folder.mkdir(parents=True)
    made = []
    for k in range(copies):
        for model in models:
            link = folder / f"{model.stem}_{k:03d}{model.suffix}"
            link.symlink_to(model)
            made.append(link)
    return made


def s2m(args: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one ``s2m`` process (checked)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "s2mlib.cli", *args], check=True, env=env, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return time.perf_counter() - t0, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cores", type=int, default=2, help="free cores the CPU-time figure is for")
    parser.add_argument("--copies", type=int, default=100)
    parser.add_argument("--mix-copies", type=int, default=10)
    parser.add_argument("--weights", default="fast")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--runtime", default="auto", choices=["auto", "torch", "openvino"])
    args = parser.parse_args()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    common = ["--weights", args.weights, "--device", args.device, "--precision", args.precision]
    common += ["--runtime", args.runtime]
    work = Path(tempfile.mkdtemp(prefix="s2m_bench_many_"))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    torch.set_num_threads(args.threads)
    print(machine_line(precision=args.precision, runtime=args.runtime))
    print(f"{args.weights} weights, {args.device}, {args.threads} threads; {work}")
    print(f"load average at the start (1, 5, 15 min): {load}")
    print(f"| case | structures | wall s | per hour (wall) | CPU s | per hour on {args.cores} free cores (CPU time) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")

    def row(name: str, n: int, wall: float, cpu: float) -> None:
        free = n * 3600 * args.cores / cpu
        print(f"| {name} | {n} | {wall:.1f} | {n / wall * 3600:,.0f} | {cpu:.1f} | {free:,.0f} |")

    for name, models in (
        (f"{args.copies} copies of 5778_3J5P_b (311 residues)", links(work / "copies", [COPY_MODEL], args.copies)),
        (f"test mix (507, 385, 311 residues) x {args.mix_copies}", links(work / "mix", TEST_MIX, args.mix_copies)),
    ):
        out = work / f"out_{len(models)}_{name[:4]}"
        timed = s2m(["generate", *map(str, models), "--out-dir", str(out), *common], env)
        row(f"{name}, one call", len(models), *timed)
    eight = sorted((work / "copies").iterdir())[:8]
    one = s2m(["generate", *map(str, eight), "--out-dir", str(work / "eight_one"), *common], env)
    calls = [s2m(["generate", str(m), "-o", str(work / "sep" / f"{m.stem}.mrc"), *common], env) for m in eight]
    separate = (sum(wall for wall, _ in calls), sum(cpu for _, cpu in calls))
    row("8 copies, one call", 8, *one)
    row("8 copies, 8 separate calls", 8, *separate)
    print(f"one call / separate calls: wall {one[0] / separate[0]:.2f}, CPU {one[1] / separate[1]:.2f}")
    print(f"load average at the end (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
