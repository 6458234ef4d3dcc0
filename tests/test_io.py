"""Tests of s2mlib.io.density: every real map read (axis orders, origins, voxel sizes against a raw-MRC oracle), written
and read back, and bad maps (missing, not MRC, truncated, NaN, too thin)."""

from __future__ import annotations

import gzip
import os

import mrcfile
import numpy as np
import pytest
from helpers import pair, pair_ids, shared_pairs

from s2mlib.errors import MapError
from s2mlib.io.atoms import read_structure
from s2mlib.io.density import DensityMap, mrc_declared_size, read_map, write_map
from s2mlib.io.memory import MemoryLimitError


def raw_mrc(path):
    """Independent oracle: parse an (optionally gzipped) MRC by hand; returns header words and file-order data."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        blob = fh.read()
    words = np.frombuffer(blob[:1024], dtype="<i4")
    floats = np.frombuffer(blob[:1024], dtype="<f4")
    nc, nr, ns, mode = words[:4]
    assert mode == 2
    data = np.frombuffer(blob, dtype="<f4", offset=1024 + int(words[23]), count=nc * nr * ns).reshape(ns, nr, nc)
    return words, floats, data


@pytest.mark.parametrize("entry", pair_ids())
def test_every_pair_reads_and_model_sits_in_density(entry):
    row = next(r for r in shared_pairs() if r["entry"] == entry)
    density = read_map(row["map_path"])
    model = read_structure(row["model_path"])
    assert density.data.dtype == np.float32 and density.data.ndim == 3
    assert density.shape_xyz == tuple(int(v) for v in row["map_shape_xyz"].split("x"))
    assert np.allclose(density.voxel_size, float(row["voxel_size_A"]), atol=2e-3)
    lo, hi = density.bounds()
    inside = np.all((model.xyz >= lo) & (model.xyz <= hi), axis=1).mean()
    assert inside >= 0.98, f"only {inside:.1%} of atoms inside the box"  # 35448 has ~1.6 % just outside
    at_atoms = density.interpolate(model.xyz).mean()
    assert at_atoms > density.data.mean()
    for axis in range(3):
        for sign in (1, -1):
            shift = np.zeros(3)
            shift[axis] = 4.0 * sign
            assert density.interpolate(model.xyz + shift).mean() < at_atoms, f"shift {shift} does not lower density"


def test_maps_only_read(shared_data):
    shapes = {
        "emd_11007.map.gz": (240, 240, 240),
        "emd_5170.map.gz": (100, 100, 100),
        "emd_44046.map.gz": (360, 360, 360),
    }
    for name, shape in shapes.items():
        density = read_map(shared_data / "maps_only" / name)
        assert density.data.shape == shape
        assert np.isfinite(density.data).all()


def test_axis_order_321_equals_hand_transpose(shared_data):
    path = shared_data / "maps_only" / "emd_11007.map.gz"
    words, _, file_data = raw_mrc(path)
    assert tuple(words[16:19]) == (3, 2, 1)
    density = read_map(path)
    # columns run along z, rows along y, sections along x: file_data[x, y, z] -> [z, y, x]
    assert np.array_equal(density.data, file_data.transpose(2, 1, 0))
    assert density.axis_order == (3, 2, 1)


def test_voxel_size_and_origin_from_header(shared_data):
    path = shared_data / "maps_only" / "emd_5170.map.gz"
    words, floats, _ = raw_mrc(path)
    density = read_map(path)
    cell, sampling = floats[10:13], words[7:10]
    assert np.allclose(density.voxel_size, cell / sampling)
    origin = floats[49:52]
    expected = origin if np.any(origin != 0) else words[4:7] * cell / sampling
    assert np.allclose(density.origin, expected)


def test_origin_from_nstart_with_unusual_axis_order(tmp_path):
    """ORIGIN zero: origin = NSTART x voxel size, NXSTART belonging to the column axis (here z)."""
    path = tmp_path / "zyx.mrc"
    file_data = np.arange(4 * 3 * 2, dtype=np.float32).reshape(4, 3, 2)  # (sections=x, rows=y, columns=z)
    with mrcfile.new(path) as mrc:
        mrc.set_data(file_data)
        mrc.header.mapc, mrc.header.mapr, mrc.header.maps = 3, 2, 1
        mrc.header.mx, mrc.header.my, mrc.header.mz = 4, 3, 2  # sampling along x, y, z
        mrc.header.cella = (8.0, 4.5, 3.0)  # voxel 2.0, 1.5, 1.5
        mrc.header.nxstart, mrc.header.nystart, mrc.header.nzstart = 5, 7, -3  # columns(z), rows(y), sections(x)
    density = read_map(path)
    assert density.data.shape == (2, 3, 4)
    assert np.allclose(density.voxel_size, [2.0, 1.5, 1.5])
    assert np.allclose(density.origin, [-3 * 2.0, 7 * 1.5, 5 * 1.5])
    assert density.data[1, 2, 3] == file_data[3, 2, 1]


@pytest.mark.parametrize("name", ["out.mrc", "out.map.gz"])
def test_write_read_round_trip(tmp_path, name):
    source = read_map(pair("2566_3J6B")["map_path"])
    source.origin = np.array([12.5, -3.25, 100.0])
    path = write_map(source, tmp_path / name)
    again = read_map(path)
    assert np.array_equal(again.data, source.data)
    assert np.allclose(again.origin, source.origin) and np.allclose(again.voxel_size, source.voxel_size)
    assert mrcfile.validate(str(path), print_file=open("/dev/null", "w"))
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as a plain open() would create it


def test_write_is_atomic_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "keep.mrc"
    write_map(DensityMap(np.ones((2, 2, 2))), path)

    def fail_midway(self):
        raise OSError("disk full")

    monkeypatch.setattr(mrcfile.mrcfile.MrcFile, "update_header_stats", fail_midway)
    with pytest.raises(OSError, match="disk full"):
        write_map(DensityMap(np.zeros((3, 3, 3))), path)
    monkeypatch.undo()
    assert np.array_equal(read_map(path).data, np.ones((2, 2, 2)))
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mrc"]


def test_write_refuses_nan(tmp_path):
    bad = DensityMap(np.ones((2, 2, 2)))
    bad.data[0, 0, 0] = np.inf
    with pytest.raises(MapError, match="NaN or infinite"):
        write_map(bad, tmp_path / "bad.mrc")
    assert not any(tmp_path.iterdir())


def test_missing_map(tmp_path):
    with pytest.raises(MapError, match="not found"):
        read_map(tmp_path / "nope.mrc")


def test_not_an_mrc(tmp_path):
    path = tmp_path / "text.mrc"
    path.write_text("hello, I am not a map\n" * 100)
    with pytest.raises(MapError, match="text.mrc"):
        read_map(path)
    empty = tmp_path / "empty.mrc"
    empty.write_bytes(b"")
    with pytest.raises(MapError, match="empty"):
        read_map(empty)


def test_truncated_gzip_map(tmp_path):
    blob = open(pair("2566_3J6B")["map_path"], "rb").read()
    path = tmp_path / "cut.mrc.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(MapError, match="cut.mrc.gz"):
        read_map(path)


def test_truncated_plain_map(tmp_path):
    plain = gzip.decompress(open(pair("2566_3J6B")["map_path"], "rb").read())
    path = tmp_path / "cut.mrc"
    path.write_bytes(plain[: len(plain) - 1000])
    with pytest.raises(MapError, match="cut.mrc"):
        read_map(path)


def test_nan_map(tmp_path):
    data = np.ones((4, 4, 4), np.float32)
    data[1, 2, 3] = np.nan
    path = tmp_path / "nan.mrc"
    with pytest.warns(RuntimeWarning, match="NaN"):  # mrcfile itself warns when writing the bad file
        with mrcfile.new(path) as mrc:
            mrc.set_data(data)
    with pytest.raises(MapError, match="NaN"):
        read_map(path)


def test_read_map_minimum_size_names_the_file_and_the_need(tmp_path):
    path = write_map(DensityMap(np.ones((1, 4, 5))), tmp_path / "flat.mrc")
    assert read_map(path).shape_xyz == (5, 4, 1)  # a valid MRC file
    with pytest.raises(
        MapError,
        match=r"flat\.mrc: the map is 5 x 4 x 1 voxels; resampling needs at least 2 "
        r"voxels along every axis",
    ):
        read_map(path, min_size=2, purpose="resampling")


def _real_plain_map() -> bytes:
    return gzip.decompress(open(pair("2566_3J6B")["map_path"], "rb").read())


def test_gzip_map_holding_more_than_its_header_declares_is_refused_without_inflating_it(tmp_path, monkeypatch):
    plain = _real_plain_map()
    declared = mrc_declared_size(plain[:1024])
    assert declared == len(plain)  # oracle: the real map is whole
    path = tmp_path / "long.mrc.gz"
    path.write_bytes(gzip.compress(plain + bytes(32 << 20), compresslevel=1))
    inflated = []
    real_open = gzip.open

    def counting_open(*args, **kwargs):
        fh = real_open(*args, **kwargs)
        real_read = fh.read

        def read(size=-1):
            out = real_read(size)
            inflated.append(fh.tell())
            return out

        fh.read = read
        return fh

    monkeypatch.setattr("s2mlib.io.density.gzip.open", counting_open)
    with pytest.raises(MapError, match=rf"long\.mrc\.gz: corrupt map: its header declares {declared} bytes, the gzip "):
        read_map(path)
    assert max(inflated) <= declared + 1


def test_plain_map_longer_than_its_header_declares_is_refused(tmp_path):
    plain = _real_plain_map()
    path = tmp_path / "long.mrc"
    path.write_bytes(plain + bytes(4096))
    with pytest.raises(MapError, match=rf"declares {len(plain)} bytes, the file holds {len(plain) + 4096}"):
        read_map(path)


@pytest.mark.parametrize("name", ["huge.mrc", "huge.mrc.gz"])
def test_header_declaring_a_grid_beyond_memory_is_refused_before_reading(tmp_path, name):
    header = bytearray(_real_plain_map()[:1024])
    header[:12] = np.array([4000, 4000, 4000], "<i4").tobytes()
    blob = bytes(header) + bytes(1 << 20)
    path = tmp_path / name
    path.write_bytes(gzip.compress(blob) if name.endswith(".gz") else blob)
    with pytest.raises(MemoryLimitError, match=r"a map of 4000 x 4000 x 4000 voxels needs \d+\.\d GiB of memory; "):
        read_map(path)
