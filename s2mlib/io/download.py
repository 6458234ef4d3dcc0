"""Download EMDB maps (with their header XML) and PDB models by ID into a local cache, entry after entry.

Where files come from (EMDB's and the PDB's hosts, other hosts, mirrors in EMDB's, the wwPDB's or this project's
layout) is :mod:`s2mlib.io.sources`. The cache (``$S2M_CACHE``, else ``~/.cache/struc2map``) has this project's layout,
so a filled cache can itself serve as a mirror (layout ``s2m``)::

    <cache>/emdb/structures/EMD-XXXX/map/emd_XXXX.map.gz        the primary map (gzip-compressed CCP4/MRC)
    <cache>/emdb/structures/EMD-XXXX/header/emd-XXXX-v30.xml    the v3 header (resolution, recommended contour)
    <cache>/pdb/download/YYYY.cif.gz                            the model (gzip-compressed mmCIF)

The header is ``emd-XXXX-v30.xml``, or ``emd-XXXX.xml`` where a tree has no ``-v30`` file (cached under the name it
came with). IDs: EMDB IDs of any length, short ones zero-padded (``93`` -> ``0093``); PDB IDs of 4 characters or
wwPDB's extended 12 (:func:`s2mlib.io.manifest.pdb_code`).

Every file is checked before it enters the cache: its size against Content-Length (or against the mirror's file),
a full gzip decompression for ``.gz`` files, an XML parse for headers, and for maps the MRC header's declared size
(1024 + NSYMBT + NX*NY*NZ*bytes per voxel) against the data and a full read by :func:`s2mlib.io.density.read_map` (so a
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

A manifest is fetched entry after entry (:func:`fetch_manifest`): an entry whose file still fails after its retries
(a 404 for a withdrawn entry, a host down, a corrupt file) is marked with the reason (``download_error``) and the
others go on; :mod:`s2mlib.study.curate` excludes it with that reason, and :class:`DownloadSummary` counts the files
downloaded, found in the cache and failed. A rerun fetches only what is not in the cache: the failed files.

Example (online):
    >>> entry = fetch_entry("EMD-2788", "4v1w")                # doctest: +SKIP
    >>> entry["map"].name, entry["model"].name, entry["resolution"]  # doctest: +SKIP
    ('emd_2788.map.gz', '4V1W.cif.gz', 4.7)

Why one long module: a single concern, the downloader; its integrity checks (gzip, MRC size against its header,
XML), retries, resumed transfers and the keep-going fetch of a manifest make most of it.
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import DownloadError, MapError, SourceError
from .density import MRC_HEADER, mrc_declared_size, read_map
from .manifest import emdb_digits, pdb_code
from .outputs import atomic_write
from .progress import tqdm
from .sources import Sources, is_url, relative_path

CHUNK = 1 << 20
_RETRY_HTTP = (408, 429)
DEFAULT_TIMEOUT = 20.0  # seconds without an answer (connecting, or between two reads) before an attempt fails
DEFAULT_RETRIES = 3  # further attempts per file, 1, 2, 4 s apart: at most 87 s per file on a stalled mirror


class _Transient(Exception):
    """A failure worth retrying (connection refused or dropped, timeout, HTTP 5xx)."""


class _NotFound(DownloadError):
    """The source has no such file (HTTP 404 or 410, or a mirror folder without it)."""


def default_cache() -> Path:
    """The cache folder: ``$S2M_CACHE`` when set, else ``~/.cache/struc2map``."""
    return Path(os.environ.get("S2M_CACHE") or "~/.cache/struc2map").expanduser()


def validate_emdb_id(emdb_id: str | int) -> str:
    """The digits of an EMDB ID ('0093', '26916'), at least four (:func:`s2mlib.io.manifest.emdb_digits`: 'EMD-'
    prefix allowed, '93' -> '0093'). Raises :class:`DownloadError`.

    >>> validate_emdb_id("EMD-0093"), validate_emdb_id(93)
    ('0093', '0093')
    """
    digits = emdb_digits(emdb_id)
    if digits is None:
        raise DownloadError(f"invalid EMDB ID {emdb_id!r}: expected digits, optionally 'EMD-' (e.g. EMD-0093, 93)")
    return digits


def validate_pdb_id(pdb_id: str) -> str:
    """A PDB ID as the archive names its files (:func:`s2mlib.io.manifest.pdb_code`): 4 characters (a digit 1-9, then
    letters/digits) upper-cased, or an extended ``pdb_`` + 8 letters/digits. Raises :class:`DownloadError`.

    >>> validate_pdb_id("4v1w"), validate_pdb_id("pdb_00004v1w")
    ('4V1W', '4V1W')
    """
    code = pdb_code(pdb_id)
    if code is None:
        raise DownloadError(
            f"invalid PDB ID {pdb_id!r}: expected 4 characters, a digit 1-9 then letters/digits, or an extended ID "
            f"('pdb_' and 8 letters/digits, e.g. pdb_00001abc)"
        )
    return code


def header_names(emdb: str) -> tuple[str, str]:
    """The header's names, in the order tried: ``emd-XXXX-v30.xml``, then ``emd-XXXX.xml``."""
    return f"emd-{emdb}-v30.xml", f"emd-{emdb}.xml"


