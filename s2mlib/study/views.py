"""Interactive 3D views for the notebooks (nglview), one call each, with a static matplotlib figure where no
browser draws widgets (``./run_all.sh``'s papermill runs and their HTML, a plain Python session).

- :func:`model_in_map`: a model (cartoon) inside a map's isosurface, drawn as a mesh (notebook 01: the ExpMap).
- :func:`map_comparison`: maps side by side with linked cameras, each with the model coloured by its per-residue
  score against that map (notebook 06: generated and experimental maps, Q-score); red is low, blue high.

The views need nglview's Python side and its JupyterLab extension to agree on the front-end version
(:func:`frontend_versions`); where they do not, the static figure is shown with one line saying why.

Example (in JupyterLab: a widget; in papermill: a figure)::

    >>> view = model_in_map("model.pdb", "exp_map.mrc")  # doctest: +SKIP
    >>> view  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

STATIC_VIEWS = "S2M_STATIC_VIEWS"  # set by the runner: kernels without a browser draw static figures
LAB_EXTENSION = "nglview-js-widgets"
SCORE_CMAP, SCORE_NGL_SCALE, SCORE_RANGE = "RdYlBu", "RdYlBu", (0.0, 1.0)  # low red, high blue (both libraries)
MESH_COLOUR = "#8c8c8c"  # grey, apart from the score scale


def frontend_versions() -> tuple[str, str | None]:
    """The front-end version nglview's Python side asks the browser for, and the version of the lab extension
    installed beside it (``share/jupyter/labextensions/nglview-js-widgets/package.json``; None when absent).

    >>> asked, installed = frontend_versions()  # doctest: +SKIP
    """
    from jupyter_core.paths import jupyter_path
    from nglview._frontend import __frontend_version__

    for folder in jupyter_path("labextensions"):
        package = Path(folder) / LAB_EXTENSION / "package.json"
        if package.is_file():
            return __frontend_version__, json.loads(package.read_text())["version"]
    return __frontend_version__, None


def frontend_agrees(asked: str, installed: str | None) -> bool:
    """True when the widget manager accepts the ``installed`` extension for the ``asked`` version (a semver range:
    '3.1.5' means exactly 3.1.5, '4.0' any 4.0.x, '^3.1' any 3.x from 3.1).

    >>> frontend_agrees("3.1.5", "3.1.5"), frontend_agrees("4.0", "3.1.5"), frontend_agrees("4.0", "4.0.2")
    (True, False, True)
    """
    if installed is None:
        return False
    have = tuple(int(p) for p in re.findall(r"\d+", installed)[:3])
    caret = asked.startswith("^")
    want = tuple(int(p) for p in re.findall(r"\d+", asked)[:3])
    if caret:
        return have[0] == want[0] and have >= want + (0,) * (3 - len(want))
    return have[: len(want)] == want


def static_reason() -> str | None:
    """Why a view is drawn as a static figure here (None: a notebook front-end will draw the widget)."""
    if os.environ.get(STATIC_VIEWS):
        return "run without a browser"
    try:
        from IPython import get_ipython
    except ImportError:
        return "not in a notebook"
    shell = get_ipython()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return "not in a notebook"
    asked, installed = frontend_versions()
    if not frontend_agrees(asked, installed):
        return (
            f"nglview asks the browser for front-end {asked} but the installed lab extension is {installed}; "
            "install the versions in environment.yml (tools/setup_env.sh)"
        )
    return None


def contour(density, fraction: float = 0.03) -> float:
    """The level enclosing ``fraction`` of the map's voxels (the notebooks' isosurfaces: 3 %, as Figure 4)."""
    from ..metrics import contour_level

    return contour_level(density.data, fraction)


def scored_pdb(model: str | os.PathLike, scores: pd.DataFrame | None = None, column: str | None = None) -> str:
    """The model as PDB text, with each residue's ``scores[column]`` (rows keyed by chain, residue_number) in the
    B-factor column of its atoms (0 where the table has no score), for colouring by score."""
    from ..io.atoms import read_structure

    structure = read_structure(model).gemmi_structure.clone()
    if scores is not None and column is not None:
        lookup: dict[tuple[str, int | None], float] = {
            (str(c), int(n)): float(v) for c, n, v in zip(scores["chain"], scores["residue_number"], scores[column])
        }
        for chain in structure[0]:
            for residue in chain:
                value = lookup.get((chain.name, residue.seqid.num), 0.0)
                for atom in residue:
                    atom.b_iso = 0.0 if np.isnan(value) else value
    return structure.make_pdb_string()


def _viewer(model, density_path, level: float, colour: str, scores=None, column=None):
    import nglview

    view = nglview.NGLWidget()
    view.layout.height = "420px"
    view.add_component(nglview.TextStructure(scored_pdb(model, scores, column)), default_representation=False)
    if column is None:
        view.add_representation("cartoon", component=0, color="sstruc")
    else:
        low, high = SCORE_RANGE
        view.add_representation(
            "cartoon",
            component=0,
            color="bfactor",
            colorScale=SCORE_NGL_SCALE,
            colorDomain=[low, high],
        )
    view.add_component(str(density_path), default_representation=False)
    view.add_representation(
        "surface", component=1, isolevelType="value", isolevel=level, color=colour, opacity=0.5, wireframe=True
    )  # a mesh, as in Coot and ChimeraX: the model stays visible inside
    view.center()  # the model; without a default representation NGL does not frame the scene itself
    return view


def _traces(model, scores: pd.DataFrame | None, column: str | None) -> list[tuple[np.ndarray, Any]]:
    """CA trace segments for the static figure: by secondary structure, or by score (one segment per residue)."""
    import matplotlib

    from ..io.atoms import read_structure
    from ..sim.structures import secondary_structure
    from . import plots

    table = secondary_structure(read_structure(model))
    if scores is None or column is None:
        return plots.ca_trace(table)
    keyed = scores.set_index(["chain", "residue_number"])[column]
    values = [keyed.get((c, n), np.nan) for c, n in zip(table["chain"], table["residue"])]
    cmap, (low, high) = matplotlib.colormaps[SCORE_CMAP], SCORE_RANGE
    xyz, run = table[["x", "y", "z"]].to_numpy(dtype=float), table["run"].to_numpy()
    return [
        (xyz[i : i + 2], "0.6" if np.isnan(values[i]) else cmap((values[i] - low) / (high - low)))
        for i in range(len(table) - 1)
        if run[i] == run[i + 1]
    ]


def _static(rows: dict, colours: dict, traces: dict, reason: str):
    import matplotlib.pyplot as plt

    from . import plots

    if reason != "run without a browser":
        print(f"3D view drawn as a static figure: {reason}")
    fig = plots.isosurface_grid(rows, colors=colours, ca_traces=traces)
    plt.close(fig)  # shown once, as the value returned
    return fig


def model_in_map(model: str | os.PathLike, density_path: str | os.PathLike, *, fraction: float = 0.03, title=None):
    """A model (cartoon, coloured by secondary structure) inside the isosurface of a map enclosing ``fraction`` of
    its voxels: an nglview widget, or a matplotlib figure (isosurface and CA trace) without a browser.

    >>> model_in_map("model.pdb", "runs/default/curated/0093_exp.mrc")  # doctest: +SKIP
    """
    from ..io.density import read_map

    density = read_map(density_path)
    level = contour(density, fraction)
    reason = static_reason()
    if reason:
        label = title or Path(model).stem
        return _static(
            {label: {"map": (density, level)}}, {"map": "tab:gray"}, {label: _traces(model, None, None)}, reason
        )
    return _viewer(model, density_path, level, MESH_COLOUR)


def map_comparison(
    model: str | os.PathLike,
    maps: Mapping[str, str | os.PathLike],
    scores: pd.DataFrame | None = None,
    *,
    fraction: float = 0.03,
    width: int = 440,
):
    """Maps side by side (cameras linked), each as the isosurface enclosing ``fraction`` of its voxels with the model
    coloured by its per-residue score against that map (``scores``: chain, residue_number and one column per name of
    ``maps``, e.g. :func:`s2mlib.study.benchmark.residue_profiles`; red 0, blue 1); without a browser, a matplotlib
    figure.

    >>> map_comparison("model.pdb", {"generated": "gen.mrc", "experimental": "exp.mrc"}, q)  # doctest: +SKIP
    """
    from ..io.density import read_map

    densities = {name: read_map(path) for name, path in maps.items()}
    levels = {name: contour(d, fraction) for name, d in densities.items()}
    columns = {name: name if scores is not None and name in scores.columns else None for name in maps}
    reason = static_reason()
    if reason:
        rows = {name: {"map": (densities[name], levels[name])} for name in maps}
        traces = {name: _traces(model, scores, columns[name]) for name in maps}
        return _static(rows, {"map": "tab:gray"}, traces, reason)
    import ipywidgets

    views = [_viewer(model, maps[n], levels[n], MESH_COLOUR, scores, columns[n]) for n in maps]
    for view in views:
        view.layout.width = f"{width}px"
        view._set_sync_camera([other for other in views if other is not view])
    label = "model coloured by per-residue score against each map: red 0, blue 1" if scores is not None else ""
    titles = [ipywidgets.HTML(f"<b>{name}</b> (contour enclosing {fraction:.0%} of the voxels)") for name in maps]
    boxes = [ipywidgets.VBox([title, view]) for title, view in zip(titles, views)]
    return ipywidgets.VBox([ipywidgets.HBox(boxes), ipywidgets.HTML(label)])
