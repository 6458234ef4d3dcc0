"""The s2m entry point: commands listed, info on real files, one-line errors."""
import json

from conftest import pair

from s2mlib.cli import main

MODEL = "5925_3J6J"  # in ../shared/data, or the in-repo tiny set without it


def test_help_lists_commands(capsys):
    try:
        main(["--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    for command in ("info", "fetch"):
        assert command in out


def test_info_map_json(capsys, shared_data):
    assert main(["info", str(shared_data / "maps_only/emd_11007.map.gz"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["shape_xyz"] == [240, 240, 240] and info["axis_order"] == [3, 2, 1]


def test_info_model_json(capsys):
    assert main(["info", str(pair(MODEL)["model_path"]), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["atoms"] == 793 and info["chains"] == ["A"] and info["polymer_types"] == ["protein"]
    assert main(["info", str(pair(MODEL)["map_path"]), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["shape_xyz"] == [71, 68, 68] and info["axis_order"] == [1, 2, 3]


def test_bad_input_is_one_line_with_status_2(capsys, tmp_path):
    bad = tmp_path / "broken.mrc"
    bad.write_text("not a map")
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "broken.mrc" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_simulate_on_reference_grid(tmp_path, capsys):
    from s2mlib.io import read_map

    ref = pair(MODEL)["map_path"]
    out = tmp_path / "sim.mrc"
    assert main(["simulate", str(pair(MODEL)["model_path"]), "-o", str(out),
                 "--resolution", "3.6", "--ref-map", str(ref)]) == 0
    sim, exp = read_map(out), read_map(ref)
    assert sim.data.shape == exp.data.shape
    assert (sim.origin == exp.origin).all() and (sim.voxel_size == exp.voxel_size).all()
    assert sim.data.max() > 0


def test_simulate_rejects_bad_resolution(tmp_path, capsys):
    status = main(["simulate", str(pair(MODEL)["model_path"]), "-o", str(tmp_path / "x.mrc"),
                   "--resolution", "-1"])
    assert status == 2 and "resolution" in capsys.readouterr().err
    assert not (tmp_path / "x.mrc").exists()