def _label(kind: str, ident: str) -> str:
    return f"PDB {ident} model" if kind == "model" else f"EMD-{ident} {kind}"


def cache_location(
    kind: str, ident: str, cache: str | os.PathLike | None = None, header_name: str | None = None
) -> Path:
    """Where a file of ``kind`` 'map', 'header' (``header_name``, default ``emd-XXXX-v30.xml``) or 'model' lives in
    the cache (this project's layout)."""
    root = Path(cache if cache is not None else default_cache()).expanduser()
    if kind == "model":
        return root / "pdb" / relative_path(kind, ident, "download")
    return root / "emdb" / relative_path(kind, ident, header_name=header_name)


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
    that :func:`s2mlib.io.density.read_map` reads (finite values, valid axis order and cell)."""
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
    headers = {"User-Agent": "struc2map (s2mlib.io.download)"}
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
        if exc.code in (404, 410):
            raise _NotFound(f"{label}: not found (HTTP {exc.code} {exc.reason}) at {url}") from None
        raise DownloadError(f"{label}: refused (HTTP {exc.code} {exc.reason}) at {url}") from None
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
        if is_url(source):
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
                raise _NotFound(f"{label}: not found in the mirror: {src}")
            shutil.copyfile(src, tmp)
            if tmp.stat().st_size != src.stat().st_size:
                raise DownloadError(f"{label}: incomplete copy of {src}")
        if check is not None:
            check(tmp, label)

    atomic_write(write, dest)
    return dest


def check_mirror_is_not_cache(cache: str | os.PathLike | None, mirror: str | os.PathLike | Sources | None) -> None:
    """Refuse (:class:`DownloadError`, one line) a local mirror that is the cache folder itself (symlinks resolved):
    with one layout, each cached file would be its own source, and one that fails the cache's check would be moved
    aside (``NAME.bad``) out of the mirror."""
    mirror = Sources.of(mirror).mirror
    if mirror is None or is_url(mirror):
        return
    root = Path(cache if cache is not None else default_cache()).expanduser()
    folder = Path(mirror).expanduser()
    if folder.resolve() == root.resolve() or (folder.is_dir() and root.is_dir() and os.path.samefile(folder, root)):
        raise DownloadError(
            f"{mirror}: the mirror is the cache folder ({root}): fetching would set aside the mirror's own files; "
            f"use it as the cache alone (no mirror), or give another cache folder"
        )


def _fetch(
    kind: str, ident: str, cache: str | os.PathLike | None, sources: Sources, options: dict
) -> tuple[Path, bool]:
    """(path in the cache, whether it was there already) of one file; a header is tried as ``emd-XXXX-v30.xml``,
    then as ``emd-XXXX.xml``. Raises :class:`DownloadError`."""
    label = _label(kind, ident)
    names: tuple[str | None, ...] = header_names(ident) if kind == "header" else (None,)
    for name in names:
        dest = cache_location(kind, ident, cache, name)
        if _usable_cached(dest, label):
            return dest, True
    missing: _NotFound | None = None
    for name in names:
        source = sources.location(kind, ident, name, timeout=options.get("timeout", DEFAULT_TIMEOUT))
        try:
            return download(source, cache_location(kind, ident, cache, name), label, **options), False
        except _NotFound as exc:
            missing = missing or exc
    assert missing is not None
    raise DownloadError(f"{missing}, nor {names[1]}" if len(names) > 1 else str(missing))


def fetch_file(
    kind: str,
    ident: str,
    cache: str | os.PathLike | None = None,
    mirror: str | os.PathLike | Sources | None = None,
    **options,
) -> Path:
    """One file of ``kind`` 'map', 'header' (EMDB ID) or 'model' (PDB ID), from the cache or downloaded into it.

    ``mirror``: a mirror (URL or folder, its layout detected) or a :class:`~s2mlib.io.sources.Sources` (mirror, layout,
    hosts); None: the hosts (``$S2M_EMDB_URL``, ``$S2M_PDB_URL``, else EBI and RCSB). ``options``: ``retries``,
    ``backoff``, ``timeout``, ``progress`` of :func:`download`.
    """
    if kind not in ("map", "header", "model"):
        raise ValueError(f"kind must be 'map', 'header' or 'model', got {kind!r}")
    ident = validate_pdb_id(ident) if kind == "model" else validate_emdb_id(ident)
    check_mirror_is_not_cache(cache, mirror)
    return _fetch(kind, ident, cache, Sources.of(mirror), options)[0]


def _strip_namespaces(root: ET.Element) -> ET.Element:
    for el in root.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return root


def read_emdb_header(path: str | os.PathLike) -> dict:
    """Resolution (Angstrom, NaN when absent) and recommended contour level (None when absent) of an EMDB header.

    v3 schema: resolution, the first ``.../final_reconstruction/resolution`` under ``structure_determination_list``
    (single particle, helical, subtomogram or crystallography processing); contour, ``map/contour_list/contour``
    with ``primary="true"`` (else the first one), its ``level``. The retired v1.9 schema (old ``emd-XXXX.xml``
    files): ``processing/reconstruction/resolutionByAuthor`` and ``map/contourLevel``.
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
    if res is None:
        res = number(root.find("./processing/reconstruction/resolutionByAuthor"))
    contours = root.findall("./map/contour_list/contour")
    primary = [c for c in contours if c.get("primary", "").lower() in ("true", "1")] or contours
    contour = number(primary[0].find("level")) if primary else number(root.find("./map/contourLevel"))
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
    match = re.search(r"emd[_-]?(\d{4,})", path.name, flags=re.IGNORECASE)
    if match is None:
        return None
    ident = match.group(1)
    for folder in (path.parent, path.parent.parent / "header"):
        for name in header_names(ident):
            header = folder / name
            if header.is_file():
                resolution = read_emdb_header(header)["resolution"]
                return None if math.isnan(resolution) else (resolution, header)
    return None


