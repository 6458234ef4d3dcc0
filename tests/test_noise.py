"""Tests of s2mlib.sim.noise and the sample mode of s2mlib.gan.generate / ``s2m generate --noise``: half maps of a real
model (the default weights) whose FSC (s2mlib.metrics.fsc, TEMPy's) crosses 0.143 within a shell of 1/R; the
FSC of the realised half maps against SNR / (1 + SNR) worked out by hand from their own noise; seeds; EMDB's
half-map names; the default path unchanged; bad values."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import pair

from s2mlib.cli import main
from s2mlib.errors import S2MError
from s2mlib.gan.generate import MapGenerator, generator_input
from s2mlib.gan.writer import half_map_paths
from s2mlib.io.atoms import read_structure
from s2mlib.io.density import DensityMap, read_map
from s2mlib.metrics.fsc import fsc_curve, fsc_resolution
from s2mlib.sim.noise import SNR_FALLOFF, checked_seed, mobility_weight, model_weight, noise_power, sample_maps
from s2mlib.sim.quality import quality_sample

ENTRY = "2566_3J6B"  # 2,865 atoms; the expected map on its 1 A grid is 43 x 67 x 60 voxels
SMALL = "5925_3J6J"  # 97 residues, for the tests that only need some map

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def structure():
    return read_structure(pair(ENTRY)["model_path"])


@pytest.fixture(scope="module")
def small():
    return read_structure(pair(SMALL)["model_path"])


@pytest.fixture(scope="module")
def generator():
    return MapGenerator(device="cpu", progress=False, precision="fp32")


def shell_sums(a: np.ndarray, b: np.ndarray, nx: int) -> np.ndarray:
    """sum Re(A B*) per shell [i, i + 1) / nx of |q| in cycles per voxel (cubic voxels), by hand."""
    qz = np.fft.fftfreq(a.shape[0])[:, None, None]
    qy = np.fft.fftfreq(a.shape[1])[None, :, None]
    qx = np.fft.rfftfreq(a.shape[2])[None, None, :]
    label = np.floor(np.sqrt(qz**2 + qy**2 + qx**2) * nx).astype(int).ravel()
    product = np.real(np.fft.rfftn(a) * np.conj(np.fft.rfftn(b))).ravel()
    return np.bincount(label, weights=product)


@pytest.mark.parametrize("resolution", [3.0, 5.0, 8.0])
def test_half_maps_of_a_real_model_cross_0143_within_a_shell_of_the_resolution(generator, structure, resolution):
    expected = generator(structure, resolution=resolution)
    weight = model_weight(expected, structure)
    assert weight is not None  # the model's B-factors vary: the noise follows them, as s2m generate --noise does
    sample = sample_maps(expected, resolution, seed=11, weight=weight)
    curve = fsc_curve(sample.half_1, sample.half_2)
    crossing = 1.0 / fsc_resolution(curve, 0.143, first_crossing=True, interpolate=True)
    shell = 1.0 / (expected.data.shape[2] * expected.voxel_size[0])  # fsc_curve's shell width (1 / nx)
    assert abs(crossing - 1.0 / resolution) <= shell, (crossing, 1.0 / resolution, shell)
    inner = (curve.frequency > 0) & (curve.frequency + shell < 0.8 / resolution)
    assert np.all(curve.fsc[inner] > 0.143)  # a real map's curve: high, then falling through 0.143 at 1/R


def test_fsc_of_the_half_maps_is_snr_over_one_plus_snr(generator, structure):
    """Per shell, FSC(h1, h2) = S / (S + N) with S the expected map's power and N the realised noise's (both
    measured here from the maps), and S / N follows the stated SNR_R exp(b (1 - (kR)^2)) below 1/R."""
    resolution = 4.0
    expected = generator(structure, resolution=resolution)
    sample = sample_maps(expected, resolution, seed=5, weight=model_weight(expected, structure))
    e = expected.data.astype(np.float64)
    n1, n2 = sample.half_1.data - e, sample.half_2.data - e
    nx = e.shape[2]
    signal = shell_sums(e, e, nx)
    noise = (shell_sums(n1, n1, nx) + shell_sums(n2, n2, nx)) / 2
    fsc = fsc_curve(sample.half_1, sample.half_2).fsc
    k = np.arange(len(fsc)) / nx
    shells = (k > 0.1 / resolution) & (k + 1 / nx < 1 / resolution)
    theory = signal[: len(fsc)] / (signal[: len(fsc)] + noise[: len(fsc)])
    np.testing.assert_allclose(fsc[shells], theory[shells], atol=0.06)
    centre = k + 0.5 / nx
    stated = 0.143 / 0.857 * np.exp(SNR_FALLOFF * (1 - (centre * resolution) ** 2))
    ratio = signal[: len(fsc)] / noise[: len(fsc)] / stated
    assert np.all(np.abs(np.log(ratio[shells])) < np.log(1.6)), ratio[shells]


def test_the_sample_is_the_average_of_the_half_maps_and_seeds_repeat(generator, structure):
    expected = generator(structure, resolution=6.0)
    a, b, c = (sample_maps(expected, 6.0, seed=s) for s in (3, 3, 4))
    np.testing.assert_array_equal(a.half_1.data, b.half_1.data)
    np.testing.assert_array_equal(a.full.data, b.full.data)
    assert np.abs(a.half_1.data - c.half_1.data).max() > 1e-3
    assert np.abs(a.half_1.data - a.half_2.data).max() > 1e-3  # the two halves are independent draws
    np.testing.assert_allclose(a.full.data, (a.half_1.data + a.half_2.data) / 2, atol=1e-6)
    assert a.full.data.mean() == pytest.approx(expected.data.mean(), abs=1e-5)  # the mean (k = 0) is kept
    assert a.seed == 3 and np.array_equal(a.full.origin, expected.origin)


def test_noise_power_is_zero_at_the_mean_and_flat_beyond_the_resolution():
    rng = np.random.default_rng(0)
    grid = DensityMap(rng.random((24, 24, 24)).astype(np.float32), voxel_size=np.array([1.5, 1.5, 1.5]))
    power = noise_power(grid, 5.0)
    assert power.flat[0] == 0 and np.all(power >= 0)
    k = np.sqrt(
        np.fft.fftfreq(24, 1.5)[:, None, None] ** 2
        + np.fft.fftfreq(24, 1.5)[None, :, None] ** 2
        + np.fft.rfftfreq(24, 1.5)[None, None, :] ** 2
    )
    beyond = power[k > 1 / 5.0]
    assert beyond.min() >= power[(k > 0.19) & (k <= 0.2)].max() * 0.999  # at least the floor N(1/R)


def test_default_path_is_the_expected_map_unchanged(generator, structure):
    """Without noise the map is exactly the pipeline's: input -> network -> (no noise), bit for bit."""
    made = generator(structure, resolution=5.0)
    source = generator_input(structure, generator.input_kind, 5.0)
    np.testing.assert_array_equal(made.data, generator.refine(source.data, 5.0))
    assert generator.last_sample is None


