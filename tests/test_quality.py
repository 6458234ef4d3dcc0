"""Tests of the sample maps' sharpness and quality (s2mlib.sim.quality, and the B-factor filters of s2mlib.sim.noise):
the envelope exp(-B k^2 / 4) turns Gaussian atoms of B0 into the analytic atoms of B0 + B, and a Guinier fit of a
synthetic map recovers the B added; the local blur takes high frequencies from the mobile part of a model and leaves
the ordered part as it was; EMDB's percentiles as published; ``quality`` monotonic in the mean Q-score of samples of
a real model (measured by the metric itself), with half maps that still cross FSC 0.143 within a shell of 1/R."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import pair

from s2mlib.errors import InputError
from s2mlib.gan.generate import MapGenerator
from s2mlib.io.atoms import read_structure
from s2mlib.io.density import DensityMap
from s2mlib.metrics.fsc import fsc_curve, fsc_resolution
from s2mlib.metrics.qscore import atom_qscores, mean_qscore
from s2mlib.sim.maps import spatial_frequency
from s2mlib.sim.noise import BFactorFilter, local_blur
from s2mlib.sim.quality import QSCORE_SIGMA, emdb_percentile, emdb_q, local_b_map, quality_sample
from s2mlib.sim.simulate import simulate

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def gaussian_atoms(centres: np.ndarray, b: float, shape: tuple[int, int, int], voxel: float) -> DensityMap:
    """Atoms of form factor exp(-B s^2 / 4) (s = |k|, 1/A): in real space (4 pi / B)^(3/2) exp(-4 pi^2 r^2 / B),
    each, summed on a [z, y, x] grid of ``voxel`` A (centres in A, x y z)."""
    z, y, x = (np.arange(n) * voxel for n in shape)
    grid = np.zeros(shape)
    for cx, cy, cz in centres:
        r2 = (z[:, None, None] - cz) ** 2 + (y[None, :, None] - cy) ** 2 + (x[None, None, :] - cx) ** 2
        grid += (4 * math.pi / b) ** 1.5 * np.exp(-4 * math.pi**2 * r2 / b)
    return DensityMap(grid.astype(np.float32), voxel_size=np.array([voxel] * 3))


def guinier_b(density: DensityMap, low: float, high: float) -> float:
    """-2 x the slope of ln(mean |F|^2 per shell) against k^2 between ``low`` and ``high`` (1/A), fitted here with
    numpy on shells one Fourier voxel wide: a map of random atoms of B has power ~ exp(-B k^2 / 2)."""
    k = spatial_frequency(density.data.shape, density.voxel_size)
    width = 1.0 / (density.data.shape[0] * density.voxel_size[0])
    label = np.floor(k / width).astype(int).ravel()
    power = np.abs(np.fft.rfftn(density.data.astype(np.float64))).ravel() ** 2
    mean = np.bincount(label, weights=power) / np.maximum(np.bincount(label), 1)
    centre = (np.arange(len(mean)) + 0.5) * width
    use = (centre >= low) & (centre <= high)
    return -2.0 * np.polyfit(centre[use] ** 2, np.log(mean[use]), 1)[0]


def test_envelope_turns_atoms_of_b0_into_atoms_of_b0_plus_b():
    centres = np.array([[10.0, 11.0, 12.5], [14.2, 9.1, 10.0], [12.0, 14.0, 14.0]])
    shape, voxel = (48, 48, 48), 0.5
    made = BFactorFilter(gaussian_atoms(centres, 40.0, shape, voxel))(35.0)
    want = gaussian_atoms(centres, 75.0, shape, voxel)
    assert np.abs(made.data - want.data).max() < 1e-3 * want.data.max()


def test_guinier_fit_recovers_the_envelope_b():
    rng = np.random.default_rng(3)
    atoms = gaussian_atoms(rng.uniform(4, 44, size=(300, 3)), 30.0, (48, 48, 48), 1.0)
    blurred = BFactorFilter(atoms)(60.0)
    low, high = 1 / 10, 1 / 3.5  # the fit's band: 1/10 to 1/R
    assert guinier_b(atoms, low, high) == pytest.approx(30.0, abs=4.0)  # the atoms' own B
    assert guinier_b(blurred, low, high) - guinier_b(atoms, low, high) == pytest.approx(60.0, rel=0.02)


def high_pass_power(data: np.ndarray, voxel: float, region: np.ndarray, cut: float = 1 / 4.0) -> float:
    """Sum of squares, over ``region`` (a boolean [z, y, x] mask), of the map's part finer than ``cut`` (1/A)."""
    k = spatial_frequency(data.shape, voxel)
    fine = np.fft.irfftn(np.fft.rfftn(data.astype(np.float64)) * (k > cut), s=data.shape)
    return float((fine[region] ** 2).sum())


