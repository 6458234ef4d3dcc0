"""Tests of s2mlib.metrics.paper: the paper's scores against hand-computed cases, plain numpy formulas, skimage itself
and a brute-force atom mask."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import brute_force_mask, pair
from scipy.ndimage import gaussian_filter
from skimage.metrics import structural_similarity

from s2mlib.io.atoms import read_structure
from s2mlib.io.density import DensityMap, read_map
from s2mlib.metrics import chimerax_correlation, contour_level, evaluate, pearson, preprocess, ssim


def blobs(shape=(24, 26, 28), seed=0) -> np.ndarray:
    """A smooth positive test volume with structure (blurred noise, background 0)."""
    rng = np.random.default_rng(seed)
    vol = gaussian_filter(rng.random(shape), 2.0)
    vol -= np.percentile(vol, 60)
    return np.clip(vol, 0, None).astype(np.float32)


def np_preprocess(x: np.ndarray) -> np.ndarray:
    """The original evaluation's preprocessing written out again, as the oracle."""
    x = x.astype(np.float64).copy()
    x[x < np.percentile(x[x != 0], 90)] = 0
    return (x - x.min()) / (x.max() - x.min())


# ------------------------------------------------------------------ hand-computed cases


def test_contour_level_encloses_the_requested_fraction():
    data = np.arange(1000, dtype=np.float32)
    assert contour_level(data) == 990.0  # 10 of 1000 values are >= 990
    assert contour_level(data, 0.5) == 500.0
    with pytest.raises(ValueError, match="contour fraction"):
        contour_level(data, 0.0)


def test_chimerax_correlation_hand_case():
    a = DensityMap(np.arange(8, dtype=np.float32).reshape(2, 2, 2))
    b = DensityMap(np.array([9, 9, 9, 9, 9, 1, 2, 2], dtype=np.float32).reshape(2, 2, 2))
    cor, cor_mean = chimerax_correlation(a, b, level=5)
    # points a = 5, 6, 7 with b = 1, 2, 2: sum ab = 31, sum a^2 = 110, sum b^2 = 9
    assert cor == pytest.approx(31 / np.sqrt(110 * 9), abs=1e-12)
    # about mean: a - 6 = (-1, 0, 1), b - 5/3 = (-2/3, 1/3, 1/3): sum = 1, norms^2 = 2 and 2/3
    assert cor_mean == pytest.approx(1 / np.sqrt(2 * 2 / 3), abs=1e-12)


def test_chimerax_correlation_interpolates_b_at_a_points():
    # b = x on a grid offset by half a voxel: trilinear interpolation reproduces a linear function exactly,
    # so B at A's points equals A's own world x.
    a_grid = DensityMap(np.zeros((4, 5, 6)), origin=(1.0, 2.0, 3.0), voxel_size=1.0)
    x_world = a_grid.origin[0] + np.arange(6)
    a = a_grid.copy(np.broadcast_to(x_world, (4, 5, 6)).astype(np.float32))
    b_origin = np.array([-0.5, 0.0, 0.0])
    b_x = b_origin[0] + 0.5 * np.arange(30)  # finer grid, 0.5 A voxels, covering A
    b = DensityMap(np.broadcast_to(b_x, (20, 20, 30)).astype(np.float32), origin=b_origin, voxel_size=0.5)
    cor, cor_mean = chimerax_correlation(a, b, level=4.0)  # points with x >= 4
    assert cor == pytest.approx(1.0, abs=1e-6) and cor_mean == pytest.approx(1.0, abs=1e-6)


def test_preprocess_hand_case():
    x = np.array([0.0, -5.0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    # non-zero: -5, 1..10 (11 values); 90th percentile = 9 -> keep 9, 10; min-max of (0.., 9, 10) -> 0.9, 1.0
    assert preprocess(x).tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.9, 1.0]


def test_pearson_matches_numpy_and_mask():
    rng = np.random.default_rng(1)
    a, b = rng.random((5, 6, 7)), rng.random((5, 6, 7))
    mask = a > 0.3
    assert pearson(a, b) == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1], abs=1e-12)
    assert pearson(a, b, mask) == pytest.approx(np.corrcoef(a[mask], b[mask])[0, 1], abs=1e-12)
    assert np.isnan(pearson(np.ones(5), b.ravel()[:5]))  # undefined, not a number pretending to be one


# ------------------------------------------------------------------ evaluate on synthetic maps


