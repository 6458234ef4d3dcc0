"""Where downloads come from: EMDB's and the PDB's file trees, on their public hosts, on other hosts or in a mirror.

Two services, each a *base* (an ``http(s)://`` URL or a local folder) with its layout:

- **EMDB**: ``<base>/structures/EMD-XXXX/map/emd_XXXX.map.gz`` and ``<base>/structures/EMD-XXXX/header/
  emd-XXXX-v30.xml`` (or ``emd-XXXX.xml``). Public base :data:`EMDB_URL`; the same tree is served as ``/pub/emdb``
  by files.wwpdb.org, files.rcsb.org and ftp.pdbj.org.
- **PDB**, in one of two layouts: ``download``, RCSB's file service (``<base>/download/1ABC.cif.gz``; public base
  :data:`PDB_URL`), or ``divided``, the wwPDB archive's mmCIF tree (``<base>/ab/1abc.cif.gz``, the folder named by the
  ID's two characters before its last one; base ``.../pub/pdb/data/structures/divided/mmCIF``), chosen when the
  base's last folder is ``mmCIF``.

``$S2M_EMDB_URL`` and ``$S2M_PDB_URL`` (or the profile keys ``emdb_url`` and ``pdb_url``, which win) replace a
service's base. A **mirror** is one location that stands for the services it holds, in one of :data:`LAYOUTS`:

==========  ===========================================================  ======================================
layout      the mirror is                                                 it holds
==========  ===========================================================  ======================================
``emdb``    EMDB's own tree: the folder holding ``structures/``           EMDB (``<mirror>/structures/...``)
            (``https://files.wwpdb.org/pub/emdb``, a local copy)
``wwpdb``   the wwPDB archive's top folder: ``emdb/`` and                 EMDB (``<mirror>/emdb/structures/``)
            ``pdb/data/structures/divided/mmCIF/`` (``https://files.      and the PDB (``<mirror>/pdb/data/
            wwpdb.org/pub``, ``https://ftp.ebi.ac.uk/pub/databases``)      structures/divided/mmCIF/ab/1abc.cif.gz``)
``s2m``     this project's cache (``emdb/structures/``,                  EMDB and the PDB
            ``pdb/download/1ABC.cif.gz``): a filled cache serves others
==========  ===========================================================  ======================================

With ``auto`` (the default) the layout is detected from the folders the mirror holds (``structures/``,
``emdb/structures/``, ``pdb/download/``, ``pdb/data/structures/divided/mmCIF/``; over HTTP by HEAD requests, which
a server's folder listings answer), once per process and only when a file must be downloaded; a mirror holding only
the PDB's divided tree may also be given as that ``.../mmCIF`` folder itself. Files a mirror does not hold come from
their service's base.

Example:
    >>> Sources(mirror="https://files.wwpdb.org/pub", layout="wwpdb").location("model", "1ABC")
    'https://files.wwpdb.org/pub/pdb/data/structures/divided/mmCIF/ab/1abc.cif.gz'
    >>> Sources(pdb_url="https://files.wwpdb.org/pub/pdb/data/structures/divided/mmCIF").location("model", "4v1w")
    'https://files.wwpdb.org/pub/pdb/data/structures/divided/mmCIF/v1/4v1w.cif.gz'
"""

from __future__ import annotations

import functools
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SourceError

EMDB_URL = "https://ftp.ebi.ac.uk/pub/databases/emdb"
PDB_URL = "https://files.rcsb.org"
ENV = {"emdb": "S2M_EMDB_URL", "pdb": "S2M_PDB_URL"}
LAYOUTS = ("auto", "emdb", "wwpdb", "s2m")
DIVIDED = "pdb/data/structures/divided/mmCIF"  # the wwPDB archive's mmCIF tree, below its top folder
# layout -> (EMDB tree, PDB tree and its layout) below the mirror; None: not held (the service's own base)
_HOLDS: dict[str, tuple[str | None, tuple[str, str] | None]] = {
    "emdb": ("", None),
    "wwpdb": ("emdb", (DIVIDED, "divided")),
    "s2m": ("emdb", ("pdb", "download")),
}
PROBE_TIMEOUT = 20.0


def is_url(text: str) -> bool:
    return str(text).startswith(("http://", "https://"))


