"""Curation of training pairs on the real shared pairs, against independent oracles (scipy interpolation,
brute-force distances and Gaussian sums, numpy Pearson), plus the filters and splits on built cases."""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pandas as pd
import pytest
from helpers import SHARED_DATA, TEST_DATA, pair, pair_ids
from scipy.interpolate import RegularGridInterpolator
from scipy.spatial import cKDTree

from s2mlib.errors import ManifestError
from s2mlib.io.atoms import read_structure
from s2mlib.io.density import read_map
from s2mlib.io.manifest import load_manifest, require_kept
from s2mlib.sim.maps import atom_mask
from s2mlib.sim.simulate import molmap
from s2mlib.study.curate import (
    CurationConfig,
    assign_splits,
    curate_exp_map,
    curate_manifest,
    make_raw_targets,
    make_sim_map,
)


def reported_resolution(row: dict) -> float:
    text = row["resolution_A"].strip().rstrip("?")
    return float(text) if text else 3.5


# ------------------------------------------------------------------ done-when: the pairs line up


@pytest.mark.parametrize("entry", pair_ids())
def test_molmap_correlates_with_each_map_and_a_shifted_model_does_not(entry):
    """Pearson inside 3 A of the model between molmap (reported resolution, the map's own grid) and the map:
    above 0.25, and above that of the model moved 4 A along x, y or z (an origin or axis-order mistake fails)."""
    row = pair(entry)
    density, model = read_map(row["map_path"]), read_structure(row["model_path"])
    resolution = reported_resolution(row)

    def masked_pearson(structure):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a moved model may poke out of the box
            sim = molmap(structure, resolution, ref_map=density)
        mask = atom_mask(structure, density, 3.0)
        return np.corrcoef(sim.data[mask], density.data[mask])[0, 1]

    fitted = masked_pearson(model)
    moved = [masked_pearson(model.translated(shift)) for shift in 4.0 * np.eye(3)]
    assert fitted > 0.25, f"{entry}: Pearson {fitted:.3f} inside 3 A of the model"
    assert fitted > max(moved), f"{entry}: fitted {fitted:.3f} <= moved by 4 A {np.round(moved, 3)}"


# ------------------------------------------------------------------ ExpMap / SimMap against oracles


def brute_force_exp_map(density, model, radius=3.0, cushion=3.0, spacing=1.0) -> tuple[np.ndarray, np.ndarray]:
    """ExpMap recomputed with plain numpy/scipy: phenix-style box, KD-tree mask, RegularGridInterpolator."""
    lo, hi = model.bounds()
    size = np.array(density.data.shape[::-1])
    i0 = np.maximum(np.floor((lo - cushion - density.origin) / density.voxel_size), 0).astype(int)
    i1 = np.minimum(np.ceil((hi + cushion - density.origin) / density.voxel_size), size - 1).astype(int)
    sub = density.data[i0[2] : i1[2] + 1, i0[1] : i1[1] + 1, i0[0] : i1[0] + 1].astype(np.float64)
    axes = [density.origin[a] + (i0[a] + np.arange(i1[a] - i0[a] + 1)) * density.voxel_size[a] for a in range(3)]
    zz, yy, xx = np.meshgrid(axes[2], axes[1], axes[0], indexing="ij")
    dist, _ = cKDTree(model.xyz).query(np.stack([xx.ravel(), yy.ravel(), zz.ravel()], axis=1))
    sub[(dist > radius).reshape(sub.shape)] = 0.0
    interp = RegularGridInterpolator(
        (axes[2], axes[1], axes[0]), sub, method="linear", bounds_error=False, fill_value=None
    )  # the last new point may pass the box by rounding
    new_axes = [
        axes[a][0] + spacing * np.arange(int(np.floor((axes[a][-1] - axes[a][0]) / spacing + 1e-6)) + 1)
        for a in range(3)
    ]
    zz, yy, xx = np.meshgrid(new_axes[2], new_axes[1], new_axes[0], indexing="ij")
    values = interp(np.stack([zz, yy, xx], axis=-1))
    origin = np.array([new_axes[0][0], new_axes[1][0], new_axes[2][0]])
    return (values - values.min()) / (values.max() - values.min()), origin


