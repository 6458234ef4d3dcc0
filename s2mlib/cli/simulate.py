"""``s2m simulate MODEL -o OUT.mrc``: a baseline density map of a model (molmap, e2pdb2mrc, blurrer, gemmi).

>>> from s2mlib.cli import main
>>> main(["simulate", "model.cif", "-o", "sim.mrc", "--method", "gemmi", "--resolution", "4"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ..io.atoms import read_structure
from ..io.outputs import check_output, ensure_not_input
from .common import ref_map


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``simulate`` and its options."""
    from ..sim.simulate import METHODS

    p = sub.add_parser("simulate", help="simulate a density map from a model (molmap, e2pdb2mrc, blurrer, gemmi)")
    p.add_argument("model", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="output map (.mrc, .map, .ccp4, .rec, + .gz)")
    p.add_argument("--method", choices=METHODS, default="molmap")
    p.add_argument("--resolution", type=float, default=2.0, help="resolution in Angstrom (default 2)")
    p.add_argument("--ref-map", type=Path, help="evaluate on this map's grid (origin, shape, voxel size)")
    p.add_argument("--spacing", type=float, help="grid spacing in Angstrom (default: method's own; not with --ref-map)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Simulate the map, write it and print its grid. A grid too big to hold whole
    (:func:`s2mlib.sim.simulate.blockwise`) is simulated and written slab by slab
    (:func:`s2mlib.sim.simulate.simulate_slabs`), its disk space checked first."""
    from ..io.density import write_map, write_map_slabs
    from ..io.memory import grid_bytes, require_disk
    from ..sim.simulate import BLOCKWISE, blockwise, grid_text, simulate, simulate_slabs

    if args.spacing is not None and args.spacing > args.resolution / 2:  # NaN and <= 0: the simulators' own line
        raise InputError(
            f"--spacing {args.spacing:g} A is coarser than half the resolution {args.resolution:g} A: such a grid "
            f"cannot hold the map (its Nyquist limit, twice the spacing, is above the resolution); give at most "
            f"{args.resolution / 2:g}"
        )
    ensure_not_input(check_output(args.output), args.model, args.ref_map)
    model = read_structure(args.model)
    ref = ref_map(args.ref_map)
    grid = None
    if args.method in BLOCKWISE:
        grid, parts = simulate_slabs(model, args.method, args.resolution, ref_map=ref, spacing=args.spacing)
    if grid is not None and blockwise(grid, args.method):
        copies = 2 if args.output.suffix == ".gz" else 1  # a .gz map is compressed from a whole temporary file
        require_disk(
            copies * grid_bytes(grid.shape_xyz),
            args.output.resolve().parent,
            f"{grid_text(model, args.method, grid.shape_xyz, grid.voxel_size)}, written slab by slab,",
        )
        write_map_slabs(grid, parts, args.output)
        density = grid
    else:
        density = simulate(model, args.method, args.resolution, ref_map=ref, spacing=args.spacing)
        write_map(density, args.output)
    print(
        f"{args.output}: {args.method} at {args.resolution} A, grid {density.shape_xyz} "
        f"voxel {density.voxel_size.round(3).tolist()} origin {density.origin.round(2).tolist()}"
    )