def _base(text: str | os.PathLike, what: str) -> str:
    """A base without its trailing '/': a URL as given, a folder (or ``file://`` URL) made absolute."""
    text = str(text).strip()
    if is_url(text):
        return text.rstrip("/")
    if text.startswith("file://"):
        text = urllib.parse.unquote(urllib.parse.urlparse(text).path)
    folder = Path(text).expanduser()
    if not folder.is_dir():
        raise SourceError(f"{what} folder not found: {folder}")
    return str(folder.resolve())


def _join(base: str, relative: str) -> str:
    return f"{base}/{relative}" if base and relative else base or relative


def pdb_layout(base: str) -> str:
    """'divided' for a base whose last folder is ``mmCIF`` (the wwPDB tree), else 'download' (RCSB's service)."""
    last = urllib.parse.urlparse(base).path if is_url(base) else base
    return "divided" if last.rstrip("/").rsplit("/", 1)[-1] == "mmCIF" else "download"


def relative_path(kind: str, ident: str, layout: str = "emdb", header_name: str | None = None) -> str:
    """The path of a file below its service's base: ``kind`` 'map' or 'header' (EMDB ID digits; ``header_name``
    defaults to ``emd-XXXX-v30.xml``) or 'model' (a PDB ID as :func:`s2mlib.io.manifest.pdb_code` writes it) in the PDB
    ``layout`` 'download' or 'divided'. An extended PDB ID is named as the wwPDB announced for its archive
    (``pdb_1abc5678.cif.gz``, in the folder of the two characters before its last one, ``67``): an assumption until
    such entries exist."""
    if kind == "map":
        return f"structures/EMD-{ident}/map/emd_{ident}.map.gz"
    if kind == "header":
        return f"structures/EMD-{ident}/header/{header_name or f'emd-{ident}-v30.xml'}"
    if layout == "divided":
        return f"{ident[-3:-1].lower()}/{ident.lower()}.cif.gz"
    return f"download/{ident}.cif.gz"


@dataclass(frozen=True)
class Service:
    """One service's files: its ``base`` (URL or folder), ``layout`` ('emdb', 'download' or 'divided') and
    ``origin`` (what set it, for messages)."""

    base: str
    layout: str
    origin: str

    def location(self, kind: str, ident: str, header_name: str | None = None) -> str:
        return _join(self.base, relative_path(kind, ident, self.layout, header_name))


@dataclass(frozen=True)
class Sources:
    """Where files come from: an optional ``mirror`` (URL or folder) in ``layout`` (:data:`LAYOUTS`), and the bases
    of EMDB and the PDB (``emdb_url``, ``pdb_url``; None: ``$S2M_EMDB_URL`` / ``$S2M_PDB_URL``, else the public
    hosts). Nothing is checked or requested until :meth:`services` is called (on the first download)."""

    mirror: str | None = None
    layout: str = "auto"
    emdb_url: str | None = None
    pdb_url: str | None = None

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise SourceError(f"mirror layout {self.layout!r} is not one of {', '.join(LAYOUTS)}")

    @classmethod
    def of(cls, mirror: str | os.PathLike | Sources | None) -> Sources:
        """``mirror`` as Sources: a Sources as it is, a URL or folder as a mirror of detected layout, None as none."""
        return mirror if isinstance(mirror, Sources) else cls(mirror=None if mirror is None else str(mirror))

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Sources:
        """The profile keys ``mirror``, ``mirror_layout``, ``emdb_url`` and ``pdb_url`` (absent or null: unset)."""
        return cls(
            mirror=params.get("mirror") or None,
            layout=params.get("mirror_layout") or "auto",
            emdb_url=params.get("emdb_url") or None,
            pdb_url=params.get("pdb_url") or None,
        )

    def services(self, timeout: float = PROBE_TIMEOUT) -> tuple[Service, Service]:
        """(EMDB, PDB): each from the mirror when it holds it, else from its base. Raises
        :class:`~s2mlib.errors.SourceError` (one line) for a folder that does not exist, a mirror that cannot be
        reached, or one in which no layout is found."""
        return _services(
            self.mirror,
            self.layout,
            self.emdb_url or os.environ.get(ENV["emdb"]) or EMDB_URL,
            self.pdb_url or os.environ.get(ENV["pdb"]) or PDB_URL,
            "profile" if self.emdb_url else f"${ENV['emdb']}" if os.environ.get(ENV["emdb"]) else "default",
            "profile" if self.pdb_url else f"${ENV['pdb']}" if os.environ.get(ENV["pdb"]) else "default",
            timeout,
        )

    def location(self, kind: str, ident: str, header_name: str | None = None, timeout: float = PROBE_TIMEOUT) -> str:
        """URL (or local path) of a file: ``kind`` 'map', 'header' or 'model' (see :func:`relative_path`)."""
        emdb, pdb = self.services(timeout)
        return (pdb if kind == "model" else emdb).location(kind, ident, header_name)

    def describe(self, timeout: float = PROBE_TIMEOUT) -> str:
        """One line: where each service's files come from."""
        emdb, pdb = self.services(timeout)
        return f"EMDB from {emdb.base} ({emdb.origin}); PDB from {pdb.base} ({pdb.layout} layout, {pdb.origin})"


