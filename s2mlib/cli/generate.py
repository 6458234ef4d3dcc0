"""``s2m generate MODEL -o OUT.mrc``: an experimental-like map of a model with the GAN
(:class:`s2mlib.gan.generate.MapGenerator`), optionally resampled onto ``--ref-map``'s grid, optionally with the
model scored in it (``--confidence``, :func:`s2mlib.metrics.write_confidence`). Many models in one call
(``MODEL ... --out-dir DIR``, ``--list TABLE``): :mod:`s2mlib.cli.batch`; both build the generator with
:func:`make_generator`. The generator's options default to :class:`~s2mlib.gan.generate.MapGenerator`'s own.

>>> from s2mlib.cli import main
>>> main(["generate", "model.cif", "-o", "gen.mrc", "--weights", "fast", "--resolution", "4"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import S2MError
from ..gan.precision import PRECISIONS
from ..gan.runtime import RUNTIMES
from ..gan.writer import half_map_paths
from ..io.outputs import ensure_not_input
from . import batch
from .common import SCORES, LibraryDefault, check_model_output, given

if TYPE_CHECKING:
    from ..gan.generate import MapGenerator

GENERATOR = "s2mlib.gan.generate.MapGenerator"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``generate`` and its options."""
    p = sub.add_parser("generate", help="generate an experimental-like map from a model with the GAN")
    p.add_argument("model", type=Path, nargs="*", metavar="MODEL", help="one model with -o, or several with --out-dir")
    p.add_argument("-o", "--output", type=Path, help="the map of one MODEL")
    p.add_argument(
        "--weights",
        default=None,
        help="generator weights: 'fast' (default: width 8, resolution-conditioned, B-factor input; the best on the "
        "validation entries) or 'shipped' (the paper's unconditioned network, width 32, slower on a CPU: README, "
        "Benchmarks), "
        "or a file written by python -m s2mlib.run.train / tools/train_weights.py",
    )
    p.add_argument("--ref-map", type=Path, help="resample the result onto this map's grid")
    p.add_argument(
        "--device",
        default=LibraryDefault(GENERATOR, "device"),
        help="auto (CUDA when present), cpu or cuda (default %(default)s)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=LibraryDefault(GENERATOR, "batch_size"),
        help="cubes per batch (default %(default)s)",
    )
    p.add_argument(
        "--all-cubes",
        dest="skip_empty",
        action="store_false",
        default=LibraryDefault(GENERATOR, "skip_empty"),
        help="run every cube, empty ones too (the paper's tiling)",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=LibraryDefault(GENERATOR, "precision"),
        help="the network's arithmetic: auto (bf16 where the CPU or GPU computes it natively, else fp32), fp32 or "
        "bf16 (default %(default)s; the choice made is printed)",
    )
    # the option of earlier releases, kept for their scripts: the same as --precision bf16
    p.add_argument("--bf16", dest="precision", action="store_const", const="bf16", help=argparse.SUPPRESS)
    p.add_argument(
        "--verbose",
        action="store_true",
        help="say which precision and runtime were chosen and why (the CPU's capability, bf16 native or emulated)",
    )
    p.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default=LibraryDefault(GENERATOR, "runtime"),
        help="what computes the cubes: auto (OpenVINO for fp32 on a CPU where installed, about 3x faster there; "
        "else PyTorch), torch or openvino (default %(default)s)",
    )
    p.add_argument(
        "--resolution",
        type=float,
        default=None,
        help="target resolution in A (resolution-conditioned weights only; default: the resolution the EMDB "
        "header beside --ref-map reports (emd-XXXX-v30.xml), else 3.5)",
    )
    p.add_argument(
        "--b-factors",
        default=LibraryDefault(GENERATOR, "b_factors"),
        choices=["auto", "b", "plddt", "none"],
        help="what the model's B-factor column holds, for weights with the B-factor input (default %(default)s; "
        "auto: pLDDT recognised in AlphaFold-style files)",
    )
    p.add_argument(
        "--confidence",
        type=Path,
        metavar="OUT.pdb",
        help="also write the model with each residue's score in the generated map in the B-factor column "
        "(as s2m confidence; .pdb, .ent, .cif, .mmcif, + .gz)",
    )
    p.add_argument(
        "--confidence-score",
        choices=SCORES,
        default="q",
        help="the score of --confidence: q (default) or smoc (at the generation resolution of "
        "resolution-conditioned weights, else the map's matched resolution)",
    )
    p.add_argument(
        "--noise",
        action="store_true",
        help="a sample map instead of the expected one: the average of two half maps whose FSC falls through "
        "0.143 at the target resolution (noise calibrated on real maps; README 'Sample maps')",
    )
    p.add_argument("--seed", type=int, help="the noise's seed, 0 to 2^32 - 1 (default: drawn, and printed)")
    p.add_argument(
        "--quality",
        type=float,
        default=LibraryDefault(GENERATOR, "quality"),
        metavar="P",
        help="how good a map at the target resolution the sample map is, as a percentile (5-95) of EMDB's maps at "
        "that resolution by mean Q-score (implies --noise; default %(default)s: a typical map; README 'Sample maps')",
    )
    p.add_argument(
        "--half-maps",
        action="store_true",
        help="also write OUT_half_map_1 and OUT_half_map_2 beside OUT (EMDB's names; implies --noise)",
    )
    batch.add_options(p)
    p.set_defaults(func=run)


