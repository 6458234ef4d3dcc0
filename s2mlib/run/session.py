"""The notebooks' session: ``run = start(profile, globals())``, the one set-up call of every notebook (the profile
with its overrides, the inputs it needs checked, the run and figure folders, provenance printed and recorded with
the figures).

Example:
    >>> run = start("default", {"epochs": 1}, notebook="04_train", quiet=True)  # doctest: +SKIP
    >>> run.paths.generator                                                         # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..study import plots
from .config import ENV_KEYS, RunPaths, check_inputs, load_profile
from .provenance import describe, provenance, run_id


@dataclass(frozen=True)
class Run:
    """What a notebook needs from its profile: ``params``, ``paths`` (the run folder's), ``figures`` (folder) and
    ``label`` (recorded with every saved figure: profile and manifest)."""

    params: dict[str, Any]
    paths: RunPaths
    figures: Path
    label: str


FIGURES_NOTE = (
    "figures/ is updated by ./run_all.sh, or by a session started with S2M_FIGURES_DIR=figures (or -p figures_dir)"
)


def start(
    profile: str = "default",
    overrides: Mapping[str, Any] | None = None,
    *,
    notebook: str | None = None,
    quiet: bool = False,
) -> Run:
    """The one set-up call of every notebook: :func:`load_profile`, check that the run folder holds what
    ``notebook`` (e.g. '06_benchmark') reads (:func:`check_inputs`: one line naming the notebook that makes a missing
    file), create the run and figure folders, resolve ``weights: run`` to this run's generator
    (:attr:`RunPaths.generator`), and print what runs where.

    Figures and tables go to the profile's ``figures_dir`` (the tracked ``figures/``) only when asked: by
    ``./run_all.sh`` (which sets ``$S2M_FIGURES_DIR``), ``-p figures_dir`` or ``$S2M_FIGURES_DIR``; a notebook run by
    hand in JupyterLab writes them to the run folder's ``figures/`` (:attr:`RunPaths.interactive_figures`), so
    exploring leaves the committed figures alone.

    >>> run = start("default", {"epochs": 1}, notebook="04_train", quiet=True)  # doctest: +SKIP
    """
    params = load_profile(profile, overrides)
    if notebook:
        check_inputs([notebook], params)
    paths = RunPaths(Path(params["run_dir"]))
    if (overrides or {}).get("figures_dir") is None and not os.environ.get(ENV_KEYS["figures_dir"]):
        params["figures_dir"] = str(paths.interactive_figures)  # not ./run_all.sh, no folder asked for
    figures = Path(params["figures_dir"])
    paths.root.mkdir(parents=True, exist_ok=True)
    figures.mkdir(parents=True, exist_ok=True)
    plots.check_figure_folder(figures)  # a folder whose own README.md the figure index would replace
    if str(params.get("weights")) == "run":
        params["weights"] = str(paths.generator)
    label = f"{params['profile']} ({Path(params['manifest']).name})"
    pd.set_option("display.width", 200)  # notebooks show wide tables
    record = provenance(params, overrides)
    plots.set_provenance(record, run_id(record))
    if not quiet:
        also = f" (an interactive session: {FIGURES_NOTE})" if figures == paths.interactive_figures else ""
        print(
            f"profile {params['profile']} ({params.get('description', '')}); manifest {params['manifest']}; "
            f"run folder {paths.root}; figures and tables -> {figures}{also}\n{describe(record)}"
        )
    return Run(params, paths, figures, label)
