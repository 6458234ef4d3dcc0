"""``s2m fetch EMDB_ID [PDB_ID]``: download an EMDB map (+ header) and a PDB model into the cache.

>>> from s2mlib.cli import main
>>> main(["fetch", "EMD-0001", "6GH5", "--mirror", "/data/mirror"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``fetch`` and its options."""
    from ..data import DEFAULT_RETRIES, DEFAULT_TIMEOUT

    p = sub.add_parser("fetch", help="download an EMDB map (+ header) and a PDB model into the cache")
    p.add_argument("emdb_id")
    p.add_argument("pdb_id", nargs="?")
    p.add_argument("--cache", type=Path, default=None, help="cache folder (default $S2M_CACHE or ~/.cache/struc2map)")
    p.add_argument("--mirror", default=None, help="base URL or local folder laid out like EMDB/PDB")
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


def run(args: argparse.Namespace) -> None:
    """Fetch the entry and print where its files are."""
    from ..data import fetch_entry

    result = fetch_entry(
        args.emdb_id, args.pdb_id, cache=args.cache, mirror=args.mirror, timeout=args.timeout, retries=args.retries
    )
    for key, value in result.items():
        print(f"{key:>10}: {value}")