def fetch_entry(
    emdb_id: str | int,
    pdb_id: str | None = None,
    cache: str | os.PathLike | None = None,
    mirror: str | os.PathLike | Sources | None = None,
    **options,
) -> dict:
    """Map, header and (with ``pdb_id``) model of one entry, from the cache or downloaded into it.

    Returns ``{"emdb_id", "pdb_id", "map": Path, "model": Path | None, "header": Path, "resolution": float,
    "contour": float | None}`` (resolution and contour from the header). Both IDs are validated before any
    request. ``mirror`` as in :func:`fetch_file`; ``options``: ``retries`` (:data:`DEFAULT_RETRIES` = 3),
    ``backoff`` (1.0 s), ``timeout`` (:data:`DEFAULT_TIMEOUT` = 20 s), ``progress`` (True).
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
    manifest: pd.DataFrame,
    cache: str | os.PathLike | None = None,
    mirror: str | os.PathLike | Sources | None = None,
) -> list[dict]:
    """The files a manifest still needs, i.e. not local and not in the cache (or failing
    :func:`cached_problem`); nothing is moved and no file is requested (a mirror of detected layout is probed).

    Each item: ``{"entry", "kind" ('map', 'header', 'model'), "id", "url", "path" (in the cache), "size": None}``,
    and for a header ``"fallback"``, the URL of ``emd-XXXX.xml``. A file two entries share is listed once. Raises
    :class:`DownloadError` naming the entry for an invalid ID.
    """
    sources, plan, seen = Sources.of(mirror), [], set()
    for _, row in manifest.iterrows():
        for kind, ident in _needed(row):
            names: tuple[str | None, ...] = header_names(ident) if kind == "header" else (None,)
            paths = [cache_location(kind, ident, cache, name) for name in names]
            if (kind, ident) in seen or any(p.is_file() and cached_problem(p) is None for p in paths):
                continue
            seen.add((kind, ident))
            item = {"entry": row["entry"], "kind": kind, "id": ident, "path": paths[0], "size": None}
            item["url"] = sources.location(kind, ident, names[0])
            if kind == "header":
                item["fallback"] = sources.location(kind, ident, names[1])
            plan.append(item)
    return plan


def needs_download(manifest: pd.DataFrame, cache: str | os.PathLike | None = None) -> bool:
    """True when some entry's map or model is neither a local file nor already in the cache (no request made)."""
    return bool(planned_downloads(manifest, cache))