@pytest.mark.parametrize("entry", ["5925_3J6J", "2566_3J6B"])  # masked 1.1 A map; unmasked 1.34 A map with negatives
def test_exp_map_matches_box_mask_resample_minmax_oracle(entry):
    row = pair(entry)
    density, model = read_map(row["map_path"]), read_structure(row["model_path"])
    exp = curate_exp_map(density, model, clip_negative=False)  # the paper's ExpMap (the oracle's)
    expected, origin = brute_force_exp_map(density, model)
    np.testing.assert_allclose(exp.origin, origin, atol=1e-9)
    np.testing.assert_allclose(exp.voxel_size, 1.0)
    assert exp.data.shape == expected.shape
    np.testing.assert_allclose(exp.data, expected, atol=1e-5)
    assert exp.data.min() == 0.0 and exp.data.max() == pytest.approx(1.0)


def test_clip_negative_by_default_keeps_the_background_at_zero():
    row = pair("2566_3J6B")  # unmasked crop: negative values within 3 A of the model
    density, model = read_map(row["map_path"]), read_structure(row["model_path"])
    far = ~atom_mask(model, curate_exp_map(density, model), 3.0 + 2 * 1.34)  # beyond mask + interpolation reach
    lifted = curate_exp_map(density, model, clip_negative=False).data[far]  # the paper's
    clipped = curate_exp_map(density, model).data[far]  # the default (README, Decisions)
    raw = density.data[atom_mask(model, density, 3.0)]
    assert np.allclose(lifted, -raw.min() / (raw.max() - raw.min()), atol=0.02)  # min-max lifts the zeros
    assert np.all(clipped == 0.0)


def test_sim_map_is_molmap_on_the_exp_grid_normalised():
    row = pair("5925_3J6J")
    density, model = read_map(row["map_path"]), read_structure(row["model_path"])
    exp = curate_exp_map(density, model)
    sim = make_sim_map(model, exp)
    assert sim.data.shape == exp.data.shape
    np.testing.assert_allclose(sim.origin, exp.origin)
    np.testing.assert_allclose(sim.voxel_size, exp.voxel_size)
    assert sim.data.min() == 0.0 and sim.data.max() == pytest.approx(1.0)
    # ratios of SimMap values equal ratios of a brute-force sum of Z exp(-d^2 / 2 sigma^2), sigma = 2 / (pi sqrt 2)
    sigma = 2.0 / (math.pi * math.sqrt(2.0))
    rng = np.random.default_rng(0)
    near = np.argwhere(sim.data > 0.05)[rng.choice(int((sim.data > 0.05).sum()), 20, replace=False)]
    points = exp.index_to_world(near[:, ::-1])
    d2 = ((points[:, None, :] - model.xyz[None, :, :]) ** 2).sum(-1)
    brute = (model.atomic_number[None, :] * np.exp(-d2 / (2 * sigma**2))).sum(1)
    got = sim.data[tuple(near.T)]
    np.testing.assert_allclose(got / got[0], brute / brute[0], rtol=1e-4)


# ------------------------------------------------------------------ splits


def test_assign_splits_keeps_presets_and_never_splits_an_emdb_id():
    emdb = pd.Series(["1", "1", "2", "3", "4", "5", "5", "6", "7", "8", "9", "10"])
    preset = pd.Series(["", "", "test", "", "", "val", "", "", "", "", "", ""])
    splits = assign_splits(emdb, preset, val_fraction=0.25, test_fraction=0.25, seed=3)
    assert splits[2] == "test" and splits[5] == splits[6] == "val"  # preset kept and passed to the copy
    assert splits[0] == splits[1]
    for ident in emdb.unique():
        assert splits[emdb == ident].nunique() == 1
    free = splits[~emdb.isin(["2", "5"])].groupby(emdb).first()  # 8 IDs without a preset: 2 test, 2 val, 4 train
    assert free.value_counts().to_dict() == {"train": 4, "test": 2, "val": 2}
    assert splits.equals(assign_splits(emdb, preset, val_fraction=0.25, test_fraction=0.25, seed=3))
    with pytest.raises(ManifestError, match="EMDB 1 is listed in both"):
        assign_splits(pd.Series(["1", "1"]), pd.Series(["train", "test"]))
    with pytest.raises(ValueError, match="room for training"):
        assign_splits(emdb, preset, val_fraction=0.5, test_fraction=0.5)
    one = assign_splits(pd.Series(["7"]), pd.Series([""]), val_fraction=0.4, test_fraction=0.4)
    assert one.tolist() == ["train"]  # a lone entry trains


