"""Many structures -> maps in one call: one loaded generator, resumable, sharded over processes, GPUs and nodes.

A batch is a table of jobs (:func:`jobs_from`: from model files, or from a list read by :func:`read_list`), one row
per structure: ``model``, and optionally ``resolution``, ``ref_map``, ``output`` and ``b_factors``. Each output is
named after its input (``model.cif.gz`` -> ``model.mrc``) unless the row names one, and two rows that would write
the same file are refused before any work (:func:`plan`). :func:`generate_many` then runs this process's shard of
the rows with one :class:`~s2mlib.gan.generate.MapGenerator`:

- **resumable**: an output that already exists whole is skipped (``overwrite=True`` redoes it), keeping its earlier
  summary record; outputs are written atomically, so a killed batch leaves whole maps only;
- **bad inputs do not stop it**: an unreadable model, a model without atoms, a resolution out of range is recorded
  in the summary with its one-line reason (status ``failed``) and the batch goes on;
- **summary**: ``DIR/generated.csv`` (one shard) or ``DIR/generated.part-I-of-N.csv`` (shard I of N), rewritten as
  it goes: the list's own extra columns, then :data:`SUMMARY_COLUMNS`; :func:`join_summaries` joins the parts;
- **shards** (:func:`current_shard`): ``--shard I/N`` takes every N-th row from row I; else torchrun's
  ``RANK``/``WORLD_SIZE``; else a Slurm array's ``SLURM_ARRAY_TASK_ID``/``SLURM_ARRAY_TASK_COUNT`` (both: each array
  task's torchrun processes split that task's share).

Resolution of each map (weights that use one): the row's, else ``resolution`` (``--resolution``), else the one the
EMDB header beside the row's ``ref_map`` reports, else ``default_resolution``; the summary says which.

Example:
    >>> from s2mlib.gan.generate import MapGenerator                                          # doctest: +SKIP
    >>> jobs = plan(jobs_from(models=["a.cif", "AF-P69905-F1-model_v4.pdb"]), "maps")      # doctest: +SKIP
    >>> summary = generate_many(MapGenerator("fast", progress=False), jobs, "maps")     # doctest: +SKIP
    >>> summary[["input", "output", "resolution", "status"]]                              # doctest: +SKIP
"""

from __future__ import annotations

import csv
import math
import os
import re
import time
import warnings
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from ..errors import OutputError, S2MError
from ..io.atoms import Structure, read_structure
from ..io.density import DensityMap, read_map
from ..io.download import reported_resolution
from ..io.manifest import entry_file_name
from ..io.outputs import MAP_SUFFIXES, atomic_write, check_output, ensure_not_input
from ..io.progress import tqdm
from ..sim.inputs import DEFAULT_RESOLUTION
from ..sim.structures import B_KINDS, b_factor_kind, model_notices
from .generate import MapGenerator
from .writer import is_whole, map_paths, output_name, write_maps

SUMMARY = "generated.csv"
PART_RE = re.compile(r"^generated\.part-(\d+)-of-(\d+)\.csv$")
JOB_COLUMNS = ("model", "resolution", "ref_map", "output", "b_factors")
ALIASES = {"model_file": "model", "resolution_A": "resolution", "map": "ref_map", "map_file": "ref_map"}
SUMMARY_COLUMNS = (
    "row",  # the row's place in the whole list (0-based), the order of a joined summary
    "input",
    "output",
    "residues",
    "atoms",
    "resolution",  # A; NaN for weights that take none (the paper's)
    "resolution_source",  # list, asked, reported in <header>, default
    "b_factors",  # how the B-factor column was read (b, plddt, none) for the B-factor input; '' for molmap input
    "weights",
    "precision",  # the arithmetic the network ran in (fp32, bf16: MapGenerator.precision, chosen by the hardware)
    "runtime",  # what computed the cubes (torch, openvino: MapGenerator.runtime)
    "seconds",  # structure -> map (MapGenerator.last_timing['total_s'], as Figure 7 and bench_generate time it)
    "simulate_s",
    "network_s",
    "wall_s",  # the whole row: reading, generating, writing
    "seed",  # the noise's seed of a sample map (MapGenerator(noise=True)); empty for the expected map
    "status",  # done, skipped (the output existed whole), failed
    "reason",  # why it failed, one line
    "list_rows",  # rows in the whole list, so that s2m join can tell a part whose shard did not finish
)
MIN_GRID = 2  # voxels per axis of a ref_map (trilinear resampling)
SAVE_EVERY_S = 2.0  # the summary is rewritten at most this often while the batch runs, and at the end


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (rows ``index``, ``index + count``, ...), and where it came from."""

    index: int = 0
    count: int = 1
    source: str = "one process"

    def summary(self, out_dir: str | os.PathLike) -> Path:
        """This shard's summary file: ``generated.csv`` alone, else ``generated.part-I-of-N.csv``."""
        name = SUMMARY if self.count == 1 else f"generated.part-{self.index}-of-{self.count}.csv"
        return Path(out_dir) / name


