"""Download EMDB maps (with their header XML) and PDB models by ID into a local cache.

Sources, mirrors and the cache share one layout, so a filled cache can itself serve as a mirror::

    <emdb>/structures/EMD-XXXX/map/emd_XXXX.map.gz        the primary map (gzip-compressed CCP4/MRC)
    <emdb>/structures/EMD-XXXX/header/emd-XXXX-v30.xml    the v3 header (resolution, recommended contour)
    <pdb>/download/YYYY.cif.gz                            the model (gzip-compressed mmCIF, upper-case ID)

By default ``<emdb>`` is ``https://ftp.ebi.ac.uk/pub/databases/emdb`` and ``<pdb>`` is ``https://files.rcsb.org``.
A mirror (an ``http(s)://`` URL or a local folder) replaces both with ``<mirror>/emdb`` and ``<mirror>/pdb``; the
cache (``$S2M_CACHE``, else ``~/.cache/struc2map``) holds ``<cache>/emdb/...`` and ``<cache>/pdb/...``.

Every file is checked before it enters the cache: its size against Content-Length (or against the mirror's file),
a full gzip decompression for ``.gz`` files, an XML parse for headers, and for maps the MRC header's declared size
(1024 + NSYMBT + NX*NY*NZ*bytes per voxel) against the data and a full read by :func:`s2mlib.io.read_map` (so a
map truncated *inside* a valid gzip stream is refused). It is written to a temporary file beside its place and
renamed in only when whole, so the cache never holds a partial file. Connection errors, dropped connections,
timeouts and HTTP 5xx/408/429 are retried with exponential backoff (``backoff * 2**attempt`` seconds), resuming
with an HTTP Range request where the server allows it. HTTP 404 and a corrupt file are not retried.

Timeouts: an attempt fails after ``timeout`` seconds without an answer (:data:`DEFAULT_TIMEOUT` = 20 s, for
connecting and between two reads), and a file is given up after ``retries`` further attempts
(:data:`DEFAULT_RETRIES` = 3): a stalled mirror costs at most 4 x 20 s + 1 + 2 + 4 s = 87 s per file.

A file already in the cache is returned without any request after a cheap check (:func:`cached_problem`: a map's
gzip trailer size against its header's declared size, a header's XML parse, a model's gzip signature); a cached
file that fails it is moved aside (``NAME.bad``) with a warning and fetched again.

Example (online):
    >>> entry = fetch_entry("EMD-2788", "4v1w")                # doctest: +SKIP
    >>> entry["map"].name, entry["model"].name, entry["resolution"]  # doctest: +SKIP
    ('emd_2788.map.gz', '4V1W.cif.gz', 4.7)

Why one long module: a single concern, the downloader; its integrity checks (gzip, MRC size against its header,
XML), retries and resumed transfers make most of it.
"""

from __future__ import annotations

import gzip
import http.client
import math
import os
import re
import shutil
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from .errors import DownloadError, MapError
from .io import MRC_HEADER, mrc_declared_size, read_map
from .manifest import EMDB_ID_RE
from .outputs import atomic_write

EMDB_URL = "https://ftp.ebi.ac.uk/pub/databases/emdb"
PDB_URL = "https://files.rcsb.org"
PDB_ID_RE = re.compile(r"^[1-9][A-Za-z0-9]{3}$")
CHUNK = 1 << 20
_RETRY_HTTP = (408, 429)
DEFAULT_TIMEOUT = 20.0  # seconds without an answer (connecting, or between two reads) before an attempt fails
DEFAULT_RETRIES = 3  # further attempts per file, 1, 2, 4 s apart: at most 87 s per file on a stalled mirror


class _Transient(Exception):
    """A failure worth retrying (connection refused or dropped, timeout, HTTP 5xx)."""


def default_cache() -> Path:
    """The cache folder: ``$S2M_CACHE`` when set, else ``~/.cache/struc2map``."""
    return Path(os.environ.get("S2M_CACHE") or "~/.cache/struc2map").expanduser()


def validate_emdb_id(emdb_id: str | int) -> str:
    """The digits of an EMDB ID ('0093', '26916'); 'EMD-' prefix allowed. Raises :class:`DownloadError`.

    >>> validate_emdb_id("EMD-0093")
    '0093'
    """
    match = EMDB_ID_RE.match(str(emdb_id).strip())
    if not match:
        raise DownloadError(f"invalid EMDB ID {emdb_id!r}: expected 4-5 digits, optionally 'EMD-' (e.g. EMD-0093)")
    return match.group(1)