@functools.lru_cache(maxsize=64)
def _services(
    mirror: str | None,
    layout: str,
    emdb_url: str,
    pdb_url: str,
    emdb_origin: str,
    pdb_origin: str,
    timeout: float,
) -> tuple[Service, Service]:
    emdb_base, pdb_base = _base(emdb_url, "EMDB base"), _base(pdb_url, "PDB base")
    emdb = Service(emdb_base, "emdb", emdb_origin)
    pdb = Service(pdb_base, pdb_layout(pdb_base), pdb_origin)
    if mirror is None:
        return emdb, pdb
    root = _base(mirror, "mirror")
    holds = _HOLDS[layout] if layout != "auto" else _detect(root, timeout)
    named = layout if layout != "auto" else next((k for k, v in _HOLDS.items() if v == holds), "partial")
    origin = f"mirror, {named} layout" + (" (detected)" if layout == "auto" else "")
    emdb_tree, pdb_tree = holds
    if emdb_tree is not None:
        emdb = Service(_join(root, emdb_tree), "emdb", origin)
    if pdb_tree is not None:
        pdb = Service(_join(root, pdb_tree[0]), pdb_tree[1], origin)
    return emdb, pdb


def _detect(root: str, timeout: float) -> tuple[str | None, tuple[str, str] | None]:
    """The trees a mirror holds, found from its folders (see the module docstring): (EMDB tree or None, (PDB tree,
    its layout) or None), below ``root``."""
    if pdb_layout(root) == "divided":
        return None, ("", "divided")
    emdb_tree = next((tree for tree in ("", "emdb") if _exists(_join(root, _join(tree, "structures")), timeout)), None)
    pdb_tree = None
    for marker, tree, kind in (("pdb/download", "pdb", "download"), (DIVIDED, DIVIDED, "divided")):
        if _exists(_join(root, marker), timeout):
            pdb_tree = (tree, kind)
            break
    if emdb_tree is None and pdb_tree is None:
        raise SourceError(
            f"mirror {root}: no known layout there (no structures/, emdb/structures/, pdb/download/ or "
            f"{DIVIDED}/): give the folder that holds one, or name the layout (--mirror-layout emdb|wwpdb|s2m; "
            f"profile key mirror_layout)"
        )
    return emdb_tree, pdb_tree


def _exists(location: str, timeout: float) -> bool:
    """Whether a folder exists: a local one, or one a server answers for (HEAD ``URL/``; 401/403 count as there,
    404/410 as not; a server without HEAD is asked with GET)."""
    if not is_url(location):
        return Path(location).is_dir()
    url = location + "/"
    for method in ("HEAD", "GET"):
        try:
            request = urllib.request.Request(
                url, method=method, headers={"User-Agent": "struc2map (s2mlib.io.sources)"}
            )
            with urllib.request.urlopen(request, timeout=timeout):
                return True
        except urllib.error.HTTPError as exc:
            if exc.code in (405, 501) and method == "HEAD":
                continue
            if exc.code in (401, 403):
                return True
            if exc.code in (404, 410):
                return False
            raise SourceError(f"mirror {location}: HTTP {exc.code} {exc.reason} while finding its layout") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc) or type(exc).__name__
            raise SourceError(f"mirror {location}: cannot be reached ({reason}); offline?") from None
    return False
