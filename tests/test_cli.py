"""The s2m entry point: commands listed, info on real files, one-line errors."""
import json

from conftest import SHARED_DATA
from s2mlib.cli import main


def test_help_lists_commands(capsys):
    try:
        main(["--help"])
    except SystemExit:
        pass
    out = capsys.readouterr().out
    for command in ("info", "fetch"):
        assert command in out


def test_info_map_and_model_json(capsys):
    assert main(["info", str(SHARED_DATA / "maps_only/emd_11007.map.gz"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["shape_xyz"] == [240, 240, 240] and info["axis_order"] == [3, 2, 1]
    assert main(["info", str(SHARED_DATA / "pairs/5925_3J6J/5925_native.pdb"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["atoms"] == 793 and info["chains"] == ["A"] and info["polymer_types"] == ["protein"]


def test_bad_input_is_one_line_with_status_2(capsys, tmp_path):
    bad = tmp_path / "broken.mrc"
    bad.write_text("not a map")
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "broken.mrc" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_simulate_on_reference_grid(tmp_path, capsys):
    from s2mlib.io import read_map

    ref = SHARED_DATA / "pairs/5925_3J6J/5925.mrc.gz"
    out = tmp_path / "sim.mrc"
    assert main(["simulate", str(SHARED_DATA / "pairs/5925_3J6J/5925_native.pdb"), "-o", str(out),
                 "--resolution", "3.6", "--ref-map", str(ref)]) == 0
    sim, exp = read_map(out), read_map(ref)
    assert sim.data.shape == exp.data.shape
    assert (sim.origin == exp.origin).all() and (sim.voxel_size == exp.voxel_size).all()
    assert sim.data.max() > 0


def test_simulate_rejects_bad_resolution(tmp_path, capsys):
    status = main(["simulate", str(SHARED_DATA / "pairs/5925_3J6J/5925_native.pdb"), "-o", str(tmp_path / "x.mrc"),
                   "--resolution", "-1"])
    assert status == 2 and "resolution" in capsys.readouterr().err
    assert not (tmp_path / "x.mrc").exists()