# ------------------------------------------------------------------ the whole manifest


@pytest.fixture(scope="module")
def curated(tmp_path_factory, shared_data):
    out = tmp_path_factory.mktemp("curated")
    manifest = load_manifest(shared_data / "pairs.tsv")
    return manifest, out, curate_manifest(manifest, out, CurationConfig(val_fraction=0.2, seed=0))


def test_every_shared_pair_is_curated_or_excluded_with_a_reason(curated):
    manifest, _, table = curated
    assert table["entry"].tolist() == manifest["entry"].tolist()
    for row in table.itertuples():
        assert row.kept == (row.reason == ""), row.entry
        if row.kept:
            exp, sim = read_map(row.exp_map), read_map(row.sim_map)
            assert exp.data.shape == sim.data.shape and np.allclose(exp.origin, sim.origin)
            np.testing.assert_allclose(exp.voxel_size, 1.0)
            assert exp.data.min() == 0 and sim.data.min() == 0
            assert exp.data.max() == pytest.approx(1) and sim.data.max() == pytest.approx(1)
            assert row.correlation >= 0.65 and row.split in ("train", "val")
            assert row.exp_shape == "x".join(map(str, exp.shape_xyz))
    reasons = dict(zip(table["entry"], table["reason"]))
    assert reasons["20353_6PJ6"].startswith("nucleic acids") and reasons["35448_8IHL"].startswith("nucleic acids")
    assert reasons["5778_3J5P"].startswith("unknown residues")
    assert table["kept"].sum() >= 8  # the protein pairs that pass the paper's filters
    kept = table[table["kept"]]
    assert kept.groupby("emdb_id")["split"].nunique().max() == 1


def test_curation_is_cached_until_a_parameter_changes(curated):
    manifest, out, table = curated
    kept = table[table["kept"]]
    stamps = {p: os.stat(p).st_mtime_ns for p in kept["exp_map"]}
    again = curate_manifest(manifest, out, CurationConfig(val_fraction=0.2, seed=0))
    pd.testing.assert_frame_equal(again, table)
    assert {p: os.stat(p).st_mtime_ns for p in kept["exp_map"]} == stamps
    one = manifest[manifest["entry"] == "5925_3J6J"]
    curate_manifest(one, out, CurationConfig(mask_radius=2.5))
    path = kept.set_index("entry").loc["5925_3J6J", "exp_map"]
    assert os.stat(path).st_mtime_ns != stamps[path]


def test_redundant_copy_is_dropped_in_resolution_order(tmp_path, shared_data):
    base = load_manifest(shared_data / "pairs.tsv")
    rows = base[base["entry"].isin(["5925_3J6J", "6555_3JCI"])].copy()
    copy = rows[rows["entry"] == "5925_3J6J"].assign(entry="copy_of_5925", emdb_id="99999", resolution=2.0)
    table = curate_manifest(pd.concat([rows, copy], ignore_index=True), tmp_path).set_index("entry")
    assert table.loc["copy_of_5925", "kept"] and table.loc["6555_3JCI", "kept"]  # best resolution first
    assert table.loc["5925_3J6J", "reason"] == "redundant: sequence identity 100% to copy_of_5925 (> 30%)"


def test_bad_manifests_raise_or_exclude_with_the_error(tmp_path, shared_data):
    manifest = load_manifest(shared_data / "pairs.tsv").head(1)
    with pytest.raises(ManifestError, match="no local map or model"):
        curate_manifest(manifest.assign(map=""), tmp_path)
    with pytest.raises(ManifestError, match="not found"):
        curate_manifest(manifest.assign(model=str(tmp_path / "gone.pdb")), tmp_path)
    with pytest.raises(ManifestError, match="lacks column"):
        curate_manifest(manifest.drop(columns=["map"]), tmp_path)
    junk = tmp_path / "junk.mrc"
    junk.write_bytes(b"not a map at all" * 100)
    table = curate_manifest(manifest.assign(map=str(junk)), tmp_path / "out")
    assert not table.loc[0, "kept"] and table.loc[0, "reason"].startswith("unreadable:")
    assert "junk.mrc" in table.loc[0, "reason"]


