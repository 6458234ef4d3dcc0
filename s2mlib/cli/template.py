"""``s2m template MODEL -o TEMPLATE.mrc --pixel-size P``: a template for template matching from a model (the GAN's
expected or sample map, or a simulator's) or from a map, at a tomogram's pixel size and box, with CTF, low-pass,
inverted contrast and a mask (:mod:`s2mlib.gan.templates`).

>>> from s2mlib.cli import main
>>> main(["template", "model.cif", "-o", "t.mrc", "--pixel-size", "5", "--ctf", "3", "--invert"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..io.density import is_map_path
from ..io.outputs import check_output, ensure_not_input
from .common import check_resolution


def add_geometry(p: argparse.ArgumentParser) -> None:
    """The options ``template`` and ``projections`` share: the model, pixel size, box, resolution, CTF, contrast,
    the source map's method and the GAN's weights and seed."""
    from ..gan.templates import METHODS

    p.add_argument("model", type=Path, help="a model (PDB/mmCIF) or a map (.mrc, .map, ...) to make the template of")
    p.add_argument("--pixel-size", type=float, required=True, help="pixel size of the output in A")
    p.add_argument("--box", type=int, help="box in pixels (default: the smallest odd box holding the model with R to "
                   "spare)")  # fmt: skip
    p.add_argument("--resolution", type=float, help="low-pass resolution R in A, at least 2 x pixel size (default 2 x "
                   "pixel size); the model's map is made at R")  # fmt: skip
    p.add_argument("--ctf", type=float, metavar="DEFOCUS_UM", help="apply the CTF of this defocus (um, positive "
                   "underfocus)")  # fmt: skip
    p.add_argument("--voltage", type=float, default=300.0, help="CTF voltage in kV (default 300)")
    p.add_argument("--cs", type=float, default=2.7, help="CTF spherical aberration in mm (default 2.7)")
    p.add_argument("--amplitude-contrast", type=float, default=0.07, help="CTF amplitude contrast (default 0.07)")
    p.add_argument("--invert", action="store_true", help="invert the contrast (a raw tomogram shows protein dark)")
    p.add_argument("--method", choices=METHODS, default="gan", help="the model's map: gan (expected, default), "
                   "gan-sample (with noise) or a simulator")  # fmt: skip
    p.add_argument("--weights", default=None, help="generator weights for gan and gan-sample (default 'fast')")
    p.add_argument("--seed", type=int, default=0, help="the noise seed of gan-sample (default 0)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``template`` and its options."""
    p = sub.add_parser("template", help="a template for template matching from a model or a map")
    add_geometry(p)
    p.add_argument("-o", "--output", type=Path, required=True, help="the template (.mrc, .map, .ccp4, .rec, + .gz)")
    p.add_argument("--mask", type=Path, metavar="MASK.mrc", help="also write a mask on the template's grid")
    p.add_argument("--mask-shape", choices=["sphere", "shape"], default="sphere", help="the mask: a sphere "
                   "holding the template (default) or its shape grown by 2 pixels; soft edge 2 pixels")  # fmt: skip
    p.set_defaults(func=run)


def make(args: argparse.Namespace):
    """The template ``args`` ask for (a :class:`~s2mlib.io.density.DensityMap`) and the radius (A) its particle
    spans."""
    import numpy as np

    from ..gan.templates import CtfParams, make_template, model_centre, support_radius, template_from_model
    from ..io.atoms import read_structure
    from ..io.density import read_map

    check_resolution(args.resolution)
    ctf_params = None
    if args.ctf is not None:
        ctf_params = CtfParams(args.ctf, args.voltage, args.cs, args.amplitude_contrast)
    common = {"resolution": args.resolution, "ctf_params": ctf_params, "invert": args.invert}
    if is_map_path(args.model):
        density = read_map(args.model, min_size=2, purpose="resampling into a template")
        template = make_template(density, args.pixel_size, args.box, **common)
        middle = density.index_to_world([(np.array(density.shape_xyz) - 1) / 2.0])[0]
        return template, support_radius(density, middle)
    structure = read_structure(args.model)
    generator = None
    if args.method in ("gan", "gan-sample"):
        from ..gan.generate import MapGenerator

        generator = MapGenerator(args.weights, device="cpu", precision="fp32", progress=False)  # small: fp32 on any CPU
    template = template_from_model(
        structure, args.method, args.pixel_size, args.box, generator=generator, seed=args.seed, **common
    )
    radius = float(np.linalg.norm(structure.xyz - model_centre(structure), axis=1).max())
    return template, radius


def run(args: argparse.Namespace) -> None:
    """Make the template, write it (and its mask) and print its grid."""
    from ..gan.templates import shape_mask, spherical_mask
    from ..io.density import DensityMap, write_map

    ensure_not_input(check_output(args.output), args.model, args.weights)
    if args.mask:
        ensure_not_input(check_output(args.mask), args.model, args.weights, args.output)
    template, radius = make(args)
    write_map(template, args.output)
    box = template.data.shape[0]
    print(
        f"{args.output}: {args.method if not is_map_path(args.model) else 'map'} template, {box}^3 pixels of "
        f"{args.pixel_size:g} A, origin {template.origin.round(2).tolist()} (centre at pixel {box // 2})"
    )
    if args.mask:
        if args.mask_shape == "sphere":
            data = spherical_mask(box, min(radius / args.pixel_size + 1.0, box // 2 - 2.0))
        else:
            data = shape_mask(template)
        write_map(DensityMap(data, template.origin, template.voxel_size), args.mask)
        print(f"{args.mask}: {args.mask_shape} mask")