def parse_shard(text: str) -> Shard:
    """``'I/N'`` -> shard I of N (0 <= I < N).

    >>> parse_shard("1/4")
    Shard(index=1, count=4, source='--shard')
    """
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(text))
    if not match or not int(match.group(1)) < int(match.group(2)):
        raise S2MError(f"--shard {text!r}: give I/N with 0 <= I < N, e.g. 0/4")
    return Shard(int(match.group(1)), int(match.group(2)), "--shard")


def current_shard(shard: str | None = None, env: Mapping[str, str] = os.environ) -> Shard:
    """This process's shard: ``shard`` ('I/N') when given; else torchrun's ``RANK`` of ``WORLD_SIZE``, a Slurm
    array task's ``SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN`` of ``SLURM_ARRAY_TASK_COUNT``, or both (task t's
    process r is shard ``t * WORLD_SIZE + r``); else the one shard.

    >>> current_shard(env={"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "1",
    ...                    "RANK": "1", "WORLD_SIZE": "2"})
    Shard(index=5, count=8, source='Slurm array task 2 of 4, torchrun rank 1 of 2')
    """
    if shard is not None:
        return parse_shard(shard)
    index, count, sources = 0, 1, []
    if "SLURM_ARRAY_TASK_ID" in env and "SLURM_ARRAY_TASK_COUNT" in env:
        task = _whole(env, "SLURM_ARRAY_TASK_ID") - _whole(env, "SLURM_ARRAY_TASK_MIN", "0")
        tasks = _whole(env, "SLURM_ARRAY_TASK_COUNT")
        if not 0 <= task < tasks:
            raise S2MError(
                f"Slurm array task {env['SLURM_ARRAY_TASK_ID']} is not among {tasks} tasks from "
                f"{env.get('SLURM_ARRAY_TASK_MIN', '0')}: use a contiguous array (--array 0-{tasks - 1})"
            )
        index, count = task, tasks
        sources.append(f"Slurm array task {task} of {tasks}")
    world = _whole(env, "WORLD_SIZE", "1")
    if world < 1:
        raise S2MError(f"WORLD_SIZE={env['WORLD_SIZE']}: the number of torchrun processes must be at least 1")
    if world > 1:
        rank = _whole(env, "RANK", "0")
        if not 0 <= rank < world:
            raise S2MError(
                f"RANK={env.get('RANK')} is not one of the WORLD_SIZE={world} torchrun processes (0 to {world - 1}): "
                f"variables left from an earlier run? unset WORLD_SIZE and RANK"
            )
        index, count = index * world + rank, count * world
        sources.append(f"torchrun rank {rank} of {world}")
    return Shard(index, count, ", ".join(sources) or "one process")


def _whole(env: Mapping[str, str], name: str, default: str | None = None) -> int:
    """The environment variable ``name`` (torchrun's, Slurm's) as a whole number; one-line :class:`S2MError`."""
    text = env.get(name, default)
    try:
        return int(str(text).strip())
    except ValueError:
        raise S2MError(f"{name}={text!r}: not a whole number (a variable left from an earlier job? unset it)") from None


