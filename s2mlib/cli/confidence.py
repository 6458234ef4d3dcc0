"""``s2m confidence MAP MODEL -o OUT.pdb``: the model with each residue's Q-score (mapq) or SMOC (TEMPy) in the
map written in the B-factor column (:func:`s2mlib.metrics.write_confidence`), which ChimeraX (``color bfactor``) and
nglview (``color_scheme="bfactor"``) colour by.

>>> from s2mlib.cli import main
>>> main(["confidence", "gen.mrc", "model.cif", "-o", "scored.pdb", "--score", "smoc"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from ..io.atoms import read_structure
from ..io.density import read_map
from ..io.outputs import ensure_not_input
from .common import MIN_GRID, SCORES, check_model_output, check_resolution


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``confidence`` and its options."""
    p = sub.add_parser(
        "confidence",
        help="write the model with each residue's Q-score (or SMOC) in a map in the "
        "B-factor column, for ChimeraX / nglview to colour",
    )
    p.add_argument("map", type=Path)
    p.add_argument("model", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="output model (.pdb, .ent, .cif, .mmcif, + .gz)")
    p.add_argument(
        "--score",
        choices=SCORES,
        default="q",
        help="q: mapq's Q-score (default; needs no resolution); smoc: TEMPy's SMOC",
    )
    p.add_argument(
        "--resolution", type=float, default=None, help="resolution (A) for SMOC (default: the map's matched resolution)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Score the model in the map and write it with the scores."""
    from ..metrics import write_confidence

    check_resolution(args.resolution)
    ensure_not_input(check_model_output(args.output), args.map, args.model)
    if args.resolution is not None and args.score == "q":
        warnings.warn("--resolution is not used by the Q-score (only by --score smoc)", stacklevel=1)
    model = read_structure(args.model)
    density = read_map(args.map, min_size=MIN_GRID, purpose="scoring (trilinear interpolation at the atoms)")
    print(write_confidence(density, model, args.output, args.score, args.resolution))
