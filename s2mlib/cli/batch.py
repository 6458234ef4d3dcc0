"""``s2m generate MODEL [MODEL ...] --out-dir DIR`` and ``s2m generate --list TABLE --out-dir DIR``: many maps in
one call (:mod:`s2mlib.gan.batch`): one network load, a progress bar over the structures, ``DIR/generated.csv``
written as it goes, outputs that exist skipped (``--overwrite``), failed rows recorded and the batch going on
(exit status 1 when any failed; the last line says how many). Sharded by ``--shard I/N``, else by torchrun
(``RANK``/``WORLD_SIZE``: one process per GPU, all joined by rank 0 at the end) or a Slurm array
(``SLURM_ARRAY_TASK_ID``/``SLURM_ARRAY_TASK_COUNT``); the last shard to finish joins the parts, as ``s2m join DIR``.

>>> from s2mlib.cli import main
>>> main(["generate", "a.cif", "b.pdb", "--out-dir", "maps", "--resolution", "4"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections.abc import Callable
from pathlib import Path

from ..errors import S2MError
from .common import resolved

JOIN_TIMEOUT = datetime.timedelta(
    days=7
)  # torchrun's processes wait this long for the slowest at the end (Ctrl-C works)


def add_options(p: argparse.ArgumentParser) -> None:
    """The batch options of ``generate``."""
    g = p.add_argument_group("many models (each map named after its model, in --out-dir)")
    g.add_argument("--out-dir", type=Path, metavar="DIR", help="write the maps and the summary generated.csv here")
    g.add_argument(
        "--list",
        type=Path,
        metavar="TABLE",
        help="CSV/TSV with a model column and optionally resolution, ref_map, output, b_factors (relative paths "
        "from the table's folder; the manifest's model_file, map_file, resolution_A and entry are understood)",
    )
    g.add_argument("--overwrite", action="store_true", help="make maps that already exist again (default: skip them)")
    g.add_argument(
        "--shard",
        metavar="I/N",
        help="make rows I, I+N, I+2N, ... (default: torchrun's RANK/WORLD_SIZE, else a Slurm array's "
        "SLURM_ARRAY_TASK_ID/COUNT, else every row)",
    )


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run(args: argparse.Namespace, make_generator: Callable) -> int:
    """Plan (every check before the work), meet torchrun's other processes, generate this shard, join when every
    shard is done; exit status."""
    from ..gan.batch import current_shard, generate_many, jobs_from, join_summaries, plan, read_list
    from ..gan.distributed import Meeting, local_device

    if args.out_dir is None:
        raise S2MError("--list needs --out-dir DIR, the folder of the maps and of generated.csv")
    if args.list is not None and args.model:
        raise S2MError("give MODEL files or --list TABLE, not both")
    for option, value in (("-o", args.output), ("--confidence", args.confidence)):
        if value is not None:
            raise S2MError(f"{option} is for one MODEL; with --out-dir each map is named after its model")
    shard = current_shard(args.shard)
    jobs = jobs_from(models=args.model, table=read_list(args.list) if args.list else None)
    if args.ref_map:
        jobs.loc[jobs["ref_map"] == "", "ref_map"] = str(args.ref_map)
    jobs = plan(jobs, args.out_dir, weights=args.weights, half_maps=getattr(args, "half_maps", False), confine=True)
    meeting = None
    if "torchrun" in shard.source:  # every process there, or one line (variables left from an earlier torchrun)
        meeting = Meeting(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]))
        meeting.meet("start", say=_say)
    generator = make_generator(args, device=local_device(resolved(args.device)), progress=False)
    mine = len(range(shard.index, len(jobs), shard.count))
    print(
        f"{mine} of {len(jobs)} structures (shard {shard.index} of {shard.count}: {shard.source}) with "
        f"{generator.weights} on {generator.device} -> {args.out_dir}",
        file=sys.stderr,
    )
    summary = generate_many(
        generator,
        jobs,
        args.out_dir,
        shard=shard,
        overwrite=args.overwrite,
        resolution=args.resolution,
        half_maps=getattr(args, "half_maps", False),
    )
    counts = summary["status"].value_counts()
    failed = int(counts.get("failed", 0))
    if shard.count > 1:
        if meeting is not None:
            meeting.meet("done", timeout=JOIN_TIMEOUT.total_seconds())
        if meeting is None or meeting.rank == 0:
            try:
                joined = join_summaries(args.out_dir, total=len(jobs))
                print(f"{args.out_dir / 'generated.csv'}: every shard done, {len(joined)} rows joined", file=sys.stderr)
            except S2MError as exc:
                print(f"not joined yet ({exc}); run s2m join {args.out_dir} when every shard is done", file=sys.stderr)
        if meeting is not None:
            meeting.meet("joined")  # every process exits after the join (torchrun stops the others when one exits 1)
            meeting.leave()
    print(
        f"{shard.summary(args.out_dir)}: {int(counts.get('done', 0))} made, {int(counts.get('skipped', 0))} "
        f"skipped (already there), {failed} failed, of {mine}"
    )
    return 1 if failed else 0