def read_list(path: str | os.PathLike) -> pd.DataFrame:
    """A batch list: a CSV or TSV table with a ``model`` column and optionally ``resolution``, ``ref_map``,
    ``output`` and ``b_factors`` (the manifest's ``model_file``, ``resolution_A``, ``map``/``map_file`` are read as
    ``model``, ``resolution``, ``ref_map``; an ``entry`` column names the output ``<entry>.mrc``). Relative model and
    ref_map paths are taken from the list's folder, relative outputs from the output folder (:func:`plan`); other
    columns are kept and carried into the summary.

    Raises :class:`S2MError` naming the file for a missing or unreadable list, no rows or no ``model`` column.
    """
    path = Path(path)
    try:
        with open(path, newline="") as fh:
            first = fh.readline()
            sep = "\t" if "\t" in first else ","
            fh.seek(0)
            rows = csv.reader(fh, delimiter=sep)
            header = next(rows, [])
            for line, fields in enumerate(rows, start=2):  # pandas would take extra fields as an index, shifted
                if fields and len(fields) != len(header):
                    raise S2MError(
                        f"{path}: line {line} has {len(fields)} fields, the header {len(header)} "
                        f"({', '.join(header)}): quote values that hold {'a tab' if sep == chr(9) else 'a comma'}"
                    )
        table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, csv.Error, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise S2MError(f"{path}: not a readable CSV/TSV list ({str(exc).splitlines()[0]})") from None
    table.columns = [ALIASES.get(c.strip(), c.strip()) for c in table.columns]
    if "model" not in table.columns:
        raise S2MError(f"{path}: no 'model' column (has: {', '.join(table.columns)})")
    if table.empty:
        raise S2MError(f"{path}: the list has no rows")
    folder = path.parent
    for column in ("model", "ref_map"):
        if column in table.columns:
            table[column] = [str(folder / v) if v.strip() else "" for v in table[column].str.strip()]
    if "entry" in table.columns and "output" not in table.columns:
        table["output"] = [f"{entry_file_name(e)}.mrc" if e.strip() else "" for e in table["entry"]]
    return table


def jobs_from(models: Iterable[str | os.PathLike] = (), table: pd.DataFrame | None = None) -> pd.DataFrame:
    """The jobs of ``models`` (files, named after themselves) or of a list ``table`` (:func:`read_list`), with
    every column of :data:`JOB_COLUMNS` ('' where not given) and the table's others."""
    jobs = table.copy() if table is not None else pd.DataFrame({"model": [str(m) for m in models]})
    if jobs.empty:
        raise S2MError("no models to generate: give MODEL files or --list TABLE")
    for column in JOB_COLUMNS:
        if column not in jobs.columns:
            jobs[column] = ""
    jobs[list(JOB_COLUMNS)] = jobs[list(JOB_COLUMNS)].fillna("").astype(str)
    return jobs.reset_index(drop=True)


def plan(
    jobs: pd.DataFrame,
    out_dir: str | os.PathLike,
    *,
    weights: str | os.PathLike | None = None,
    half_maps: bool = False,
    confine: bool = False,
) -> pd.DataFrame:
    """``jobs`` with every ``output`` an absolute, normalised map path (named after the model when empty; relative
    ones under ``out_dir``), after the checks made before any work, for one model (``s2m generate MODEL -o OUT``) as
    for many: with ``confine`` (``--out-dir``), every output lies inside ``out_dir`` (no absolute path, no ``..``
    above it); every output (and, with ``half_maps``, its half maps beside it) is a map file name in a folder that
    can be written (created if need be), no two rows write one file (paths compared normalised, symlinks resolved,
    ignoring case), and no output is an input of any row (a model or ref_map, the same file by path, symlink or hard
    link: :func:`s2mlib.io.outputs.ensure_not_input`) or the ``weights``. Raises :class:`~s2mlib.errors.OutputError`
    naming the file (and both rows for a collision)."""
    out_dir = Path(out_dir).resolve()
    jobs = jobs.copy()
    outputs = [Path(os.path.normpath(out_dir / (o or output_name(m)))) for m, o in zip(jobs["model"], jobs["output"])]
    if confine:
        for i, output in enumerate(outputs):
            if out_dir not in output.parents:
                raise OutputError(
                    f"{jobs['output'][i]}: row {i} ({jobs['model'][i]}) would write outside --out-dir {out_dir}: "
                    f"give an output inside it (a relative name, no '..' above it)"
                )
    written = [(i, path) for i, o in enumerate(outputs) for path in map_paths(o, half_maps)]
    seen: dict[str, int] = {}
    for i, output in written:
        key = str(output.resolve()).lower()
        if key in seen:
            j = seen[key]
            raise OutputError(
                f"{output}: rows {j} ({jobs['model'][j]}) and {i} ({jobs['model'][i]}) would both write this "
                f"map: give an output column (--list) or rename the models"
            )
        seen[key] = i
    checked: set[Path] = set()
    for _, output in written:
        if output.parent in checked:
            if output.is_dir() or not output.name.lower().removesuffix(".gz").endswith(MAP_SUFFIXES):
                check_output(output)  # raises the one-line reason
        else:
            check_output(output)
            checked.add(output.parent)
    inputs = _InputFiles([*jobs["model"], *jobs["ref_map"], weights])
    for _, output in written:
        inputs.refuse(output)
    jobs["output"] = [str(o) for o in outputs]
    return jobs


