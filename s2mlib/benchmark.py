"""The comparison study of the paper (section 4): baseline simulators against the experimental maps (Table 1,
Figures 5 and 6), the CA traces drawn over Figure 4's isosurfaces, and generation time against size (Figure 7).

Baselines (:data:`BASELINES`, paper section 4.1: "simulation-based maps ... with a resolution cutoff at 2 A",
plus molmap at each entry's reported resolution for Figure 5) are simulated on the grid of each entry's curated
ExpMap, which is also the reference every map is scored against (:func:`score_maps`, all of
:func:`s2mlib.metrics.evaluate`). :func:`summary_table` gives Table 1 (mean and median per method), beside the
paper's values when its CSV is given; :func:`resolution_fits` the lines of Figure 5.

Example:
    >>> entries = load_curation("runs/default", "test")                          # doctest: +SKIP
    >>> maps = simulate_baselines(entries, "runs/default/baselines")            # doctest: +SKIP
    >>> table1 = summary_table(score_maps(maps, entries), "table1_paper.csv")   # doctest: +SKIP
"""
from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import gemmi
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from .curate import file_stamp, safe_name
from .errors import ManifestError
from .generate import MapGenerator
from .io import Structure, structure_from_gemmi, atomic_write, read_map, read_structure, write_map
from .metrics import evaluate
from .patches import cube_corners
from .simulate import simulate

# display name -> (simulate() method, resolution in A; None: the entry's reported resolution)
BASELINES: dict[str, tuple[str, float | None]] = {
    "molmap": ("molmap", 2.0),
    "molmap (reported res.)": ("molmap", None),
    "e2pdb2mrc": ("e2pdb2mrc", 2.0),
    "StructureBlurrer": ("blurrer", 2.0),
    "gemmi": ("gemmi", 2.0),
}
TABLE1_METRICS = ("ssim", "correlation", "correlation_about_mean", "pcc")
MASKED_METRICS = tuple(f"masked_{m}" for m in TABLE1_METRICS)
# Whole-pipeline generation time reported by the paper (section 4.5; 32-core AMD Threadripper 2950X, CPU only)
PAPER_GENERATION_SECONDS = {644: 14.0, 2501: 20.0, 12868: 53.0}
TIMINGS = "timings.json"  # per-entry sidecar of simulate_baselines: what each cached map was made with, and its time
SS_COLOURS = {"helix": "hotpink", "strand": "tab:blue", "coil": "0.55"}  # Figure 4: helices pink, sheets blue
CHAIN_BREAK = 4.2  # A: consecutive CAs farther apart than this are not bonded
HELIX_I3 = (4.5, 5.6)  # A: CA(i)-CA(i+3) in an alpha helix (ideal 5.0-5.4)
STRAND_I3 = 9.0  # A: CA(i)-CA(i+3) beyond this is extended (ideal strand ~10)
TILE_GAP = 5.0  # A between the bounding boxes of neighbouring copies in tile_structure


