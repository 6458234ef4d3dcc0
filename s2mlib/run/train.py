"""``python -m s2mlib.run.train``: a profile's training run, alone or as one of torchrun's processes (the one entry
point of notebook 04, ``tools/gpu_session.sh`` and Slurm), and notebook 04's call that starts it in this process or
under torchrun.

    python -m s2mlib.run.train --profile default -p epochs 5                          # one process
    torchrun --standalone --nproc-per-node 8 -m s2mlib.run.train --profile paper      # eight GPUs

The training itself: :mod:`s2mlib.gan.train` (loop), :mod:`s2mlib.gan.losses`, :mod:`s2mlib.gan.checkpoints`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ..errors import S2MError
from ..gan import distributed
from ..gan.checkpoints import WeightSnapshots
from ..gan.train import HISTORY, TrainConfig, train_from_table
from ..io.manifest import load_curation
from ..io.outputs import atomic_write
from .config import RunPaths, add_override_option, check_keys, check_overrides, kwargs_for, parse_value

PARAMS = "params.yaml"  # the profile's parameters handed to a torchrun child by train_profile


def run_training(params: Mapping[str, Any], *, curation: str | os.PathLike | None = None) -> tuple[pd.DataFrame, Path]:
    """A profile's training run in this process (one of the processes under torchrun): ``TrainConfig`` from the
    profile's keys, the run folder's curation table (or ``curation``, a table whose relative paths start at its
    folder, e.g. a pack from ``tools/train_weights.py --pack``), generator snapshots every epoch
    (``run.paths.snapshots``), everything in ``run.paths.train``."""
    paths = RunPaths(Path(params["run_dir"]))
    config = TrainConfig(**kwargs_for(TrainConfig, params))
    if curation is not None:
        table, root = load_curation(Path(curation).parent), Path(curation).parent
    else:
        table, root = load_curation(paths.root), paths.root
    return train_from_table(config, table, paths.train, root=root, on_epoch_end=WeightSnapshots(paths.snapshots))


def train_profile(params: Mapping[str, Any], *, echo: Callable[[str], None] = print) -> pd.DataFrame:
    """Notebook 04's training call: :func:`run_training` in this process when the profile's ``nproc`` resolves
    to one process (:func:`s2mlib.gan.distributed.resolve_nproc`: 'auto' = every visible GPU), else the same run under
    ``torchrun --nproc-per-node N -m s2mlib.run.train --params run.paths.train/params.yaml``, its output passed to
    ``echo`` line by line; a failing child raises :class:`S2MError` with its error. Returns the history."""
    nproc = distributed.resolve_nproc(params.get("nproc"), params.get("device", "auto"))
    if nproc == 1:
        return run_training(params)[0]
    paths = RunPaths(Path(params["run_dir"]))
    handed = paths.train / PARAMS
    text = yaml.safe_dump(dict(params), sort_keys=False)
    atomic_write(lambda tmp: Path(tmp).write_text(text), handed)
    distributed.torchrun(["-m", "s2mlib.run.train", "--params", str(handed)], nproc, echo=echo)
    return pd.read_csv(paths.train / HISTORY)


def read_params(path: Path) -> dict[str, Any]:
    """The parameters of ``--params FILE`` (:func:`train_profile`'s hand-over): a YAML mapping of profile keys
    (:func:`s2mlib.run.config.check_keys`) with a ``run_dir``, whose training settings ``TrainConfig`` accepts; one-line
    :class:`S2MError` naming the file otherwise (not YAML, a tag, not a mapping, empty, an unknown key)."""
    try:
        params = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise S2MError(f"{path}: not a YAML file of parameters ({reason})") from None
    if not isinstance(params, dict) or not params:
        raise S2MError(
            f"{path}: holds {'nothing' if not params else type(params).__name__}, not a mapping of profile keys "
            f"(KEY: VALUE lines, as train_profile writes)"
        )
    check_keys([str(k) for k in params if k != "profile"], str(path))
    if not params.get("run_dir"):
        raise S2MError(f"{path}: no run_dir: the run folder whose curation table to train on")
    try:
        TrainConfig(**kwargs_for(TrainConfig, params))
    except (TypeError, ValueError) as exc:
        raise S2MError(f"{path}: the training settings are invalid: {exc}") from None
    return params


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m s2mlib.run.train``: a profile's training run (:func:`run_training`), alone or as one of torchrun's
    processes. Bad input is one line on stderr and exit status 2."""

    parser = argparse.ArgumentParser(prog="python -m s2mlib.run.train", description=(main.__doc__ or "").split("\n")[0])
    parser.add_argument("--profile", default="default", help="params/<profile>.yaml (default: default)")
    add_override_option(parser, "override a profile key (null sets it to None), as ./run_all.sh -p")
    parser.add_argument("--params", type=Path, help="every parameter from this YAML file (train_profile's hand-over)")
    parser.add_argument("--curation", type=Path, help="a curation table elsewhere (relative paths from its folder)")
    args = parser.parse_args(argv)
    try:
        if args.params is not None:
            params = read_params(args.params)
        else:
            overrides = {key: parse_value(value) for key, value in args.parameter}
            params = check_overrides(args.profile, overrides)
            params.update({k: None for k, v in overrides.items() if v is None and k in params})
        where = distributed.init(params.get("device", "auto"))
        try:
            if not where.main:
                params = {**params, "progress": False}
            run_training(params, curation=args.curation)
        finally:
            distributed.close()
    except (S2MError, OSError) as exc:  # the user's input or the file system's; anything else is a bug (traceback)
        print(f"s2mlib.run.train: error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