class _InputFiles:
    """The files a batch reads, by resolved path and by inode, so that each output is checked against all of them at
    once (as :func:`s2mlib.io.outputs.ensure_not_input` checks one against each)."""

    def __init__(self, paths: Iterable[str | os.PathLike | None]) -> None:
        self.by_path: dict[Path, str] = {}
        self.by_inode: dict[tuple[int, int], str] = {}
        for path in paths:
            if path is None or not str(path):
                continue
            self.by_path.setdefault(Path(path).resolve(), str(path))
            try:
                found = os.stat(path)
            except OSError:
                continue
            self.by_inode.setdefault((found.st_dev, found.st_ino), str(path))

    def refuse(self, output: Path) -> None:
        """Raise ensure_not_input's one line when ``output`` is one of the inputs."""
        same = self.by_path.get(output.resolve())
        if same is None:
            try:
                found = os.stat(output)
                same = self.by_inode.get((found.st_dev, found.st_ino))
            except OSError:
                pass
        if same is not None:
            ensure_not_input(output, same)


def one_line(exc: BaseException) -> str:
    """An exception as one line (an OSError with its file name)."""
    if isinstance(exc, OSError) and not isinstance(exc, S2MError) and exc.strerror:
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    if isinstance(exc, MemoryError) and not isinstance(exc, S2MError):  # numpy's: 'Unable to allocate ...'
        return f"out of memory ({str(exc).strip() or 'MemoryError'})"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _number(text: str) -> float | None:
    """A resolution cell as a float (a trailing '?' dropped), None when empty or unknown."""
    text = str(text).strip().rstrip("?").strip()
    if text.lower() in ("", "nan", "none", "na", "n/a"):
        return None
    try:
        return float(text)
    except ValueError:
        raise S2MError(f"resolution {text!r} is not a number of Angstrom") from None


def _resolution(job, generator: MapGenerator, asked: float | None, default: float) -> tuple[float | None, str]:
    """The job's target resolution and where it came from (module docstring); (None, '') for weights without."""
    if not generator.uses_resolution:
        return None, ""
    own = _number(job.resolution)
    if own is not None:
        return own, "list"
    if asked is not None:
        return float(asked), "asked"
    if job.ref_map:
        found = reported_resolution(job.ref_map)
        if found is not None:
            return found[0], f"reported in {found[1]}"
    return float(default), "default"


@contextmanager
def _b_factors(generator: MapGenerator, kind: str):
    """``generator`` reading the B-factor column as ``kind`` for one call."""
    before = generator.b_factors
    generator.b_factors = kind
    try:
        yield
    finally:
        generator.b_factors = before


def _earlier(out_dir: Path) -> dict[str, dict]:
    """Done records of earlier runs (every summary in ``out_dir``), by output path."""
    records: dict[str, dict] = {}
    for path in sorted(out_dir.glob("generated*.csv")):
        try:
            table = pd.read_csv(path)
        except (OSError, ValueError, pd.errors.ParserError):
            continue
        if {"output", "status"} <= set(table.columns):
            for rec in table[table["status"] != "failed"].to_dict("records"):
                records[str(rec["output"])] = rec
    return records