def test_a_generator_with_noise_returns_the_sample(small):
    noisy = MapGenerator(device="cpu", progress=False, precision="fp32", noise=True, seed=9)
    clean = MapGenerator(device="cpu", progress=False, precision="fp32")
    got = noisy(small, resolution=5.0)
    expected = clean(small, resolution=5.0)
    want = quality_sample(expected, small, 5.0, 9)  # the default quality: a typical map at 5 A
    np.testing.assert_array_equal(got.data, want.full.data)
    assert noisy.last_sample.envelope_b == want.envelope_b and noisy.last_sample.sample_q == want.sample_q
    assert noisy.last_sample.seed == 9
    drawn = MapGenerator(device="cpu", progress=False, precision="fp32", noise=True)
    drawn(small, resolution=5.0)
    first = drawn.last_sample.seed
    drawn(small, resolution=5.0)
    assert 0 <= first < 2**32 and drawn.last_sample.seed != first  # a new seed each call


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True])
def test_bad_seeds(seed):
    with pytest.raises(S2MError, match="seed must be a whole number"):
        checked_seed(seed)


def test_noise_needs_weights_that_take_a_resolution(tmp_path):
    import torch

    from s2mlib.gan.model import Generator
    from s2mlib.gan.weights import export_generator

    torch.manual_seed(0)
    papers = export_generator(Generator(width=2), tmp_path / "paper.pt")
    with pytest.raises(S2MError, match="noise is set by the target resolution"):
        MapGenerator(papers, device="cpu", noise=True)


def run_cli(*args: str) -> int:
    return main(["generate", str(pair(SMALL)["model_path"]), "--device", "cpu", "--precision", "fp32", *args])


