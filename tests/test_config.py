"""Profiles and overrides."""

import pytest

from s2mlib.errors import MissingInput, S2MError
from s2mlib.run.config import ROOT, RunPaths, kwargs_for, load_profile, missing_inputs
from s2mlib.run.session import start


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


def test_run_and_figure_folders_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("S2M_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("S2M_FIGURES_DIR", str(tmp_path / "fig"))
    params = load_profile("default")
    assert params["run_dir"] == str(tmp_path / "run") and params["figures_dir"] == str(tmp_path / "fig")
    assert load_profile("default", {"run_dir": str(tmp_path / "p")})["run_dir"] == str(tmp_path / "p")


def test_missing_inputs_name_the_notebooks_that_make_them(tmp_path):
    params = {"run_dir": str(tmp_path), "weights": "fast"}
    paths = RunPaths(tmp_path)
    assert missing_inputs("01", params) == {}
    assert missing_inputs("07", params) == {  # 06 makes the scores from 05's maps, and both need 01's table
        "01_curate": paths.curation_table,
        "05_generate": paths.generated_table,
        "06_benchmark": paths.scores,
    }
    assert missing_inputs("05", {**params, "weights": "run"}) == {
        "01_curate": paths.curation_table,
        "04_train": paths.generator,
    }
    paths.curation_table.write_text("entry\n")
    assert missing_inputs("06", params) == {"05_generate": paths.generated_table}


def test_start_stops_with_one_line_when_an_input_is_missing(tmp_path):
    with pytest.raises(MissingInput) as caught:
        start("default", {"run_dir": str(tmp_path)}, notebook="03_patches", quiet=True)
    line = f"MissingInput: 03_patches needs {tmp_path}/curation.csv (made by notebook 01_curate): run it first"
    assert caught.value._render_traceback_() == [line + " (./run_all.sh --only 01)"]  # how Jupyter shows it


def test_profiles_define_the_same_keys():
    assert set(load_profile("default")) == set(load_profile("paper"))
    assert load_profile("paper")["width"] == 32 and load_profile("paper")["epochs"] == 150


def test_every_key_of_every_profile_feeds_a_setting():
    """Profile keys are the names of what they feed: a CurationConfig or TrainConfig field, a MapGenerator argument
    (plain or generate_-prefixed) or one of the run's own keys; loading refuses any other."""
    from s2mlib.gan.train import TrainConfig
    from s2mlib.run.config import RUN_KEYS, known_keys
    from s2mlib.study.curate import CurationConfig

    profiles = sorted((ROOT / "params").glob("*.yaml"))
    assert [p.stem for p in profiles] == ["default", "paper"]
    for profile in profiles:
        assert set(load_profile(profile.stem)) - {"profile"} <= known_keys()
    assert {"clip_negative", "mask_radius"} <= set(vars(CurationConfig())) and "epochs" in vars(TrainConfig())
    assert {"generate_batch_size", "generate_precision", "skip_empty"} <= known_keys() and "weights" in RUN_KEYS
    assert "generate_weights" not in known_keys()  # the weights are the profile's own key


def test_a_profile_file_with_an_unknown_key_is_refused_as_an_override_is(monkeypatch, tmp_path):
    import s2mlib.run.config as config

    (tmp_path / "typo.yaml").write_text((ROOT / "params" / "default.yaml").read_text() + "epoch: 10\n")
    with pytest.raises(S2MError, match=r"-p epoch: profile default: no parameter 'epoch'; did you mean epochs\?"):
        config.check_overrides("default", {"epoch": 10})
    monkeypatch.setattr(config, "PARAMS_DIR", tmp_path)
    with pytest.raises(S2MError, match=r"typo.yaml: no parameter 'epoch'; did you mean epochs\?"):
        load_profile("typo")


def test_a_known_key_missing_from_the_profile_can_be_set():
    from s2mlib.run.config import check_overrides

    assert "lr_patience" not in load_profile("default")
    assert load_profile("default", {"lr_patience": 3})["lr_patience"] == 3
    assert check_overrides("default", {"lr_patience": 3})["lr_patience"] == 3


def test_the_project_root_is_s2m_root_else_the_checkout(monkeypatch, tmp_path):
    import s2mlib.run.config as config

    monkeypatch.delenv("S2M_ROOT", raising=False)
    assert config.project_root() == ROOT == config.ROOT
    monkeypatch.setenv("S2M_ROOT", str(tmp_path))
    assert config.project_root() == tmp_path
    monkeypatch.setattr(config, "PARAMS_DIR", tmp_path / "params")
    with pytest.raises(S2MError, match="belong to the struc2map checkout: run from it or set S2M_ROOT"):
        load_profile("default")


def test_unknown_profile():
    with pytest.raises(S2MError, match="no such profile 'nope'.*default"):
        load_profile("nope")


def test_start_makes_the_folders_and_resolves_run_weights(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("S2M_MANIFEST", str(tmp_path / "m.tsv"))
    run = start("default", {"run_dir": str(tmp_path / "run"), "figures_dir": str(tmp_path / "fig"), "weights": "run"})
    assert run.paths.root == tmp_path / "run" and run.paths.root.is_dir() and run.figures.is_dir()
    assert run.params["weights"] == str(tmp_path / "run" / "train" / "generator.pt") == str(run.paths.generator)
    assert run.label == "default (m.tsv)" and "run folder" in capsys.readouterr().out
    assert (
        start("default", {"run_dir": str(tmp_path / "run"), "weights": "fast"}, quiet=True).params["weights"] == "fast"
    )


def test_run_paths_are_named_once():
    paths = RunPaths(ROOT / "runs" / "x")
    assert paths.generator == paths.train / "generator.pt" and paths.generated_table.parent == paths.generated
    named = [getattr(paths, name) for name in dir(RunPaths) if isinstance(getattr(RunPaths, name), property)]
    assert len(set(named)) == len(named) and all(p.is_relative_to(paths.root) for p in named)


def test_kwargs_for_with_a_prefix():
    def generator(weights=None, *, device="auto", batch_size=32, precision="auto"): ...

    params = {
        "weights": "fast",
        "device": "cpu",
        "batch_size": 8,
        "generate_batch_size": 16,
        "precision": "fp32",
        "generate_precision": "bf16",
        "epochs": 3,
    }
    assert kwargs_for(generator, params) == {"weights": "fast", "device": "cpu", "batch_size": 8, "precision": "fp32"}
    assert kwargs_for(generator, params, prefix="generate_") == {
        "weights": "fast",
        "device": "cpu",
        "batch_size": 16,
        "precision": "bf16",
    }
