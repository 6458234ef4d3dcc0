"""Tests of s2mlib.sim.maps: min-max, the atom mask against a brute-force KD-tree distance (random atoms, anisotropic
voxels, a real model), and bringing a map onto another grid."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import brute_force_mask, pair

from s2mlib.io.atoms import read_structure
from s2mlib.io.density import DensityMap, read_map
from s2mlib.sim.maps import atom_mask, lowpass, minmax, on_grid_of


def test_minmax_hand_cases():
    np.testing.assert_array_equal(minmax(np.array([2.0, 4.0, 3.0])), np.array([0.0, 1.0, 0.5], np.float32))
    assert minmax(np.array([2.0, 4.0, 3.0])).dtype == np.float32
    assert minmax(np.array([1.0, 3.0]), dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(minmax(np.full((2, 2), 7.0)), np.zeros((2, 2)))


@pytest.mark.parametrize("voxel", [1.0, (0.7, 1.3, 1.1)])
def test_atom_mask_matches_brute_force(voxel):
    rng = np.random.default_rng(6)
    grid = DensityMap(np.zeros((20, 22, 24), np.float32), origin=(-3.0, 4.0, 1.5), voxel_size=voxel)
    lo, hi = grid.bounds()
    xyz = rng.uniform(lo - 4, hi + 4, size=(60, 3))  # some atoms outside the box, some beside its faces
    for radius in (1.0, 3.0, 4.5):
        np.testing.assert_array_equal(atom_mask(xyz, grid, radius), brute_force_mask(xyz, grid, radius))


def test_atom_mask_on_a_real_model():
    row = pair("5925_3J6J")
    density, model = read_map(row["map_path"]), read_structure(row["model_path"])
    np.testing.assert_array_equal(atom_mask(model, density, 3.0), brute_force_mask(model.xyz, density, 3.0))


def test_atom_mask_radius_must_be_positive():
    with pytest.raises(ValueError, match="mask radius"):
        atom_mask(np.zeros((1, 3)), DensityMap(np.zeros((4, 4, 4))), 0.0)


def test_on_grid_of_keeps_a_map_already_there_and_resamples_otherwise():
    ref = DensityMap(np.random.default_rng(0).random((6, 7, 8)).astype(np.float32), origin=(1.0, 2.0, 3.0))
    assert on_grid_of(ref.copy(), ref).data is not ref.data and on_grid_of(ref, ref) is ref
    shifted = DensityMap(ref.data, origin=ref.origin + (1.0, 0.0, 0.0))
    moved = on_grid_of(shifted, ref)
    np.testing.assert_allclose(moved.data[:, :, 1:], ref.data[:, :, :-1])  # one voxel along x
    assert not moved.data[:, :, 0].any()
    with pytest.raises(ValueError, match="do not overlap"):
        on_grid_of(DensityMap(ref.data, origin=(900.0, 0.0, 0.0)), ref)


def shell_fsc(a: np.ndarray, b: np.ndarray, voxel: float) -> tuple[np.ndarray, np.ndarray]:
    """Oracle FSC on a cubic grid: shells one Fourier voxel wide, sum(F G*) / sqrt(sum |F|^2 sum |G|^2) per shell
    (full complex FFT, integer shell index = round(|k| N)); returns (shell frequency 1/A, fsc)."""
    n = a.shape[0]
    fa, fb = np.fft.fftn(a), np.fft.fftn(b)
    k = np.sqrt(sum(g**2 for g in np.meshgrid(*[np.fft.fftfreq(n) * n] * 3, indexing="ij")))
    shell = np.rint(k).astype(int).ravel()
    num = np.bincount(shell, (fa * np.conj(fb)).real.ravel())
    den = np.sqrt(np.bincount(shell, (np.abs(fa) ** 2).ravel()) * np.bincount(shell, (np.abs(fb) ** 2).ravel()))
    fsc = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    keep = np.arange(len(fsc)) <= n // 2
    return np.arange(len(fsc))[keep] / (n * voxel), fsc[keep]


@pytest.mark.parametrize("resolution", [3.5, 5.0, 8.0])
def test_lowpass_fsc_against_the_map_falls_through_half_within_one_shell(resolution):
    """A real map (5925_3J6J, a 64^3 box at 1 A): the filtered map's FSC against the unfiltered one stays 1 below the
    taper and crosses 0.5 within one Fourier shell of 1/R; nothing finer than R is left."""
    density = read_map(pair("5925_3J6J")["map_path"])
    box = density.resampled_on(density.origin, (64, 64, 64), 1.0)
    filtered = lowpass(box, resolution)
    freq, fsc = shell_fsc(filtered.data.astype(np.float64), box.data.astype(np.float64), 1.0)
    shell_width = 1.0 / 64
    below = freq < 0.9 / resolution - shell_width  # shells wholly inside the untouched band
    assert np.all(fsc[below][1:] > 0.999)
    crossing = freq[np.argmax(fsc < 0.5)]  # first shell under 0.5
    assert abs(crossing - 1.0 / resolution) <= shell_width
    power = np.abs(np.fft.fftn(filtered.data.astype(np.float64))) ** 2
    k = np.sqrt(sum(g**2 for g in np.meshgrid(*[np.fft.fftfreq(64)] * 3, indexing="ij")))
    assert power[k > 1.0 / resolution + 1e-9].sum() < 1e-9 * power.sum()
    inner = k < 0.9 / resolution  # the pass band is untouched
    original = np.fft.fftn(box.data.astype(np.float64))
    np.testing.assert_allclose(
        np.fft.fftn(filtered.data.astype(np.float64))[inner], original[inner], atol=1e-3 * np.abs(original).max()
    )


def test_lowpass_checks_its_arguments():
    m = DensityMap(np.zeros((8, 8, 8), np.float32))
    for bad in (0.0, -2.0, float("nan")):
        with pytest.raises(ValueError, match="positive number of Angstrom"):
            lowpass(m, bad)
    with pytest.raises(ValueError, match="edge"):
        lowpass(m, 4.0, edge=0.0)
