"""The ``s2m`` command line: parse, call s2mlib, print. Errors print one line, no traceback, and exit 2.

Checked before any work: the output path (a map file name, not a folder, in a folder that can be written:
:func:`s2mlib.outputs.check_output`). Maps must be at least :data:`MIN_GRID` voxels along every axis for the commands
that resample them (curate, evaluate, ``--ref-map``) and the reference of ``evaluate`` at least
:data:`MIN_SSIM`. ``--json`` output is strict JSON: a score that is undefined (NaN) is ``null``, with the reason
under ``"undefined"`` (of the record holding it). Ctrl-C exits 130 and SIGTERM 143, each with one line; a file
being written is not left behind half-written or as a temporary file.

``evaluate --model`` adds the field's model-fit scores (:func:`s2mlib.metrics.field_scores`, mean SMOC) of the map
and of the reference; ``confidence`` and ``generate --confidence`` write the model with per-residue Q-scores (mapq)
or SMOC (TEMPy) in the B-factor column (:func:`scores_in_b_factors`), which ChimeraX (``color bfactor``) and
nglview (``color_scheme="bfactor"``) colour by.

Why one long module: one parser and one thin function per command (info, fetch, simulate, curate, evaluate,
confidence, generate), with the output checks and one-line error handling they share.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from .atoms import read_structure, structure_format
from .errors import S2MError, Terminated
from .io import is_map_path, read_map
from .outputs import check_output, sigterm_raises

if TYPE_CHECKING:
    import gemmi
    import pandas as pd

    from .atoms import Structure
    from .io import DensityMap

MIN_GRID = 2  # voxels per axis: trilinear resampling needs two samples along every axis
MIN_SSIM = 7  # voxels per axis of evaluate's reference: skimage SSIM's 7-voxel window (metrics.paper.ssim)
UNDEFINED = {
    "ssim": "no voxel to average over (the mask lies within SSIM's window border)",
    "default": "zero norm or zero variance: a map is constant (e.g. empty) over the voxels compared",
    "fsc_0.5_resolution": "the map-model FSC is below 0.5 from the first shell on (TEMPy reports 1000 A)",
    "q_mean": "no atom has a Q-score (no heavy atoms, or the map is constant around every atom)",
    "smoc_mean": "no residue has a SMOC",
}
SCORES = {"q": "Q-score (mapq)", "smoc": "SMOC (TEMPy)"}
RESOLUTION_NOTE = (
    "matched = the molmap resolution that correlates best with that map within 3 A of the model "
    "(s2mlib.metrics.matched_resolution)"
)


def _reason(key: str, value: float) -> str:
    """Why a score is NaN or infinite, for the ``"undefined"`` entry of strict JSON and for the table."""
    if key in UNDEFINED and key not in ("ssim", "default"):
        return UNDEFINED[key]
    if math.isinf(value):
        return "infinite"
    return UNDEFINED["ssim"] if key.endswith("ssim") else UNDEFINED["default"]


def _json_safe(record: dict) -> dict:
    """``record`` with NaN/Infinity replaced by None and the reasons under ``"undefined"`` (strict JSON); nested
    records are made safe the same way, each with its own ``"undefined"``."""
    out, reasons = {}, {}
    for key, value in record.items():
        if isinstance(value, dict):
            out[key] = _json_safe(value)
        elif isinstance(value, float) and not math.isfinite(value):
            out[key] = None
            reasons[key] = _reason(key, value)
        else:
            out[key] = value
    if reasons:
        out["undefined"] = reasons
    return out


def _print_record(record: dict, as_json: bool, width: int = 14, digits: int | None = None) -> None:
    """``record`` as strict JSON, or as ``key: value`` lines (floats to ``digits`` decimals when given)."""
    record = _json_safe(record)
    if as_json:
        print(json.dumps(record, indent=2, allow_nan=False))
        return
    reasons = record.pop("undefined", {})
    for key, value in record.items():
        if key in reasons:
            value = f"undefined ({reasons[key]})"
        elif isinstance(value, float) and digits is not None:
            value = f"{value:.{digits}f}"
        print(f"{key:>{width}}: {value}")


def _print_columns(columns: dict[str, dict], width: int = 30, cell: int = 12, digits: int = 4) -> None:
    """Records side by side, one column each (floats to ``digits`` decimals); undefined values as ``undefined``
    with their reasons listed below the table."""
    safe = {name: _json_safe(record) for name, record in columns.items()}
    reasons = {name: record.pop("undefined", {}) for name, record in safe.items()}
    print(f"{'':>{width}}  " + "  ".join(f"{name:>{cell}}" for name in safe))
    for key in dict.fromkeys(k for record in safe.values() for k in record):
        cells = []
        for name, record in safe.items():
            value = record.get(key, "")
            if key in reasons[name]:
                value = "undefined"
            elif isinstance(value, float):
                value = f"{value:.{digits}f}"
            cells.append(f"{value!s:>{cell}}")
        print(f"{key:>{width}}: " + "  ".join(cells))
    for name, why in reasons.items():
        for key, reason in why.items():
            print(f"{'':>{width}}  {key} of {name} undefined: {reason}")


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


def cmd_info(args: argparse.Namespace) -> None:
    info = _map_info(args.path) if is_map_path(args.path) else _model_info(args.path)
    _print_record(info, args.json)


def cmd_fetch(args: argparse.Namespace) -> None:
    from .data import fetch_entry

    result = fetch_entry(
        args.emdb_id, args.pdb_id, cache=args.cache, mirror=args.mirror, timeout=args.timeout, retries=args.retries
    )
    for key, value in result.items():
        print(f"{key:>10}: {value}")


def _ref_map(path: Path | None) -> object:
    return read_map(path, min_size=MIN_GRID, purpose="resampling onto its grid") if path else None


def cmd_simulate(args: argparse.Namespace) -> None:
    from .io import write_map
    from .simulate import simulate

    check_output(args.output)
    model = read_structure(args.model)
    ref = _ref_map(args.ref_map)
    density = simulate(model, args.method, args.resolution, ref_map=ref, spacing=args.spacing)
    write_map(density, args.output)
    print(
        f"{args.output}: {args.method} at {args.resolution} A, grid {density.shape_xyz} "
        f"voxel {density.voxel_size.round(3).tolist()} origin {density.origin.round(2).tolist()}"
    )


def cmd_curate(args: argparse.Namespace) -> None:
    from .curate import curate_exp_map
    from .io import write_map

    check_output(args.output)
    density = read_map(args.map, min_size=MIN_GRID, purpose="curation (trilinear resampling)")
    exp_map = curate_exp_map(
        density,
        read_structure(args.model),
        mask_radius=args.mask_radius,
        spacing=args.spacing,
        clip_negative=args.clip_negative,
    )
    write_map(exp_map, args.output)
    print(
        f"{args.output}: ExpMap grid {exp_map.shape_xyz} voxel {exp_map.voxel_size.round(3).tolist()} "
        f"origin {exp_map.origin.round(2).tolist()}"
    )


def _check_resolution(resolution: float | None) -> None:
    if resolution is not None and not (math.isfinite(resolution) and resolution > 0):
        raise ValueError(f"--resolution must be a positive number of Angstrom, got {resolution:g}")


def _check_csv_output(path: Path) -> Path:
    """Refuse a per-residue table name that is not ``.csv`` or cannot be written, before the work."""
    if not path.name.lower().endswith(".csv"):
        raise S2MError(f"{path}: not a CSV file name: the per-residue table is written as .csv")
    return check_output(path, suffixes=None)


def _check_model_output(path: Path) -> Path:
    """Refuse a model name that is not PDB/mmCIF (:func:`s2mlib.atoms.structure_format`) or cannot be written."""
    structure_format(path)
    return check_output(path, suffixes=None)


def _resolution_for(density: DensityMap, structure: Structure, resolution: float | None) -> dict:
    """``resolution`` and where it came from: given, else :func:`s2mlib.metrics.matched_resolution` (and its CC)."""
    if resolution is not None:
        return {"resolution": float(resolution), "resolution_source": "--resolution"}
    from .metrics import matched_resolution

    matched, cc = matched_resolution(density, structure)
    return {"resolution": float(matched), "resolution_source": "matched", "matched_cc": float(cc)}


def model_fit_scores(
    density: DensityMap, structure: Structure, resolution: float | None, *, per_residue: bool = False
) -> tuple[dict, pd.DataFrame | None]:
    """The field's scores of one map against the model: resolution used (given or matched), Phenix CC_mask, CC_box,
    CC_volume, CC_peaks, map-model FSC 0.5 resolution, mean Q (:func:`s2mlib.metrics.field_scores`) and the mean
    of TEMPy's per-residue SMOC; with ``per_residue`` also :func:`s2mlib.metrics.per_residue_scores` (else None).
    The FSC resolution of a constant map is NaN (its FSC is 0/0), not TEMPy's 0 for a curve that never crosses.
    """
    from .metrics import field_scores, per_residue_scores, residue_smoc

    fit = _resolution_for(density, structure, resolution)
    fit.update(field_scores(density, structure, fit["resolution"]))
    if float(density.data.max()) == float(density.data.min()):  # FSC 0/0 (TEMPy's rule would report 0: no crossing)
        fit["fsc_0.5_resolution"] = math.nan
    table = per_residue_scores(density, structure, fit["resolution"]) if per_residue else None
    smoc = (
        table.drop_duplicates(["chain", "residue_number"])["smoc"]
        if per_residue
        else residue_smoc(density, structure, fit["resolution"])["smoc"]
    )  # SMOC merges insertion codes
    fit["smoc_mean"] = float(smoc.mean()) if len(smoc) else math.nan
    return fit, table


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .metrics import evaluate
    from .outputs import atomic_write

    for option, value in (("--per-residue", args.per_residue), ("--resolution", args.resolution)):
        if value is not None and not args.model:
            raise S2MError(f"{option} needs --model MODEL: the model-fit scores are of the maps against a model")
    _check_resolution(args.resolution)
    if args.per_residue:
        _check_csv_output(args.per_residue)
    model = read_structure(args.model) if args.model else None
    scored = read_map(args.map, min_size=MIN_GRID, purpose="scoring (trilinear resampling onto the reference)")
    reference = read_map(
        args.ref, min_size=MIN_SSIM, purpose=f"the reference of evaluate (SSIM's {MIN_SSIM}-voxel window)"
    )
    scores = evaluate(scored, reference, model, contour_fraction=args.contour_fraction)
    if model is None:
        _print_record(scores, args.json, width=30, digits=4)
        return
    fits, tables = {}, {}
    for name, density in (("map", scored), ("ref", reference)):
        fits[name], tables[name] = model_fit_scores(density, model, args.resolution, per_residue=bool(args.per_residue))
    if args.per_residue:
        keys = ["chain", "residue_number", "insertion_code", "residue_name"]
        table = tables["map"].merge(
            tables["ref"].rename(columns={"q": "q_ref", "smoc": "smoc_ref"}), on=keys, how="left", validate="one_to_one"
        )
        atomic_write(lambda tmp: table.to_csv(tmp, index=False), args.per_residue)
    if args.json:
        _print_record({**scores, "model_fit": {"model": str(args.model), **fits}}, True)
    else:
        _print_record(scores, False, width=30, digits=4)
        print(
            f"\nmodel fit against {args.model} (map = {args.map}, ref = {args.ref}; resolution: "
            f"{'given by --resolution' if args.resolution is not None else RESOLUTION_NOTE})"
        )
        _print_columns(fits)
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
    from .atoms import write_structure
    from .metrics import atom_qscores, residue_qscores, residue_smoc

    at = ""
    if score == "q":
        table = residue_qscores(structure, atom_qscores(density, structure))
    else:
        used = _resolution_for(density, structure, resolution)
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


def cmd_confidence(args: argparse.Namespace) -> None:
    _check_resolution(args.resolution)
    _check_model_output(args.output)
    if args.resolution is not None and args.score == "q":
        warnings.warn("--resolution is not used by the Q-score (only by --score smoc)", stacklevel=1)
    model = read_structure(args.model)
    density = read_map(args.map, min_size=MIN_GRID, purpose="scoring (trilinear interpolation at the atoms)")
    print(write_confidence(density, model, args.output, args.score, args.resolution))


def cmd_generate(args: argparse.Namespace) -> None:
    from .generate import MapGenerator
    from .io import write_map

    check_output(args.output)
    if args.confidence:
        _check_model_output(args.confidence)
    generator = MapGenerator(
        args.weights,
        device=args.device,
        batch_size=args.batch_size,
        skip_empty=not args.all_cubes,
        bf16=args.bf16,
        resolution=args.resolution,
        b_factors=args.b_factors,
    )
    ref = _ref_map(args.ref_map)
    resolution, source = None, ("asked" if args.resolution is not None else "default")
    if args.resolution is None and args.ref_map and generator.uses_resolution:
        from .data import reported_resolution

        found = reported_resolution(args.ref_map)
        if found is not None:
            resolution, source = found[0], f"reported in {found[1]}"
    model = read_structure(args.model)
    density = generator(model, ref_map=ref, resolution=resolution)
    write_map(density, args.output)
    at = "" if generator.last_resolution is None else f" at {generator.last_resolution:g} A ({source})"
    print(
        f"{args.output}: grid {density.shape_xyz} voxel {density.voxel_size.round(3).tolist()} "
        f"origin {density.origin.round(2).tolist()}{at} in {generator.last_timing['total_s']:.1f} s "
        f"on {generator.device}"
    )
    if args.confidence:
        print(
            write_confidence(
                density,
                model,
                args.confidence,
                args.confidence_score,
                generator.last_resolution,
                "the generation resolution",
            )
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s2m", description="struc2map: cryo-EM-like density maps from atomic structures."
    )
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
    from .data import DEFAULT_RETRIES, DEFAULT_TIMEOUT

    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds without an answer (connecting, or between two reads) before an attempt fails "
        f"(default {DEFAULT_TIMEOUT:g})",
    )
    p.add_argument(
        "--retries",
        type=int,
        default=DEFAULT_RETRIES,
        help=f"further attempts per file after a failed one, 1, 2, 4 ... s apart (default {DEFAULT_RETRIES})",
    )
    p.set_defaults(func=cmd_fetch)

    from .simulate import METHODS

    p = sub.add_parser("simulate", help="simulate a density map from a model (molmap, e2pdb2mrc, blurrer, gemmi)")
    p.add_argument("model", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="output map (.mrc, .map, .ccp4, .rec, + .gz)")
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
    p.set_defaults(func=cmd_evaluate)

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
    p.set_defaults(func=cmd_confidence)

    p = sub.add_parser("generate", help="generate an experimental-like map from a model with the GAN")
    p.add_argument("model", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True)
    p.add_argument(
        "--weights",
        default=None,
        help="generator weights: 'fast' (default: width 8, resolution-conditioned, B-factor input; the best on the "
        "validation entries) or 'shipped' (the paper's unconditioned network, width 32, about 6x slower on a CPU), "
        "or a file written by python -m s2mlib.train / tools/train_weights.py",
    )
    p.add_argument("--ref-map", type=Path, help="resample the result onto this map's grid")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--all-cubes", action="store_true", help="run every cube, empty ones too (the paper's tiling)")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (for GPUs)")
    p.add_argument(
        "--resolution",
        type=float,
        default=None,
        help="target resolution in A (resolution-conditioned weights only; default: the resolution the EMDB "
        "header beside --ref-map reports (emd-XXXX-v30.xml), else 3.5)",
    )
    p.add_argument(
        "--b-factors",
        default="auto",
        choices=["auto", "b", "plddt", "none"],
        help="what the model's B-factor column holds, for weights with the B-factor input (default: auto, "
        "pLDDT recognised in AlphaFold-style files)",
    )
    p.add_argument(
        "--confidence",
        type=Path,
        metavar="OUT.pdb",
        help="also write the model with each residue's score in the generated map in the B-factor column "
        "(as s2m confidence; .pdb, .ent, .cif, .mmcif, + .gz)",
    )
    p.add_argument(
        "--confidence-score",
        choices=sorted(SCORES),
        default="q",
        help="the score of --confidence: q (default) or smoc (at the generation resolution of "
        "resolution-conditioned weights, else the map's matched resolution)",
    )
    p.set_defaults(func=cmd_generate)
    return parser


def _error_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, S2MError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return str(exc)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command = f"s2m {args.command}"

    def one_line_warning(message, category, filename, lineno, file=None, line=None):
        print(f"{command}: warning: {message}", file=sys.stderr)

    with sigterm_raises(), warnings.catch_warnings():
        warnings.showwarning = one_line_warning
        try:
            args.func(args)
        except (S2MError, ValueError, OSError) as exc:
            print(f"{command}: error: {_error_line(exc)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"{command}: interrupted", file=sys.stderr)
            return 130
        except Terminated:
            print(f"{command}: terminated", file=sys.stderr)
            return 143
    return 0


if __name__ == "__main__":
    sys.exit(main())