class Made(NamedTuple):
    """What :func:`generate_one` made: the summary fields, the structure, the map and the files written (half maps
    first)."""

    record: dict
    structure: Structure
    density: DensityMap
    written: list[Path]


def one_job(
    model: str | os.PathLike,
    output: str | os.PathLike,
    ref_map: str | os.PathLike | None = None,
    *,
    weights: str | os.PathLike | None = None,
    half_maps: bool = False,
):
    """The planned job of ``s2m generate MODEL -o OUT``: a batch of one row, through the same checks as many
    (:func:`plan`; a relative ``output`` from the current folder)."""
    one = jobs_from(models=[model])
    one["output"], one["ref_map"] = str(output), str(ref_map or "")
    (job,) = plan(one, Path.cwd(), weights=weights, half_maps=half_maps).itertuples()
    return job


def generate_one(
    job, generator: MapGenerator, asked: float | None = None, default: float = DEFAULT_RESOLUTION, half_maps=False
) -> Made:
    """Make and write one planned job's map (a sample map and, with ``half_maps``, its half maps beside it, when the
    generator adds noise), for ``s2m generate MODEL -o OUT`` and for every row of a batch alike: the model read (an
    NMR ensemble says its first model is used), its notices (:func:`s2mlib.sim.structures.model_notices`: no protein
    chain, a B-factor column read as pLDDT) and the generator's (a resolution beyond the trained range) given as
    warnings, each time, one line each; the files written by :func:`s2mlib.gan.writer.write_maps`. Returns them with
    the summary fields, the structure and the map (:class:`Made`)."""
    t0 = time.perf_counter()
    notices: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as notices:
            warnings.simplefilter("always")  # every row's notices, not only the first of each text
            structure = read_structure(job.model)
            ref = read_map(job.ref_map, min_size=MIN_GRID, purpose="resampling onto its grid") if job.ref_map else None
            resolution, source = _resolution(job, generator, asked, default)
            kind = job.b_factors or generator.b_factors
            if kind not in B_KINDS:
                raise S2MError(f"b_factors {kind!r} is not one of {', '.join(B_KINDS)}")
            if kind == "auto":
                kind = b_factor_kind(structure)
            for text in model_notices(structure, kind if generator.input_kind == "bfactor" else None):
                warnings.warn(text, stacklevel=2)
            mine = None if resolution is not None and resolution == generator.resolution else resolution
            with _b_factors(generator, kind):  # the generator's own resolution was checked (and said) when made
                density = generator(structure, ref_map=ref, resolution=mine)
    finally:
        with tqdm.external_write_mode():  # one line each, when the row is done or failed, above a progress bar
            for notice in notices:
                warnings.showwarning(notice.message, notice.category, notice.filename, notice.lineno)
    sample = getattr(generator, "last_sample", None)
    halves = None if sample is None or not half_maps else (sample.half_1, sample.half_2)
    written = write_maps(job.output, density if sample is None else sample.full, halves)
    timing = generator.last_timing
    record = {
        "residues": structure.n_residues,
        "atoms": structure.n_atoms,
        "resolution": math.nan if generator.last_resolution is None else generator.last_resolution,
        "resolution_source": source,
        "b_factors": kind if generator.input_kind == "bfactor" else "",
        "seconds": timing["total_s"],
        "simulate_s": timing["simulate_s"],
        "network_s": timing["network_s"],
        "wall_s": time.perf_counter() - t0,
        "seed": "" if sample is None else sample.seed,
        "status": "done",
    }
    return Made(record, structure, density, written)