def test_local_blur_softens_the_mobile_part_and_keeps_the_ordered_one():
    """A real model split in two by x: the half with B = 200 A^2 loses most of its fine detail, the half with
    B = 20 A^2 (the median's side) keeps it to the value."""
    model = read_structure(pair("2566_3J6B")["model_path"])
    split = float(np.median(model.xyz[:, 0]))
    b_factors = np.where(model.xyz[:, 0] > split, 200.0, 20.0)
    density = simulate(model, "molmap", 2.0)  # molmap ignores B: equally sharp everywhere
    b_map = local_b_map(density, model, b_factors, 1.0)
    blurred = local_blur(density, b_map)
    x = density.index_to_world(np.indices(density.data.shape[::-1]).reshape(3, -1).T)[:, 0]
    x = x.reshape(density.data.shape[::-1]).transpose(2, 1, 0)
    voxel = float(density.voxel_size[0])
    atoms = density.data > 0.2 * density.data.max()
    mobile, ordered = atoms & (x > split + 6), atoms & (x < split - 6)
    assert b_map[ordered].max() < 2 and b_map[mobile].min() > 100  # B(x) - B_median, 0 on the median's side
    kept = high_pass_power(blurred.data, voxel, ordered) / high_pass_power(density.data, voxel, ordered)
    lost = high_pass_power(blurred.data, voxel, mobile) / high_pass_power(density.data, voxel, mobile)
    assert kept > 0.9 and lost < 0.2, (kept, lost)


def test_emdb_percentiles_as_published():
    """tools/emdb_q_statistics.py's table: EMDB's median Q at 3 A (2781 entries within 0.25 A) is 0.508, and the
    sigma-0.4 expected Q of mapq (gregdp/mapq qscores.ExpectedQScore, 0.4966 at 3 A) lies within 0.02 of it."""
    assert emdb_q(3.0) == pytest.approx(0.508, abs=1e-3)
    assert emdb_q(3.0) == pytest.approx(-0.0016 * 27 + 0.0434 * 9 - 0.3956 * 3 + 1.3366, abs=0.02)
    assert emdb_q(3.0, 10) < emdb_q(3.0, 50) < emdb_q(3.0, 90)
    assert emdb_q(2.5) > emdb_q(3.5) > emdb_q(5.0)
    assert emdb_percentile(emdb_q(4.0, 25), 4.0) == pytest.approx(25)
    with pytest.raises(InputError, match="quality must be a percentile"):
        emdb_q(3.0, 99)


@pytest.fixture(scope="module")
def sharp():
    """A real model (5925_3J6J, 97 residues) read with every atom equally sharp (B = 0): its expected map at 3.5 A
    is better than EMDB's 90th percentile, so every quality asked for is reached by blurring."""
    model = read_structure(pair("5925_3J6J")["model_path"])
    made = MapGenerator(device="cpu", progress=False, precision="fp32", b_factors="none")(model, resolution=3.5)
    return model, made


def test_quality_orders_the_mean_q_and_the_half_maps_still_cross_at_1_over_r(sharp):
    model, made = sharp
    samples = {p: quality_sample(made, model, 3.5, 7, quality=p, b_factors="none") for p in (10, 50, 90)}
    measured = {p: mean_qscore(atom_qscores(s.full, model, sigma=QSCORE_SIGMA)) for p, s in samples.items()}
    assert measured[10] < measured[50] < measured[90]
    for p, s in samples.items():
        assert measured[p] == pytest.approx(s.sample_q, abs=1e-9)
        assert s.sample_q == pytest.approx(emdb_q(3.5, p), abs=0.003)
    assert samples[10].envelope_b > samples[50].envelope_b > samples[90].envelope_b > 0
    curve = fsc_curve(samples[10].half_1, samples[10].half_2)  # the bluntest: the noise followed the envelope
    crossing = 1.0 / fsc_resolution(curve, 0.143, first_crossing=True, interpolate=True)
    shell = 1.0 / (made.data.shape[2] * made.voxel_size[0])
    assert abs(crossing - 1.0 / 3.5) <= shell, (crossing, 1.0 / 3.5, shell)
