"""Tests of s2mlib.benchmark: baselines on the ExpMap grid and their cache, scoring, Table 1, CA traces coloured by
secondary structure, tiled structures and generation timing (real pairs from ../shared/data)."""
from __future__ import annotations

import csv
import math
import os

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.spatial import cKDTree

from conftest import SHARED_DATA, pair
from s2mlib.benchmark import (BASELINES, MASKED_METRICS, SS_COLOURS, ca_trace, resolution_fits, score_maps,
                              secondary_structure, simulate_baselines, structure_of_size, summary_table,
                              tile_structure, time_generation)
from s2mlib.curate import curate_exp_map
from s2mlib.errors import ManifestError
from s2mlib.generate import MapGenerator, network_input
from s2mlib.io import read_map, read_structure, write_map
from s2mlib.model import Generator
from s2mlib.simulate import molmap
from s2mlib.train import export_generator

PAPER_CSV = SHARED_DATA.parent / "paper" / "table1_paper.csv"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def entries(tmp_path_factory) -> pd.DataFrame:
    """Two curated entries: 2566_3J6B (reported 3.2 A) and 5925_3J6J (resolution unknown: NaN)."""
    folder = tmp_path_factory.mktemp("curated")
    rows = []
    for entry, resolution in (("2566_3J6B", 3.2), ("5925_3J6J", math.nan)):
        p = pair(entry)
        exp = curate_exp_map(read_map(p["map_path"]), read_structure(p["model_path"]))
        rows.append({"entry": entry, "resolution": resolution, "exp_map": str(write_map(exp, folder / f"{entry}.mrc")),
                     "model": str(p["model_path"])})
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
        for name, resolution in (("molmap", 2.0), ("molmap (reported res.)", reported)):
            expected = molmap(structure, resolution, ref_map=exp).data
            np.testing.assert_allclose(read_map(mine.loc[name, "path"]).data, expected, rtol=1e-5,
                                       atol=1e-6 * expected.max())


def test_baselines_are_cached(entries, baselines, monkeypatch):
    out, first = baselines
    stamps = {p: os.stat(p).st_mtime_ns for p in first["path"]}

    def forbidden(*args, **kwargs):
        raise AssertionError("a cached baseline was simulated again")

    monkeypatch.setattr("s2mlib.benchmark.simulate", forbidden)
    again = simulate_baselines(entries, out, progress=False)
    assert again["cached"].all()
    np.testing.assert_array_equal(again["seconds"], first["seconds"])  # recorded times are kept
    assert {p: os.stat(p).st_mtime_ns for p in again["path"]} == stamps
    # another default resolution changes only the map of the entry without a reported resolution
    calls = []

    def counting(structure, method, resolution, ref_map):
        calls.append((method, resolution))
        return molmap(structure, resolution, ref_map=ref_map)

    monkeypatch.setattr("s2mlib.benchmark.simulate", counting)
    third = simulate_baselines(entries, out, default_resolution=4.0, progress=False)
    assert calls == [("molmap", 4.0)]
    redone = third[~third["cached"]]
    assert list(zip(redone["entry"], redone["method"])) == [("5925_3J6J", "molmap (reported res.)")]
    with pytest.raises(ValueError, match="unknown baseline"):
        simulate_baselines(entries, out, methods=["chimera"], progress=False)
    with pytest.raises(ManifestError, match="5925_3J6J: exp_map file not found"):
        simulate_baselines(entries.assign(exp_map=[entries["exp_map"][0], "/nowhere/x.mrc"]), out, progress=False)


def count_residues(path) -> int:
    """Distinct (chain, number, insertion code) of the ATOM/HETATM records of a PDB file."""
    with open(path) as fh:
        return len({(line[21], line[22:26], line[26]) for line in fh if line.startswith(("ATOM", "HETATM"))})