def generate_many(
    generator: MapGenerator,
    jobs: pd.DataFrame,
    out_dir: str | os.PathLike,
    *,
    shard: Shard = Shard(),
    overwrite: bool = False,
    resolution: float | None = None,
    default_resolution: float = DEFAULT_RESOLUTION,
    half_maps: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Generate this ``shard``'s rows of ``jobs`` (planned by :func:`plan`) with ``generator`` and return its
    summary, also written to :meth:`Shard.summary` as it goes (module docstring). ``resolution``: the target
    resolution of rows without their own; ``half_maps``: write a sample map's half maps too. Failed rows have
    status ``failed`` and a one-line ``reason``; a row whose output exists whole is ``skipped`` unless
    ``overwrite``. Ctrl-C / SIGTERM stop it with the summary of the rows finished so far written."""
    out_dir = Path(out_dir)
    summary_path = shard.summary(out_dir)
    mine = jobs.iloc[shard.index :: shard.count]
    extra = [c for c in jobs.columns if c not in JOB_COLUMNS and c not in SUMMARY_COLUMNS]
    earlier = {} if overwrite else _earlier(out_dir)
    made_by = {"weights": str(generator.weights), "precision": generator.precision, "runtime": generator.runtime}
    rows: list[dict] = []
    saved = time.monotonic()

    def save() -> pd.DataFrame:
        table = pd.DataFrame(rows, columns=[*extra, *SUMMARY_COLUMNS])
        table[["residues", "atoms"]] = table[["residues", "atoms"]].astype("Int64")
        atomic_write(lambda tmp: table.to_csv(tmp, index=False), summary_path)
        return table

    bar = tqdm(total=len(mine), desc="generate", unit="structure", disable=not progress)
    try:
        for row, rec in zip(mine.index, mine.to_dict("records")):
            job = SimpleNamespace(**{c: rec[c] for c in JOB_COLUMNS})
            record = {**{c: rec[c] for c in extra}, "row": row, "input": job.model, "output": job.output}
            record["list_rows"] = len(jobs)
            if not overwrite and all(is_whole(p) for p in map_paths(job.output, half_maps)):
                before = earlier.get(job.output, {"weights": ""})  # what made it, when an earlier summary says
                record.update(
                    {
                        k: before.get(k, np.nan)
                        for k in SUMMARY_COLUMNS
                        if k not in ("row", "input", "output", "list_rows")
                    }
                )
                record.update(status="skipped", reason="the output exists (overwrite to make it again)")
            else:
                try:
                    made = generate_one(job, generator, resolution, default_resolution, half_maps)[0]
                    record.update(made, **made_by)
                except (S2MError, ValueError, OSError, MemoryError, torch.OutOfMemoryError) as exc:
                    record.update(made_by, status="failed", reason=one_line(exc))
                    bar.write(f"{job.model}: failed: {record['reason']}")
            rows.append(record)
            bar.update()
            if time.monotonic() - saved > SAVE_EVERY_S:
                save()
                saved = time.monotonic()
    finally:
        bar.close()
        table = save()
    return table


def require_done(summary: pd.DataFrame) -> pd.DataFrame:
    """``summary`` when no row failed; else :class:`S2MError` naming each failed input and its reason (for the
    notebooks, whose later steps need every map)."""
    failed = summary[summary["status"] == "failed"]
    if len(failed):
        reasons = "; ".join(f"{row.input}: {row.reason}" for row in failed.itertuples())
        raise S2MError(f"{len(failed)} of {len(summary)} maps failed: {reasons}")
    return summary


def _read_part(path: Path) -> pd.DataFrame:
    """A summary part, or :class:`S2MError` naming it when it is not one (empty, binary, no ``row`` column)."""
    try:
        table = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise S2MError(f"{path}: not a summary part ({one_line(exc)}): remove it and rerun its shard") from None
    if not {"row", "status"} <= set(table.columns) or not pd.api.types.is_integer_dtype(table["row"]):
        raise S2MError(f"{path}: not a summary part (no whole-number 'row' and 'status' columns): remove it and rerun")
    return table


def join_summaries(out_dir: str | os.PathLike, total: int | None = None) -> pd.DataFrame:
    """Join the summary parts of a sharded batch (``generated.part-I-of-N.csv``) into ``out_dir/generated.csv``,
    rows in list order; returns it. Raises :class:`S2MError`, one line, when parts are missing, of different N or
    not summaries, when a part holds rows of another shard or a row twice (a part copied or made twice), or when rows
    are missing (a shard killed before it finished): the list's ``total`` rows, else the ``list_rows`` the parts
    recorded, must each be there once."""
    out_dir = Path(out_dir)
    parts: dict[int, dict[int, Path]] = {}
    for path in out_dir.glob("generated.part-*-of-*.csv"):
        match = PART_RE.match(path.name)
        if match:
            parts.setdefault(int(match.group(2)), {})[int(match.group(1))] = path
    if not parts:
        raise S2MError(f"{out_dir}: no summary parts (generated.part-I-of-N.csv) to join")
    if len(parts) > 1:
        raise S2MError(
            f"{out_dir}: summary parts of {' and '.join(map(str, sorted(parts)))} shards: remove the parts of the "
            f"run you do not want"
        )
    ((count, found),) = parts.items()
    missing = sorted(set(range(count)) - set(found))
    if missing:
        raise S2MError(
            f"{out_dir}: summary parts of shards {', '.join(map(str, missing))} of {count} are missing: run them "
            f"(the others' maps are kept)"
        )
    tables = [_read_part(found[i]) for i in range(count)]
    for i, table in enumerate(tables):
        foreign = sorted(int(r) for r in table["row"] if r % count != i)
        doubled = sorted(int(r) for r in table["row"][table["row"].duplicated()])
        if foreign or doubled:
            what = f"rows of another shard ({_rows(foreign)})" if foreign else f"rows twice ({_rows(doubled)})"
            raise S2MError(
                f"{found[i]}: holds {what}: a part copied or written twice; remove it and rerun shard {i}/{count}"
            )
    recorded = {int(n) for t in tables if "list_rows" in t.columns for n in t["list_rows"].dropna()}
    if total is None and len(recorded) > 1:
        raise S2MError(f"{out_dir}: the parts come from lists of {' and '.join(map(str, sorted(recorded)))} rows")
    expected = total if total is not None else next(iter(recorded), None)
    unfinished = []
    for i, table in enumerate(tables):
        rows = set(table["row"])
        mine = range(i, expected, count) if expected is not None else range(i, max(rows, default=i - count) + 1, count)
        lost = [r for r in mine if r not in rows]
        if lost:
            unfinished.append(f"shard {i} ({len(lost)} of {len(mine)} rows missing: {_rows(lost)})")
    if unfinished:
        raise S2MError(
            f"{out_dir}: not every row is there: {'; '.join(unfinished)}: run those shards again (--shard I/{count}; "
            f"the maps already made are skipped)"
        )
    table = pd.concat(tables, ignore_index=True)
    table = table.sort_values("row", kind="stable").reset_index(drop=True)
    atomic_write(lambda tmp: table.to_csv(tmp, index=False), out_dir / SUMMARY)
    return table


def _rows(rows: list[int], shown: int = 5) -> str:
    """Row numbers for a message: the first ``shown``, then how many more."""
    text = ", ".join(map(str, rows[:shown]))
    return text + (f" and {len(rows) - shown} more" if len(rows) > shown else "")


def entry_jobs(
    entries: pd.DataFrame,
    out_dir: str | os.PathLike,
    *,
    method: str = "struc2mapGAN",
) -> pd.DataFrame:
    """Planned jobs for the rows of a curation table (entry, model, exp_map[, resolution]): each entry's map at its
    reported resolution (when unknown, :func:`generate_many`'s ``default_resolution``) on its ExpMap's grid, written to
    ``out_dir/<entry>.mrc``; the columns ``entry``, ``method`` and ``path`` (the study's map table, as
    :func:`s2mlib.study.benchmark.score_maps` reads it) are carried into the summary."""
    out_dir = Path(out_dir)
    known = entries.get("resolution", pd.Series(np.nan, index=entries.index)).astype(float)
    names = [f"{entry_file_name(e)}.mrc" for e in entries["entry"]]
    jobs = pd.DataFrame(
        {
            "entry": entries["entry"].astype(str).to_numpy(),
            "method": method,
            "path": [str((out_dir / n).resolve()) for n in names],
            "model": entries["model"].astype(str).to_numpy(),
            "resolution": [repr(r) if math.isfinite(r) and r > 0 else "" for r in known],
            "ref_map": entries["exp_map"].astype(str).to_numpy(),
            "output": names,
        }
    )
    return plan(jobs_from(table=jobs), out_dir, confine=True)