@dataclass
class DownloadSummary:
    """What :func:`fetch_manifest` did: the files it ``downloaded`` and those it found in the cache (``cached``),
    the entries whose files are all local (``local``), and the ``failed`` entries with the reason (entry -> reason).
    """

    downloaded: list[Path] = field(default_factory=list)
    cached: list[Path] = field(default_factory=list)
    local: int = 0
    failed: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The summary: one line of counts, then one line per failed entry and how to retry them."""
        size = sum(p.stat().st_size for p in self.downloaded if p.is_file())
        counts = (
            f"downloads: {len(self.downloaded)} files downloaded ({size / 1e6:.1f} MB), {len(self.cached)} found in "
            f"the cache, {len(self.failed) or 'no'} {'entry' if len(self.failed) == 1 else 'entries'} failed"
        )
        counts += f"; {self.local} entries local" if self.local else ""
        if not self.failed:
            return [counts]
        return [
            counts + ":",
            *(f"  {entry}: {reason}" for entry, reason in self.failed.items()),
            "  a rerun retries only these (the files in the cache are not fetched again)",
        ]

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def save(self, path: str | os.PathLike) -> Path:
        """Write :meth:`lines` to ``path`` (atomically), for the runner to show."""
        atomic_write(lambda tmp: tmp.write_text(str(self) + "\n"), Path(path))
        return Path(path)


def fetch_manifest(
    manifest: pd.DataFrame,
    cache: str | os.PathLike | None = None,
    mirror: str | os.PathLike | Sources | None = None,
    **options,
) -> tuple[pd.DataFrame, DownloadSummary]:
    """A copy of the manifest with ``map``/``model`` filled with cached files, downloading what is missing, entry
    after entry, and the :class:`DownloadSummary`.

    Local paths pass through untouched. Downloaded entries get ``resolution`` from the header where the manifest
    has none, and a ``contour`` column (the header's recommended level; NaN where unknown). An entry whose file
    fails (after its retries) gets the error in the ``download_error`` column ('' for the others) and its remaining
    files are not tried; a file that failed for one entry is not tried again for another. Sources that are wrong for
    every file (:class:`~s2mlib.errors.SourceError`: a mirror that cannot be reached, say) stop it at once. Every ID
    is validated before the first request (an invalid one raises :class:`DownloadError`, naming the entry).
    ``mirror`` as in :func:`fetch_file`; ``options`` as in :func:`fetch_entry`.
    """
    out = manifest.copy()
    if "contour" not in out.columns:
        out["contour"] = math.nan
    out["download_error"] = ""
    needed = {index: _needed(row) for index, row in out.iterrows()}  # validates every ID first
    check_mirror_is_not_cache(cache, mirror)
    sources, summary = Sources.of(mirror), DownloadSummary()
    failures: dict[tuple[str, str], str] = {}
    entries = tqdm(needed.items(), desc="fetch", unit="entry", disable=None if options.get("progress", True) else True)
    for index, kinds in entries:
        summary.local += not kinds
        for kind, ident in kinds:
            try:
                if (kind, ident) in failures:
                    raise DownloadError(failures[kind, ident])
                path, was_cached = _fetch(kind, ident, cache, sources, options)
                info = read_emdb_header(path) if kind == "header" else {}
            except SourceError:
                raise  # the mirror or a base is wrong for every entry: stop, one line
            except DownloadError as exc:
                failures[kind, ident] = str(exc)
                out.at[index, "download_error"] = summary.failed[out.at[index, "entry"]] = str(exc)
                break
            (summary.cached if was_cached else summary.downloaded).append(path)
            if kind != "header":
                out.at[index, kind] = str(path)
                continue
            if math.isnan(out.at[index, "resolution"]):
                out.at[index, "resolution"] = info["resolution"]
            if info["contour"] is not None and pd.isna(out.at[index, "contour"]):
                out.at[index, "contour"] = info["contour"]
    return out, summary


# ------------------------------------------------------------------------------------------------ sizes


def remote_size(location: str, timeout: float = 10.0) -> tuple[int | None, str]:
    """(size in bytes, '') of a file from a HEAD request (or, for a local mirror, the file system), else
    (None, why it is unknown: the HTTP status, no Content-Length, the connection's error, not in the mirror)."""
    if not is_url(location):
        return (Path(location).stat().st_size, "") if Path(location).is_file() else (None, "not in the mirror")
    request = urllib.request.Request(location, method="HEAD", headers={"User-Agent": "struc2map (s2mlib.io.download)"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
    except urllib.error.HTTPError as exc:
        return None, f"HTTP {exc.code} {exc.reason}"
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        return None, f"no answer ({getattr(exc, 'reason', exc) or type(exc).__name__})"
    if not (length and length.isdigit()):
        return None, "the server sends no Content-Length"
    return int(length), ""


def add_sizes(plan: list[dict], timeout: float = 10.0, workers: int = 8) -> list[dict]:
    """Fill each item's ``size`` (None when unknown) and ``why`` (the reason, '' when known) with
    :func:`remote_size`, ``workers`` requests at a time; a header without ``emd-XXXX-v30.xml`` is looked up as its
    ``fallback`` (which then becomes its ``url``). Items that already have a ``why`` are left as they are."""

    def size(item: dict) -> None:
        if item.get("why"):
            return
        item["size"], item["why"] = remote_size(item["url"], timeout)
        if item["size"] is None and item.get("fallback"):
            size_b, why_b = remote_size(item["fallback"], timeout)
            if size_b is not None:
                item["url"], item["size"], item["why"] = item["fallback"], size_b, ""

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(size, plan))
    return plan
