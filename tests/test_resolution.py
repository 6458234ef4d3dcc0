"""Tests of s2mlib.study.resolution: target lists, the series of maps at target resolutions scored against the
low-passed experimental map (real pair 5925_3J6J), and the matched-resolution check on maps of known resolution."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import pair

from s2mlib.io.atoms import read_structure
from s2mlib.io.density import read_map, write_map
from s2mlib.metrics import evaluate
from s2mlib.sim.inputs import target_at
from s2mlib.sim.simulate import molmap
from s2mlib.study.curate import curate_exp_map
from s2mlib.study.resolution import increases_with_target, resolution_check, resolution_series, targets_for


def test_targets_for_hand_cases():
    assert targets_for(3.2, ["reported", 3.0, 5.0, 5.0, 8.0]) == [3.2, 5.0, 8.0]
    assert targets_for(6.0, ["reported", 3.5, 5.0]) == [6.0]  # nothing finer than the map itself
    assert targets_for(2.6, [3.0, "reported"]) == [3.0, 2.6]


class FakeGenerator:
    """Stands in for MapGenerator: 'makes' molmap at the resolution it is asked for (or at 2 A if it uses none)."""

    def __init__(self, uses_resolution: bool):
        self.uses_resolution, self.calls = uses_resolution, []

    def __call__(self, structure, ref_map=None, resolution=None):
        self.calls.append(resolution)
        return molmap(structure, resolution or 2.0, ref_map=ref_map)


@pytest.fixture(scope="module")
def entries(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exp")
    p = pair("5925_3J6J")
    model = read_structure(p["model_path"])
    exp = curate_exp_map(read_map(p["map_path"]), model, clip_negative=True)
    return pd.DataFrame(
        [
            {
                "entry": "5925_3J6J",
                "resolution": 3.6,
                "model": str(p["model_path"]),
                "exp_map": str(write_map(exp, folder / "5925_exp.mrc")),
            }
        ]
    )


def test_series_scores_each_map_against_the_lowpassed_experimental_map(entries, tmp_path):
    conditioned, paper = FakeGenerator(True), FakeGenerator(False)
    series = resolution_series(
        entries,
        {"conditioned": conditioned, "paper": paper},
        ["reported", 3.0, 6.0],
        tmp_path,
        simulators=("molmap", "gemmi"),
        progress=False,
    )
    assert sorted(set(series["target"])) == [3.6, 6.0]  # 3 A is finer than the map: left out
    assert conditioned.calls == [3.6, 6.0] and paper.calls == [None, None]
    assert len(series) == 2 * 5
    row = entries.iloc[0]
    exp, model = read_map(row.exp_map), read_structure(row.model)
    for target in (3.6, 6.0):
        part = series[series["target"] == target].set_index("method")
        reference = target_at(exp, target, 3.6)
        np.testing.assert_allclose(read_map(part.loc["experimental", "path"]).data, reference.data, atol=1e-6)
        assert part.loc["experimental", "masked_correlation_about_mean"] == pytest.approx(1.0)
        expected = evaluate(molmap(model, target, ref_map=exp), reference, model)
        for key in ("ssim", "correlation_about_mean", "pcc", "masked_correlation_about_mean"):
            assert part.loc["molmap", key] == pytest.approx(expected[key], abs=1e-6)
            assert part.loc["conditioned", key] == pytest.approx(expected[key], abs=1e-6)
    with pytest.raises(ValueError, match="unknown simulator"):
        resolution_series(entries, {}, [4.0], tmp_path, simulators=("chimera",), progress=False)


def test_matched_resolution_check_on_maps_of_known_resolution(entries, tmp_path):
    """molmap at R (the 'generator') has R' = R; the experimental reference has its own R'."""
    series = resolution_series(
        entries, {"molmap at R": FakeGenerator(True)}, [4.0, 7.0], tmp_path, simulators=(), progress=False
    )
    check = resolution_check(series, entries, [4.0, 7.0], ["molmap at R"], progress=False)
    assert check["matched"].round(1).tolist() == [4.0, 7.0]
    assert (check["difference"] == check["matched"] - check["matched_experimental"]).all()
    assert (check["within_1A"] == (check["difference"].abs() <= 1.0)).all()
    assert increases_with_target(check)["increases"].all()


def test_series_sample_maps_and_q_scores(entries, tmp_path):
    """A sample is the named generator's map at R made a sample at the named quality (s2mlib.sim.quality, same seed,
    same map); Q-scores are mapq's (sigma 0.6, and EMDB's 0.4), and the noise lowers them."""
    from s2mlib.metrics import atom_qscores, mean_qscore
    from s2mlib.sim.quality import quality_sample

    series = resolution_series(
        entries,
        {"molmap at R": FakeGenerator(True)},
        [5.0],
        tmp_path,
        simulators=(),
        progress=False,
        samples={"sample": ("molmap at R", 20)},
        seed=4,
        qscore=True,
    )
    part = series.set_index("method")
    expected = read_map(part.loc["molmap at R", "path"])
    model = read_structure(entries.iloc[0].model)
    want = quality_sample(expected, model, 5.0, 4, quality=20).full
    np.testing.assert_allclose(read_map(part.loc["sample", "path"]).data, want.data, atol=1e-6)
    assert part.loc["molmap at R", "q_mean"] == pytest.approx(mean_qscore(atom_qscores(expected, model)))
    assert part.loc["sample", "q_mean_emdb"] == pytest.approx(mean_qscore(atom_qscores(want, model, sigma=0.4)))
    assert part.loc["sample", "q_mean"] < part.loc["molmap at R", "q_mean"]


def test_half_map_check_crosses_within_a_shell(entries):
    from s2mlib.study.resolution import half_map_check

    check, curves = half_map_check(FakeGenerator(True), entries, [4.0, 8.0], seed=2, progress=False)
    assert check["target"].tolist() == [4.0, 8.0] and check["within_one_shell"].all(), check
    np.testing.assert_allclose(check["shells_off"], (1 / check["fsc_0143"] - 1 / check["target"]) / check["shell"])
    assert set(curves["target"]) == {4.0, 8.0}
    low = curves[(curves["frequency"] > 0) & (curves["frequency"] * curves["target"] < 0.5)]
    assert low["fsc"].median() > 0.7  # SNR_R e^(0.75 b) >= 2.6 there: FSC >= 0.72 in expectation
