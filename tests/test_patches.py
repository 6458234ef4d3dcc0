"""Tests of s2mlib.gan.patches: the on-the-fly patch dataset (cubes against the 32-padded map, empty cubes, seeded
input-only augmentation), curation-table loading and patch counts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import pair
from scipy.ndimage import gaussian_filter
from torch.utils.data import DataLoader

from s2mlib.errors import ManifestError, MapError
from s2mlib.gan.patches import PatchDataset, augmentation, load_pairs, patch_counts
from s2mlib.gan.tiling import cube_corners
from s2mlib.io.density import DensityMap, read_map, write_map


def curated(entry: str) -> tuple[np.ndarray, np.ndarray]:
    """(input, target) of a real map on a 1 A grid, min-max [0, 1]; the input is a smoothed copy (a SimMap stand-in)."""
    m = read_map(pair(entry)["map_path"])
    shape = tuple(int(n * v) for n, v in zip(m.data.shape, m.voxel_size[::-1]))
    target = m.resampled_on(m.origin, shape, 1.0).data
    target = (target - target.min()) / (target.max() - target.min())
    return gaussian_filter(target, 1.0, truncate=2.0).astype(np.float32), target


@pytest.fixture(scope="module")
def masked_pair() -> tuple[np.ndarray, np.ndarray]:
    return curated("5925_3J6J")  # segmented + masked: zeros outside one chain, so some cubes are empty


def padded_block(array: np.ndarray, corner) -> np.ndarray:
    """Oracle: the paper's recipe read literally, zero-pad 32 on each side with np.pad and slice."""
    z, y, x = np.asarray(corner) + 32
    return np.pad(array, 32)[z : z + 32, y : y + 32, x : x + 32]


def test_dataset_counts_and_empty_cubes(masked_pair):
    inp, target = masked_pair
    corners = cube_corners(inp.shape)
    brute_empty = [not padded_block(inp, c).any() and not padded_block(target, c).any() for c in corners]
    kept = PatchDataset([masked_pair], keep_empty=True)
    dropped = PatchDataset([masked_pair], keep_empty=False)
    assert len(kept) == kept.n_cubes == len(corners)
    assert kept.n_empty == dropped.n_empty == sum(brute_empty) > 0
    assert len(dropped) == len(corners) - sum(brute_empty)
    for i in range(0, len(dropped), 7):
        x, y = dropped[i]
        assert x.shape == y.shape == (1, 32, 32, 32) and x.dtype == torch.float32
        assert x.abs().sum() + y.abs().sum() > 0
        np.testing.assert_array_equal(y[0].numpy(), padded_block(target, dropped.index[i, 1:]))
        np.testing.assert_array_equal(x[0].numpy(), padded_block(inp, dropped.index[i, 1:]))


def test_dataset_rejects_mismatched_pair():
    with pytest.raises(ValueError, match="one shape"):
        PatchDataset([(np.zeros((20, 20, 20)), np.zeros((20, 20, 21)))], names=["bad"])


def test_augmentation_is_the_papers():
    anisotropy, blur, noise = augmentation().transforms
    assert anisotropy.downsampling_range == (1, 1.5) and anisotropy.probability == 0.25
    assert blur.std_ranges == (0, 0.5, 0, 0.5, 0, 0.5) and blur.probability == 0.25
    assert noise.std_range == (0, 0.1) and noise.probability == 0.25


def test_augmentation_input_only_reproducible_and_order_free(masked_pair):
    ds = PatchDataset([masked_pair], augment=True, seed=3, keep_empty=False)
    plain = PatchDataset([masked_pair], augment=False, keep_empty=False)
    idx = list(range(min(len(ds), 60)))
    forward = [ds[i] for i in idx]
    backward = {i: ds[i] for i in reversed(idx)}
    changed = 0
    for i, (x, y) in zip(idx, forward):
        torch.testing.assert_close(x, backward[i][0], rtol=0, atol=0)
        torch.testing.assert_close(y, plain[i][1], rtol=0, atol=0)  # the target is never augmented
        changed += not torch.equal(x, plain[i][0])
    # each of the 3 transforms fires with p 0.25 and always changes the cube: P(changed) = 1 - 0.75^3 = 0.58
    assert 0.3 * len(idx) < changed < 0.85 * len(idx)
    # the same samples through two worker processes, in batches
    batches = list(DataLoader(ds, batch_size=7, num_workers=2, sampler=idx))
    torch.testing.assert_close(torch.cat([b[0] for b in batches]), torch.stack([x for x, _ in forward]), rtol=0, atol=0)
    other_seed = PatchDataset([masked_pair], augment=True, seed=4, keep_empty=False)
    assert any(not torch.equal(other_seed[i][0], forward[i][0]) for i in idx)
    ds.set_epoch(1)
    assert any(not torch.equal(ds[i][0], forward[i][0]) for i in idx)