def validate_pdb_id(pdb_id: str) -> str:
    """A PDB ID upper-cased (4 characters, a digit 1-9 then 3 letters/digits). Raises :class:`DownloadError`.

    >>> validate_pdb_id("4v1w")
    '4V1W'
    """
    text = str(pdb_id).strip()
    if not PDB_ID_RE.match(text):
        raise DownloadError(f"invalid PDB ID {pdb_id!r}: expected 4 characters, a digit 1-9 then letters/digits")
    return text.upper()


def _relative(kind: str, ident: str) -> tuple[str, str]:
    """(database, path inside it) of a file kind: 'map', 'header' (EMDB ID digits) or 'model' (PDB ID)."""
    if kind == "map":
        return "emdb", f"structures/EMD-{ident}/map/emd_{ident}.map.gz"
    if kind == "header":
        return "emdb", f"structures/EMD-{ident}/header/emd-{ident}-v30.xml"
    return "pdb", f"download/{ident}.cif.gz"


def _label(kind: str, ident: str) -> str:
    return f"PDB {ident} model" if kind == "model" else f"EMD-{ident} {kind}"


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def source_location(kind: str, ident: str, mirror: str | os.PathLike | None = None) -> str:
    """URL (or local path, for a folder mirror) of a file of ``kind`` 'map', 'header' or 'model'."""
    database, rel = _relative(kind, ident)
    if mirror is None:
        return f"{EMDB_URL if database == 'emdb' else PDB_URL}/{rel}"
    base = str(mirror)
    if _is_url(base):
        return f"{base.rstrip('/')}/{database}/{rel}"
    if base.startswith("file://"):
        base = urllib.parse.unquote(urllib.parse.urlparse(base).path)
    folder = Path(base).expanduser()
    if not folder.is_dir():
        raise DownloadError(f"mirror folder not found: {folder}")
    return str(folder.resolve() / database / rel)


def cache_location(kind: str, ident: str, cache: str | os.PathLike | None = None) -> Path:
    """Where a file of ``kind`` 'map', 'header' or 'model' lives in the cache."""
    database, rel = _relative(kind, ident)
    return Path(cache if cache is not None else default_cache()).expanduser() / database / rel


# ------------------------------------------------------------------------------------------------ transfer


def _check_gzip(path: Path, label: str) -> tuple[bytes, int]:
    """Decompress the whole file: raises DownloadError for a truncated or corrupt gzip stream. Returns the first
    1024 decompressed bytes and the decompressed size."""
    with open(path, "rb") as fh:
        if fh.read(2) != b"\x1f\x8b":
            raise DownloadError(f"{label}: downloaded file is not gzip data")
    head, size = b"", 0
    try:
        with gzip.open(path, "rb") as fh:
            while block := fh.read(4 * CHUNK):
                if len(head) < MRC_HEADER:
                    head += block[: MRC_HEADER - len(head)]
                size += len(block)
    except (OSError, EOFError, zlib.error) as exc:
        raise DownloadError(f"{label}: corrupt or truncated gzip data ({exc})") from None
    return head, size


def _check_map(path: Path, label: str) -> None:
    """A downloaded map, fully: a whole gzip stream, an MRC header whose declared size equals the data, and a map
    that :func:`s2mlib.io.read_map` reads (finite values, valid axis order and cell)."""
    head, size = _check_gzip(path, label)
    try:
        declared = mrc_declared_size(head)
    except ValueError as exc:
        raise DownloadError(f"{label}: not an MRC/CCP4 map ({exc})") from None
    if size != declared:
        raise DownloadError(
            f"{label}: truncated or corrupt map: its header declares {declared} bytes, the gzip data holds {size}"
        )
    try:
        read_map(path)
    except MapError as exc:
        raise DownloadError(f"{label}: not a usable map ({str(exc).split(': ', 1)[-1]})") from None


def cached_problem(path: str | os.PathLike) -> str | None:
    """Why a file in the cache cannot be used, from cheap checks (reading about 1 KiB), or None when it passes.

    A map (``.map.gz``): gzip data whose trailer size (ISIZE, the uncompressed size mod 2^32) equals the size
    its MRC header declares; a header (``.xml``): well-formed XML; a model (``.gz``): gzip data.
    """
    path = Path(path)
    name = path.name.lower()
    try:
        with open(path, "rb") as fh:
            if name.endswith(".gz") and fh.read(2) != b"\x1f\x8b":
                return "not gzip data"
            if name.endswith(".map.gz"):
                fh.seek(-4, os.SEEK_END)
                isize = struct.unpack("<I", fh.read(4))[0]
        if name.endswith(".map.gz"):
            with gzip.open(path, "rb") as fh:
                declared = mrc_declared_size(fh.read(MRC_HEADER))
            if declared % 2**32 != isize:
                return f"its header declares {declared} bytes, the gzip data holds {isize}"
        elif name.endswith(".xml"):
            ET.parse(path)
    except (OSError, EOFError, zlib.error, ValueError, ET.ParseError) as exc:
        return str(exc) or type(exc).__name__
    return None