def one_model(args: argparse.Namespace) -> Path:
    """The one model of ``s2m generate MODEL -o OUT``; refuses batch options without ``--out-dir``."""
    for option, value in (("--overwrite", args.overwrite), ("--shard", args.shard)):
        if value:
            raise S2MError(f"{option} is for many models: give --out-dir DIR")
    if len(args.model) != 1:
        raise S2MError(
            f"{len(args.model)} models and no --out-dir: give one MODEL with -o OUT.mrc, or --out-dir DIR for many"
        )
    if args.output is None:
        raise S2MError("give -o OUT.mrc for the map of one MODEL (or --out-dir DIR)")
    return args.model[0]


def wants_many(args: argparse.Namespace) -> bool:
    """True when ``args`` ask for a batch (``--out-dir`` or ``--list``)."""
    return args.out_dir is not None or args.list is not None


def wants_noise(args: argparse.Namespace) -> bool:
    """A sample map: ``--noise``, or ``--half-maps`` or ``--quality``, which imply it."""
    return bool(args.noise or args.half_maps or not isinstance(args.quality, LibraryDefault))


def make_generator(args: argparse.Namespace, **overrides) -> MapGenerator:
    """The :class:`s2mlib.gan.generate.MapGenerator` that ``args`` ask for (``overrides`` replace its arguments)."""
    from ..gan.generate import MapGenerator

    kwargs = {
        **given(args, "device", "batch_size", "skip_empty", "precision", "runtime", "b_factors", "quality"),
        "resolution": args.resolution,
        "noise": wants_noise(args),
        "seed": args.seed,
    }
    generator = MapGenerator(args.weights, **{**kwargs, **overrides})
    if getattr(args, "verbose", False):
        print(f"s2m generate: {choices_made(generator, str(args.precision), str(args.runtime))}", file=sys.stderr)
    return generator


def choices_made(generator: MapGenerator, precision: str, runtime: str) -> str:
    """What ``--verbose`` prints: the precision and runtime chosen for what was asked, and why.

    e.g. 'precision fp32 (asked auto) on cpu (AVX2; bf16 emulated), runtime openvino (asked auto), 2 threads'
    """
    import torch

    from ..gan.precision import device_bf16

    return (
        f"precision {generator.precision} (asked {precision}) on {device_bf16(generator.device)}, "
        f"runtime {generator.runtime} (asked {runtime}), "
        f"{torch.get_num_threads()} threads"
    )


def quality_note(sample, quality: float) -> str:
    """What the sample's sharpness came to: its envelope B and mean Q against EMDB's at the quality asked for.

    >>> from types import SimpleNamespace
    >>> quality_note(SimpleNamespace(envelope_b=42.0, sample_q=0.45, target_q=0.45), 50)
    'quality 50: B 42 A^2, mean Q 0.450 (EMDB 0.450)'
    """
    short = " (not reached: the expected map is softer)" if sample.sample_q < sample.target_q - 0.01 else ""
    return (
        f"quality {quality:g}: B {sample.envelope_b:.0f} A^2, mean Q {sample.sample_q:.3f} "
        f"(EMDB {sample.target_q:.3f}){short}"
    )


def run(args: argparse.Namespace) -> int | None:
    """Generate the map, write it and print its grid, resolution and time (and the confidence model); with
    ``--out-dir`` or ``--list``, many maps (:func:`s2mlib.cli.batch.run`, whose exit status this returns)."""
    from ..metrics import write_confidence

    if args.seed is not None and not wants_noise(args):
        raise S2MError(
            "--seed is the noise's seed: give --noise, --half-maps or --quality with it (the expected map has none)"
        )
    if wants_many(args):
        return batch.run(args, make_generator)
    from ..gan.batch import generate_one, one_job  # one model is a batch of one: the same checks and notices

    model = one_model(args)
    job = one_job(model, args.output, args.ref_map, weights=args.weights, half_maps=args.half_maps)
    if args.confidence:
        ensure_not_input(check_model_output(args.confidence), model, args.ref_map, args.weights, args.output)
    generator = make_generator(args)
    made = generate_one(job, generator, args.resolution, half_maps=args.half_maps)
    record, structure, density = made.record, made.structure, made.density
    if len(made.written) > 1:  # the half maps, named as given on the command line
        for path in half_map_paths(args.output):
            print(f"{path}: half map")
    sample = generator.last_sample
    at = (
        ""
        if generator.last_resolution is None
        else f" at {generator.last_resolution:g} A ({record['resolution_source']})"
    )
    kind = "" if sample is None else f" sample map (seed {sample.seed}, {quality_note(sample, generator.quality)})"
    print(
        f"{args.output}:{kind} grid {density.shape_xyz} voxel {density.voxel_size.round(3).tolist()} "
        f"origin {density.origin.round(2).tolist()}{at} in {generator.last_timing['total_s']:.1f} s "
        f"on {generator.device} in {generator.precision} ({generator.runtime})"
    )
    if args.confidence:
        print(
            write_confidence(
                density,
                structure,
                args.confidence,
                args.confidence_score,
                generator.last_resolution,
                "the generation resolution",
            )
        )
    return None