@pytest.fixture()
def table(tmp_path, masked_pair):
    inp, target = masked_pair
    rows = []
    for entry, split in [("a", "train"), ("b", "train"), ("c", "val"), ("d", "test")]:
        for kind, data in (("sim", inp), ("exp", target)):
            write_map(DensityMap(data, (0, 0, 0), 1.0), tmp_path / f"{entry}_{kind}.mrc")
        rows.append(
            {
                "entry": entry,
                "emdb_id": entry,
                "split": split,
                "kept": entry != "b",
                "exp_map": f"{entry}_exp.mrc",
                "sim_map": f"{entry}_sim.mrc",
            }
        )
    return pd.DataFrame(rows)


def test_table_loading_and_counts(table, tmp_path, masked_pair):
    pairs, names = load_pairs(table, "train", root=tmp_path)
    assert names == ["a"]
    np.testing.assert_array_equal(pairs[0][1], masked_pair[1])
    ds = PatchDataset.from_table(table, "val", root=tmp_path, keep_empty=False)
    assert ds.names == ["c"] and len(ds) == ds.n_cubes - ds.n_empty
    counts = patch_counts(table, root=tmp_path)
    assert counts.index.tolist() == ["test", "train", "val"]
    assert counts.loc["train", "maps"] == 1 and counts.loc["train", "cubes"] == len(cube_corners(masked_pair[0].shape))
    assert (counts["cubes"] == counts["empty"] + counts["non_empty"]).all()
    assert counts.loc["val", "non_empty"] == len(ds)


def test_table_errors(table, tmp_path):
    with pytest.raises(ManifestError, match="sim_map"):
        load_pairs(table.drop(columns="sim_map"), "train", root=tmp_path)
    arr = np.zeros((10, 10, 10), np.float32)
    write_map(DensityMap(arr, (0, 0, 0), 1.0), tmp_path / "x_sim.mrc")
    write_map(DensityMap(arr, (5, 0, 0), 1.0), tmp_path / "x_exp.mrc")
    bad = pd.DataFrame([{"entry": "x", "split": "train", "kept": True, "exp_map": "x_exp.mrc", "sim_map": "x_sim.mrc"}])
    with pytest.raises(MapError, match="x: SimMap .* not on one grid"):
        load_pairs(bad, "train", root=tmp_path)
    bad["sim_map"] = "missing.mrc"
    with pytest.raises(MapError, match="missing.mrc"):
        load_pairs(bad, "train", root=tmp_path)


def test_levels_dataset_draws_a_target_resolution_per_item(masked_pair):
    """Maps at several resolutions: items carry R, their target is that level's, the draw is seeded and order-free,
    and cubes empty at every level only are dropped."""
    from s2mlib.gan.patches import Levels

    inp, target = masked_pair
    ladder = np.array([3.6, 4.0, 6.0])
    targets = [target, gaussian_filter(target, 1.0), gaussian_filter(target, 2.0)]
    ds = PatchDataset([Levels([inp], targets, ladder)], seed=5, keep_empty=False)
    assert ds.conditioned and len(ds) == len(PatchDataset([(inp, targets[2])], keep_empty=False))
    seen = set()
    for i in range(len(ds)):
        x, y, r = ds[i]
        level = int(np.flatnonzero(np.isclose(ladder, float(r)))[0])
        seen.add(level)
        np.testing.assert_array_equal(y[0].numpy(), padded_block(targets[level], ds.index[i, 1:]))
        np.testing.assert_array_equal(x[0].numpy(), padded_block(inp, ds.index[i, 1:]))
    assert seen == {0, 1, 2}
    again = PatchDataset([Levels([inp], targets, ladder)], seed=5, keep_empty=False)
    assert [float(again[i][2]) for i in reversed(range(len(ds)))] == [float(ds[i][2]) for i in reversed(range(len(ds)))]
    ds.set_epoch(1)
    assert [float(ds[i][2]) for i in range(len(ds))] != [float(again[i][2]) for i in range(len(ds))]
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert len(batch) == 3 and batch[2].shape == (4,)
    with pytest.raises(ValueError, match="not a mix"):
        PatchDataset([Levels([inp], targets, ladder), (inp, target)])
    with pytest.raises(ValueError, match="one target per resolution"):
        Levels([inp], targets[:2], ladder)


