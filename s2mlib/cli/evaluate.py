"""``s2m evaluate MAP --ref EXP_MAP [--model MODEL]``: the paper's scores of a map against an experimental map and,
with a model, the field's model-fit scores (:func:`s2mlib.metrics.model_fit_scores`) of the map and of the
reference.

>>> from s2mlib.cli import main
>>> main(["evaluate", "gen.mrc", "--ref", "emd.map", "--model", "model.cif", "--json"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import S2MError
from ..io.atoms import read_structure
from ..io.density import read_map
from .common import MIN_GRID, MIN_SSIM, check_csv_output, check_resolution, print_columns, print_record

RESOLUTION_NOTE = (
    "matched = the molmap resolution that correlates best with that map within 3 A of the model "
    "(s2mlib.metrics.matched_resolution)"
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``evaluate`` and its options."""
    p = sub.add_parser(
        "evaluate",
        help="SSIM, ChimeraX correlations and PCC of a map against an experimental map; "
        "with --model the field's model-fit scores of both",
    )
    p.add_argument("map", type=Path, help="the map to score (generated or simulated)")
    p.add_argument(
        "--ref", type=Path, required=True, help="the experimental map (ChimeraX's first map, as in the paper)"
    )
    p.add_argument(
        "--model",
        type=Path,
        help="the model: the paper's scores inside 3 A of the atoms too, and the field's model-fit scores "
        "of the map and of the reference (Phenix CC_mask/box/volume/peaks, map-model FSC 0.5 "
        "resolution, 0 when the FSC stays above 0.5 up to Nyquist, mean Q-score, mean SMOC)",
    )
    p.add_argument(
        "--resolution",
        type=float,
        default=None,
        help="resolution (A) of the model maps for the model-fit scores (default: each map's matched "
        "resolution, the molmap resolution that correlates best with it near the model)",
    )
    p.add_argument(
        "--per-residue",
        type=Path,
        metavar="OUT.csv",
        help="write per-residue Q-score and SMOC of the map (q, smoc) and of the reference (q_ref, "
        "smoc_ref); needs --model",
    )
    p.add_argument("--contour-fraction", type=float, default=0.01, help="fraction of reference voxels above contour")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Score the map (and, with a model, both maps' model fit), print the scores, write the per-residue table."""
    from ..io.outputs import atomic_write, ensure_not_input
    from ..metrics import evaluate, model_fit_scores

    for option, value in (("--per-residue", args.per_residue), ("--resolution", args.resolution)):
        if value is not None and not args.model:
            raise S2MError(f"{option} needs --model MODEL: the model-fit scores are of the maps against a model")
    check_resolution(args.resolution)
    if args.per_residue:
        ensure_not_input(check_csv_output(args.per_residue), args.map, args.ref, args.model)
    model = read_structure(args.model) if args.model else None
    scored = read_map(args.map, min_size=MIN_GRID, purpose="scoring (trilinear resampling onto the reference)")
    reference = read_map(
        args.ref, min_size=MIN_SSIM, purpose=f"the reference of evaluate (SSIM's {MIN_SSIM}-voxel window)"
    )
    scores = evaluate(scored, reference, model, contour_fraction=args.contour_fraction)
    if model is None:
        print_record(scores, args.json, width=30, digits=4)
        return
    fits, tables = {}, {}
    for name, density in (("map", scored), ("ref", reference)):
        fits[name], residues = model_fit_scores(density, model, args.resolution, per_residue=bool(args.per_residue))
        if residues is not None:
            tables[name] = residues
    if args.per_residue:
        keys = ["chain", "residue_number", "insertion_code", "residue_name"]
        table = tables["map"].merge(
            tables["ref"].rename(columns={"q": "q_ref", "smoc": "smoc_ref"}), on=keys, how="left", validate="one_to_one"
        )
        atomic_write(lambda tmp: table.to_csv(tmp, index=False), args.per_residue)
    if args.json:
        print_record({**scores, "model_fit": {"model": str(args.model), **fits}}, True)
    else:
        print_record(scores, False, width=30, digits=4)
        print(
            f"\nmodel fit against {args.model} (map = {args.map}, ref = {args.ref}; resolution: "
            f"{'given by --resolution' if args.resolution is not None else RESOLUTION_NOTE})"
        )
        print_columns(fits)
        never = [name for name, fit in fits.items() if fit["fsc_0.5_resolution"] == 0.0]
        if never:
            print(
                f"{'':>32}fsc_0.5_resolution 0 ({', '.join(never)}): the FSC stays above 0.5 up to Nyquist "
                f"(TEMPy's convention)"
            )
    if args.per_residue:
        print(
            f"{args.per_residue}: Q-score and SMOC of {len(table)} residues (q, smoc; q_ref, smoc_ref)",
            file=sys.stderr if args.json else sys.stdout,
        )
