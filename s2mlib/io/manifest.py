"""Dataset manifests: tables of EMDB/PDB entries with optional local map and model files.

A manifest is a CSV or TSV table with the columns ``entry, emdb_id, pdb_id, resolution, map, model`` and an
optional ``split``. Only ``emdb_id`` and ``pdb_id`` are required; the aliases ``resolution_A``, ``map_file`` and
``model_file`` (the layout of ``../shared/data/pairs.tsv`` and of the paper's tables) are accepted. Other columns
are kept as they are. After :func:`load_manifest`:

- ``entry`` str, unique even ignoring case, and a safe file name (default ``f"{emdb_id}_{pdb_id}"``;
  :func:`entry_file_name`): curation, baselines, generation and the studies name their files after it;
- ``emdb_id`` str of at least 4 digits, leading zeros kept ('0093') and restored ('93' -> '0093', :func:`emdb_digits`);
  an ``EMD-`` prefix is dropped;
- ``pdb_id`` str, 4-character IDs upper-cased, extended ones (``pdb_00001abc``) as :func:`pdb_code` writes them, ''
  when unknown ('?'); a trailing '?' (uncertain) is dropped;
- ``resolution`` float in Angstrom, NaN for '', '?' (a trailing '?' is dropped: '3.6?' -> 3.6);
- ``map``, ``model`` absolute paths (relative ones are taken from the manifest's folder), '' when the file
  must be downloaded (see :mod:`s2mlib.io.download`);
- ``split`` 'train', 'val', 'test' or '' ('validation' is read as 'val').

Example:
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "m.csv"
    >>> _ = path.write_text("emdb_id,pdb_id,resolution_A,split\\n0310,6hz4,3.6?,validation\\n")
    >>> load_manifest(path).iloc[0].to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'entry': '0310_6HZ4', 'emdb_id': '0310', 'pdb_id': '6HZ4', 'resolution': 3.6, 'map': '', 'model': '',
     'split': 'val'}
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ManifestError
from .outputs import atomic_write

COLUMNS = ("entry", "emdb_id", "pdb_id", "resolution", "map", "model", "split")
REQUIRED = ("emdb_id", "pdb_id")
ALIASES = {"resolution_A": "resolution", "map_file": "map", "model_file": "model"}
SPLITS = ("train", "val", "test")
SPLIT_ALIASES = {"validation": "val", "valid": "val", "training": "train", "": ""}
EMDB_ID_RE = re.compile(r"^(?:EMD[-_]?)?(\d+)$", re.IGNORECASE)  # group 1: the digits ('0093', '26916', '93')
PDB_ID_RE = re.compile(r"^[1-9][A-Za-z0-9]{3}$")  # the 4-character PDB IDs
EXTENDED_PDB_ID_RE = re.compile(r"^pdb_([A-Za-z0-9]{8})$", re.IGNORECASE)  # wwPDB's 12-character IDs
_UNKNOWN = ("", "?", "nan", "none", "na", "n/a")
ENTRY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")  # a file name on every system, never '..'


def emdb_digits(text: str | int) -> str | None:
    """The digits of an EMDB ID, at least four: an ``EMD-`` prefix is dropped and shorter IDs are zero-padded as EMDB
    writes them (a spreadsheet drops the zeros: ``93`` -> ``0093``); None when ``text`` is not an EMDB ID.

    >>> emdb_digits("EMD-0093"), emdb_digits(93), emdb_digits("emd_26916"), emdb_digits("EMD-12a4")
    ('0093', '0093', '26916', None)
    """
    match = EMDB_ID_RE.match(str(text).strip())
    return f"{int(match.group(1)):04d}" if match and int(match.group(1)) else None


def pdb_code(text: str) -> str | None:
    """A PDB ID as the archive names its files: a 4-character ID upper-cased (``1ABC``); an extended ID (wwPDB's
    ``pdb_`` and eight letters or digits) lower-cased, and one that extends a 4-character ID (``pdb_00001abc``) as
    that ID; None when ``text`` is neither.

    >>> pdb_code("4v1w"), pdb_code("PDB_00004V1W"), pdb_code("pdb_1000ABCD"), pdb_code("0ABC")
    ('4V1W', '4V1W', 'pdb_1000abcd', None)
    """
    text = str(text).strip()
    extended = EXTENDED_PDB_ID_RE.match(text)
    if extended:
        code = extended.group(1).lower()
        return code[4:].upper() if code.startswith("0000") and PDB_ID_RE.match(code[4:]) else f"pdb_{code}"
    return text.upper() if PDB_ID_RE.match(text) else None


def entry_file_name(entry: str) -> str:
    """The file name stem of an entry's files (curated maps, baselines, generated maps): the entry itself, which must
    be 1-100 characters of letters, digits, '_', '.' and '-', starting with a letter or digit; anything else
    (a '/', a space, '..') raises :class:`ManifestError`, so no two entries share a file and none writes outside its
    folder. :func:`load_manifest` checks every entry with it.

    >>> entry_file_name("5778_3J5P_b")
    '5778_3J5P_b'
    """
    entry = str(entry)
    if not ENTRY_NAME_RE.match(entry):
        example = re.sub(r"[^A-Za-z0-9_.-]", "_", entry).strip("._-")[:100] or "entry_1"
        raise ManifestError(
            f"entry name {entry!r} is not a safe file name: use 1-100 letters, digits, '_', '.' or '-', "
            f"starting with a letter or digit (e.g. {example!r})"
        )
    return entry


def _separator(path: Path, first_line: str) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    if path.suffix.lower() == ".csv":
        return ","
    return "\t" if "\t" in first_line else ","


def _resolution(text: str, where: str) -> float:
    value = text.strip().rstrip("?").strip()
    if value.lower() in _UNKNOWN:
        return math.nan
    try:
        res = float(value)
    except ValueError:
        raise ManifestError(f"{where}: resolution {text!r} is not a number") from None
    if not (res > 0 and math.isfinite(res)):
        raise ManifestError(f"{where}: resolution {text!r} must be a positive number of Angstrom")
    return res


def _local_path(text: str, folder: Path, column: str, where: str, check_files: bool) -> str:
    value = text.strip()
    if value.lower() in _UNKNOWN:
        return ""
    path = Path(value).expanduser()
    path = (path if path.is_absolute() else folder / path).resolve()
    if check_files and not path.is_file():
        raise ManifestError(f"{where}: {column} file not found: {path}")
    return str(path)


def load_manifest(path: str | os.PathLike, *, default_split: str = "", check_files: bool = True) -> pd.DataFrame:
    """Read a manifest (CSV or TSV) into a DataFrame with normalised columns (see the module docstring).

    ``default_split`` is given to rows without a split (e.g. ``"test"`` for the paper's test table, which has
    no split column). With ``check_files`` every local map/model path must exist. Raises
    :class:`ManifestError` naming the file (and row) for a missing file, a missing column, no rows, a bad ID,
    resolution or split, or a duplicated entry name.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest file not found")
    with open(path, newline="") as fh:
        first = fh.readline()
    if not first.strip():
        raise ManifestError(f"{path}: empty manifest (no header line)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)  # rows longer than the header
            raw = pd.read_csv(path, sep=_separator(path, first), dtype=str, keep_default_na=False, index_col=False)
    except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: not a readable CSV/TSV table ({exc})") from None
    raw.columns = [ALIASES.get(c.strip(), c.strip()) for c in raw.columns]
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise ManifestError(f"{path}: missing column(s) {', '.join(missing)} (has: {', '.join(raw.columns)})")
    if len(set(raw.columns)) != len(raw.columns):
        raise ManifestError(f"{path}: duplicated column names {list(raw.columns)}")
    if raw.empty:
        raise ManifestError(
            f"{path}: the manifest has no entries (a header line and no rows): add one row per "
            f"map/model pair (emdb_id, pdb_id and optionally resolution, map, model, split), or "
            f"give another manifest (-p manifest PATH or S2M_MANIFEST)"
        )
    default_split = _split(default_split, f"{path}: default_split")
    folder = path.parent.resolve()
    rows = []
    for i, rec in enumerate(raw.to_dict("records")):
        where = f"{path}, row {i + 2}"  # line number in the file (header is line 1)
        emdb = emdb_digits(rec["emdb_id"])
        if not emdb:
            raise ManifestError(
                f"{where}: EMDB ID {rec['emdb_id']!r} is not digits with an optional 'EMD-' (e.g. 0093, EMD-26916)"
            )
        pdb_id = rec["pdb_id"].strip().rstrip("?").strip()
        if pdb_id.lower() in _UNKNOWN:
            pdb_id = ""
        else:
            pdb_id = pdb_code(pdb_id) or (pdb_id.upper() if len(pdb_id) == 4 else pdb_id)
        row: dict[str, Any] = {
            "emdb_id": emdb,
            "pdb_id": pdb_id,
            "resolution": _resolution(rec.get("resolution", ""), where),
            "map": _local_path(rec.get("map", ""), folder, "map", where, check_files),
            "model": _local_path(rec.get("model", ""), folder, "model", where, check_files),
            "split": _split(rec.get("split", ""), where) or default_split,
        }
        row["entry"] = rec.get("entry", "").strip() or "_".join(filter(None, (row["emdb_id"], pdb_id)))
        try:
            entry_file_name(row["entry"])
        except ManifestError as exc:
            raise ManifestError(f"{where}: {exc}") from None
        rows.append({**rec, **row})
    df = pd.DataFrame(rows, columns=list(COLUMNS) + [c for c in raw.columns if c not in COLUMNS])
    dup = df["entry"][df["entry"].duplicated()].unique().tolist()
    if dup:
        raise ManifestError(f"{path}: duplicated entry name(s) {', '.join(dup)}")
    folded = df.groupby(df["entry"].str.lower())["entry"].agg(list)
    clash = [" and ".join(names) for names in folded if len(names) > 1]
    if clash:
        raise ManifestError(f"{path}: entry names that differ only in case would share files: {'; '.join(clash)}")
    df["resolution"] = df["resolution"].astype(float)
    return df


def _split(text: str, where: str) -> str:
    value = text.strip().lower()
    value = SPLIT_ALIASES.get(value, value)
    if value and value not in SPLITS:
        raise ManifestError(f"{where}: split {text!r} is not one of train, val (validation), test or empty")
    return value


def select(
    manifest: pd.DataFrame,
    res_min: float | None = None,
    res_max: float | None = None,
    splits: str | Iterable[str] | None = None,
) -> pd.DataFrame:
    """Rows with ``res_min <= resolution <= res_max`` (bounds optional; NaN resolutions are dropped when a bound
    is given) and ``split`` in ``splits`` (a name or a list; 'validation' means 'val').

    Example: ``select(df, res_max=4.0, splits="test")``.
    """
    keep = pd.Series(True, index=manifest.index)
    if res_min is not None:
        keep &= manifest["resolution"] >= res_min
    if res_max is not None:
        keep &= manifest["resolution"] <= res_max
    if splits is not None:
        wanted = {_split(s, "select(splits=...)") for s in ([splits] if isinstance(splits, str) else splits)}
        keep &= manifest["split"].isin(wanted)
    return manifest[keep].copy()


def resolution_range(res_min: float | None = None, res_max: float | None = None) -> str:
    """The bounds of :func:`select` in words, for a notebook's message.

    >>> resolution_range(), resolution_range(3, 5), resolution_range(res_min=3), resolution_range(res_max=4.5)
    ('at every reported resolution', 'between 3 and 5 Å', 'at 3 Å and coarser', 'at 4.5 Å and finer')
    """
    if res_min is None and res_max is None:
        return "at every reported resolution"
    if res_max is None:
        return f"at {res_min:g} Å and coarser"
    if res_min is None:
        return f"at {res_max:g} Å and finer"
    return f"between {res_min:g} and {res_max:g} Å"


# ---------------------------------------------------------------------------------------------- curation tables

CURATION_TABLE = "curation.csv"  # in a run folder: the manifest's entries, kept or excluded (why), split, maps


def require_kept(table: pd.DataFrame, splits: tuple[str, ...] = ("train", "val", "test")) -> None:
    """Raise :class:`ManifestError` saying what to do when no entry of the curation table was kept, or a needed
    split has no kept entry (the later notebooks train on 'train', validate on 'val', compare on 'test')."""
    kept = table[table["kept"].astype(bool)]
    n_failed = int(table["reason"].astype(str).str.startswith("download failed").sum())
    failed = f", {n_failed} of them because a download failed (rerun to retry those)" if n_failed else ""
    if kept.empty:
        reasons = "; ".join(f"{e}: {r}" for e, r in zip(table["entry"], table["reason"]))
        raise ManifestError(
            f"every entry of the manifest was excluded ({reasons or 'no entries'}): nothing is left to "
            f"train or compare on ({len(table)} excluded{failed}). Add suitable map/model pairs to the manifest "
            "(see the reasons)"
        )
    counts = kept["split"].value_counts()
    empty = [s for s in splits if not counts.get(s)]
    if empty:
        have = ", ".join(f"{s} {n}" for s, n in counts.items())
        raise ManifestError(
            f"no kept entry in split(s) {', '.join(empty)} (kept: {have}): {len(kept)} of {len(table)} entries kept, "
            f"{len(table) - len(kept)} excluded{failed}; the run needs at least one in each of "
            + ", ".join(splits)
            + ". Add entries to the manifest, give it a split column, or change val_fraction / test_fraction"
        )


def save_curation(table: pd.DataFrame, run_dir: str | os.PathLike) -> Path:
    """Write the curation table to ``run_dir/curation.csv`` (atomically), for the later notebooks."""
    path = Path(run_dir) / CURATION_TABLE
    atomic_write(lambda tmp: table.to_csv(tmp, index=False), path)
    return path


def load_curation(run_dir: str | os.PathLike, splits: str | list[str] | None = None) -> pd.DataFrame:
    """The table :func:`save_curation` wrote; with ``splits``, only kept entries of those splits."""
    path = Path(run_dir) / CURATION_TABLE
    if not path.exists():
        raise ManifestError(f"{path}: no curation table; run notebook 01_curate first")
    table = pd.read_csv(path, dtype={"emdb_id": str, "pdb_id": str, "kept": bool})
    for column in ("pdb_id", "split", "reason", "exp_map", "sim_map"):
        table[column] = table[column].fillna("").astype(str)
    if splits is not None:
        wanted = [splits] if isinstance(splits, str) else list(splits)
        table = table[table["kept"] & table["split"].isin(wanted)].reset_index(drop=True)
    return table
