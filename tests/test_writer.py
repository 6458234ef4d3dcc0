"""Tests of s2mlib.gan.writer: the names of a generated map and its half maps, the maps written whole (read back
equal, half maps first), and what counts as a whole map (a truncated or gzip-truncated file does not)."""

from __future__ import annotations

import gzip

import numpy as np
from helpers import pair

from s2mlib.gan.writer import half_map_paths, is_whole, map_paths, output_name, write_maps
from s2mlib.io.density import read_map


def test_half_map_names_follow_emdb():
    assert [p.name for p in half_map_paths("out/emd_1234.mrc")] == [
        "emd_1234_half_map_1.mrc",
        "emd_1234_half_map_2.mrc",
    ]
    assert [p.name for p in half_map_paths("x.y.ccp4.gz")] == ["x.y_half_map_1.ccp4.gz", "x.y_half_map_2.ccp4.gz"]


def test_a_map_is_named_after_its_model():
    assert output_name("models/AF-P69905-F1-model_v4.cif.gz") == "AF-P69905-F1-model_v4.mrc"
    assert output_name("3j6j.pdb") == "3j6j.mrc" and output_name("x.ent.gz") == "x.mrc"
    assert output_name("notes.txt") == "notes.txt.mrc"  # not a model suffix: kept
    assert [p.name for p in map_paths("a.mrc")] == ["a.mrc"]


def test_the_map_and_its_half_maps_are_written_whole(tmp_path):
    real = read_map(pair("5925_3J6J")["map_path"])
    halves = (real.copy(real.data * 0.5), real.copy(real.data * 2.0))
    out = tmp_path / "sub" / "gen.mrc.gz"
    written = write_maps(out, real, halves)
    assert written == [*half_map_paths(out), out]
    for path, expected in zip(written, [*halves, real]):
        back = read_map(path)
        np.testing.assert_array_equal(back.data, expected.data)
        np.testing.assert_allclose(back.voxel_size, expected.voxel_size, rtol=1e-6)
        assert is_whole(path)
    assert write_maps(tmp_path / "alone.mrc", real) == [tmp_path / "alone.mrc"]
    assert not half_map_paths(tmp_path / "alone.mrc")[0].exists()


def test_a_truncated_map_is_not_whole(tmp_path):
    real = read_map(pair("5925_3J6J")["map_path"])
    (path,) = write_maps(tmp_path / "m.mrc", real)
    data = path.read_bytes()
    (tmp_path / "cut.mrc").write_bytes(data[:-10])
    (tmp_path / "cut.mrc.gz").write_bytes(gzip.compress(data)[:-100])
    assert is_whole(path) and not is_whole(tmp_path / "cut.mrc") and not is_whole(tmp_path / "cut.mrc.gz")
    assert not is_whole(tmp_path / "missing.mrc")
