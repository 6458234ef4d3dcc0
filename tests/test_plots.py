"""Figure and table writers: files appear whole, drawn geometry lands in world coordinates, and the CA trace is cut
into segments of one secondary structure without lines across chain breaks."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from helpers import pair

from s2mlib.io.atoms import read_structure
from s2mlib.io.density import DensityMap
from s2mlib.sim.structures import secondary_structure
from s2mlib.study.plots import SS_COLOURS, ca_trace, isosurface, metric_boxplots, save_figure, save_table, time_vs_size


def test_save_table_writes_csv_and_markdown(tmp_path):
    table = pd.DataFrame({"method": ["a", "b"], "ssim": [0.5, 0.25]})
    csv_path, md_path = save_table(table, tmp_path / "t")
    assert pd.read_csv(csv_path).equals(table)
    lines = md_path.read_text().splitlines()
    assert lines[0].replace(" ", "") == "|method|ssim|" and "0.250" in lines[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv", "t.md"]


def test_save_figure_png(tmp_path):
    fig = metric_boxplots(pd.DataFrame({"method": list("aabb"), "ssim": [1, 2, 3, 4.0]}), ["ssim"])
    assert save_figure(fig, tmp_path / "f.png") is None  # a notebook cell ending with it echoes nothing
    assert (tmp_path / "f.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plt.close(fig)


def test_isosurface_vertices_on_sphere_in_world_coordinates():
    z, y, x = np.mgrid[0:21, 0:21, 0:21]
    radius = np.sqrt((x - 10) ** 2 + (y - 10) ** 2 + (z - 10) ** 2)
    density = DensityMap(radius.astype(np.float32), origin=(100.0, 50.0, -20.0), voxel_size=2.0)
    fig = plt.figure()
    ax = fig.add_subplot(projection="3d")
    verts = isosurface(ax, density, level=6.0)
    assert len(ax.collections) == 1 and len(verts) > 100
    centre = np.array([100.0 + 20, 50.0 + 20, -20.0 + 20])
    assert np.allclose(np.linalg.norm(verts - centre, axis=1), 12.0, atol=0.3)
    plt.close(fig)


def test_time_vs_size_fits_the_line():
    timings = pd.DataFrame({"residues": [1000, 2000, 4000], "seconds": [3.0, 5.0, 9.0]})
    fig = time_vs_size(timings)
    label = fig.axes[0].get_legend().get_texts()[0].get_text()
    assert label.startswith("2.00 s per 1000 residues")
    plt.close(fig)


def test_index_records_profile_and_readme(tmp_path):
    import json

    fig = time_vs_size(pd.DataFrame({"residues": [1, 2], "seconds": [1.0, 2.0]}))
    save_figure(fig, tmp_path / "fig7_generation_time.png", profile="default")
    save_table(pd.DataFrame({"a": [1]}), tmp_path / "table1", profile="paper")
    index = json.loads((tmp_path / "index.json").read_text())["files"]
    assert index["fig7_generation_time.png"]["profile"] == "default"
    assert index["table1.csv"]["profile"] == "paper" and index["table1.md"]["profile"] == "paper"
    readme = (tmp_path / "README.md").read_text()
    assert "| [fig7_generation_time.png](fig7_generation_time.png) | Figure 7" in readme
    plt.close(fig)


def test_index_files_change_only_with_content(tmp_path):
    import json
    import os

    table = pd.DataFrame({"a": [1.0, 2.0]})
    save_table(table, tmp_path / "table1", profile="default")
    index = tmp_path / "index.json"
    for name in ("index.json", "README.md", "table1.csv"):
        os.utime(tmp_path / name, (1, 1))
    record = json.loads(index.read_text())["files"]["table1.csv"]
    save_table(table, tmp_path / "table1", profile="default")  # same content: nothing rewritten, same date
    save_table(table.assign(a=[1.0 + 1e-15, 2.0]), tmp_path / "table1", profile="default")  # rounding noise: same
    assert [(tmp_path / n).stat().st_mtime for n in ("index.json", "README.md", "table1.csv")] == [1, 1, 1]
    (tmp_path / "index.json").write_text(index.read_text().replace(record["written"], "2000-01-01 00:00:00"))
    save_table(table.assign(a=[1.0, 3.0]), tmp_path / "table1", profile="default")  # new content: new date
    assert json.loads(index.read_text())["files"]["table1.csv"]["written"] != "2000-01-01 00:00:00"


def test_index_records_the_run_that_made_each_file(tmp_path, monkeypatch):
    import json
    import os

    import torch

    from s2mlib.run.provenance import provenance, run_id
    from s2mlib.study import plots

    monkeypatch.setattr(plots, "_RUN", None)
    save_table(pd.DataFrame({"a": [1]}), tmp_path / "table1", profile="default")  # made before provenance was set
    first = provenance(
        {"profile": "default", "manifest": "x/pairs.tsv", "seed": 0, "seeds": 3, "epochs": 3}, {"epochs": 2}
    )
    plots.set_provenance(first, run_id(first))
    save_table(pd.DataFrame({"a": [2]}), tmp_path / "table2", profile="default")
    save_table(pd.DataFrame({"a": [1]}), tmp_path / "table1", profile="default")  # unchanged: keeps its record
    index = json.loads((tmp_path / "index.json").read_text())
    assert "run" not in index["files"]["table1.csv"]
    assert index["files"]["table2.csv"]["run"] == index["files"]["table2.md"]["run"] == run_id(first)
    run = index["runs"][run_id(first)]
    assert run["overrides"] == {"epochs": 2} and run["seeds"] == 3 and run["manifest"] == "pairs.tsv"
    assert run["machine"]["cores"] == os.cpu_count() and run["versions"]["torch"] == torch.__version__
    second = {**first, "seed": 5}
    plots.set_provenance(second, run_id(second))
    save_table(pd.DataFrame({"a": [3]}), tmp_path / "table2", profile="default")  # the first run is no longer used
    index = json.loads((tmp_path / "index.json").read_text())
    assert list(index["runs"]) == [run_id(second)]
    assert f"| {run_id(second)} |" in (tmp_path / "README.md").read_text()
    plots.set_provenance(None)


def test_ca_trace_segments(tmp_path):
    structure = read_structure(pair("6272_3J9S")["model_path"])
    table = secondary_structure(structure)
    segments = ca_trace(table)
    colour_of = {
        tuple(np.round(xyz, 3)): SS_COLOURS[ss] for xyz, ss in zip(table[["x", "y", "z"]].to_numpy(), table["ss"])
    }
    drawn = set()
    for xyz, colour in segments:
        assert len(xyz) >= 1 and colour in SS_COLOURS.values()
        if len(xyz) > 1:
            assert np.linalg.norm(np.diff(xyz, axis=0), axis=1).max() <= 4.2  # no line across a chain break
        points = [tuple(np.round(p, 3)) for p in xyz]
        assert all(colour_of[p] == colour for p in points[:-1])  # the last CA may be the next segment's first
        drawn.update(points)
    assert drawn == set(colour_of)


def test_metric_vs_target_draws_the_mean_per_method():
    """Targets both entries have are joined (means 0.3 -> 0.6 and 0.1 -> 0.2); each entry's own reported resolution
    (2.6 and 3.3 A) is a lone cross at its score, not part of a line."""
    from s2mlib.study.plots import metric_vs_target

    series = pd.DataFrame(
        {
            "entry": ["a", "b"] * 4 + ["a", "b"] * 2,
            "target": [3.5, 3.5, 5.0, 5.0] * 2 + [2.6, 3.3] * 2,
            "method": ["gan"] * 4 + ["molmap"] * 4 + ["gan", "gan", "molmap", "molmap"],
            "ssim": [0.2, 0.4, 0.5, 0.7, 0.1, 0.1, 0.2, 0.2, 0.9, 0.8, 0.05, 0.06],
        }
    )
    fig = metric_vs_target(series, ["ssim"], order=["gan", "molmap"])
    ax = fig.axes[0]
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 2]
    means = sorted(tuple(np.round(line.get_ydata(), 6)) for line in lines)
    assert means == [(0.1, 0.2), (0.3, 0.6)]
    crosses = sorted(tuple(np.round(xy, 6)) for c in ax.collections if c.get_offsets().size for xy in c.get_offsets())
    assert [p for p in crosses if p[0] in (2.6, 3.3)] == [(2.6, 0.05), (2.6, 0.9), (3.3, 0.06), (3.3, 0.8)]
    assert not any(x in (2.6, 3.3) for line in ax.get_lines() for x in line.get_xdata())
    plt.close(fig)


def test_metric_points_one_panel_per_metric():
    from s2mlib.study.plots import metric_points

    scores = pd.DataFrame(
        {
            "R": ["reported", "5 Å"] * 4,
            "method": ["a"] * 4 + ["b"] * 4,
            "pcc": np.linspace(0, 1, 8),
            "ssim": np.linspace(1, 0, 8),
        }
    )
    fig = metric_points(scores, ["pcc", "ssim"], x="R", hue="method")
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "SSIM"
    plt.close(fig)