def test_score_maps_of_a_map_against_itself(entries, baselines):
    _, table = baselines
    maps = pd.concat([pd.DataFrame({"entry": entries["entry"], "method": "self", "path": entries["exp_map"]}),
                      table[table["method"] == "molmap"][["entry", "method", "path"]]], ignore_index=True)
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
    rows = [{"entry": f"e{i}", "method": m, **{k: rng.random() for k in
             ("ssim", "correlation", "correlation_about_mean", "pcc", *MASKED_METRICS)}}
            for i in range(7) for m in methods]
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


def test_resolution_fits_against_hand_least_squares():
    rng = np.random.default_rng(2)
    res = rng.uniform(3, 8, 12)
    scores = pd.DataFrame({"method": ["gan"] * 12 + ["molmap"] * 12, "resolution": np.r_[res, res],
                           "correlation": np.r_[0.9 + rng.normal(0, 0.01, 12), 1.1 - 0.05 * res + rng.normal(0, 0.01, 12)]})
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
        stderr = math.sqrt((residual ** 2).sum() / (len(x) - 2) / ((x - x.mean()) ** 2).sum())
        t975 = {9: 2.2621572, 10: 2.2281389}[len(x) - 2]  # Student t quantiles from a printed table
        assert fits.loc[method, "slope_ci95"] == pytest.approx(stderr * t975, rel=1e-6)
    assert fits.loc["molmap", "slope"] == pytest.approx(-0.05, abs=0.01)


def pdb_annotations(path) -> tuple[set, set]:
    """(chain, residue number) inside HELIX and SHEET records, read from the fixed PDB columns."""
    helix, strand = set(), set()
    with open(path) as fh:
        for line in fh:
            if line.startswith("HELIX "):
                chain, first, last = line[19], int(line[21:25]), int(line[33:37])
                helix |= {(chain, n) for n in range(first, last + 1)}
            elif line.startswith("SHEET "):
                chain, first, last = line[21], int(line[22:26]), int(line[33:37])
                strand |= {(chain, n) for n in range(first, last + 1)}
    return helix, strand


def test_secondary_structure_from_helix_and_sheet_records():
    path = pair("6272_3J9S")["model_path"]
    helix, strand = pdb_annotations(path)
    assert len(helix) > 100 and len(strand) > 50
    table = secondary_structure(read_structure(path))
    assert (table["source"] == "annotation").all()
    for chain, number, ss in zip(table["chain"], table["residue"], table["ss"]):
        expected = "helix" if (chain, number) in helix else "strand" if (chain, number) in strand else "coil"
        assert ss == expected, (chain, number)


def test_ca_trace_segments(tmp_path):
    structure = read_structure(pair("6272_3J9S")["model_path"])
    table = secondary_structure(structure)
    segments = ca_trace(structure)
    colour_of = {tuple(np.round(xyz, 3)): SS_COLOURS[ss]
                 for xyz, ss in zip(table[["x", "y", "z"]].to_numpy(), table["ss"])}
    drawn = set()
    for xyz, colour in segments:
        assert len(xyz) >= 1 and colour in SS_COLOURS.values()
        if len(xyz) > 1:
            assert np.linalg.norm(np.diff(xyz, axis=0), axis=1).max() <= 4.2  # no line across a chain break
        points = [tuple(np.round(p, 3)) for p in xyz]
        assert all(colour_of[p] == colour for p in points[:-1])  # the last CA may be the next segment's first
        drawn.update(points)
    assert drawn == set(colour_of)


def ideal_model(path) -> None:
    """CA-only chain: 14 residues of ideal alpha helix (radius 2.3 A, rise 1.5 A, 100 deg per residue), then 10 of
    a zigzag strand (3.3 A rise per residue, +-0.9 A), then a 6 A gap and 4 more strand residues."""
    helix = [(2.3 * math.cos(math.radians(100 * i)), 2.3 * math.sin(math.radians(100 * i)), 1.5 * i)
             for i in range(14)]
    x0, y0, z0 = helix[-1]
    strand = [(x0 + 0.9 * (-1) ** i, y0 + 3.3 * (i + 1), z0) for i in range(10)]
    x1, y1, z1 = strand[-1]
    after = [(x1 + 0.9 * (-1) ** i, y1 + 6.0 + 3.3 * i, z1) for i in range(4)]
    lines = [f"ATOM  {n + 1:5d}  CA  ALA A{n + 1:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00 20.00           C"
             for n, (x, y, z) in enumerate(helix + strand + after)]
    path.write_text("\n".join(lines + ["END"]) + "\n")