def test_empty_cubes_against_brute_force():
    """Odd and even shapes, sparse occupancy: the summed-area count finds exactly the cubes without a voxel."""
    from s2mlib.gan.patches import empty_cubes

    rng = np.random.default_rng(0)
    for shape in [(41, 37, 20), (20, 20, 20), (1, 45, 63)]:
        occupied = rng.random(shape) < 0.0004
        corners = cube_corners(shape)
        brute = [not padded_block(occupied, c).any() for c in corners]
        np.testing.assert_array_equal(empty_cubes(occupied, corners), brute)


def test_memory_mapped_maps_give_the_same_patches(tmp_path, masked_pair):
    """Curated (uncompressed) maps are memory-mapped, a gzip map stays in memory; the patches are the same, in one
    process and in loader workers, and a mapped map pickles as its file, not its voxels."""
    import pickle

    from s2mlib.gan.patches import MappedMap

    inp, target = masked_pair
    write_map(DensityMap(inp, (0, 0, 0), 1.0), tmp_path / "a_sim.mrc")
    write_map(DensityMap(target, (0, 0, 0), 1.0), tmp_path / "a_exp.mrc.gz")
    table = pd.DataFrame(
        [{"entry": "a", "split": "train", "kept": True, "sim_map": "a_sim.mrc", "exp_map": "a_exp.mrc.gz"}]
    )
    ((sim, exp),) = load_pairs(table, "train", root=tmp_path, mmap=True)[0]
    assert isinstance(sim, MappedMap) and isinstance(exp, np.ndarray)
    assert len(pickle.dumps(sim)) < 1000 and MappedMap.open(tmp_path / "a_exp.mrc.gz") is None
    np.testing.assert_array_equal(np.asarray(pickle.loads(pickle.dumps(sim))), inp)
    mapped = PatchDataset([(sim, exp)], keep_empty=False)
    plain = PatchDataset([masked_pair], keep_empty=False)
    assert len(mapped) == len(plain) and mapped.n_empty == plain.n_empty
    idx = list(range(0, len(plain), 5))
    batches = list(DataLoader(mapped, batch_size=4, num_workers=2, sampler=idx))
    torch.testing.assert_close(
        torch.cat([b[0] for b in batches]), torch.stack([plain[i][0] for i in idx]), rtol=0, atol=0
    )


def test_native_fraction_favours_the_first_resolution(masked_pair):
    """native_fraction f: level 0 drawn with probability f + (1 - f) / n, others (1 - f) / n (n = 3: 0.6 at f = 0.4)."""
    from s2mlib.gan.patches import Levels

    inp, target = masked_pair
    levels = Levels([inp], [target, target, target], [3.6, 5.0, 8.0])
    uniform = PatchDataset([levels], seed=1, keep_empty=False)
    favoured = PatchDataset([levels], seed=1, keep_empty=False, native_fraction=0.4)
    draws = []
    for epoch in range(12):
        favoured.set_epoch(epoch)
        draws += [float(favoured[i][2]) for i in range(len(favoured))]
    share = np.mean(np.isclose(draws, 3.6))
    n = len(draws)
    assert abs(share - 0.6) < 4 * np.sqrt(0.24 / n)  # within 4 standard errors of the binomial share
    assert np.isclose(float(uniform[0][2]), [3.6, 5.0, 8.0]).any()
    with pytest.raises(ValueError, match="native_fraction"):
        PatchDataset([levels], native_fraction=1.5)
