"""The ``s2m`` command line: parse, call s2mlib, print. Errors in the input print one line, no traceback."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import S2MError
from .io import is_map_path, read_map, read_structure


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
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:>14}: {value}")


def cmd_fetch(args: argparse.Namespace) -> None:
    from .data import fetch_entry

    result = fetch_entry(args.emdb_id, args.pdb_id, cache=args.cache, mirror=args.mirror)
    for key, value in result.items():
        print(f"{key:>10}: {value}")


def cmd_simulate(args: argparse.Namespace) -> None:
    from .io import write_map
    from .simulate import simulate

    model = read_structure(args.model)
    ref = read_map(args.ref_map) if args.ref_map else None
    density = simulate(model, args.method, args.resolution, ref_map=ref, spacing=args.spacing)
    write_map(density, args.output)
    print(f"{args.output}: {args.method} at {args.resolution} A, grid {density.shape_xyz} "
          f"voxel {density.voxel_size.round(3).tolist()} origin {density.origin.round(2).tolist()}")


def cmd_curate(args: argparse.Namespace) -> None:
    from .curate import curate_exp_map
    from .io import write_map

    exp_map = curate_exp_map(read_map(args.map), read_structure(args.model), mask_radius=args.mask_radius,
                             spacing=args.spacing, clip_negative=args.clip_negative)
    write_map(exp_map, args.output)
    print(f"{args.output}: ExpMap grid {exp_map.shape_xyz} voxel {exp_map.voxel_size.round(3).tolist()} "
          f"origin {exp_map.origin.round(2).tolist()}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .metrics import evaluate

    model = read_structure(args.model) if args.model else None
    scores = evaluate(read_map(args.map), read_map(args.ref), model, contour_fraction=args.contour_fraction)
    if args.json:
        print(json.dumps(scores, indent=2))
    else:
        for key, value in scores.items():
            print(f"{key:>30}: {value:.4f}" if isinstance(value, float) else f"{key:>30}: {value}")


def cmd_generate(args: argparse.Namespace) -> None:
    from .generate import MapGenerator
    from .io import write_map

    generator = MapGenerator(args.weights, device=args.device, batch_size=args.batch_size,
                             skip_empty=not args.all_cubes, bf16=args.bf16)
    ref = read_map(args.ref_map) if args.ref_map else None
    density = generator(read_structure(args.model), ref_map=ref)
    write_map(density, args.output)
    print(f"{args.output}: grid {density.shape_xyz} voxel {density.voxel_size.round(3).tolist()} "
          f"origin {density.origin.round(2).tolist()} in {generator.last_timing['total_s']:.1f} s "
          f"on {generator.device}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s2m", description="struc2map: cryo-EM-like density maps from atomic structures.")
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
    p.set_defaults(func=cmd_fetch)

    from .simulate import METHODS

    p = sub.add_parser("simulate", help="simulate a density map from a model (molmap, e2pdb2mrc, blurrer, gemmi)")
    p.add_argument("model", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="output map (.mrc, .map, .mrc.gz)")
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
    p.add_argument("--ref", type=Path, required=True, help="the experimental map (ChimeraX's first map, as in the paper)")
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
    p.set_defaults(func=cmd_generate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (S2MError, ValueError) as exc:
        print(f"s2m {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"s2m {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