def test_identical_maps_score_one_and_a_shifted_copy_less():
    ref = DensityMap(blobs(), origin=(5.0, -3.0, 2.0), voxel_size=1.2)
    same = evaluate(ref.copy(), ref)
    for key in ("ssim", "correlation", "correlation_about_mean", "pcc", "pearson_box"):
        assert same[key] == pytest.approx(1.0, abs=1e-6), key
    shifted = evaluate(ref.copy(np.roll(ref.data, 2, axis=2)), ref)
    for key in ("ssim", "correlation", "correlation_about_mean", "pcc", "pearson_box"):
        assert shifted[key] < same[key] - 0.02, key


def test_ssim_and_pcc_match_skimage_and_numpy_on_preprocessed_arrays():
    ref = DensityMap(blobs(seed=2))
    gen = ref.copy(gaussian_filter(ref.data, 1.0) + 0.05 * blobs(seed=3))
    scores = evaluate(gen, ref)
    g, r = np_preprocess(gen.data), np_preprocess(ref.data)
    assert scores["ssim"] == pytest.approx(structural_similarity(g, r, data_range=g.max() - g.min()), abs=1e-9)
    assert scores["pcc"] == pytest.approx(np.corrcoef(g.ravel(), r.ravel())[0, 1], abs=1e-9)
    assert scores["pearson_box"] == pytest.approx(np.corrcoef(gen.data.ravel(), ref.data.ravel())[0, 1], abs=1e-6)
    level = np.sort(ref.data.ravel())[::-1][round(0.01 * ref.data.size) - 1]  # 1 % of the voxels at or above
    a, b = ref.data[ref.data >= level].astype(float), gen.data[ref.data >= level].astype(float)
    assert scores["correlation"] == pytest.approx(a @ b / np.sqrt((a @ a) * (b @ b)), abs=1e-6)


def test_constant_offset_changes_cosine_but_not_mean_centred_scores():
    ref = DensityMap(blobs(seed=4))
    gen = ref.copy(gaussian_filter(ref.data, 1.5))
    base = evaluate(gen, ref)
    lifted = evaluate(gen.copy(gen.data + 0.5), ref)
    for key in ("correlation_about_mean", "pearson_box"):
        assert lifted[key] == pytest.approx(base[key], abs=1e-6), key
    assert abs(lifted["correlation"] - base["correlation"]) > 1e-3  # the cosine is not offset-invariant
    ref_lifted = evaluate(gen, ref.copy(ref.data + 0.5))  # same contour points, shifted values
    assert ref_lifted["correlation_about_mean"] == pytest.approx(base["correlation_about_mean"], abs=1e-6)


def test_generated_map_on_another_grid_is_resampled():
    ref = DensityMap(np.zeros((10, 12, 14), np.float32), origin=(0.0, 0.0, 0.0), voxel_size=1.0)
    x, y, z = (ref.origin[a] + np.arange(n) for a, n in zip(range(3), ref.shape_xyz))
    ref = ref.copy((x[None, None, :] + 2 * y[None, :, None] + 3 * z[:, None, None]).astype(np.float32))
    gx = -1.0 + 0.7 * np.arange(30)  # finer, offset grid covering the reference
    gen = DensityMap(
        (gx[None, None, :] + 2 * gx[None, :, None] + 3 * gx[:, None, None]).astype(np.float32),
        origin=(-1.0, -1.0, -1.0),
        voxel_size=0.7,
    )
    assert evaluate(gen, ref)["pearson_box"] == pytest.approx(1.0, abs=1e-6)


def test_masked_scores_use_the_atoms_neighbourhood():
    ref = DensityMap(blobs(seed=5), voxel_size=1.0)
    gen = ref.copy(gaussian_filter(ref.data, 1.0))
    inner = ref.data[5:-5, 5:-5, 5:-5]
    k, j, i = np.array(np.unravel_index(np.argmax(inner), inner.shape)) + 5
    atoms = np.array([[i, j, k], [i + 2.2, j - 1.5, k + 0.6]], dtype=float)  # on the strongest inner density
    scores = evaluate(gen, ref, atoms_structure(atoms))
    mask = brute_force_mask(atoms, ref, 3.0)
    assert scores["mask_voxels"] == mask.sum()
    r, g = ref.data[mask].astype(float), gen.data[mask].astype(float)
    assert scores["masked_correlation"] == pytest.approx(r @ g / np.sqrt((r @ r) * (g @ g)), abs=1e-6)
    assert scores["masked_correlation_about_mean"] == pytest.approx(np.corrcoef(r, g)[0, 1], abs=1e-6)
    gp, rp = np_preprocess(gen.data), np_preprocess(ref.data)
    assert scores["masked_pcc"] == pytest.approx(np.corrcoef(gp[mask], rp[mask])[0, 1], abs=1e-9)
    _, smap = structural_similarity(gp, rp, data_range=gp.max() - gp.min(), full=True)
    inner = mask.copy()
    for axis in range(3):  # skimage leaves the 3-voxel border (7^3 window) out of its mean; so does masked_ssim
        inner[(slice(None),) * axis + (slice(0, 3),)] = False
        inner[(slice(None),) * axis + (slice(-3, None),)] = False
    assert scores["masked_ssim"] == pytest.approx(smap[inner].mean(), abs=1e-9)


