"""Map and structure I/O on the real maps and models of ../shared/data, plus bad-input cases."""

from __future__ import annotations

import gzip
import os
import shutil
import warnings

import mrcfile
import numpy as np
import pytest
from conftest import pair, pair_ids, shared_pairs

from s2mlib.errors import MapError, StructureError
from s2mlib.io import DensityMap, read_map, read_structure, write_map


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


def test_structure_fields():
    model = read_structure(pair("5925_3J6J")["model_path"])
    assert model.n_atoms == 793 and model.n_residues == 97
    assert model.polymer_types == {"A": "protein"}
    assert set(model.element) <= {"C", "N", "O", "S", "H"}
    assert model.atomic_number[model.element == "C"].tolist() == [6] * int((model.element == "C").sum())
    rna = read_structure(pair("20353_6PJ6")["model_path"])
    assert set(rna.polymer_types.values()) == {"nucleic acid"}
    assert rna.n_atoms == 221


def test_mmcif_and_gz_and_filters(tmp_path, shared_data):
    cif = shared_data / "pairs/35448_8IHL/35448_8ihl.cif"
    model = read_structure(cif)
    assert model.n_atoms == 14124
    gz = tmp_path / "m.cif.gz"
    with open(cif, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert np.allclose(read_structure(gz).xyz, model.xyz)
    full = read_structure(shared_data / "pairs/20026_3AJOfit/3ajo_fitted_refined.pdb")
    dry = read_structure(shared_data / "pairs/20026_3AJOfit/3ajo_fitted_refined.pdb", remove_waters=True)
    assert "HOH" in set(full.residue_name) and "HOH" not in set(dry.residue_name)
    assert dry.n_atoms == full.n_atoms - int((full.residue_name == "HOH").sum())


def test_translated_moves_every_atom():
    model = read_structure(pair("5925_3J6J")["model_path"])
    assert np.allclose(model.translated([4, 0, -1]).xyz, model.xyz + [4, 0, -1])


# ------------------------------------------------------------------------------------------------ bad input


def test_missing_files(tmp_path):
    with pytest.raises(MapError, match="not found"):
        read_map(tmp_path / "nope.mrc")
    with pytest.raises(StructureError, match="not found"):
        read_structure(tmp_path / "nope.pdb")


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
    with mrcfile.new(path) as mrc:
        mrc.set_data(data)
    with pytest.raises(MapError, match="NaN"):
        read_map(path)


def test_model_without_atoms(tmp_path):
    path = tmp_path / "empty.pdb"
    path.write_text("HEADER    NOTHING HERE\nEND\n")
    with pytest.raises(StructureError, match="no atoms"):
        read_structure(path)


def test_garbage_model(tmp_path):
    path = tmp_path / "junk.cif"
    path.write_bytes(b"\x00\x01 not a cif at all {{{")
    with pytest.raises(StructureError, match="junk.cif"):
        read_structure(path)


def test_unknown_elements(tmp_path):
    source = pair("5925_3J6J")["model_path"]
    lines = (gzip.open if source.suffix == ".gz" else open)(source, "rt").read().splitlines()
    atom_lines = [i for i, line in enumerate(lines) if line.startswith("ATOM")]
    i = atom_lines[3]
    lines[i] = lines[i][:76] + "QX" + lines[i][78:]
    path = tmp_path / "odd.pdb"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(StructureError, match="unknown element"):
        read_structure(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = read_structure(path, unknown_elements="warn")
    assert any("unknown element" in str(w.message) for w in caught)
    assert model.n_atoms == 793 - 1


ALTLOCS = """\
ATOM      1  N   GLY A   1       0.000   0.000   0.000  1.00 10.00           N
ATOM      2  CA  GLY A   1       1.458   0.000   0.000  1.00 10.00           C
ATOM      3  N  ASER A   2       3.332   1.536   0.000  0.60 10.00           N
ATOM      4  CA ASER A   2       3.970   2.845   0.000  0.60 10.00           C
ATOM      5  OG ASER A   2       6.000   4.000   0.000  0.60 10.00           O
ATOM      6  N  BCYS A   2       3.332   1.536   0.100  0.40 10.00           N
ATOM      7  CA BCYS A   2       3.970   2.845   0.100  0.40 10.00           C
ATOM      8  SG BCYS A   2       6.200   4.200   0.100  0.40 10.00           S
ATOM      9  N   LEU A   3       3.500   4.000   0.000  1.00 10.00           N
ATOM     10  CB ALEU A   3       5.000   5.500   1.000  0.50 30.00           C
ATOM     11  CB BLEU A   3       5.000   5.500  -1.000  0.50 20.00           C
ATOM     12  CG BLEU A   3       6.000   6.500  -1.000  0.50 20.00           C
ATOM     13  CD1ALEU A   3       6.000   6.500   1.000  0.50 30.00           C
END
"""


def test_one_conformer_per_atom_by_chimerax_rule(tmp_path):
    """Microheterogeneity SER 0.6 / CYS 0.4 keeps SER; LEU's tie in occupancy goes to the lower mean B (altloc B);
    CD1, present only in altloc A, is kept (ChimeraX's best_alt_locs; gemmi_structure keeps all 13 atoms)."""
    path = tmp_path / "altlocs.pdb"
    path.write_text(ALTLOCS)
    model = read_structure(path)
    kept = list(zip(model.residue_name, model.atom_name, model.xyz[:, 2]))
    assert kept == [
        ("GLY", "N", 0),
        ("GLY", "CA", 0),
        ("SER", "N", 0),
        ("SER", "CA", 0),
        ("SER", "OG", 0),
        ("LEU", "N", 0),
        ("LEU", "CB", -1),
        ("LEU", "CG", -1),
        ("LEU", "CD1", 1),
    ]
    assert model.n_residues == 3 and np.allclose(model.occupancy, [1, 1, 0.6, 0.6, 0.6, 1, 0.5, 0.5, 0.5])
    assert model.gemmi_structure[0].count_atom_sites() == 13
    assert model.translated([1, 0, 0]).n_atoms == 9


def test_read_map_minimum_size_names_the_file_and_the_need(tmp_path):
    path = write_map(DensityMap(np.ones((1, 4, 5))), tmp_path / "flat.mrc")
    assert read_map(path).shape_xyz == (5, 4, 1)  # a valid MRC file
    with pytest.raises(
        MapError,
        match=r"flat\.mrc: the map is 5 x 4 x 1 voxels; resampling needs at least 2 "
        r"voxels along every axis",
    ):
        read_map(path, min_size=2, purpose="resampling")


@pytest.mark.parametrize("name", ["model.pdb", "model.cif", "model.cif.gz"])
def test_write_structure_round_trip_every_atom_and_b_factor(tmp_path, name):
    """write_structure keeps every atom, its position and a changed B-factor (PDB: 2 decimals), read back
    by gemmi; a name that is not .pdb/.ent/.cif/.mmcif(.gz) or a model PDB cannot hold is one line, no file."""
    import gemmi

    from s2mlib.errors import OutputError
    from s2mlib.io import write_structure

    model = read_structure(pair("5925_3J6J")["model_path"])
    st = model.gemmi_structure.clone()
    for k, atom in enumerate(a for ch in st[0] for res in ch for a in res):
        atom.b_iso = 0.25 * (k % 7) - 0.5
    path = write_structure(st, tmp_path / name)
    back = gemmi.read_structure(str(path))
    atoms = [a for ch in back[0] for res in ch for a in res]
    assert len(atoms) == model.n_atoms and [p.name for p in tmp_path.iterdir()] == [name]
    np.testing.assert_allclose([a.pos.tolist() for a in atoms], model.xyz, atol=1e-3)
    np.testing.assert_allclose([a.b_iso for a in atoms], 0.25 * (np.arange(len(atoms)) % 7) - 0.5, atol=1e-6)
    with pytest.raises(OutputError, match=r"model\.txt: not a model file name"):
        write_structure(model, tmp_path / "model.txt")
    long_chain = model.gemmi_structure.clone()
    long_chain[0][0].name = "ABCDE"
    with pytest.raises(OutputError, match=r"long\.pdb: cannot write the model as PDB .*chain name"):
        write_structure(long_chain, tmp_path / "long.pdb")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    assert read_structure(write_structure(long_chain, tmp_path / "long.cif")).chains == ["ABCDE"]
