"""s2mlib.study.views: nglview's Python side and its installed lab extension agree (the browser loads the views), and
the views fall back to static figures where no browser draws them."""

from __future__ import annotations

import gzip
import shutil

import gemmi
import matplotlib.pyplot as plt
import pandas as pd
import pytest
from helpers import tiny_pairs

from s2mlib.study import views


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> dict:
    """2566_3J6B from tests/data, its map decompressed (nglview reads a plain .mrc)."""
    row = next(r for r in tiny_pairs() if r["entry"] == "2566_3J6B")
    density = tmp_path_factory.mktemp("views") / "2566.mrc"
    with gzip.open(row["map_path"]) as src, open(density, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return {"model": row["model_path"], "map": density}


def test_nglview_asks_for_the_installed_lab_extension():
    """The pinned nglview must ask the browser for the front-end version its lab extension registers, or every
    view fails in JupyterLab with 'Module nglview-js-widgets, version X is not registered' (nglview 4.0.1: 4.0 asked,
    3.1.5 installed)."""
    asked, installed = views.frontend_versions()
    assert installed is not None, f"no {views.LAB_EXTENSION} lab extension installed in this environment"
    assert views.frontend_agrees(asked, installed), f"nglview asks for front-end {asked}, lab extension is {installed}"


@pytest.mark.parametrize(
    ("asked", "installed", "agrees"),
    [("3.1.5", "3.1.5", True), ("4.0", "3.1.5", False), ("4.0", "4.0.3", True), ("3.1.4", "3.1.5", False)]
    + [("^3.1.0", "3.2.1", True), ("^3.1.0", "4.0.0", False), ("3.1.5", None, False)],
)
def test_frontend_agrees_follows_the_widget_managers_semver(asked, installed, agrees):
    assert views.frontend_agrees(asked, installed) is agrees


def test_static_reason_without_a_browser(monkeypatch):
    monkeypatch.setenv(views.STATIC_VIEWS, "1")
    assert views.static_reason() == "run without a browser"
    monkeypatch.delenv(views.STATIC_VIEWS)
    assert views.static_reason() == "not in a notebook"  # pytest is no Jupyter kernel


def test_scored_pdb_puts_each_residues_score_in_b(pair):
    scores = pd.DataFrame({"chain": ["9", "9"], "residue_number": [29, 30], "Q": [0.25, 0.75]})
    structure = gemmi.read_pdb_string(views.scored_pdb(pair["model"], scores, "Q"))
    b = {(r.seqid.num, a.name): a.b_iso for r in structure[0]["9"] for a in r}
    assert b[(29, "CA")] == pytest.approx(0.25) and b[(30, "N")] == pytest.approx(0.75)
    assert b[(31, "CA")] == 0.0  # no score: 0


def test_views_are_static_figures_in_a_papermill_run(pair, monkeypatch):
    monkeypatch.setenv(views.STATIC_VIEWS, "1")
    fig = views.model_in_map(pair["model"], pair["map"])
    assert isinstance(fig, plt.Figure) and len(fig.axes) == 1
    assert fig.axes[0].collections and fig.axes[0].lines  # the isosurface and the CA trace
    scores = pd.DataFrame({"chain": ["9"] * 3, "residue_number": [29, 30, 31], "a": [0.1, 0.5, 0.9]})
    fig = views.map_comparison(pair["model"], {"a": pair["map"], "b": pair["map"]}, scores)
    assert [ax.get_title() for ax in fig.axes] == ["a\nmap", "b\nmap"]
    grey = {line.get_color() for line in fig.axes[0].lines}
    assert "0.6" in grey and len(grey) >= 3  # unscored residues grey, scored ones on the colour scale


def test_views_are_nglview_widgets_in_a_browser(pair, monkeypatch):
    monkeypatch.setattr(views, "static_reason", lambda: None)
    view = views.model_in_map(pair["model"], pair["map"])
    assert type(view).__name__ == "NGLWidget" and len(view._ngl_component_ids) == 2  # model and map
    scores = pd.DataFrame({"chain": ["9"], "residue_number": [29], "a": [0.5]})
    box = views.map_comparison(pair["model"], {"a": pair["map"], "b": pair["map"]}, scores)
    row = box.children[0]
    left, right = (b.children[1] for b in row.children)
    assert left._synced_model_ids == [right._model_id] and right._synced_model_ids == [left._model_id]
