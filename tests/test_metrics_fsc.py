"""FSC, map-model FSC and the matched molmap resolution (s2mlib.metrics.fsc).

Oracles: TEMPy 2.1.2 (ScoringFunctions.map_model_fsc / map_model_fsc_resolution called here with the same
model map), maps low-passed in the test to a known resolution, algebraic identities, and molmaps of known
resolution for matched_resolution.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import pair

from s2mlib.io.atoms import read_structure
from s2mlib.io.density import DensityMap, read_map
from s2mlib.metrics.fsc import FSCCurve, fsc_curve, fsc_resolution, map_model_fsc, matched_resolution
from s2mlib.sim.simulate import molmap

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # molmap's accumulation on one thread


def _tempy_map(density: DensityMap, data: np.ndarray | None = None):
    from TEMPy.maps.em_map import Map

    values = density.data if data is None else data
    return Map(np.asarray(values, np.float64), density.origin.copy(), density.voxel_size.copy(), "test")


@pytest.mark.parametrize("entry", ["0093_6GYN", "8410_5TJ6", "2513_4CI0_b", "6272_3J9S"])
def test_map_model_fsc_matches_tempy(entry):
    from TEMPy.protein.scoring_functions import ScoringFunctions

    row = pair(entry)
    density = read_map(row["map_path"])
    structure = read_structure(row["model_path"])
    model = molmap(structure, 2 * density.voxel_size.max(), ref_map=density)
    curve = map_model_fsc(density, structure)  # its default model map is that molmap
    scoring = ScoringFunctions()
    resolution = float(row["resolution_A"])
    expected = scoring.map_model_fsc(None, _tempy_map(density), resolution, sim_map=_tempy_map(density, model.data))
    assert len(expected) == len(curve.fsc)
    np.testing.assert_allclose(curve.fsc, expected[:, 1], atol=1e-9)
    np.testing.assert_allclose(curve.resolution[1:], expected[1:, 0], rtol=1e-12)
    tempy_res = scoring.map_model_fsc_resolution(
        None, _tempy_map(density), resolution, sim_map=_tempy_map(density, model.data)
    )
    assert fsc_resolution(curve, 0.5) == pytest.approx(tempy_res, abs=1e-9)
    assert 2 * density.voxel_size.max() <= tempy_res < 3 * resolution


def _low_passed_pair(size=64, keep_shells=16, noise=0.3, seed=0):
    """Two maps: one white-noise signal low-passed to |q| < keep_shells / size (a hard cutoff), each plus its
    own white noise; the signal-to-noise ratio per coefficient is 1 / noise^2 below the cutoff, 0 above it."""
    rng = np.random.default_rng(seed)
    signal = np.fft.rfftn(rng.normal(size=(size,) * 3))
    q = np.sqrt(
        np.fft.fftfreq(size)[:, None, None] ** 2
        + np.fft.fftfreq(size)[None, :, None] ** 2
        + np.fft.rfftfreq(size)[None, None, :] ** 2
    )
    signal[q >= keep_shells / size] = 0
    signal = np.fft.irfftn(signal, s=(size,) * 3)
    return signal + noise * rng.normal(size=signal.shape), signal + noise * rng.normal(size=signal.shape)


@pytest.mark.parametrize("threshold", [0.5, 0.143])
def test_low_passed_maps_cross_at_the_cutoff(threshold):
    a, b = _low_passed_pair()
    curve = fsc_curve(DensityMap(a.astype(np.float32)), DensityMap(b.astype(np.float32)))  # 1 A voxels
    expected_fsc = 1 / (1 + 0.3**2)  # signal variance 1 per coefficient, noise 0.09
    np.testing.assert_allclose(curve.fsc[2:15], expected_fsc, atol=0.03)  # shells well below the cutoff
    assert np.all(np.abs(curve.fsc[17:]) < 0.1)
    cutoff = 64 / 16  # 4 A: the first shell without signal
    assert fsc_resolution(curve, threshold) == pytest.approx(64 / 15)  # TEMPy: the last shell above threshold
    interpolated = fsc_resolution(curve, threshold, first_crossing=True, interpolate=True)
    assert cutoff <= interpolated <= 64 / 15


def test_identities():
    x = np.random.default_rng(3).normal(size=(20, 22, 24))
    np.testing.assert_allclose(fsc_curve(x, x).fsc, 1.0, atol=1e-12)
    np.testing.assert_allclose(fsc_curve(x, -x).fsc, -1.0, atol=1e-12)
    np.testing.assert_allclose(fsc_curve(x, 2 * x + 5).fsc[1:], 1.0, atol=1e-12)
    curve = fsc_curve(x, x, voxel_size=2.0)
    assert curve.frequency[1] == pytest.approx(1 / (24 * 2.0))  # shells one x-voxel of Fourier space wide
    assert curve.frequency[-1] <= 0.25 + 1e-12  # up to Nyquist, 1 / (2 x 2 A)
    assert curve.n_coefficients.sum() <= x.shape[0] * x.shape[1] * (x.shape[2] // 2 + 1)


def test_resolution_rules():
    curve = FSCCurve(np.array([0.0, 0.1, 0.2, 0.3, 0.4]), np.array([1.0, 0.4, 0.7, 0.3, 0.2]), np.ones(5))
    assert fsc_resolution(curve) == pytest.approx(5.0)  # last crossing, the shell before it
    assert fsc_resolution(curve, first_crossing=True) == np.inf  # below from the first shell on (DC counts as 1)
    assert fsc_resolution(curve, 0.1) == 0.0  # never crosses


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="one shape"):
        fsc_curve(np.zeros((4, 4, 4)), np.zeros((4, 4, 5)))


@pytest.mark.parametrize("resolution", [4.0, 7.0])
def test_matched_resolution_finds_a_molmap(resolution):
    row = pair("5925_3J6J")
    density = read_map(row["map_path"])
    structure = read_structure(row["model_path"])
    found, cc = matched_resolution(molmap(structure, resolution, ref_map=density), structure)
    assert found == pytest.approx(resolution, abs=0.1)
    assert cc == pytest.approx(1.0, abs=1e-6)


def test_matched_resolution_of_an_experimental_map():
    row = pair("2513_4CI0_b")
    found, cc = matched_resolution(read_map(row["map_path"]), read_structure(row["model_path"]))
    print(f"2513_4CI0_b: matched molmap resolution {found:.2f} A (CC {cc:.3f}), reported {row['resolution_A']} A")
    assert 2.0 < found < 12.0 and cc > 0.5
