"""Tests of s2mlib.sim.inputs: the resolution ladder, targets at a resolution (the ExpMap itself at r0, low-passed
beyond), and the two network inputs on a real model (the molmap one is the curated SimMap; the B-factor one blurs
mobile atoms more and changes with the resolution)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import pair

from s2mlib.io.atoms import read_structure
from s2mlib.io.density import DensityMap, read_map
from s2mlib.sim.inputs import known_resolution, network_input, resolution_ladder, target_at
from s2mlib.sim.maps import lowpass
from s2mlib.sim.structures import with_b_factors
from s2mlib.study.curate import curate_exp_map, make_sim_map


@pytest.fixture(scope="module")
def entry():
    row = pair("5925_3J6J")
    model = read_structure(row["model_path"])
    return model, curate_exp_map(read_map(row["map_path"]), model, clip_negative=True)


def test_resolution_ladder_hand_cases():
    assert resolution_ladder(3.2, 5.0).tolist() == [3.2, 3.5, 4.0, 4.5, 5.0]
    assert resolution_ladder(3.5, 5.0).tolist() == [3.5, 4.0, 4.5, 5.0]  # r0 on the step: not twice
    assert resolution_ladder(2.6, 4.0, step=1.0).tolist() == [2.6, 3.0, 4.0]
    assert resolution_ladder(12.0).tolist() == [12.0]
    with pytest.raises(ValueError):
        resolution_ladder(0.0)


def test_known_resolution():
    assert known_resolution(3.2) == 3.2 and known_resolution("2.9") == 2.9
    for unknown in (None, math.nan, "", "?", -1.0):
        assert known_resolution(unknown, 3.5) == 3.5


def test_target_at_r0_is_the_expmap_and_beyond_a_normalised_lowpass(entry):
    _, exp = entry
    assert target_at(exp, 3.6, native=3.6) is exp and target_at(exp, 3.0, native=3.6) is exp
    t = target_at(exp, 6.0, native=3.6)
    oracle = np.maximum(lowpass(exp, 6.0).data.astype(np.float64), 0)
    oracle = (oracle - oracle.min()) / (oracle.max() - oracle.min())
    np.testing.assert_allclose(t.data, oracle, atol=1e-6)
    assert t.data.min() == 0.0 and t.data.max() == pytest.approx(1.0)
    assert np.abs(np.diff(t.data, axis=0)).mean() < np.abs(np.diff(exp.data, axis=0)).mean()  # smoother


def test_molmap_input_is_the_curated_simmap(entry):
    model, exp = entry
    np.testing.assert_array_equal(network_input(model, exp, "molmap").data, make_sim_map(model, exp).data)
    np.testing.assert_array_equal(network_input(model, exp, "molmap", 8.0).data, make_sim_map(model, exp).data)


def test_bfactor_input_follows_the_b_factors_and_the_resolution(entry):
    model, exp = entry
    low_b = with_b_factors(model, lambda b: np.full_like(b, 10.0))
    high_b = with_b_factors(model, lambda b: np.full_like(b, 150.0))
    sharp, blurred = (network_input(m, exp, "bfactor", 3.0).data for m in (low_b, high_b))
    assert sharp.max() == pytest.approx(1.0) and blurred.min() == 0.0
    # higher B spreads the same density: less of the map sits at the atoms' peak level
    assert (sharp > 0.5).mean() < (blurred > 0.5).mean()
    coarse = network_input(low_b, exp, "bfactor", 8.0).data
    assert (sharp > 0.5).mean() < (coarse > 0.5).mean()
    with pytest.raises(ValueError, match="at a resolution"):
        network_input(model, exp, "bfactor")
    with pytest.raises(ValueError, match="unknown input kind"):
        network_input(model, DensityMap(np.zeros((4, 4, 4))), "sketch")


@pytest.mark.parametrize("resolution", [3.0, 6.0, 10.0])
def test_bfactor_input_is_gemmi_at_r_made_by_adding_b(entry, resolution):
    """gemmi at 2 A convolved with a Gaussian of B = 4 (R^2 - 4) is gemmi's own density at R (blur 4 R^2), up to the
    grid sampling of the convolution: compared here with gemmi called at R."""
    from s2mlib.sim.maps import minmax
    from s2mlib.sim.simulate import gemmi_density
    from s2mlib.sim.structures import with_effective_b_factors

    model, exp = entry
    made = network_input(model, exp, "bfactor", resolution).data
    direct = minmax(gemmi_density(with_effective_b_factors(model)[0], resolution, ref_map=exp).data)
    inside = direct > 0.05
    assert np.corrcoef(made[inside], direct[inside])[0, 1] > 0.999
    assert np.abs(made - direct).max() < 0.03
