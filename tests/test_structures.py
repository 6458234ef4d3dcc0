"""Tests of s2mlib.sim.structures: secondary structure from HELIX/SHEET records (parsed by hand as the oracle) and from
CA geometry (an ideal helix and strand), and real structures of a chosen size tiled from copies of a model."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import pair
from scipy.spatial import cKDTree

from s2mlib.io.atoms import read_structure
from s2mlib.sim.structures import (
    b_factor_kind,
    effective_b_factors,
    secondary_structure,
    structure_of_size,
    tile_structure,
    with_b_factors,
    with_effective_b_factors,
)
from s2mlib.study.plots import SS_COLOURS, ca_trace


def pdb_annotations(path) -> tuple[set, set]:
    """(chain, residue number) inside HELIX and SHEET records, read from the fixed PDB columns."""
    helix, strand = set(), set()
    with open(path) as fh:
        for line in fh:
            if line.startswith("HELIX "):
                chain, first, last = line[19], int(line[21:25]), int(line[33:37])
                helix |= {(chain, n) for n in range(first, last + 1)}
            elif line.startswith("SHEET "):
                chain, first, last = line[21], int(line[22:26]), int(line[33:37])
                strand |= {(chain, n) for n in range(first, last + 1)}
    return helix, strand


def test_secondary_structure_from_helix_and_sheet_records():
    path = pair("6272_3J9S")["model_path"]
    helix, strand = pdb_annotations(path)
    assert len(helix) > 100 and len(strand) > 50
    table = secondary_structure(read_structure(path))
    assert (table["source"] == "annotation").all()
    for chain, number, ss in zip(table["chain"], table["residue"], table["ss"]):
        expected = "helix" if (chain, number) in helix else "strand" if (chain, number) in strand else "coil"
        assert ss == expected, (chain, number)


def ideal_model(path) -> None:
    """CA-only chain: 14 residues of ideal alpha helix (radius 2.3 A, rise 1.5 A, 100 deg per residue), then 10 of
    a zigzag strand (3.3 A rise per residue, +-0.9 A), then a 6 A gap and 4 more strand residues."""
    helix = [(2.3 * math.cos(math.radians(100 * i)), 2.3 * math.sin(math.radians(100 * i)), 1.5 * i) for i in range(14)]
    x0, y0, z0 = helix[-1]
    strand = [(x0 + 0.9 * (-1) ** i, y0 + 3.3 * (i + 1), z0) for i in range(10)]
    x1, y1, z1 = strand[-1]
    after = [(x1 + 0.9 * (-1) ** i, y1 + 6.0 + 3.3 * i, z1) for i in range(4)]
    lines = [
        f"ATOM  {n + 1:5d}  CA  ALA A{n + 1:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00 20.00           C"
        for n, (x, y, z) in enumerate(helix + strand + after)
    ]
    path.write_text("\n".join(lines + ["END"]) + "\n")


def test_geometric_rule_on_an_ideal_helix_and_strand(tmp_path):
    ideal_model(tmp_path / "ideal.pdb")
    structure = read_structure(tmp_path / "ideal.pdb")
    table = secondary_structure(structure)
    assert (table["source"] == "geometry").all() and len(table) == 28
    ss = dict(zip(table["residue"], table["ss"]))
    assert all(ss[n] == "helix" for n in range(1, 13))
    assert all(ss[n] == "strand" for n in range(17, 25))
    assert all(ss[n] == "strand" for n in range(25, 29))  # after the break: a 4-residue run, d(i, i+3) ~ 10 A
    assert list(table["run"]) == [0] * 24 + [1] * 4  # a new run after the 6 A gap
    segments = ca_trace(table)
    assert segments[0][1] == SS_COLOURS["helix"] and len(segments[0][0]) >= 13
    assert segments[-2][1] == segments[-1][1] == SS_COLOURS["strand"]
    last = segments[-1][0]
    assert len(last) == 4 and np.linalg.norm(last[0] - segments[-2][0][-1]) > 6.0  # not joined across the gap


def test_tile_structure_and_structure_of_size():
    structure = read_structure(pair("5925_3J6J")["model_path"])
    n = structure.n_atoms
    big = tile_structure(structure, 5)
    assert big.n_atoms == 5 * n and big.n_residues == 5 * structure.n_residues
    assert len(set(big.chains)) == 5 * len(structure.chains)
    shifts = []
    for k in range(5):  # one chain: copies follow one another; each is a pure translation of the original
        moved = big.xyz[k * n : (k + 1) * n] - structure.xyz
        np.testing.assert_allclose(moved - moved[0], 0.0, atol=1e-3)
        assert list(big.element[k * n : (k + 1) * n]) == list(structure.element)
        shifts.append(moved[0])
    trees = [cKDTree(big.xyz[k * n : (k + 1) * n]) for k in range(5)]
    for a in range(5):
        for b in range(a + 1, 5):
            assert trees[a].query(big.xyz[b * n : (b + 1) * n])[0].min() >= 5.0 - 1e-3  # TILE_GAP apart at least
    assert len({tuple(np.round(s, 3)) for s in shifts}) == 5
    with pytest.raises(ValueError, match="exceed"):
        tile_structure(structure, 2, spacing=10.0)
    assert structure_of_size(structure, residues=250).n_residues == 250
    cut = structure_of_size(structure, atoms=2000)
    assert 2000 - 30 < cut.n_atoms <= 2000  # whole residues only (at most ~24 atoms each)


# ------------------------------------------------------------------ the B-factor column


def copy_with_b(source, path, values, remark: str = "") -> object:
    """A real model (PDB) written to ``path`` with every atom's B-factor column replaced, an optional REMARK line."""
    st = read_structure(source).gemmi_structure.clone()
    it = iter(values)
    for chain in st[0]:
        for residue in chain:
            for atom in residue:
                atom.b_iso = next(it)
    text = st.make_pdb_string()
    path.write_text((f"REMARK   1 {remark}\n" if remark else "") + text)
    return read_structure(path)