def _require(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ManifestError(f"{what} lacks column(s) {', '.join(missing)} (has: {', '.join(map(str, table.columns))})")


def _entry_rows(entries: pd.DataFrame) -> dict[str, dict]:
    """entry -> its row, checking that each names an existing ExpMap and model file."""
    _require(entries, ("entry", "resolution", "exp_map", "model"), "entries table")
    rows = {}
    for row in entries.to_dict("records"):
        name = str(row["entry"])
        for column in ("exp_map", "model"):
            if not isinstance(row[column], str) or not row[column]:
                raise ManifestError(f"{name}: no {column} path in the entries table (only kept, curated entries "
                                    "can be compared)")
            if not Path(row[column]).is_file():
                raise ManifestError(f"{name}: {column} file not found: {row[column]}")
        rows[name] = row
    return rows


def _resolution(value, default: float) -> float:
    """The entry's reported resolution, or ``default`` when unknown (NaN, empty, None)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return float(default)
    return value if math.isfinite(value) and value > 0 else float(default)


# --------------------------------------------------------------------------------------------- baselines

def simulate_baselines(entries: pd.DataFrame, out_dir: str | os.PathLike, *, methods: Sequence[str] | None = None,
                       default_resolution: float = 3.5, progress: bool = True) -> pd.DataFrame:
    """Simulate each entry with each baseline on its ExpMap's grid, into ``out_dir/<entry>/<method>.mrc``.

    ``entries``: curation-table rows (columns entry, resolution, exp_map, model). ``methods``: keys of
    :data:`BASELINES` (default all). A reported resolution that is unknown (NaN) is replaced by
    ``default_resolution``. Maps are written atomically; ``out_dir/<entry>/timings.json`` records for each map
    the simulator, resolution, input file stamps (path, size, mtime) and simulation seconds. A map is not
    recomputed when its file exists and its record matches (cached rows keep their recorded time).

    Returns a long table: entry, method, sim_method, sim_resolution, path, seconds (the simulate() call alone),
    cached.
    """
    names = list(BASELINES) if methods is None else list(methods)
    unknown = [m for m in names if m not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; choose from {list(BASELINES)}")
    rows = _entry_rows(entries)
    out_dir = Path(out_dir)
    records = []
    for entry, row in tqdm(rows.items(), desc="baselines", unit="entry", disable=not progress):
        folder = out_dir / safe_name(entry)
        sidecar = folder / TIMINGS
        try:
            timings = json.loads(sidecar.read_text())
        except (OSError, ValueError):
            timings = {}
        stamps = [file_stamp(row["exp_map"]), file_stamp(row["model"])]
        structure = reference = None
        for name in names:
            method, resolution = BASELINES[name]
            resolution = _resolution(row["resolution"], default_resolution) if resolution is None else resolution
            path = folder / f"{safe_name(name)}.mrc"
            stamp = {"method": name, "sim_method": method, "resolution": resolution, "inputs": stamps}
            record = timings.get(name, {})
            cached = path.is_file() and {k: record.get(k) for k in stamp} == json.loads(json.dumps(stamp))
            if not cached:
                if structure is None:
                    structure, reference = read_structure(row["model"]), read_map(row["exp_map"])
                t0 = time.perf_counter()
                density = simulate(structure, method, resolution, ref_map=reference)
                seconds = time.perf_counter() - t0
                write_map(density, path)
                timings[name] = record = {**stamp, "seconds": seconds}
                atomic_write(lambda tmp: tmp.write_text(json.dumps(timings, indent=1)), sidecar)
            records.append({"entry": entry, "method": name, "sim_method": method, "sim_resolution": resolution,
                            "path": str(path), "seconds": float(record["seconds"]), "cached": cached})
    return pd.DataFrame(records, columns=["entry", "method", "sim_method", "sim_resolution", "path", "seconds",
                                          "cached"])


def score_maps(maps: pd.DataFrame, entries: pd.DataFrame, *, contour_fraction: float = 0.01, mask_radius: float = 3.0,
               progress: bool = True) -> pd.DataFrame:
    """Score every map against its entry's curated ExpMap with :func:`s2mlib.metrics.evaluate` (model-masked
    scores within ``mask_radius`` A of the entry's model included).

    ``maps``: long table entry, method, path (any grid: maps are interpolated onto the ExpMap's). Returns one row
    per map: entry, method, resolution (reported; NaN when unknown), residues (``Structure.n_residues`` of the
    model file), then every key of ``evaluate``.
    """
    _require(maps, ("entry", "method", "path"), "maps table")
    rows = _entry_rows(entries)
    unknown = sorted(set(map(str, maps["entry"])) - set(rows))
    if unknown:
        raise ManifestError(f"maps of entries not in the entries table: {', '.join(unknown)}")
    records = []
    groups = maps.groupby(maps["entry"].astype(str), sort=False)
    for entry, group in tqdm(groups, desc="scoring", unit="entry", disable=not progress):
        row = rows[entry]
        structure, reference = read_structure(row["model"]), read_map(row["exp_map"])
        resolution = _resolution(row["resolution"], math.nan)
        for method, path in zip(group["method"], group["path"]):
            scores = evaluate(read_map(path), reference, structure, mask_radius=mask_radius,
                              contour_fraction=contour_fraction)
            records.append({"entry": entry, "method": method, "resolution": resolution,
                            "residues": structure.n_residues, **scores})
    return pd.DataFrame(records)


def summary_table(scores: pd.DataFrame, paper_csv: str | os.PathLike | None = None, *,
                  masked: bool = False) -> pd.DataFrame:
    """Table 1: one row per method (in order of first appearance): n (entries), ``<metric>_mean`` and
    ``<metric>_median`` of ssim, correlation, correlation_about_mean and pcc (NaN scores left out), named as the
    paper's CSV; ``masked=True``: the same for their model-masked variants (:data:`MASKED_METRICS`).

    With ``paper_csv`` (``method`` column plus those names) the paper's values are added as ``paper_<column>``
    for the methods it lists (NaN for the others). Methods are matched by name: our ``molmap`` row is the paper's
    molmap at 2 A. The paper has no masked scores.
    """
    metrics = MASKED_METRICS if masked else TABLE1_METRICS
    _require(scores, ("entry", "method", *metrics), "scores table")
    order = list(dict.fromkeys(scores["method"]))
    grouped = scores.groupby("method")
    table = pd.DataFrame({"method": order, "n": grouped["entry"].nunique().reindex(order).to_numpy()})
    for metric in metrics:
        table[f"{metric}_mean"] = grouped[metric].mean().reindex(order).to_numpy()
        table[f"{metric}_median"] = grouped[metric].median().reindex(order).to_numpy()
    if paper_csv is not None:
        paper = pd.read_csv(paper_csv)
        if "method" not in paper.columns:
            raise ManifestError(f"{paper_csv}: no 'method' column (has: {', '.join(paper.columns)})")
        shared = [c for c in table.columns[2:] if c in paper.columns]
        values = paper.set_index("method")[shared].add_prefix("paper_")
        table = table.join(values, on="method")
    return table


def resolution_fits(scores: pd.DataFrame, metrics: Sequence[str] = ("correlation", "ssim")) -> pd.DataFrame:
    """Figure 5's lines: per method and metric, the least-squares fit metric = intercept + slope x resolution
    (``scipy.stats.linregress`` over the rows with both values). Returns method, metric, n, slope (per A),
    slope_ci95 (half-width, Student t with n - 2 degrees of freedom), intercept, r (Pearson), p (slope = 0).
    """
    from scipy import stats

    _require(scores, ("method", "resolution", *metrics), "scores table")
    rows = []
    for method in dict.fromkeys(scores["method"]):
        part = scores[scores["method"] == method]
        for metric in metrics:
            both = part[["resolution", metric]].dropna()
            row = {"method": method, "metric": metric, "n": len(both)}
            if len(both) >= 3 and both["resolution"].nunique() > 1:
                fit = stats.linregress(both["resolution"], both[metric])
                row.update(slope=fit.slope, slope_ci95=stats.t.ppf(0.975, len(both) - 2) * fit.stderr,
                           intercept=fit.intercept, r=fit.rvalue, p=fit.pvalue)
            rows.append(row)
    return pd.DataFrame(rows, columns=["method", "metric", "n", "slope", "slope_ci95", "intercept", "r", "p"])


# ---------------------------------------------------------------------------------- Figure 4: CA traces

def _annotated(structure: Structure) -> dict[tuple[str, int], str]:
    """(chain name, residue index in chain) -> 'helix' / 'strand' from the file's HELIX/SHEET records
    (mmCIF struct_conf / struct_sheet_range), through gemmi; helix wins where both apply."""
    st = structure.gemmi_structure
    spans = [("helix", h.start, h.end) for h in st.helices]
    spans += [("strand", s.start, s.end) for sheet in st.sheets for s in sheet.strands]
    chains = {}
    for chain in st[0]:
        chains.setdefault(chain.name, {str(res.seqid): i for i, res in enumerate(chain)})
    marks: dict[tuple[str, int], str] = {}
    for kind, start, end in spans:
        index = chains.get(start.chain_name, {})
        first, last = index.get(str(start.res_id.seqid)), index.get(str(end.res_id.seqid))
        if first is None or last is None or start.chain_name != end.chain_name:
            continue
        for i in range(first, last + 1):
            marks.setdefault((start.chain_name, i), kind)
    return marks


def _geometric(xyz: np.ndarray) -> np.ndarray:
    """Secondary structure of one unbroken CA run from CA(i)-CA(i+3) distances d: d in [4.5, 5.6] A marks
    residues i..i+3 helix; d > 9 A marks them strand (where not helix); the rest is coil."""
    ss = np.full(len(xyz), "coil", dtype=object)
    if len(xyz) < 4:
        return ss
    d = np.linalg.norm(xyz[3:] - xyz[:-3], axis=1)
    for kind, hit in (("helix", (d >= HELIX_I3[0]) & (d <= HELIX_I3[1])), ("strand", d > STRAND_I3)):
        for i in np.flatnonzero(hit):
            window = ss[i:i + 4]
            window[window == "coil"] = kind
    return ss


def secondary_structure(structure: Structure) -> pd.DataFrame:
    """One row per amino-acid residue with a CA: chain, residue (number), icode, name, x, y, z (CA), ss
    ('helix', 'strand' or 'coil'), source.

    ss comes from the file's HELIX/SHEET annotations when they mark any residue of the model
    (source 'annotation'); otherwise from CA geometry (source 'geometry', see :func:`_geometric`: CA(i)-CA(i+3)
    of 4.5-5.6 A is helix, > 9 A strand), applied to each run of CAs without a chain break (CA-CA > 4.2 A).
    """
    rows = []
    for chain in structure.gemmi_structure[0]:
        for i, res in enumerate(chain):
            info = gemmi.find_tabulated_residue(res.name)
            ca = res.find_atom("CA", "*", gemmi.Element("C"))
            if ca is not None and info is not None and info.is_amino_acid():
                rows.append({"chain": chain.name, "index": i, "residue": res.seqid.num, "icode": res.seqid.icode,
                             "name": res.name, "x": ca.pos.x, "y": ca.pos.y, "z": ca.pos.z})
    table = pd.DataFrame(rows, columns=["chain", "index", "residue", "icode", "name", "x", "y", "z"])
    marks = _annotated(structure)
    if any((c, i) in marks for c, i in zip(table["chain"], table["index"])):
        table["ss"] = [marks.get((c, i), "coil") for c, i in zip(table["chain"], table["index"])]
        table["source"] = "annotation"
    else:
        xyz = table[["x", "y", "z"]].to_numpy(dtype=float)
        ss = np.full(len(table), "coil", dtype=object)
        for run in _runs(table):
            ss[run] = _geometric(xyz[run])
        table["ss"] = ss
        table["source"] = "geometry"
    return table.drop(columns="index")


def _runs(table: pd.DataFrame) -> list[np.ndarray]:
    """Row indices of unbroken CA runs: same chain, consecutive CAs at most CHAIN_BREAK apart."""
    xyz = table[["x", "y", "z"]].to_numpy(dtype=float)
    chain = table["chain"].to_numpy()
    breaks = np.ones(len(table), dtype=bool)
    if len(table) > 1:
        breaks[1:] = (chain[1:] != chain[:-1]) | (np.linalg.norm(xyz[1:] - xyz[:-1], axis=1) > CHAIN_BREAK)
    starts = np.flatnonzero(breaks)
    return np.split(np.arange(len(table)), starts[1:])


def ca_trace(structure: Structure, colours: Mapping[str, str] = SS_COLOURS) -> list[tuple[np.ndarray, str]]:
    """The CA trace as ``[(xyz (n, 3), colour), ...]`` segments coloured by :func:`secondary_structure`, for
    :func:`s2mlib.plots.isosurface_grid`. A segment ends at a chain break (no line drawn across it) or where
    the secondary structure changes; there it runs on to the next segment's first CA, so the trace stays joined.
    """
    table = secondary_structure(structure)
    if table.empty:
        return []
    xyz = table[["x", "y", "z"]].to_numpy(dtype=float)
    ss = table["ss"].to_numpy()
    segments = []
    for run in _runs(table):
        change = np.flatnonzero(ss[run][1:] != ss[run][:-1]) + 1
        for part in np.split(np.arange(len(run)), change):
            stop = min(part[-1] + 2, len(run))  # include the next segment's first CA
            segments.append((xyz[run[part[0]:stop]], colours[ss[run[part[0]]]]))
    return segments


# ------------------------------------------------------------------------- Figure 7: generation timing

def tile_structure(structure: Structure, copies: int, spacing: float | None = None) -> Structure:
    """``copies`` translated copies of ``structure`` on a grid: ``ceil(copies^(1/3))`` places per axis, filled
    x first, ``spacing`` A apart (default: the model's largest bounding-box edge + 5 A, so copies never
    overlap). Copy k > 0 renames each chain to ``<name>_<k>`` and repeats the HELIX/SHEET annotations for it.

    >>> big = tile_structure(read_structure("model.pdb"), 8)   # doctest: +SKIP
    >>> big.n_atoms == 8 * small.n_atoms                        # doctest: +SKIP
    True
    """
    if int(copies) != copies or copies < 1:
        raise ValueError(f"copies must be a positive whole number, got {copies!r}")
    copies = int(copies)
    lo, hi = structure.bounds()
    extent = float((hi - lo).max())
    step = extent + TILE_GAP if spacing is None else float(spacing)
    if not step > extent:
        raise ValueError(f"{structure.path}: spacing {step:g} A must exceed the model's extent {extent:.1f} A, "
                         "else copies overlap")
    per_axis = max(1, math.ceil(round(copies ** (1 / 3), 9)))
    st = structure.gemmi_structure.clone()
    model = st[0]
    helices, sheets = structure.gemmi_structure.helices, structure.gemmi_structure.sheets
    for k in range(1, copies):
        shift = step * np.array([k % per_axis, (k // per_axis) % per_axis, k // per_axis ** 2], dtype=float)
        moved = structure.gemmi_structure[0].clone()
        moved.transform_pos_and_adp(gemmi.Transform(gemmi.Mat33(), gemmi.Vec3(*shift)))
        for chain in moved:
            chain.name = f"{chain.name}_{k}"
            model.add_chain(chain)
        for helix in helices:
            st.helices.append(helix)
            for address in (st.helices[-1].start, st.helices[-1].end):
                address.chain_name = f"{address.chain_name}_{k}"
        for sheet in sheets:
            st.sheets.append(sheet)
            st.sheets[-1].name = f"{sheet.name}_{k}"
            for strand in st.sheets[-1].strands:
                for address in (strand.start, strand.end):
                    address.chain_name = f"{address.chain_name}_{k}"
    return structure_from_gemmi(st, structure.path)


def structure_of_size(structure: Structure, *, residues: int | None = None, atoms: int | None = None,
                      spacing: float | None = None) -> Structure:
    """A real structure of a chosen size: :func:`tile_structure` with enough copies, cut to the first
    ``residues`` residues, or to the most whole residues holding at most ``atoms`` atoms (chain order; the last
    chain is partial). Give exactly one of ``residues`` / ``atoms``.
    """
    if (residues is None) == (atoms is None):
        raise ValueError("give exactly one of residues / atoms")
    want = residues if residues is not None else atoms
    if int(want) != want or want < 1:
        raise ValueError(f"the size must be a positive whole number, got {want!r}")
    have = structure.n_residues if residues is not None else structure.n_atoms
    big = tile_structure(structure, math.ceil(want / have), spacing)
    st = big.gemmi_structure
    count = 0
    for chain in st[0]:
        keep = 0
        for res in chain:
            size = 1 if residues is not None else len(res)
            if count + size > want:
                break
            count += size
            keep += 1
        for i in range(len(chain) - 1, keep - 1, -1):
            del chain[i]
    st.remove_empty_chains()
    if count == 0:
        raise ValueError(f"{structure.path}: no whole residue fits in {want} atoms")
    return structure_from_gemmi(st, structure.path)


def time_generation(generator: MapGenerator, structures: Mapping[str, Structure], *,
                    warmup: bool = True) -> pd.DataFrame:
    """Wall time of ``generator(structure)`` (the whole pipeline, structure -> map) for each structure.

    Returns name, residues, atoms, grid (nx x ny x nz at 1 A), cubes, cubes_run (those the network saw: all, or
    the non-empty ones with ``skip_empty``), seconds, simulate_s (network input), network_s (cubes and
    reassembly), device. ``warmup`` first runs the smallest structure once, untimed (first-call costs).
    """
    seen: list[int] = []
    hook = generator.network.register_forward_hook(lambda module, args, out: seen.append(int(args[0].shape[0])))
    rows = []
    try:
        if warmup and structures:
            generator(min(structures.values(), key=lambda s: s.n_atoms))
        for name, structure in structures.items():
            seen.clear()
            if generator.device.type == "cuda":
                torch.cuda.synchronize(generator.device)
            t0 = time.perf_counter()
            density = generator(structure)
            seconds = time.perf_counter() - t0
            rows.append({"name": name, "residues": structure.n_residues, "atoms": structure.n_atoms,
                         "grid": "x".join(map(str, density.shape_xyz)), "cubes": len(cube_corners(density.data.shape)),
                         "cubes_run": sum(seen), "seconds": seconds, "simulate_s": generator.last_timing["simulate_s"],
                         "network_s": generator.last_timing["network_s"], "device": str(generator.device)})
    finally:
        hook.remove()
    return pd.DataFrame(rows)