def test_raw_targets_are_unmasked_on_the_simmap_grid(tmp_path):
    """The ablation's RawMap: same grid as the curated pair, density kept beyond 3 A of the atoms."""
    row = pair("2513_4CI0_b")  # the one truly unmasked crop: density of neighbouring chains away from the model
    manifest = load_manifest(SHARED_DATA / "pairs.tsv")
    manifest = manifest[manifest["entry"] == "2513_4CI0_b"].reset_index(drop=True)
    table = curate_manifest(manifest, tmp_path / "curated", CurationConfig(val_fraction=0.0, max_unmodelled=1.0))
    assert table.loc[0, "kept"]
    raw = make_raw_targets(table, tmp_path / "raw")
    raw_map, sim_map = read_map(raw.loc[0, "exp_map"]), read_map(table.loc[0, "sim_map"])
    assert raw_map.data.shape == sim_map.data.shape and np.allclose(raw_map.origin, sim_map.origin)
    assert raw_map.data.min() == 0.0 and raw_map.data.max() == 1.0
    model = read_structure(row["model_path"])
    z, y, x = np.indices(raw_map.data.shape)
    points = raw_map.index_to_world(np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1))
    far = cKDTree(model.xyz).query(points)[0].reshape(raw_map.data.shape) > 5.5  # beyond mask + interpolation reach
    exp_map = read_map(table.loc[0, "exp_map"])
    assert np.ptp(raw_map.data[far]) > 0.2  # varying density where the ExpMap is masked flat
    assert np.ptp(exp_map.data[far]) == 0.0


# ------------------------------------------------------------------ the in-repo set, settings, empty results


def test_the_in_repo_set_curates_without_shared_data(tmp_path):
    """tests/data: three protein pairs kept and split; the RNA hairpin excluded for its nucleic acids."""
    table = curate_manifest(
        load_manifest(TEST_DATA / "pairs.tsv"),
        tmp_path,
        CurationConfig(clip_negative=True, val_fraction=0.34, test_fraction=0.34),
    )
    reasons = dict(zip(table["entry"], table["reason"]))
    assert reasons["20353_6PJ6"].startswith("nucleic acids")
    kept = table[table["kept"]]
    assert sorted(kept["entry"]) == ["2566_3J6B", "5925_3J6J", "6555_3JCI"]
    assert sorted(kept["split"]) == ["test", "train", "val"]
    require_kept(table)
    for row in kept.itertuples():
        assert read_map(row.exp_map).data.min() == 0.0 and read_map(row.sim_map).data.max() == pytest.approx(1.0)


def test_require_kept_says_what_is_wrong(tmp_path):
    base = pd.DataFrame(
        {
            "entry": ["a", "b"],
            "kept": [False, False],
            "split": ["", ""],
            "reason": ["nucleic acids: 3 nucleotides", "low correlation: 0.4 < 0.65"],
        }
    )
    with pytest.raises(ManifestError, match="every entry of the manifest was excluded .*a: nucleic acids"):
        require_kept(base)
    one = base.assign(kept=[True, False], split=["train", ""], reason=["", "x"])
    with pytest.raises(ManifestError, match="no kept entry in split.*val, test.*kept: train 1"):
        require_kept(one)
    require_kept(one, ("train",))


def test_curation_config_validates_itself():
    assert CurationConfig().mask_radius == 3.0 and "seed" not in CurationConfig().entry_stamp()
    assert CurationConfig.from_params({"mask_radius": 2.0, "epochs": 5}).mask_radius == 2.0
    for bad in (
        {"mask_radius": 0},
        {"min_correlation": 1.5},
        {"val_fraction": 0.6, "test_fraction": 0.5},
        {"cushion": -1.0},
    ):
        with pytest.raises(ValueError, match="CurationConfig: " + next(iter(bad))):
            CurationConfig(**bad)


def test_an_empty_manifest_is_a_sentence(tmp_path):
    empty = load_manifest(TEST_DATA / "pairs.tsv").iloc[:0]
    with pytest.raises(ManifestError, match="the manifest has no entries"):
        curate_manifest(empty, tmp_path)