def _usable_cached(dest: Path, label: str) -> bool:
    """True when ``dest`` is in the cache and passes :func:`cached_problem`; a file that fails is moved aside to
    ``NAME.bad`` (replacing an older one) with a warning, to be fetched again."""
    if not dest.is_file():
        return False
    problem = cached_problem(dest)
    if problem is None:
        return True
    bad = dest.with_name(dest.name + ".bad")
    os.replace(dest, bad)
    warnings.warn(
        f"{label}: the cached file {dest} failed its check ({problem}); moved to {bad.name}, fetching it again",
        stacklevel=3,
    )
    return False


def _check_xml(path: Path, label: str) -> None:
    try:
        ET.parse(path)
    except ET.ParseError as exc:
        raise DownloadError(f"{label}: header is not well-formed XML ({exc})") from None


def _http_get(url: str, tmp: Path, label: str, timeout: float, progress: bool) -> None:
    """One attempt: fetch ``url`` into ``tmp``, resuming after the bytes already there when the server allows."""
    have = tmp.stat().st_size
    headers = {"User-Agent": "struc2map (s2mlib.data)"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # the bytes we hold are not a prefix the server accepts: start over
            tmp.write_bytes(b"")
            raise _Transient("HTTP 416 on resume") from None
        if exc.code >= 500 or exc.code in _RETRY_HTTP:
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from None
        what = "not found" if exc.code == 404 else "refused"
        raise DownloadError(f"{label}: {what} (HTTP {exc.code} {exc.reason}) at {url}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise _Transient(str(getattr(exc, "reason", exc) or type(exc).__name__)) from None
    with resp:
        resumed = resp.headers.get("Content-Range", "").startswith(f"bytes {have}-")
        start = have if have and resp.status == 206 and resumed else 0
        length = resp.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else None
        with (
            open(tmp, "ab" if start else "wb") as fh,
            tqdm(
                total=total,
                initial=start,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=label,
                leave=False,
                disable=None if progress else True,
            ) as bar,
        ):
            try:
                while chunk := resp.read(CHUNK):
                    fh.write(chunk)
                    bar.update(len(chunk))
            except (http.client.HTTPException, OSError) as exc:
                raise _Transient(f"connection dropped ({exc or type(exc).__name__})") from None
    got = tmp.stat().st_size
    if total is not None and got != total:
        if got > total:
            tmp.write_bytes(b"")
        raise _Transient(f"connection dropped after {got} of {total} bytes")


def download(
    source: str,
    dest: Path,
    label: str,
    *,
    retries: int = DEFAULT_RETRIES,
    backoff: float = 1.0,
    timeout: float = DEFAULT_TIMEOUT,
    progress: bool = True,
) -> Path:
    """Fetch ``source`` (an http(s) URL or a local file) into ``dest`` atomically, with checks and retries.

    Returns ``dest`` at once when it already exists and passes :func:`cached_problem` (else it is moved aside and
    fetched again). Raises :class:`DownloadError` naming ``label`` and the URL for a missing file (404), a corrupt
    or truncated file, or a transfer that still fails after ``retries`` retries spaced ``backoff * 2**attempt``
    seconds apart, each attempt failing after ``timeout`` seconds without an answer.
    """
    dest = Path(dest)
    if _usable_cached(dest, label):
        return dest
    name = dest.name.lower()
    check = (
        _check_map
        if name.endswith(".map.gz")
        else _check_gzip
        if name.endswith(".gz")
        else _check_xml
        if name.endswith(".xml")
        else None
    )

    def write(tmp: Path) -> None:
        if _is_url(source):
            for attempt in range(retries + 1):
                try:
                    _http_get(source, tmp, label, timeout, progress)
                    break
                except _Transient as exc:
                    if attempt == retries:
                        raise DownloadError(
                            f"{label}: {source}: {exc} (gave up after {retries + 1} attempts; offline?)"
                        ) from None
                    time.sleep(backoff * 2**attempt)
        else:
            src = Path(source)
            if not src.is_file():
                raise DownloadError(f"{label}: not found in the mirror: {src}")
            shutil.copyfile(src, tmp)
            if tmp.stat().st_size != src.stat().st_size:
                raise DownloadError(f"{label}: incomplete copy of {src}")
        if check is not None:
            check(tmp, label)

    atomic_write(write, dest)
    return dest


def fetch_file(
    kind: str, ident: str, cache: str | os.PathLike | None = None, mirror: str | os.PathLike | None = None, **options
) -> Path:
    """One file of ``kind`` 'map', 'header' (EMDB ID) or 'model' (PDB ID), from the cache or downloaded into it.

    ``options``: ``retries``, ``backoff``, ``timeout``, ``progress`` of :func:`download`.
    """
    if kind not in ("map", "header", "model"):
        raise ValueError(f"kind must be 'map', 'header' or 'model', got {kind!r}")
    ident = validate_pdb_id(ident) if kind == "model" else validate_emdb_id(ident)
    check_mirror_is_not_cache(cache, mirror)
    dest = cache_location(kind, ident, cache)
    if _usable_cached(dest, _label(kind, ident)):
        return dest
    return download(source_location(kind, ident, mirror), dest, _label(kind, ident), **options)


def _strip_namespaces(root: ET.Element) -> ET.Element:
    for el in root.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return root


def read_emdb_header(path: str | os.PathLike) -> dict:
    """Resolution (Angstrom, NaN when absent) and recommended contour level (None when absent) of a v3 header.

    Resolution: the first ``.../final_reconstruction/resolution`` under ``structure_determination_list``
    (single particle, helical, subtomogram or crystallography processing). Contour: ``map/contour_list/contour``
    with ``primary="true"`` (else the first one), its ``level``.
    """
    path = Path(path)
    try:
        root = _strip_namespaces(ET.parse(path).getroot())
    except (ET.ParseError, OSError) as exc:
        raise DownloadError(f"{path}: unreadable EMDB header ({exc})") from None

    def number(el: ET.Element | None) -> float | None:
        if el is None or not el.text:
            return None
        try:
            return float(el.text)
        except ValueError:
            raise DownloadError(f"{path}: <{el.tag}> holds {el.text!r}, not a number") from None

    res = number(root.find(".//structure_determination_list//final_reconstruction/resolution"))
    contours = root.findall("./map/contour_list/contour")
    primary = [c for c in contours if c.get("primary", "").lower() in ("true", "1")] or contours
    contour = number(primary[0].find("level")) if primary else None
    return {"resolution": math.nan if res is None else res, "contour": contour}


def reported_resolution(map_path: str | os.PathLike) -> tuple[float, Path] | None:
    """The resolution an EMDB header beside a map reports, and that header; None when there is none.

    For a map named like EMDB's (``emd_XXXX.map[.gz]``, ``EMD-XXXX...``) the header ``emd-XXXX-v30.xml`` (or
    ``emd-XXXX.xml``) is looked for in the map's folder and in ``../header/`` (the layout of EMDB and of the
    :func:`fetch_entry` cache). A header without a resolution counts as none; an unreadable one is an error.

    >>> reported_resolution(cache_location("map", "0093"))  # doctest: +SKIP
    (3.4, PosixPath('.../emdb/structures/EMD-0093/header/emd-0093-v30.xml'))
    """
    path = Path(map_path)
    match = re.search(r"emd[_-]?(\d{4,5})", path.name, flags=re.IGNORECASE)
    if match is None:
        return None
    ident = match.group(1)
    for folder in (path.parent, path.parent.parent / "header"):
        for name in (f"emd-{ident}-v30.xml", f"emd-{ident}.xml"):
            header = folder / name
            if header.is_file():
                resolution = read_emdb_header(header)["resolution"]
                return None if math.isnan(resolution) else (resolution, header)
    return None


def check_mirror_is_not_cache(cache: str | os.PathLike | None, mirror: str | os.PathLike | None) -> None:
    """Refuse (:class:`DownloadError`, one line) a local mirror that is the cache folder itself (symlinks resolved):
    with one layout, each cached file would be its own source, and one that fails the cache's check would be moved
    aside (``NAME.bad``) out of the mirror."""
    if mirror is None or _is_url(str(mirror)):
        return
    root = Path(cache if cache is not None else default_cache()).expanduser()
    folder = Path(mirror).expanduser()
    if folder.resolve() == root.resolve() or (folder.is_dir() and root.is_dir() and os.path.samefile(folder, root)):
        raise DownloadError(
            f"{mirror}: the mirror is the cache folder ({root}): fetching would set aside the mirror's own files; "
            f"use it as the cache alone (no mirror), or give another cache folder"
        )


def fetch_entry(
    emdb_id: str | int,
    pdb_id: str | None = None,
    cache: str | os.PathLike | None = None,
    mirror: str | os.PathLike | None = None,
    **options,
) -> dict:
    """Map, header and (with ``pdb_id``) model of one entry, from the cache or downloaded into it.

    Returns ``{"emdb_id", "pdb_id", "map": Path, "model": Path | None, "header": Path, "resolution": float,
    "contour": float | None}`` (resolution and contour from the header). Both IDs are validated before any
    request. ``options``: ``retries`` (:data:`DEFAULT_RETRIES` = 3), ``backoff`` (1.0 s), ``timeout``
    (:data:`DEFAULT_TIMEOUT` = 20 s), ``progress`` (True).
    """
    emdb = validate_emdb_id(emdb_id)
    pdb = validate_pdb_id(pdb_id) if pdb_id else None
    header = fetch_file("header", emdb, cache, mirror, **options)  # small: fails fast for an unknown entry
    info = read_emdb_header(header)
    map_path = fetch_file("map", emdb, cache, mirror, **options)
    model = fetch_file("model", pdb, cache, mirror, **options) if pdb else None
    return {"emdb_id": emdb, "pdb_id": pdb or "", "map": map_path, "model": model, "header": header, **info}


# ------------------------------------------------------------------------------------------------ manifests


def _needed(row: pd.Series) -> list[tuple[str, str]]:
    """(kind, ID) of the files a manifest row needs from EMDB/PDB (none when its map and model are local)."""
    where = f"entry {row['entry']}"
    kinds = []
    try:
        if not row["map"]:
            emdb = validate_emdb_id(row["emdb_id"])
            kinds += [("header", emdb), ("map", emdb)]
        if not row["model"] and row["pdb_id"]:
            kinds.append(("model", validate_pdb_id(row["pdb_id"])))
    except DownloadError as exc:
        raise DownloadError(f"{where}: {exc}") from None
    return kinds


def planned_downloads(
    manifest: pd.DataFrame, cache: str | os.PathLike | None = None, mirror: str | os.PathLike | None = None
) -> list[dict]:
    """The files a manifest still needs, i.e. not local and not in the cache (or failing
    :func:`cached_problem`); no request is made and nothing is moved.

    Each item: ``{"entry", "kind" ('map', 'header', 'model'), "id", "url", "path" (in the cache), "size": None}``.
    Raises :class:`DownloadError` naming the entry for an invalid ID.
    """
    plan = []
    for _, row in manifest.iterrows():
        for kind, ident in _needed(row):
            dest = cache_location(kind, ident, cache)
            if not dest.is_file() or cached_problem(dest) is not None:
                plan.append(
                    {
                        "entry": row["entry"],
                        "kind": kind,
                        "id": ident,
                        "url": source_location(kind, ident, mirror),
                        "path": dest,
                        "size": None,
                    }
                )
    return plan


def needs_download(manifest: pd.DataFrame, cache: str | os.PathLike | None = None) -> bool:
    """True when some entry's map or model is neither a local file nor already in the cache (no request made)."""
    return bool(planned_downloads(manifest, cache))


def resolve_manifest(
    manifest: pd.DataFrame,
    cache: str | os.PathLike | None = None,
    mirror: str | os.PathLike | None = None,
    **options,
) -> pd.DataFrame:
    """A copy of the manifest with ``map``/``model`` filled with cached files, downloading what is missing.

    Local paths pass through untouched. Downloaded entries get ``resolution`` from the header where the manifest
    has none, and a ``contour`` column (the header's recommended level; NaN where unknown). Every ID is validated
    before the first request. ``options`` as in :func:`fetch_entry`.
    """
    out = manifest.copy()
    if "contour" not in out.columns:
        out["contour"] = math.nan
    needed = {index: _needed(row) for index, row in out.iterrows()}  # validates every ID first
    for index, kinds in needed.items():
        for kind, ident in kinds:
            path = fetch_file(kind, ident, cache, mirror, **options)
            if kind == "header":
                info = read_emdb_header(path)
                if math.isnan(out.at[index, "resolution"]):
                    out.at[index, "resolution"] = info["resolution"]
                if info["contour"] is not None and pd.isna(out.at[index, "contour"]):
                    out.at[index, "contour"] = info["contour"]
            else:
                out.at[index, kind] = str(path)
    return out
