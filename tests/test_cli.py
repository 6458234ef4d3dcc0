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
