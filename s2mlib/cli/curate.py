"""``s2m curate MAP MODEL -o OUT.mrc``: the paper's ExpMap (box around the model, mask, 1 A grid, min-max).

Its defaults are :class:`s2mlib.study.curate.CurationConfig`'s, as notebook 01's (the profile's) are.

>>> from s2mlib.cli import main
>>> main(["curate", "emd.map", "model.cif", "-o", "exp.mrc", "--no-clip-negative"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..io.atoms import read_structure
from ..io.density import read_map
from ..io.outputs import check_output, ensure_not_input
from .common import MIN_GRID, LibraryDefault, given

CONFIG = "s2mlib.study.curate.CurationConfig"


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``curate`` and its options."""
    p = sub.add_parser("curate", help="make the paper's ExpMap: box around the model, mask, 1 A grid, min-max")
    p.add_argument("map", type=Path)
    p.add_argument("model", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument(
        "--mask-radius",
        type=float,
        default=LibraryDefault(CONFIG, "mask_radius"),
        help="zero voxels farther than this from every atom (A; default %(default)s)",
    )
    p.add_argument(
        "--spacing",
        type=float,
        default=LibraryDefault(CONFIG, "spacing"),
        help="output grid spacing (A; default %(default)s)",
    )
    p.add_argument(
        "--clip-negative",
        action=argparse.BooleanOptionalAction,
        default=LibraryDefault(CONFIG, "clip_negative"),
        help="set negative densities to 0 before min-max, so the masked background stays 0 (README, Decisions; "
        "default %(default)s)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Curate the map, write it and print its grid."""
    from ..io.density import write_map
    from ..sim.simulate import check_inside
    from ..study.curate import CurationConfig, curate_exp_map

    config = CurationConfig(**given(args, "mask_radius", "spacing", "clip_negative"))
    ensure_not_input(check_output(args.output), args.map, args.model)
    density = read_map(args.map, min_size=MIN_GRID, purpose="curation (trilinear resampling)")
    model = read_structure(args.model)
    check_inside(model, density)  # a model partly outside the map: one warning line, the ExpMap is cut there
    exp_map = curate_exp_map(
        density,
        model,
        mask_radius=config.mask_radius,
        spacing=config.spacing,
        cushion=config.cushion,
        clip_negative=config.clip_negative,
    )
    write_map(exp_map, args.output)
    print(
        f"{args.output}: ExpMap grid {exp_map.shape_xyz} voxel {exp_map.voxel_size.round(3).tolist()} "
        f"origin {exp_map.origin.round(2).tolist()}"
    )
