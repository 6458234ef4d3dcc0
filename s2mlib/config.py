"""Run profiles: ``params/<profile>.yaml`` plus overrides (papermill ``-p key value``, ``S2M_MANIFEST``), and the
named paths of a run folder.

Notebooks declare every parameter with ``None`` ("as the profile says") and start with one call,
``run = start(profile, globals())``: the profile's parameters (``run.params``, a plain dict with paths made
absolute), the run and figure folders (created), the label that figures are recorded with, and the run folder's
named paths (``run.paths.generator``, ``run.paths.scores`` ...), so no notebook spells a path itself.

Example:
    >>> p = load_profile("default", {"epochs": 1, "unrelated": 5})
    >>> p["epochs"], p["profile"]
    (1, 'default')
    >>> RunPaths(Path("/runs/default")).generator
    PosixPath('/runs/default/train/generator.pt')
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .errors import S2MError

ROOT = Path(__file__).resolve().parents[1]
PARAMS_DIR = ROOT / "params"
PATH_KEYS = ("manifest", "run_dir", "figures_dir")


def profile_path(name: str) -> Path:
    path = PARAMS_DIR / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))
        raise S2MError(f"{path}: no such profile '{name}' (known profiles: {', '.join(known)})")
    return path


def load_profile(name: str = "default", overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The profile's parameters, updated by the non-None ``overrides`` whose keys the profile defines.

    The manifest comes from, in order: an override, ``$S2M_MANIFEST``, the profile. Relative paths are taken
    from the project root.
    """
    with open(profile_path(name)) as fh:
        params = yaml.safe_load(fh) or {}
    params["profile"] = name
    for key, value in (overrides or {}).items():
        if key in params and key != "profile" and value is not None:
            params[key] = value
    if (overrides or {}).get("manifest") is None and os.environ.get("S2M_MANIFEST"):
        params["manifest"] = os.environ["S2M_MANIFEST"]
    for key in PATH_KEYS:
        if params.get(key) is not None:
            params[key] = str((ROOT / os.path.expanduser(str(params[key]))).resolve())
    return params


def _type_problem(value: Any, default: Any) -> str | None:
    """Why ``value`` cannot stand where the profile has ``default`` (None when it can): the notebooks' settings take
    the profile's types (a bool, a whole number, a number, a list; a text key also takes a number, e.g. nproc 2)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if value is None or default is None:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        return None if number and isinstance(value, int) else "a whole number"
    if isinstance(default, float):
        return None if number else "a number"
    if isinstance(default, list):
        return None if isinstance(value, list) else "a list such as [3.5, 5.0]"
    return None if isinstance(value, str) or number else "a word or a path"


def check_overrides(profile: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The pre-flight of ``-p KEY VALUE`` (``./run_all.sh``, its ``--dry-run`` and ``python -m s2mlib.train``), before
    any work: every key must be one of the profile's (an unknown one, a typo, names the nearest known key), every
    value of the profile's type (:func:`_type_problem`), and the settings must pass the checks the notebooks apply
    (``TrainConfig``, ``CurationConfig``, the generator's device and batch size). Raises :class:`S2MError` with one
    line; returns the profile's parameters with the overrides."""
    import difflib

    with open(profile_path(profile)) as fh:
        defaults = yaml.safe_load(fh) or {}
    for key, value in overrides.items():
        if key == "profile":
            raise S2MError("-p profile: choose the profile with --profile NAME")
        if key not in defaults:
            near = difflib.get_close_matches(key, list(defaults), n=1, cutoff=0.5)
            hint = f"; did you mean {near[0]}?" if near else f" (known: {', '.join(sorted(defaults))})"
            raise S2MError(f"-p {key}: profile {profile} has no parameter {key!r}{hint}")
        need = _type_problem(value, defaults[key])
        if need:
            raise S2MError(f"-p {key} {value!r}: {key} takes {need} (profile {profile} has {defaults[key]!r})")
    params = load_profile(profile, overrides)
    from .curate import CurationConfig
    from .model import resolve_device
    from .train import TrainConfig

    checks = {
        "training": lambda: TrainConfig(**kwargs_for(TrainConfig, params)),
        "curation": lambda: CurationConfig.from_params(params),
        "device": lambda: resolve_device(params.get("device", "auto")),
    }
    for what, check in checks.items():
        try:
            check()
        except (TypeError, ValueError) as exc:
            given = " ".join(f"-p {k} {v!r}" for k, v in overrides.items())
            raise S2MError(f"{given or f'profile {profile}'}: the {what} settings are invalid: {exc}") from None
    batch = params.get("generate_batch_size")
    if batch is not None and not (isinstance(batch, int) and batch >= 1):
        raise S2MError(f"-p generate_batch_size {batch!r}: the generator's batch size must be a whole number >= 1")
    return params


