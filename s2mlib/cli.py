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
