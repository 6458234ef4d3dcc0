"""Tests of s2mlib.io.atoms: models read into flat arrays (PDB, mmCIF, gzip, filters), one conformer per atom by
ChimeraX's rule (written out again on a hand-made model), bad models, and models written back as PDB or mmCIF."""

from __future__ import annotations

import gzip
import shutil
import warnings

import numpy as np
import pytest
from helpers import pair

from s2mlib.errors import StructureError
from s2mlib.io.atoms import read_structure


def test_missing_model(tmp_path):
    with pytest.raises(StructureError, match="not found"):
        read_structure(tmp_path / "nope.pdb")


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


@pytest.mark.parametrize("name", ["model.pdb", "model.cif", "model.cif.gz"])
def test_write_structure_round_trip_every_atom_and_b_factor(tmp_path, name):
    """write_structure keeps every atom, its position and a changed B-factor (PDB: 2 decimals), read back
    by gemmi; a name that is not .pdb/.ent/.cif/.mmcif(.gz) or a model PDB cannot hold is one line, no file."""
    import gemmi

    from s2mlib.errors import OutputError
    from s2mlib.io.atoms import write_structure

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


def test_an_nmr_ensemble_says_only_its_first_model_is_used(tmp_path):
    import gemmi

    st = gemmi.read_structure(str(pair("5925_3J6J")["model_path"]))
    second = st[0].clone()
    second.num = 2
    st.add_model(second)
    path = tmp_path / "ensemble.pdb"
    st.write_pdb(str(path))
    with pytest.warns(UserWarning, match=r"ensemble\.pdb: 2 models \(an NMR ensemble\?\): only the first is used"):
        model = read_structure(path)
    assert model.n_atoms == 793  # one model's atoms (test_cli's oracle for this model)