def parse_value(text: str) -> Any:
    """Papermill-like typing of ``-p key value``: YAML scalars (3 -> int, 0.5 -> float, true, null); a number in
    exponent form that YAML 1.1 reads as text (1e-4) is a float.

    >>> parse_value("1e-4"), parse_value("3"), parse_value("auto")
    (0.0001, 3, 'auto')
    """
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str) and re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+", value.strip()):
        return float(value)
    return value


def add_override_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """The repeatable ``-p KEY VALUE`` option of ``./run_all.sh`` and ``python -m s2mlib.train`` (``args.parameter``,
    a list of pairs; type each value with :func:`parse_value`)."""
    parser.add_argument(
        "-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"), help=help_text
    )


def kwargs_for(func, params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """The entries of ``params`` that ``func`` (a function or class) takes as keyword arguments; with ``prefix``,
    a key ``prefix + name`` gives ``name`` and wins over a plain ``name`` (e.g. the profile's ``generate_bf16`` is
    the generator's ``bf16``, while ``bf16`` is training's).

    >>> def f(a, *, seed=0, bf16=False): ...
    >>> kwargs_for(f, {"seed": 3, "epochs": 5, "bf16": True, "generate_bf16": False}, prefix="generate_")
    {'seed': 3, 'bf16': False}
    """
    accepted = [name for name in inspect.signature(func).parameters if name != "self"]
    out = {k: params[k] for k in accepted if k in params}
    if prefix:
        out.update({k: params[prefix + k] for k in accepted if prefix + k in params})
    return out


@dataclass(frozen=True)
class RunPaths:
    """The named files and folders of a run folder (``runs/<profile>``), written by one notebook, read by others."""

    root: Path

    @property
    def curated(self) -> Path:  # 01: ExpMaps, SimMaps and their cache records
        return self.root / "curated"

    @property
    def train(self) -> Path:  # 04: checkpoint.pt, history.csv, generator.pt
        return self.root / "train"

    @property
    def generator(self) -> Path:  # 04's exported generator ('weights: run')
        return self.train / "generator.pt"

    @property
    def snapshots(self) -> Path:  # 04: the generator after each epoch (Figure 3)
        return self.train / "snapshots"

    @property
    def baselines(self) -> Path:  # 02, 06: simulated maps per entry
        return self.root / "baselines"

    @property
    def generated(self) -> Path:  # 05: generated maps of the test entries
        return self.root / "generated"

    @property
    def generated_table(self) -> Path:  # 05 -> 06: which map was generated for which entry, and how fast
        return self.generated / "generated.csv"

    @property
    def scores(self) -> Path:  # 06 -> 07: every map's scores
        return self.root / "scores.csv"

    @property
    def series(self) -> Path:  # 07: maps of the test entries at target resolutions
        return self.root / "series"

    @property
    def series_table(self) -> Path:  # 07: their scores against the low-passed experimental maps
        return self.series / "series.csv"

    @property
    def ablation(self) -> Path:  # 08: the variants' runs and maps
        return self.root / "ablation"

    @property
    def raw_targets(self) -> Path:  # 08: unmasked targets
        return self.root / "raw_targets"

    @property
    def notebooks(self) -> Path:  # the runner: executed notebooks and their HTML
        return self.root / "notebooks"


@dataclass(frozen=True)
class Run:
    """What a notebook needs from its profile: ``params``, ``paths`` (the run folder's), ``figures`` (folder) and
    ``label`` (recorded with every saved figure: profile and manifest)."""

    params: dict[str, Any]
    paths: RunPaths
    figures: Path
    label: str


def start(profile: str = "default", overrides: Mapping[str, Any] | None = None, *, quiet: bool = False) -> Run:
    """The one set-up call of every notebook: :func:`load_profile`, create the run and figure folders, resolve
    ``weights: run`` to this run's generator (:attr:`RunPaths.generator`), and print what runs where.

    >>> run = start("default", {"epochs": 1}, quiet=True)  # doctest: +SKIP
    """
    params = load_profile(profile, overrides)
    paths = RunPaths(Path(params["run_dir"]))
    figures = Path(params["figures_dir"])
    paths.root.mkdir(parents=True, exist_ok=True)
    figures.mkdir(parents=True, exist_ok=True)
    if str(params.get("weights")) == "run":
        params["weights"] = str(paths.generator)
    label = f"{params['profile']} ({Path(params['manifest']).name})"
    pd.set_option("display.width", 200)  # notebooks show wide tables
    if not quiet:
        print(
            f"profile {params['profile']} ({params.get('description', '')}); manifest {params['manifest']}; "
            f"run folder {paths.root}"
        )
    return Run(params, paths, figures, label)