def test_s2m_generate_half_maps(tmp_path, capsys, small):
    out = tmp_path / "s.mrc"
    assert run_cli("-o", str(out), "--resolution", "5", "--half-maps", "--seed", "21") == 0  # implies --noise
    printed = capsys.readouterr().out
    h1, h2 = half_map_paths(out)
    assert "seed 21" in printed and h1.exists() and h2.exists()
    maps = [read_map(p) for p in (h1, h2, out)]
    np.testing.assert_allclose(maps[2].data, (maps[0].data + maps[1].data) / 2, atol=1e-6)
    again = tmp_path / "again.mrc"
    assert run_cli("-o", str(again), "--resolution", "5", "--noise", "--seed", "21") == 0
    np.testing.assert_array_equal(read_map(again).data, maps[2].data)  # same seed, same map
    assert not half_map_paths(again)[0].exists()  # --noise alone writes no half maps
    capsys.readouterr()
    drawn = tmp_path / "drawn.mrc"
    assert run_cli("-o", str(drawn), "--resolution", "5", "--noise") == 0
    assert "seed " in capsys.readouterr().out  # the seed it drew is printed
    plain = tmp_path / "plain.mrc"
    assert run_cli("-o", str(plain), "--resolution", "5") == 0
    want = MapGenerator(device="cpu", progress=False, precision="fp32")(small, resolution=5.0)
    np.testing.assert_array_equal(read_map(plain).data, want.data)  # no noise asked: the expected map


def test_s2m_generate_quality_implies_noise_and_says_what_it_reached(tmp_path, capsys, small):
    out = tmp_path / "q.mrc"
    assert run_cli("-o", str(out), "--resolution", "5", "--quality", "80", "--seed", "3") == 0
    printed = capsys.readouterr().out
    assert "sample map (seed 3, quality 80: B " in printed and "(EMDB 0." in printed
    want = quality_sample(
        MapGenerator(device="cpu", progress=False, precision="fp32")(small, resolution=5.0), small, 5.0, 3, quality=80
    )
    np.testing.assert_array_equal(read_map(out).data, want.full.data)


@pytest.mark.parametrize(
    "args, message",
    [
        (("--noise", "--seed", "-1"), "seed must be a whole number"),
        (("--half-maps",), "the path is a folder"),
        (("--quality", "99"), "quality must be a percentile from 5 to 95"),
    ],
)
def test_s2m_generate_bad_noise_values_get_one_line(tmp_path, capsys, args, message):
    out = tmp_path if "--half-maps" in args else tmp_path / "x.mrc"
    assert run_cli("-o", str(out), "--resolution", "5", *args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("*.mrc"))


def test_mobility_weight_follows_the_b_factors():
    grid = DensityMap(np.zeros((20, 20, 40), np.float32))
    xyz = np.array([[8.0, 10.0, 10.0], [30.0, 10.0, 10.0], [31.0, 10.0, 10.0]])
    weight = mobility_weight(grid, xyz, np.array([10.0, 40.0, 40.0]), exponent=2.0)
    assert weight.shape == grid.data.shape and np.mean(weight**2) == pytest.approx(1.0)
    far, sharp, mobile = weight[0, 0, 19], weight[10, 10, 8], weight[10, 10, 30]
    # B(x) ~ 10 at the sharp atom, 40 at the mobile pair, B_median = 40 far away: w ~ (B / 40)^2 before scaling
    assert sharp / far == pytest.approx((10 / 40) ** 2, rel=0.1) and mobile / far == pytest.approx(1.0, rel=0.1)
    assert mobility_weight(grid, xyz, np.full(3, 20.0)) is None  # no information: uniform noise
    assert mobility_weight(grid, xyz, np.zeros(3)) is None


def test_one_atom_of_huge_b_raises_the_noise_at_most_sixteen_fold():
    """Before: no cap, so one atom at B = 999.99 among atoms at 20 made local noise of +-10 on a map of maximum 1.2.
    Oracle by hand: B(x) / B_median is at most 4 at the outlier, so w there is at most 4^2 = 16 times w far away."""
    grid = DensityMap(np.zeros((20, 20, 40), np.float32))
    xyz = np.array([[8.0 + i, 10.0, 10.0] for i in range(8)] + [[30.0, 10.0, 10.0]])
    b = np.array([20.0] * 8 + [999.99])
    weight = mobility_weight(grid, xyz, b, exponent=2.0)
    far, outlier = weight[0, 0, 19], weight[10, 10, 30]
    assert outlier / far == pytest.approx(16.0, rel=1e-6)  # capped: (999.99 / 20)^2 = 2500 without the cap
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(grid.data.shape) * weight
    assert np.abs(noise).max() < 16 * 5 * far  # what the cap allows, 5 sd
