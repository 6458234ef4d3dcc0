"""``s2m join DIR``: join the summary parts of a sharded ``s2m generate --out-dir DIR`` run
(``generated.part-I-of-N.csv``, one per shard) into ``DIR/generated.csv`` (:func:`s2mlib.gan.batch.join_summaries`).

>>> from s2mlib.cli import main
>>> main(["join", "maps"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``join`` and its options."""
    p = sub.add_parser("join", help="join the summary parts of a sharded s2m generate run into DIR/generated.csv")
    p.add_argument("out_dir", type=Path, metavar="DIR", help="the --out-dir of the sharded run")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Join the parts; print the counts; exit status 1 when a row failed."""
    from ..gan.batch import SUMMARY, join_summaries

    table = join_summaries(args.out_dir)
    counts = table["status"].value_counts()
    failed = int(counts.get("failed", 0))
    print(
        f"{args.out_dir / SUMMARY}: {len(table)} rows: {int(counts.get('done', 0))} made, "
        f"{int(counts.get('skipped', 0))} skipped (already there), {failed} failed"
    )
    return 1 if failed else 0