def test_plddt_models_are_recognised_and_converted(tmp_path):
    source = pair("5925_3J6J")["model_path"]
    n = read_structure(source).n_atoms
    plddt = np.linspace(30.0, 95.0, n)
    by_name = copy_with_b(source, tmp_path / "AF-Q7Z434-F1-model_v4.pdb", plddt)
    by_remark = copy_with_b(source, tmp_path / "predicted.pdb", plddt, "PREDICTED BY ALPHAFOLD, PLDDT IN B COLUMN")
    plain = copy_with_b(source, tmp_path / "refined.pdb", plddt)  # values in 0-100 but nothing says pLDDT
    assert b_factor_kind(by_name) == b_factor_kind(by_remark) == "plddt" and b_factor_kind(plain) == "b"
    b, kind = effective_b_factors(by_name)
    rmsd = 1.5 * np.exp(4 * (0.7 - by_name.b_factor / 100))  # Oeffner et al. 2022, written out again (as read back)
    np.testing.assert_allclose(b, 8 * math.pi**2 * rmsd**2 / 3, rtol=1e-5)
    assert kind == "plddt" and b[0] > b[-1]  # low confidence -> large B
    assert effective_b_factors(plain, "plddt")[1] == "plddt" and effective_b_factors(by_name, "b")[1] == "b"


def test_empty_b_columns_mean_no_blur(tmp_path):
    source = pair("5925_3J6J")["model_path"]
    n = read_structure(source).n_atoms
    zero = copy_with_b(source, tmp_path / "zero.pdb", np.zeros(n))
    assert b_factor_kind(zero) == "none"
    b, kind = effective_b_factors(zero)
    assert kind == "none" and not b.any()
    real = read_structure(source)
    assert b_factor_kind(real) == "b" and np.array_equal(effective_b_factors(real)[0], real.b_factor)
    with pytest.raises(ValueError, match="B-factor kind"):
        effective_b_factors(real, "guess")


def test_with_b_factors_converts_every_atom_of_every_conformer(tmp_path):
    real = read_structure(pair("5925_3J6J")["model_path"])
    moved = with_b_factors(real, lambda b: 2 * b + 1)
    np.testing.assert_allclose(moved.b_factor, 2 * real.b_factor + 1, rtol=1e-6)
    np.testing.assert_array_equal(moved.xyz, real.xyz)
    st = real.gemmi_structure.clone()  # give one residue two conformers: both must be converted
    residue = st[0][0][3]
    for atom in list(residue):
        atom.altloc, atom.occ = "A", 0.6
        other = atom.clone()
        other.altloc, other.occ, other.b_iso = "B", 0.4, 77.0
        residue.add_atom(other)
    st.write_pdb(str(tmp_path / "alt.pdb"))
    alt = read_structure(tmp_path / "alt.pdb")
    converted, kind = with_effective_b_factors(alt, "none")
    assert kind == "none" and all(a.b_iso == 0 for ch in converted.gemmi_structure[0] for r in ch for a in r)
    with pytest.raises(ValueError, match="values for"):
        with_b_factors(real, lambda b: np.zeros(3))


def test_model_notices_for_what_the_weights_did_not_see(tmp_path):
    import gemmi

    from s2mlib.sim.structures import model_notices

    assert model_notices(read_structure(pair("5925_3J6J")["model_path"])) == []  # a protein with B-factors
    rna = read_structure(pair("20353_6PJ6")["model_path"])
    assert model_notices(rna) == [
        f"{rna.path}: the model has only nucleic-acid chains; the weights were trained on protein maps"
    ]
    st = gemmi.read_structure(str(pair("5925_3J6J")["model_path"]))
    for residue in st[0][0]:
        for atom in residue:
            atom.b_iso = 70.0
    path = tmp_path / "AF-P12345-F1-model_v4.pdb"
    st.write_pdb(str(path))
    predicted = read_structure(path)
    assert model_notices(predicted, None) == []  # an input that ignores the B column
    (line,) = model_notices(predicted, "auto")
    assert "the B-factor column is read as pLDDT" in line and "--b-factors b" in line