def test_geometric_rule_on_an_ideal_helix_and_strand(tmp_path):
    ideal_model(tmp_path / "ideal.pdb")
    structure = read_structure(tmp_path / "ideal.pdb")
    table = secondary_structure(structure)
    assert (table["source"] == "geometry").all() and len(table) == 28
    ss = dict(zip(table["residue"], table["ss"]))
    assert all(ss[n] == "helix" for n in range(1, 13))
    assert all(ss[n] == "strand" for n in range(17, 25))
    assert all(ss[n] == "strand" for n in range(25, 29))  # after the break: a 4-residue run, d(i, i+3) ~ 10 A
    segments = ca_trace(structure)
    assert segments[0][1] == SS_COLOURS["helix"] and len(segments[0][0]) >= 13
    assert segments[-2][1] == segments[-1][1] == SS_COLOURS["strand"]
    last = segments[-1][0]
    assert len(last) == 4 and np.linalg.norm(last[0] - segments[-2][0][-1]) > 6.0  # not joined across the gap


def test_tile_structure_and_structure_of_size():
    structure = read_structure(pair("5925_3J6J")["model_path"])
    n = structure.n_atoms
    big = tile_structure(structure, 5)
    assert big.n_atoms == 5 * n and big.n_residues == 5 * structure.n_residues
    assert len(set(big.chains)) == 5 * len(structure.chains)
    shifts = []
    for k in range(5):  # one chain: copies follow one another; each is a pure translation of the original
        moved = big.xyz[k * n:(k + 1) * n] - structure.xyz
        np.testing.assert_allclose(moved - moved[0], 0.0, atol=1e-3)
        assert list(big.element[k * n:(k + 1) * n]) == list(structure.element)
        shifts.append(moved[0])
    trees = [cKDTree(big.xyz[k * n:(k + 1) * n]) for k in range(5)]
    for a in range(5):
        for b in range(a + 1, 5):
            assert trees[a].query(big.xyz[b * n:(b + 1) * n])[0].min() >= 5.0 - 1e-3  # TILE_GAP apart at least
    assert len({tuple(np.round(s, 3)) for s in shifts}) == 5
    with pytest.raises(ValueError, match="exceed"):
        tile_structure(structure, 2, spacing=10.0)
    assert structure_of_size(structure, residues=250).n_residues == 250
    cut = structure_of_size(structure, atoms=2000)
    assert 2000 - 30 < cut.n_atoms <= 2000  # whole residues only (at most ~24 atoms each)


def test_time_generation_counts_the_cubes_run(tmp_path):
    weights = export_generator(Generator(width=2), tmp_path / "tiny.pt")
    structures = {"rna": read_structure(pair("20353_6PJ6")["model_path"]),
                  "protein": read_structure(pair("2566_3J6B")["model_path"])}
    for skip in (True, False):
        gen = MapGenerator(weights, device="cpu", batch_size=8, skip_empty=skip, progress=False)
        table = time_generation(gen, structures, warmup=False).set_index("name")
        for name, structure in structures.items():
            inp = network_input(structure).data
            blocks = [tuple(slice(max(20 * a - 6, 0), 20 * a + 26) for a in k)
                      for k in np.ndindex(*(math.ceil(s / 20) for s in inp.shape))]
            assert table.loc[name, "cubes"] == len(blocks)
            assert table.loc[name, "cubes_run"] == (sum(inp[b].any() for b in blocks) if skip else len(blocks))
            assert table.loc[name, "grid"] == "x".join(map(str, inp.shape[::-1]))
            assert table.loc[name, "residues"] == structure.n_residues and table.loc[name, "atoms"] == structure.n_atoms
