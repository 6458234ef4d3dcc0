"""Tests of s2mlib.study.benchmark: baselines on the ExpMap grid and their cache, scoring, Table 1, Figure 5's fits and
generation timing (real pairs: 2566_3J6B, 5925_3J6J, 20353_6PJ6, from ../shared/data or the in-repo tests/data)."""

from __future__ import annotations

import csv
import gzip
import math
import os

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, pair

from s2mlib.errors import ManifestError
from s2mlib.gan.generate import MapGenerator, generator_input
from s2mlib.gan.model import Generator
from s2mlib.gan.weights import export_generator
from s2mlib.io.atoms import read_structure
from s2mlib.io.density import read_map, write_map
from s2mlib.sim.simulate import molmap
from s2mlib.study.benchmark import (
    BASELINES,
    MASKED_METRICS,
    field_scores_table,
    paper_scores_table,
    resolution_fits,
    score_maps,
    simulate_baselines,
    summary_table,
    time_generation,
)
from s2mlib.study.curate import curate_exp_map

PAPER_CSV = ROOT / "params" / "paper_table1.csv"  # the paper's Table 1 (../shared/paper/table1_paper.csv)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def entries(tmp_path_factory) -> pd.DataFrame:
    """Two curated entries: 2566_3J6B (reported 3.2 A) and 5925_3J6J (resolution unknown: NaN)."""
    folder = tmp_path_factory.mktemp("curated")
    rows = []
    for entry, resolution in (("2566_3J6B", 3.2), ("5925_3J6J", math.nan)):
        p = pair(entry)
        exp = curate_exp_map(read_map(p["map_path"]), read_structure(p["model_path"]))
        rows.append(
            {
                "entry": entry,
                "resolution": resolution,
                "exp_map": str(write_map(exp, folder / f"{entry}.mrc")),
                "model": str(p["model_path"]),
            }
        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def baselines(entries, tmp_path_factory):
    out = tmp_path_factory.mktemp("baselines")
    return out, simulate_baselines(entries, out, progress=False)


def test_baselines_lie_on_the_expmap_grid(entries, baselines):
    _, table = baselines
    assert len(table) == len(entries) * len(BASELINES)
    assert list(table["method"][: len(BASELINES)]) == list(BASELINES)
    assert not table["cached"].any() and np.all(np.isfinite(table["seconds"]))
    for row in entries.itertuples():
        exp = read_map(row.exp_map)
        structure = read_structure(row.model)
        mine = table[table["entry"] == row.entry].set_index("method")
        for name in BASELINES:
            sim = read_map(mine.loc[name, "path"])
            assert sim.data.shape == exp.data.shape
            np.testing.assert_allclose(sim.origin, exp.origin, atol=1e-4)
            np.testing.assert_allclose(sim.voxel_size, exp.voxel_size, atol=1e-6)
        reported = 3.2 if row.entry == "2566_3J6B" else 3.5  # unknown -> default_resolution
        assert mine.loc["molmap (reported res.)", "sim_resolution"] == reported
        assert mine.loc["StructureBlurrer", "sim_method"] == "blurrer" and mine.loc["gemmi", "sim_resolution"] == 2.0
        assert mine.loc["gemmi (reported res.)", "sim_resolution"] == reported
        for name, resolution in (("molmap", 2.0), ("molmap (reported res.)", reported)):
            expected = molmap(structure, resolution, ref_map=exp).data
            np.testing.assert_allclose(
                read_map(mine.loc[name, "path"]).data, expected, rtol=1e-5, atol=1e-6 * expected.max()
            )


def test_baselines_are_cached(entries, baselines, monkeypatch):
    out, first = baselines
    stamps = {p: os.stat(p).st_mtime_ns for p in first["path"]}

    def forbidden(*args, **kwargs):
        raise AssertionError("a cached baseline was simulated again")

    monkeypatch.setattr("s2mlib.study.benchmark.simulate", forbidden)
    again = simulate_baselines(entries, out, progress=False)
    assert again["cached"].all()
    np.testing.assert_array_equal(again["seconds"], first["seconds"])  # recorded times are kept
    assert {p: os.stat(p).st_mtime_ns for p in again["path"]} == stamps
    # another default resolution changes only the map of the entry without a reported resolution
    calls = []

    def counting(structure, method, resolution, ref_map):
        calls.append((method, resolution))
        return molmap(structure, resolution, ref_map=ref_map)

    monkeypatch.setattr("s2mlib.study.benchmark.simulate", counting)
    third = simulate_baselines(entries, out, default_resolution=4.0, progress=False)
    assert calls == [("molmap", 4.0), ("gemmi", 4.0)]
    redone = third[~third["cached"]]
    assert list(zip(redone["entry"], redone["method"])) == [
        ("5925_3J6J", "molmap (reported res.)"),
        ("5925_3J6J", "gemmi (reported res.)"),
    ]
    with pytest.raises(ValueError, match="unknown baseline"):
        simulate_baselines(entries, out, methods=["chimera"], progress=False)
    with pytest.raises(ManifestError, match="5925_3J6J: exp_map file not found"):
        simulate_baselines(entries.assign(exp_map=[entries["exp_map"][0], "/nowhere/x.mrc"]), out, progress=False)


def count_residues(path) -> int:
    """Distinct (chain, number, insertion code) of the ATOM/HETATM records of a PDB file."""
    with gzip.open(path, "rt") if str(path).endswith(".gz") else open(path) as fh:
        return len({(line[21], line[22:26], line[26]) for line in fh if line.startswith(("ATOM", "HETATM"))})


def test_score_maps_of_a_map_against_itself(entries, baselines):
    _, table = baselines
    maps = pd.concat(
        [
            pd.DataFrame({"entry": entries["entry"], "method": "self", "path": entries["exp_map"]}),
            table[table["method"] == "molmap"][["entry", "method", "path"]],
        ],
        ignore_index=True,
    )
    scores = score_maps(maps, entries, progress=False)
    assert len(scores) == 4
    itself = scores[scores["method"] == "self"].set_index("entry")
    for metric in ("correlation", "correlation_about_mean", "pcc", "ssim", "pearson_box", *MASKED_METRICS):
        np.testing.assert_allclose(itself[metric], 1.0, atol=1e-6)
    assert (scores[scores["method"] == "molmap"]["correlation"] < 0.99).all()
    assert itself.loc["2566_3J6B", "resolution"] == 3.2 and np.isnan(itself.loc["5925_3J6J", "resolution"])
    for row in entries.itertuples():
        assert itself.loc[row.entry, "residues"] == count_residues(row.model)
    with pytest.raises(ManifestError, match="not in the entries table"):
        score_maps(maps.assign(entry="other"), entries, progress=False)


def test_summary_table_means_medians_and_paper_columns():
    rng = np.random.default_rng(5)
    methods = ["struc2mapGAN", "molmap", "gemmi", "StructureBlurrer"]
    rows = [
        {
            "entry": f"e{i}",
            "method": m,
            **{k: rng.random() for k in ("ssim", "correlation", "correlation_about_mean", "pcc", *MASKED_METRICS)},
        }
        for i in range(7)
        for m in methods
    ]
    scores = pd.DataFrame(rows)
    scores.loc[3, "pcc"] = np.nan  # a missing score is left out of that method's figures
    table = summary_table(scores, PAPER_CSV)
    assert list(table["method"]) == methods
    with open(PAPER_CSV) as fh:
        paper = {row["method"]: row for row in csv.DictReader(fh)}
    for method in methods:
        row = table.set_index("method").loc[method]
        assert row["n"] == 7
        for metric in ("ssim", "correlation", "correlation_about_mean", "pcc"):
            values = [r[metric] for r in rows if r["method"] == method and not (r is rows[3] and metric == "pcc")]
            assert row[f"{metric}_mean"] == pytest.approx(sum(values) / len(values))
            ordered = sorted(values)
            mid = len(ordered) // 2
            median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
            assert row[f"{metric}_median"] == pytest.approx(median)
            for stat in ("mean", "median"):
                column = f"paper_{metric}_{stat}"
                if method in paper:
                    assert row[column] == pytest.approx(float(paper[method][f"{metric}_{stat}"]))
                else:
                    assert np.isnan(row[column])
    masked = summary_table(scores, PAPER_CSV, masked=True)
    assert list(masked.columns) == ["method", "n"] + [f"{m}_{s}" for m in MASKED_METRICS for s in ("mean", "median")]
    gan = [r["masked_ssim"] for r in rows if r["method"] == "struc2mapGAN"]
    assert masked.loc[0, "masked_ssim_mean"] == pytest.approx(np.mean(gan))


def test_table1_for_a_page_paper_scores_beside_the_papers_and_field_scores_apart():
    rng = np.random.default_rng(3)
    names = (
        "ssim",
        "correlation",
        "correlation_about_mean",
        "pcc",
        "cc_mask",
        "cc_box",
        "fsc_0.5_resolution",
        "q_mean",
    )
    scores = pd.DataFrame(
        [
            {"entry": f"e{i}", "method": m, **{k: rng.random() for k in names}}
            for i in range(5)
            for m in ("gemmi", "molmap")
        ]
    )
    summary = summary_table(scores, PAPER_CSV)
    paper = paper_scores_table(summary)
    assert list(paper.columns) == ["method", "scores", "n", "SSIM", "correlation", "corr. about mean", "PCC"]
    assert list(zip(paper["method"], paper["scores"])) == [("gemmi", "ours"), ("molmap", "ours"), ("molmap", "paper")]
    ours = summary.set_index("method").loc["molmap"]
    assert paper.loc[1, "PCC"] == f"{ours['pcc_mean']:.3f} / {ours['pcc_median']:.3f}"
    assert paper.loc[2, "SSIM"] == "0.771 / 0.774"  # the paper's molmap (params/paper_table1.csv)
    field = field_scores_table(summary)
    assert list(field.columns) == ["method", "n", "CC_mask", "CC_box", "FSC 0.5 (Å)", "Q-score"]
    assert field.loc[0, "Q-score"] == pytest.approx(scores[scores["method"] == "gemmi"]["q_mean"].mean())
    for table in (paper, field):  # each fits a page: under 110 characters a Markdown line
        assert max(len(line) for line in table.to_markdown(index=False).splitlines()) < 110


def test_resolution_fits_against_hand_least_squares():
    rng = np.random.default_rng(2)
    res = rng.uniform(3, 8, 12)
    scores = pd.DataFrame(
        {
            "method": ["gan"] * 12 + ["molmap"] * 12,
            "resolution": np.r_[res, res],
            "correlation": np.r_[0.9 + rng.normal(0, 0.01, 12), 1.1 - 0.05 * res + rng.normal(0, 0.01, 12)],
        }
    )
    scores.loc[0, "correlation"] = np.nan
    fits = resolution_fits(scores, ["correlation"]).set_index("method")
    for method in ("gan", "molmap"):
        part = scores[scores["method"] == method].dropna()
        x, y = part["resolution"].to_numpy(), part["correlation"].to_numpy()
        slope = ((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()  # normal equations
        assert fits.loc[method, "n"] == len(x)
        assert fits.loc[method, "slope"] == pytest.approx(slope, abs=1e-12)
        assert fits.loc[method, "intercept"] == pytest.approx(y.mean() - slope * x.mean(), abs=1e-12)
        residual = y - (y.mean() + slope * (x - x.mean()))
        stderr = math.sqrt((residual**2).sum() / (len(x) - 2) / ((x - x.mean()) ** 2).sum())
        t975 = {9: 2.2621572, 10: 2.2281389}[len(x) - 2]  # Student t quantiles from a printed table
        assert fits.loc[method, "slope_ci95"] == pytest.approx(stderr * t975, rel=1e-6)
    assert fits.loc["molmap", "slope"] == pytest.approx(-0.05, abs=0.01)


def test_time_generation_counts_the_cubes_run(tmp_path):
    weights = export_generator(Generator(width=2), tmp_path / "tiny.pt")
    structures = {
        "rna": read_structure(pair("20353_6PJ6")["model_path"]),
        "protein": read_structure(pair("2566_3J6B")["model_path"]),
    }
    for skip in (True, False):
        gen = MapGenerator(weights, device="cpu", batch_size=8, skip_empty=skip, progress=False)
        table = time_generation(gen, structures, warmup=False).set_index("name")
        for name, structure in structures.items():
            inp = generator_input(structure).data
            blocks = [
                tuple(slice(max(20 * a - 6, 0), 20 * a + 26) for a in k)
                for k in np.ndindex(*(math.ceil(s / 20) for s in inp.shape))
            ]
            assert table.loc[name, "cubes"] == len(blocks)
            assert table.loc[name, "cubes_run"] == (sum(inp[b].any() for b in blocks) if skip else len(blocks))
            assert table.loc[name, "grid"] == "x".join(map(str, inp.shape[::-1]))
            assert table.loc[name, "residues"] == structure.n_residues and table.loc[name, "atoms"] == structure.n_atoms


def test_model_fit_scores_join_the_table(entries, baselines):
    """score_maps(model_fit=True) adds the field's scores, equal to field_scores called directly; Table 1 shows
    their means; a map-model FSC that never falls below 0.5 (TEMPy: 0) is NaN."""
    from s2mlib.metrics import field_scores
    from s2mlib.study.benchmark import FIELD_METRICS

    _, table = baselines
    maps = table[table["method"] == "gemmi (reported res.)"][["entry", "method", "path"]]
    scores = score_maps(maps, entries, model_fit=True, default_resolution=4.0, progress=False).set_index("entry")
    for row in entries.itertuples():
        direct = field_scores(
            read_map(maps.set_index("entry").loc[row.entry, "path"]),
            read_structure(row.model),
            3.2 if row.entry == "2566_3J6B" else 4.0,
        )
        if direct["fsc_0.5_resolution"] == 0:  # TEMPy's "never below 0.5" becomes NaN in the table
            direct["fsc_0.5_resolution"] = float("nan")
        for metric in FIELD_METRICS:
            assert scores.loc[row.entry, metric] == pytest.approx(direct[metric], abs=1e-9, nan_ok=True)
    summary = summary_table(scores.reset_index())
    assert summary.loc[0, "q_mean_mean"] == pytest.approx(scores["q_mean"].mean())
    assert "cc_mask_median" not in summary.columns


def test_map_quality_and_residue_profiles(entries):
    from s2mlib.metrics import atom_qscores, fsc_resolution, map_model_fsc, mean_qscore, residue_qscores
    from s2mlib.sim.structures import secondary_structure
    from s2mlib.study.benchmark import map_quality, residue_profiles

    p = pair("5925_3J6J")
    density, model = read_map(p["map_path"]), read_structure(p["model_path"])
    table = pd.DataFrame(
        [
            {"entry": "5925_3J6J", "kept": True, "map": str(p["map_path"]), "model": str(p["model_path"])},
            {"entry": "x", "kept": False, "map": "", "model": ""},
        ]
    )
    quality = map_quality(table, progress=False)
    assert quality["entry"].tolist() == ["5925_3J6J"]
    assert quality.loc[0, "q_mean"] == pytest.approx(mean_qscore(atom_qscores(density, model)))
    assert quality.loc[0, "fsc_0.5_resolution"] == pytest.approx(fsc_resolution(map_model_fsc(density, model), 0.5))
    sim = molmap(model, 2.0, ref_map=density)
    profile = residue_profiles({"experimental": density, "molmap": sim}, model)
    ss = secondary_structure(model)
    assert len(profile) == len(ss) and profile["ss"].tolist() == ss["ss"].tolist()
    direct = residue_qscores(model, atom_qscores(sim, model)).set_index("residue_number")["q"]
    np.testing.assert_allclose(profile["molmap"], direct.loc[profile["residue_number"]].to_numpy())


def test_realism_table_against_the_experimental_map_itself_and_a_simulated_map(entries, baselines):
    """The ExpMap scored as a method: Q difference 0 and per-residue correlation 1; molmap: Q and the
    correlation computed here by hand from mapq's per-residue scores."""
    from s2mlib.metrics import atom_qscores, mean_qscore, residue_qscores
    from s2mlib.study.benchmark import realism_table

    row = entries.iloc[0]
    molmap_path = baselines[1].set_index(["entry", "method"]).loc[(row.entry, "molmap"), "path"]
    maps = pd.DataFrame(
        [
            {"entry": row.entry, "method": "itself", "path": row.exp_map},
            {"entry": row.entry, "method": "molmap", "path": molmap_path},
        ]
    )
    table = realism_table(maps, entries, progress=False).set_index("method")
    assert table.loc["itself", "q_difference"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc["itself", "residue_q_correlation"] == pytest.approx(1.0)
    model = read_structure(row.model)
    exp_q = residue_qscores(model, atom_qscores(read_map(row.exp_map), model))["q"].to_numpy()
    sim_atoms = atom_qscores(read_map(molmap_path), model)
    sim_q = residue_qscores(model, sim_atoms)["q"].to_numpy()
    both = np.isfinite(exp_q) & np.isfinite(sim_q)
    assert table.loc["molmap", "q_mean"] == pytest.approx(mean_qscore(sim_atoms))
    assert table.loc["molmap", "residue_q_correlation"] == pytest.approx(np.corrcoef(exp_q[both], sim_q[both])[0, 1])
