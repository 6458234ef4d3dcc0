"""The ``s2m`` command line: parse, call s2mlib, print. Errors print one line, no traceback, and exit 2.

Checked before any work: the output path (a map file name, not a folder, in a folder that can be written:
:func:`s2mlib.io.check_output`). Maps must be at least :data:`MIN_GRID` voxels along every axis for the commands
that resample them (curate, evaluate, ``--ref-map``) and the reference of ``evaluate`` at least
:data:`MIN_SSIM`. ``--json`` output is strict JSON: a score that is undefined (NaN) is ``null``, with the reason
under ``"undefined"``. Ctrl-C exits 130 and SIGTERM 143, each with one line; a map being written is not left
behind half-written or as a temporary file.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path

from .errors import S2MError, Terminated
from .io import check_output, is_map_path, read_map, read_structure, sigterm_raises

MIN_GRID = 2  # voxels per axis: trilinear resampling needs two samples along every axis
MIN_SSIM = 7  # voxels per axis of evaluate's reference: skimage SSIM's 7-voxel window (metrics.paper.ssim)
UNDEFINED = {
    "ssim": "no voxel to average over (the mask lies within SSIM's window border)",
    "default": "zero norm or zero variance: a map is constant (e.g. empty) over the voxels compared",
}


def _json_safe(record: dict) -> dict:
    """``record`` with NaN/Infinity replaced by None and the reasons under ``"undefined"`` (strict JSON)."""
    out, reasons = {}, {}
    for key, value in record.items():
        if isinstance(value, float) and not math.isfinite(value):
            out[key] = None
            reasons[key] = UNDEFINED["ssim"] if key.endswith("ssim") else UNDEFINED["default"]
            if math.isinf(value):
                reasons[key] = "infinite"
        else:
            out[key] = value
    if reasons:
        out["undefined"] = reasons
    return out


def _print_record(record: dict, as_json: bool, width: int = 14, digits: int | None = None) -> None:
    """``record`` as strict JSON, or as ``key: value`` lines (floats to ``digits`` decimals when given)."""
    record = _json_safe(record)
    if as_json:
        print(json.dumps(record, indent=2, allow_nan=False))
        return
    reasons = record.pop("undefined", {})
    for key, value in record.items():
        if key in reasons:
            value = f"undefined ({reasons[key]})"
        elif isinstance(value, float) and digits is not None:
            value = f"{value:.{digits}f}"
        print(f"{key:>{width}}: {value}")


def _map_info(path: Path) -> dict:
    density = read_map(path)
    d = density.data
    return {
        "file": str(path), "kind": "map", "shape_xyz": list(density.shape_xyz),
        "voxel_size": density.voxel_size.round(4).tolist(), "origin": density.origin.round(4).tolist(),
        "axis_order": list(density.axis_order), "min": float(d.min()), "max": float(d.max()),
        "mean": float(d.mean()), "std": float(d.std()),
    }


def _model_info(path: Path) -> dict:
    model = read_structure(path)
    lo, hi = model.bounds()
    return {
        "file": str(path), "kind": "model", "atoms": model.n_atoms, "residues": model.n_residues,
        "chains": model.chains, "polymer_types": sorted(set(model.polymer_types.values())),
        "bounds_min": lo.round(3).tolist(), "bounds_max": hi.round(3).tolist(),
    }


def cmd_info(args: argparse.Namespace) -> None:
    info = _map_info(args.path) if is_map_path(args.path) else _model_info(args.path)
    _print_record(info, args.json)


def cmd_fetch(args: argparse.Namespace) -> None:
    from .data import fetch_entry

    result = fetch_entry(args.emdb_id, args.pdb_id, cache=args.cache, mirror=args.mirror, timeout=args.timeout,
                         retries=args.retries)
    for key, value in result.items():
        print(f"{key:>10}: {value}")


def _ref_map(path: Path | None) -> object:
    return read_map(path, min_size=MIN_GRID, purpose="resampling onto its grid") if path else None


def cmd_simulate(args: argparse.Namespace) -> None:
    from .io import write_map
    from .simulate import simulate

    check_output(args.output)
    model = read_structure(args.model)
    ref = _ref_map(args.ref_map)
    density = simulate(model, args.method, args.resolution, ref_map=ref, spacing=args.spacing)
    write_map(density, args.output)
    print(f"{args.output}: {args.method} at {args.resolution} A, grid {density.shape_xyz} "
          f"voxel {density.voxel_size.round(3).tolist()} origin {density.origin.round(2).tolist()}")


def cmd_curate(args: argparse.Namespace) -> None:
    from .curate import curate_exp_map
    from .io import write_map

    check_output(args.output)
    density = read_map(args.map, min_size=MIN_GRID, purpose="curation (trilinear resampling)")
    exp_map = curate_exp_map(density, read_structure(args.model), mask_radius=args.mask_radius,
                             spacing=args.spacing, clip_negative=args.clip_negative)
    write_map(exp_map, args.output)
    print(f"{args.output}: ExpMap grid {exp_map.shape_xyz} voxel {exp_map.voxel_size.round(3).tolist()} "
          f"origin {exp_map.origin.round(2).tolist()}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .metrics import evaluate

    model = read_structure(args.model) if args.model else None
    scored = read_map(args.map, min_size=MIN_GRID, purpose="scoring (trilinear resampling onto the reference)")
    reference = read_map(args.ref, min_size=MIN_SSIM, purpose=f"the reference of evaluate (SSIM's {MIN_SSIM}-voxel "
                                                              f"window)")
    scores = evaluate(scored, reference, model, contour_fraction=args.contour_fraction)
    _print_record(scores, args.json, width=30, digits=4)


def cmd_generate(args: argparse.Namespace) -> None:
    from .generate import MapGenerator
    from .io import write_map

    check_output(args.output)
    generator = MapGenerator(args.weights, device=args.device, batch_size=args.batch_size,
                             skip_empty=not args.all_cubes, bf16=args.bf16, resolution=args.resolution,
                             b_factors=args.b_factors)
    ref = _ref_map(args.ref_map)
    density = generator(read_structure(args.model), ref_map=ref)
    write_map(density, args.output)
    at = "" if generator.last_resolution is None else f" at {generator.last_resolution:g} A"
    print(f"{args.output}: grid {density.shape_xyz} voxel {density.voxel_size.round(3).tolist()} "
          f"origin {density.origin.round(2).tolist()}{at} in {generator.last_timing['total_s']:.1f} s "
          f"on {generator.device}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s2m",
                                     description="struc2map: cryo-EM-like density maps from atomic structures.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="describe a map (.mrc/.map/.ccp4[.gz]) or a model (.pdb/.cif[.gz])")
    p.add_argument("path", type=Path)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("fetch", help="download an EMDB map (+ header) and a PDB model into the cache")
    p.add_argument("emdb_id")
    p.add_argument("pdb_id", nargs="?")
    p.add_argument("--cache", type=Path, default=None, help="cache folder (default $S2M_CACHE or ~/.cache/struc2map)")
    p.add_argument("--mirror", default=None, help="base URL or local folder laid out like EMDB/PDB")
    from .data import DEFAULT_RETRIES, DEFAULT_TIMEOUT

    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help=f"seconds without an answer (connecting, or between two reads) before an attempt fails "
                        f"(default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--retries", type=int, default=DEFAULT_RETRIES,
                   help=f"further attempts per file after a failed one, 1, 2, 4 ... s apart "
                        f"(default {DEFAULT_RETRIES})")
    p.set_defaults(func=cmd_fetch)

    from .simulate import METHODS

    p = sub.add_parser("simulate", help="simulate a density map from a model (molmap, e2pdb2mrc, blurrer, gemmi)")
    p.add_argument("model", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="output map (.mrc, .map, .ccp4, .rec, + .gz)")
    p.add_argument("--method", choices=METHODS, default="molmap")
    p.add_argument("--resolution", type=float, default=2.0, help="resolution in Angstrom (default 2)")
    p.add_argument("--ref-map", type=Path, help="evaluate on this map's grid (origin, shape, voxel size)")
    p.add_argument("--spacing", type=float, help="grid spacing in Angstrom (default: method's own; not with --ref-map)")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("curate", help="make the paper's ExpMap: box around the model, mask, 1 A grid, min-max")
    p.add_argument("map", type=Path)
    p.add_argument("model", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--mask-radius", type=float, default=3.0, help="zero voxels farther than this from every atom (A)")
    p.add_argument("--spacing", type=float, default=1.0, help="output grid spacing (A)")
    p.add_argument("--clip-negative", action="store_true", help="set negative densities to 0 before min-max")
    p.set_defaults(func=cmd_curate)

    p = sub.add_parser("evaluate", help="SSIM, ChimeraX correlations and PCC of a map against an experimental map")
    p.add_argument("map", type=Path, help="the map to score (generated or simulated)")
    p.add_argument("--ref", type=Path, required=True,
                   help="the experimental map (ChimeraX's first map, as in the paper)")
    p.add_argument("--model", type=Path, help="the model, for scores inside 3 A of the atoms too")
    p.add_argument("--contour-fraction", type=float, default=0.01, help="fraction of reference voxels above contour")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("generate", help="generate an experimental-like map from a model with the GAN")
    p.add_argument("model", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument("--weights", default="shipped",
                   help="generator weights: 'shipped' (default; the paper's width, trained on a GPU), 'fast' (width 8, "
                        "about 6x faster on a CPU) or a file from tools/train_weights.py")
    p.add_argument("--ref-map", type=Path, help="resample the result onto this map's grid")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--all-cubes", action="store_true", help="run every cube, empty ones too (the paper's tiling)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (for GPUs)")
    p.add_argument("--resolution", type=float, default=None,
                   help="target resolution in A (resolution-conditioned weights only; default 3.5)")
    p.add_argument("--b-factors", default="auto", choices=["auto", "b", "plddt", "none"],
                   help="what the model's B-factor column holds, for weights with the B-factor input (default: auto, "
                        "pLDDT recognised in AlphaFold-style files)")
    p.set_defaults(func=cmd_generate)
    return parser


def _error_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, S2MError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return str(exc)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = f"s2m {args.command}"

    def one_line_warning(message, category, filename, lineno, file=None, line=None):
        print(f"{command}: warning: {message}", file=sys.stderr)

    with sigterm_raises(), warnings.catch_warnings():
        warnings.showwarning = one_line_warning
        try:
            args.func(args)
        except (S2MError, ValueError, OSError) as exc:
            print(f"{command}: error: {_error_line(exc)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"{command}: interrupted", file=sys.stderr)
            return 130
        except Terminated:
            print(f"{command}: terminated", file=sys.stderr)
            return 143
    return 0


if __name__ == "__main__":
    sys.exit(main())