def atoms_structure(xyz):
    """The metrics accept any object with ``xyz``; a bare namespace stands in for a Structure."""
    from types import SimpleNamespace

    return SimpleNamespace(xyz=np.asarray(xyz, float), path="synthetic")


# ------------------------------------------------------------------ real maps


def test_real_map_against_itself_on_another_grid_and_shifted():
    row = pair("6272_3J9S")
    ref, model = read_map(row["map_path"]), read_structure(row["model_path"])
    lo, _ = ref.bounds()
    fine = ref.resampled_on(lo - 0.3, tuple(int(n * 1.2) for n in ref.data.shape), ref.voxel_size / 1.2)
    good = evaluate(fine, ref, model)
    # two trilinear interpolations smooth the top 1 % a little (about-mean ~0.8 there), the rest stays ~1
    assert good["correlation"] > 0.99 and good["correlation_about_mean"] > 0.75
    assert good["masked_correlation_about_mean"] > 0.98 and good["pearson_box"] > 0.98 and good["ssim"] > 0.9
    moved = DensityMap(fine.data, fine.origin + (4.0, 0.0, 0.0), fine.voxel_size)
    bad = evaluate(moved, ref, model)
    for key in (
        "ssim",
        "correlation",
        "correlation_about_mean",
        "pcc",
        "pearson_box",
        "masked_pcc",
        "masked_correlation_about_mean",
    ):
        assert bad[key] < good[key] - 0.2, key


# ------------------------------------------------------------------ bad input


def test_bad_inputs_raise_clear_errors():
    ref = DensityMap(blobs())
    far = DensityMap(blobs(), origin=(500.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="do not overlap"):
        evaluate(far, ref)
    tiny = np.ones((4, 20, 20))
    with pytest.raises(ValueError, match="window"):
        ssim(tiny, tiny)
    with pytest.raises(ValueError, match="within 3.0 A"):
        evaluate(ref.copy(), ref, atoms_structure([[900.0, 900.0, 900.0]]))


def whole_volume_scores(gen: np.ndarray, ref: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """The scores as evaluate() computed them before the slabs: whole float64 arrays, skimage on the whole volume."""
    g, r = np_preprocess(gen), np_preprocess(ref)
    _, local = structural_similarity(g, r, data_range=g.max() - g.min(), full=True)
    inner = np.zeros(mask.shape, bool)
    inner[3:-3, 3:-3, 3:-3] = True
    return {
        "ssim": structural_similarity(g, r, data_range=g.max() - g.min()),
        "pcc": np.corrcoef(g.ravel(), r.ravel())[0, 1],
        "pearson_box": np.corrcoef(gen.astype(float).ravel(), ref.astype(float).ravel())[0, 1],
        "masked_pcc": np.corrcoef(g[mask], r[mask])[0, 1],
        "masked_ssim": local[mask & inner].mean(),
        "masked_correlation_about_mean": np.corrcoef(gen[mask].astype(float), ref[mask].astype(float))[0, 1],
    }


@pytest.mark.parametrize("entry", ["6272_3J9S", "2566_3J6B"])
def test_slab_wise_scores_equal_the_whole_volume_ones_on_real_maps(entry):
    """SSIM, PCC and Pearson computed in slabs (so big maps fit in memory) against the whole-volume computation, on
    real pairs (several 16-section slabs each) with a real second map: the experimental map blurred."""
    row = pair(entry)
    ref, model = read_map(row["map_path"]), read_structure(row["model_path"])
    assert ref.data.shape[0] > 2 * 16
    gen = ref.copy(gaussian_filter(ref.data, 1.0))
    scores = evaluate(gen, ref, model)
    mask = brute_force_mask(model.xyz, ref, 3.0)
    for key, value in whole_volume_scores(gen.data, ref.data, mask).items():
        assert scores[key] == pytest.approx(value, abs=1e-9), key
