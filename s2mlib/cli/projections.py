"""``s2m projections MODEL -o STACK.mrcs --pixel-size P --box N``: 2D templates for particle pickers, projections
of a model's (or a map's) template at chosen angles, with the angles in a STAR file beside the stack
(:func:`s2mlib.gan.templates.project`, :func:`s2mlib.gan.templates.write_stack`).

>>> from s2mlib.cli import main
>>> main(["projections", "model.cif", "-o", "refs.mrcs", "--pixel-size", "2", "--box", "64"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import OutputError
from ..io.outputs import check_output, ensure_not_input
from .template import add_geometry, make


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``projections`` and its options."""
    p = sub.add_parser("projections", help="2D projections of a model's template for particle pickers")
    add_geometry(p)
    p.add_argument("-o", "--output", type=Path, required=True, help="the image stack (.mrcs); STACK.star beside it")
    angles = p.add_mutually_exclusive_group()
    angles.add_argument("--angles", type=int, default=50, help="this many directions spread over the sphere, psi 0 "
                        "(default 50)")  # fmt: skip
    angles.add_argument("--angle-file", type=Path, help="RELION angles (rlnAngleRot, rlnAngleTilt, rlnAnglePsi) from "
                        "a STAR or CSV file")  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Project the template at the angles, write the stack and its STAR file, print what was written."""
    from ..gan.templates import angles_path, project, projection_angles, read_angles, rotation_matrices, write_stack

    if not args.output.name.lower().endswith(".mrcs"):
        raise OutputError(f"{args.output}: not an image stack name: projections are written as .mrcs")
    ensure_not_input(check_output(args.output, suffixes=None), args.model, args.weights, args.angle_file)
    ensure_not_input(check_output(angles_path(args.output), suffixes=None), args.model, args.angle_file)
    angles = read_angles(args.angle_file) if args.angle_file else projection_angles(args.angles)
    template, _ = make(args)
    images = project(template, rotation_matrices(angles))
    star = write_stack(images, args.pixel_size, angles, args.output)
    print(f"{args.output}: {len(images)} projections of {images.shape[-1]}^2 pixels of {args.pixel_size:g} A; {star}")
