"""``s2m info MAP_OR_MODEL [--json]``: shape, voxel size, origin, axis order and statistics of a map, or atoms,
residues, chains and bounds of a model.

>>> from s2mlib.cli import main
>>> main(["info", "tests/data/pairs/emd_0001.mrc"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..io.atoms import read_structure
from ..io.density import is_map_path, read_map
from .common import print_record


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``info`` and its options."""
    p = sub.add_parser("info", help="describe a map (.mrc/.map/.ccp4[.gz]) or a model (.pdb/.cif[.gz])")
    p.add_argument("path", type=Path)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def _map_info(path: Path) -> dict:
    density = read_map(path)
    d = density.data
    return {
        "file": str(path),
        "kind": "map",
        "shape_xyz": list(density.shape_xyz),
        "voxel_size": density.voxel_size.round(4).tolist(),
        "origin": density.origin.round(4).tolist(),
        "axis_order": list(density.axis_order),
        "min": float(d.min()),
        "max": float(d.max()),
        "mean": float(d.mean()),
        "std": float(d.std()),
    }


def _model_info(path: Path) -> dict:
    model = read_structure(path)
    lo, hi = model.bounds()
    return {
        "file": str(path),
        "kind": "model",
        "atoms": model.n_atoms,
        "residues": model.n_residues,
        "chains": model.chains,
        "polymer_types": sorted(set(model.polymer_types.values())),
        "bounds_min": lo.round(3).tolist(),
        "bounds_max": hi.round(3).tolist(),
    }


def run(args: argparse.Namespace) -> None:
    """Print the description of ``args.path``."""
    info = _map_info(args.path) if is_map_path(args.path) else _model_info(args.path)
    print_record(info, args.json)
