"""Whole-pipeline generation time (structure -> map, as ``s2m generate``) at the paper's sizes (run by hand).

The paper (section 4.4, Figure 7) reports about 14 s for 644 residues, 20 s for 2,501 and 53 s for 12,868 on a
32-core CPU. Structures of exactly those residue counts are made from a real model (../shared/data 0093_6GYN,
protein only) by translated copies on a grid (:func:`s2mlib.sim.structures.structure_of_size`) and timed with
:func:`s2mlib.study.benchmark.time_generation` (one untimed warm-up on the smallest first). Weights: ``--weights``, else
the shipped ones, else (or with ``--width``) a random generator of that width (the paper's is 32: same cost as
trained weights). On the CPU the variants of ``--cpu-variants`` are timed: fp32 in eager PyTorch (``fp32-torch``),
fp32 in OpenVINO (``fp32-openvino``, s2mlib.gan.runtime) and bf16 autocast (``bf16``; only where the CPU computes bf16
natively, unless ``--emulated-bf16``); on a CUDA machine the fp32, bf16, channels_last and bf16 + channels_last
variants. The first line names the CPU, its capability (AVX2, AVX512, +BF16, +AMX) and the thread count.

    python benchmarks/bench_generate.py                              # shipped weights, CPU, 1 thread
    python benchmarks/bench_generate.py --width 32 --threads 2 --all-cubes --sizes 644 2501
    python benchmarks/bench_generate.py --weights fast --threads 2 --devices cpu --cpu-variants fp32-openvino \
        --sizes 644 2501 12868
    ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 python benchmarks/bench_generate.py ...   # as an AVX2 CPU
    python benchmarks/bench_generate.py --weights fast --threads 2 --compile-ab --batch-size 32

``--compile-ab`` times the generator alone on random cubes, eager against torch.compile (inductor, freezing, one
batch shape), fp32 and bf16 (autocast, or the weights in bf16), interleaved so that the load of a shared machine
hits every variant alike. torch.compile does not pay on this CPU (README, Benchmarks), so generation has no
compile option.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT.parent / "shared" / "data" / "pairs" / "0093_6GYN" / "6gyn.pdb"
PAPER_SECONDS = {644: 14.0, 2501: 20.0, 12868: 53.0}  # 32-core AMD Threadripper 2950X, CPU only
CPU_VARIANTS = {  # label: (precision, runtime)
    "fp32-torch": ("fp32", "torch"),
    "fp32-openvino": ("fp32", "openvino"),
    "bf16": ("bf16", "torch"),
}
CUDA_VARIANTS = (  # label, precision, channels_last
    ("fp32", "fp32", False),
    ("bf16", "bf16", False),
    ("channels_last", "fp32", True),
    ("bf16+channels_last", "bf16", True),
)


def compile_ab(weights, batch: int, rounds: int = 3) -> None:
    """Cubes per second of the generator, eager and compiled, fp32 and bf16 (min over interleaved rounds)."""
    import copy

    import torch

    from s2mlib.gan.weights import load_generator

    g = load_generator(weights)
    x = torch.rand(batch, 1, 32, 32, 32)
    options = {"freezing": True}
    variants = {
        "eager fp32": (g, False, x),
        "eager bf16 autocast": (g, True, x),
        "compiled fp32": (torch.compile(g, dynamic=False, options=options), False, x),
        "compiled bf16 autocast": (torch.compile(copy.deepcopy(g), dynamic=False, options=options), True, x),
        "compiled bf16 weights": (
            torch.compile(copy.deepcopy(g).to(torch.bfloat16), dynamic=False, options=options),
            False,
            x.bfloat16(),
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    with torch.inference_mode():
        reference = g(x)
        for r in range(rounds + 1):  # round 0: first calls (compilation), reported apart
            for name, (module, autocast, inp) in variants.items():
                t0 = time.perf_counter()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                    out = module(inp)
                times[name].append(time.perf_counter() - t0)
                if r == 0:
                    print(
                        f"{name}: first call {times[name][0]:.1f} s, largest difference from eager fp32 "
                        f"{(out.float() - reference).abs().max().item():.1e}",
                        flush=True,
                    )
    for name, t in times.items():
        print(f"{name:24s} {batch / min(t[1:]):7.1f} cubes/s (batches of {batch}, best of {rounds})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=int, default=[644, 2501, 12868], help="residue counts")
    parser.add_argument("--model", type=Path, default=MODEL, help="the real model to tile (default: 0093's 6gyn.pdb)")
    parser.add_argument("--weights", help="generator weights: 'shipped' (default), 'fast' or a file")
    parser.add_argument("--width", type=int, help="time a random generator of this width instead of weights")
    cubes = parser.add_mutually_exclusive_group()
    cubes.add_argument(
        "--skip-empty",
        dest="skip_empty",
        action="store_true",
        default=True,
        help="do not run cubes whose input is all zero (default, as s2m generate)",
    )
    cubes.add_argument(
        "--all-cubes", dest="skip_empty", action="store_false", help="run every cube (the paper's tiling)"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (the machine is shared)")
    parser.add_argument(
        "--devices",
        nargs="+",
        choices=["cpu", "cuda"],
        default=["cpu", "cuda"],
        help="where to time (cuda only when available)",
    )
    parser.add_argument(
        "--cpu-variants",
        nargs="+",
        choices=list(CPU_VARIANTS),
        default=list(CPU_VARIANTS),
        help="CPU variants to time (bf16: autocast, skipped where emulated)",
    )
    parser.add_argument(
        "--emulated-bf16", action="store_true", help="time bf16 also where the CPU only emulates it (very slow)"
    )
    parser.add_argument("--compile-ab", action="store_true", help="time the generator eager vs compiled, then stop")
    args = parser.parse_args()

    import torch

    if args.compile_ab:
        from s2mlib.gan.weights import weights_path

        torch.set_num_threads(args.threads)
        compile_ab(weights_path(args.weights or "shipped"), args.batch_size)
        return

    sys.path.insert(0, str(ROOT))
    from timing import machine_line

    from s2mlib.gan.generate import MapGenerator
    from s2mlib.gan.model import Generator
    from s2mlib.gan.precision import bf16_native
    from s2mlib.gan.weights import DEFAULT_WEIGHTS, export_generator, load_generator, weights_path
    from s2mlib.io.atoms import read_structure
    from s2mlib.sim.structures import structure_of_size
    from s2mlib.study.benchmark import time_generation

    torch.set_num_threads(args.threads)
    print(machine_line())
    source = read_structure(args.model, remove_hetero=True)
    structures = {f"{n} res": structure_of_size(source, residues=n) for n in args.sizes}
    with tempfile.TemporaryDirectory() as tmp:
        if args.weights is None and (args.width is not None or not DEFAULT_WEIGHTS.is_file()):
            width = args.width or 32
            torch.manual_seed(0)
            weights, what = export_generator(Generator(width), Path(tmp) / "random.pt", half=False), "random"
        else:
            weights = weights_path(args.weights or "shipped")
            width, what = load_generator(weights).width, str(weights)
        print(
            f"weights {what} (width {width}); batch {args.batch_size}; "
            f"{'skip empty cubes' if args.skip_empty else 'all cubes'}; torch {torch.__version__}, "
            f"{args.threads} CPU thread(s); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
            f"model {args.model.name} ({source.n_residues} residues) tiled"
        )
        runs = []  # label, device, precision, runtime, channels_last
        if "cpu" in args.devices:
            for variant in args.cpu_variants:
                precision, runtime = CPU_VARIANTS[variant]
                if precision == "bf16" and not bf16_native(torch.device("cpu")) and not args.emulated_bf16:
                    print(f"cpu {variant}: skipped, bf16 is emulated on this CPU (--emulated-bf16 to time it anyway)")
                    continue
                runs.append((f"cpu {variant}", "cpu", precision, runtime, False))
        if "cuda" in args.devices and torch.cuda.is_available():
            runs += [("cuda " + name, "cuda", precision, "torch", cl) for name, precision, cl in CUDA_VARIANTS]
            print(f"CUDA device: {torch.cuda.get_device_name()}")
        print(
            f"{'variant':22s} {'residues':>8s} {'atoms':>7s} {'grid (x,y,z)':>13s} {'cubes run':>11s} "
            f"{'seconds':>8s} {'simulate':>8s} {'network':>8s} {'paper s':>7s}"
        )
        for label, device, precision, runtime, channels_last in runs:
            generator = MapGenerator(
                weights,
                device=device,
                batch_size=args.batch_size,
                skip_empty=args.skip_empty,
                precision=precision,
                runtime=runtime,
                channels_last=channels_last,
                progress=False,
            )
            table = time_generation(generator, structures)
            for row in table.itertuples():
                paper = PAPER_SECONDS.get(row.residues)
                print(
                    f"{label:22s} {row.residues:8d} {row.atoms:7d} {row.grid:>13s} "
                    f"{f'{row.cubes_run}/{row.cubes}':>11s} {row.seconds:8.2f} {row.simulate_s:8.2f} "
                    f"{row.network_s:8.2f} {'' if paper is None else f'{paper:.0f}':>7s}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
