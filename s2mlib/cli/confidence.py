"""``s2m confidence MAP MODEL -o OUT.pdb``: the model with each residue's Q-score (mapq) or SMOC (TEMPy) in the
map written in the B-factor column (:func:`scores_in_b_factors`), which ChimeraX (``color bfactor``) and nglview
(``color_scheme="bfactor"``) colour by. ``s2m generate --confidence`` uses :func:`write_confidence` too.

>>> from s2mlib.cli import main
>>> main(["confidence", "gen.mrc", "model.cif", "-o", "scored.pdb", "--score", "smoc"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from ..atoms import read_structure
from ..io import read_map
from ..outputs import ensure_not_input
from .common import MIN_GRID, SCORES, check_model_output, check_resolution
from .evaluate import resolution_for

if TYPE_CHECKING:
    import gemmi
    import pandas as pd

    from ..atoms import Structure
    from ..io import DensityMap


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
        choices=sorted(SCORES),
        default="q",
        help="q: mapq's Q-score (default; needs no resolution); smoc: TEMPy's SMOC",
    )
    p.add_argument(
        "--resolution", type=float, default=None, help="resolution (A) for SMOC (default: the map's matched resolution)"
    )
    p.set_defaults(func=run)


def scores_in_b_factors(structure: Structure, table: pd.DataFrame, column: str) -> tuple[gemmi.Structure, int]:
    """A copy of ``structure``'s gemmi model (every conformer) with each atom's B-factor set to its residue's
    ``column`` in ``table`` (0 where the residue has no finite score; anisotropic ADPs cleared, so viewers colour
    by the score); returns it and the number of residues without a score.

    Residues are matched on the table's ``chain``, ``residue_number`` and, where it has them, ``residue_name`` and
    ``insertion_code`` (left out when every code is blank, as for SMOC, which merges insertion codes).
    """
    import gemmi

    keys = [k for k in ("chain", "residue_number", "insertion_code", "residue_name") if k in table.columns]
    if "insertion_code" in keys and not table["insertion_code"].astype(str).str.strip().any():
        keys.remove("insertion_code")
    finite = table[table[column].astype(float).map(math.isfinite)]
    scores = {tuple(row[:-1]): float(row[-1]) for row in finite[keys + [column]].itertuples(index=False)}
    st = structure.gemmi_structure.clone()
    unscored = 0
    for chain in st[0]:
        for res in chain:
            fields = {
                "chain": chain.name,
                "residue_number": res.seqid.num,
                "insertion_code": res.seqid.icode.strip(),
                "residue_name": res.name,
            }
            value = scores.get(tuple(fields[k] for k in keys))
            unscored += value is None
            for atom in res:
                atom.b_iso = 0.0 if value is None else value
                atom.aniso = gemmi.SMat33f(0, 0, 0, 0, 0, 0)
    return st, unscored


def write_confidence(
    density: DensityMap,
    structure: Structure,
    path: Path,
    score: str = "q",
    resolution: float | None = None,
    resolution_source: str = "--resolution",
) -> str:
    """Score every residue of ``structure`` in ``density`` (``q``: mapq's Q, no resolution needed; ``smoc``:
    TEMPy's SMOC at ``resolution``, named by ``resolution_source``, else the matched one), write the model with
    the scores in the B-factor column (:func:`scores_in_b_factors`, :func:`s2mlib.atoms.write_structure`) and return
    a one-line summary."""
    from ..atoms import write_structure
    from ..metrics import atom_qscores, residue_qscores, residue_smoc

    at = ""
    if score == "q":
        table = residue_qscores(structure, atom_qscores(density, structure))
    else:
        used = resolution_for(density, structure, resolution)
        source = resolution_source if resolution is not None else used["resolution_source"]
        at = f" at {used['resolution']:.2f} A ({source})"
        table = residue_smoc(density, structure, used["resolution"]).drop(columns="residue_name")
    st, unscored = scores_in_b_factors(structure, table, score)
    write_structure(st, path)
    values = table[score].astype(float)
    values = values[values.map(math.isfinite)]
    spread = f"mean {values.mean():.3f}, min {values.min():.3f}, max {values.max():.3f}" if len(values) else "none"
    n_residues = sum(len(chain) for chain in st[0])
    return (
        f"{path}: {SCORES[score]}{at} of each residue in the B-factor column ({n_residues - unscored} of "
        f"{n_residues} residues scored: {spread}; {unscored} without a score set to 0)"
    )


def run(args: argparse.Namespace) -> None:
    """Score the model in the map and write it with the scores."""
    check_resolution(args.resolution)
    ensure_not_input(check_model_output(args.output), args.map, args.model)
    if args.resolution is not None and args.score == "q":
        warnings.warn("--resolution is not used by the Q-score (only by --score smoc)", stacklevel=1)
    model = read_structure(args.model)
    density = read_map(args.map, min_size=MIN_GRID, purpose="scoring (trilinear interpolation at the atoms)")
    print(write_confidence(density, model, args.output, args.score, args.resolution))
