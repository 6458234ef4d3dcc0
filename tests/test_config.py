"""Profiles and overrides."""
import pytest

from s2mlib.config import ROOT, load_profile
from s2mlib.errors import S2MError


def test_default_profile_paths_are_absolute_and_overrides_apply(monkeypatch):
    monkeypatch.delenv("S2M_MANIFEST", raising=False)
    params = load_profile("default", {"epochs": 1, "res_min": 3, "res_max": None, "not_a_param": 9})
    assert params["profile"] == "default"
    assert params["epochs"] == 1 and params["res_min"] == 3 and params["res_max"] is None
    assert "not_a_param" not in params
    assert params["manifest"] == str(ROOT / "params/manifests/default_small.csv")
    assert params["figures_dir"] == str(ROOT / "figures")


def test_manifest_from_environment_unless_overridden(monkeypatch, tmp_path):
    monkeypatch.setenv("S2M_MANIFEST", str(tmp_path / "env.tsv"))
    assert load_profile("default")["manifest"] == str(tmp_path / "env.tsv")
    assert load_profile("default", {"manifest": str(tmp_path / "p.csv")})["manifest"] == str(tmp_path / "p.csv")


def test_profiles_define_the_same_keys():
    assert set(load_profile("default")) == set(load_profile("paper"))
    assert load_profile("paper")["width"] == 32 and load_profile("paper")["epochs"] == 150


def test_unknown_profile():
    with pytest.raises(S2MError, match="no such profile 'nope'.*default"):
        load_profile("nope")
