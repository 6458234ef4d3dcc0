"""``s2m fetch EMDB_ID [PDB_ID]`` / ``s2m fetch --list MANIFEST``: download EMDB maps (+ headers) and PDB models into
the cache, from the public hosts, ``$S2M_EMDB_URL`` / ``$S2M_PDB_URL``, or a mirror (:mod:`s2mlib.io.sources`).

With ``--list`` every entry of a manifest is fetched; an entry whose file still fails after its retries is reported
and the others go on; the summary (files downloaded, found in the cache, failed entries and why) ends the output, and
the exit status is 1 when an entry failed (a rerun fetches only those).

>>> from s2mlib.cli import main
>>> main(["fetch", "EMD-0001", "6GH5", "--mirror", "https://files.wwpdb.org/pub"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

MIRROR_HELP = (
    "a copy of EMDB's and/or the PDB's files, a URL or a local folder, used instead of the hosts for the files it "
    "holds: EMDB's own tree (the folder holding structures/EMD-XXXX/, as served under pub/emdb), the wwPDB archive's "
    "top folder (holding pdb/data/structures/divided/mmCIF/xx/xxxx.cif.gz and emdb/, e.g. "
    "https://files.wwpdb.org/pub), a PDB .../divided/mmCIF folder, or this project's cache (emdb/, pdb/download/). "
    "The rest comes from $S2M_EMDB_URL / $S2M_PDB_URL, else EBI and RCSB"
)

MAX_TIMEOUT = 3600.0  # s without an answer: beyond an hour a mirror is down, not slow
MAX_RETRIES = 10  # retries 1, 2, 4 ... 512 s apart: 17 minutes of waiting in all


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``fetch`` and its options."""
    from ..io.download import DEFAULT_RETRIES, DEFAULT_TIMEOUT
    from ..io.sources import LAYOUTS

    p = sub.add_parser("fetch", help="download EMDB maps (+ headers) and PDB models into the cache")
    p.add_argument("emdb_id", nargs="?", help="an EMDB ID (EMD-0093, 0093, 93)")
    p.add_argument("pdb_id", nargs="?", help="a PDB ID (6GYN, or an extended pdb_00006gyn)")
    p.add_argument(
        "--list",
        type=Path,
        default=None,
        metavar="MANIFEST",
        help="fetch every entry of a manifest (CSV/TSV: emdb_id, pdb_id, ...) and summarise; exit status 1 when an "
        "entry failed",
    )
    p.add_argument("--cache", type=Path, default=None, help="cache folder (default $S2M_CACHE or ~/.cache/struc2map)")
    p.add_argument("--mirror", default=None, metavar="URL_OR_DIR", help=MIRROR_HELP)
    p.add_argument(
        "--mirror-layout",
        choices=LAYOUTS,
        default="auto",
        help="the mirror's layout: emdb (EMDB's tree), wwpdb (the wwPDB archive), s2m (this project's cache); "
        "auto (default) finds it from the mirror's folders",
    )
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Fetch the entry (print where its files are) or the manifest's entries (print the summary)."""
    from ..errors import InputError
    from ..io.download import fetch_entry, fetch_manifest
    from ..io.manifest import load_manifest
    from ..io.sources import Sources

    if (args.list is None) == (args.emdb_id is None):
        raise InputError("give an EMDB ID (and optionally a PDB ID), or --list MANIFEST, not both")
    sources = Sources(mirror=args.mirror, layout=args.mirror_layout)
    if not (math.isfinite(args.timeout) and 0 < args.timeout <= MAX_TIMEOUT):
        raise InputError(f"--timeout {args.timeout:g}: give a number of seconds above 0, at most {MAX_TIMEOUT:g}")
    if not 0 <= args.retries <= MAX_RETRIES:
        raise InputError(f"--retries {args.retries}: give a whole number from 0 to {MAX_RETRIES}")
    options = {"timeout": args.timeout, "retries": args.retries}
    if args.list is None:
        result = fetch_entry(args.emdb_id, args.pdb_id, cache=args.cache, mirror=sources, **options)
        for key, value in result.items():
            print(f"{key:>10}: {value}")
        return 0
    _, summary = fetch_manifest(load_manifest(args.list), args.cache, sources, **options)
    print(summary)
    return 1 if summary.failed else 0
