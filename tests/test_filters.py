"""Tests of s2mlib.study.filters: the exclusion reasons on built models (gemmi), on real models that contain what they
are flagged for, misaligned and unmodelled density on real maps, and sequence identity on hand cases."""

from __future__ import annotations

import gemmi
import pytest
from helpers import pair

from s2mlib.io.atoms import read_structure
from s2mlib.io.density import read_map
from s2mlib.study.filters import (
    chain_sequences,
    map_model_issues,
    redundant_entries,
    sequence_identity,
    structure_issues,
)


def write_model(path, residues) -> object:
    """A one-chain model from (name, [(atom, element)], hetatm) tuples, atoms 1.2 A apart, residues 3.8 A."""
    st = gemmi.Structure()
    model, chain = gemmi.Model("1"), gemmi.Chain("A")
    for i, (name, atoms, het) in enumerate(residues, start=1):
        res = gemmi.Residue()
        res.name, res.seqid, res.het_flag = name, gemmi.SeqId(i, " "), "H" if het else "A"
        for j, (atom_name, element) in enumerate(atoms):
            atom = gemmi.Atom()
            atom.name, atom.element = atom_name, gemmi.Element(element)
            atom.pos, atom.occ, atom.b_iso = gemmi.Position(3.8 * i, 1.2 * j, 0.0), 1.0, 20.0
            res.add_atom(atom)
        chain.add_residue(res)
    model.add_chain(chain)
    st.add_model(model)
    st.setup_entities()
    st.write_pdb(str(path))
    return read_structure(path)


BACKBONE = [("N", "N"), ("CA", "C"), ("C", "C"), ("O", "O")]
ALA = ("ALA", BACKBONE + [("CB", "C")], False)
GLY = ("GLY", BACKBONE, False)


@pytest.mark.parametrize(
    "residues, expected",
    [
        ([ALA] * 6 + [GLY], None),
        ([("ACE", [("C", "C"), ("O", "O"), ("CH3", "C")], True)] + [ALA] * 6, None),  # an end cap is fine
        ([ALA] * 3 + [("HOH", [("O", "O")], True)], None),  # waters are fine
        ([("ALA", BACKBONE, False)] * 10 + [ALA], "backbone only: 10 of 11"),
        ([("ALA", [("CA", "C")], False)] * 8 + [GLY], "backbone only: 8 of 8"),
        ([ALA] * 4 + [("UNK", BACKBONE, False)] * 2, "unknown residues: UNK x2"),
        (
            [ALA] * 3 + [("MSE", BACKBONE + [("CB", "C"), ("CG", "C"), ("SE", "Se"), ("CE", "C")], True)] + [ALA] * 3,
            "non-standard polymer residues: MSE x1",
        ),
        ([("DA", [("P", "P"), ("C1'", "C")], False)] * 3, "nucleic acids: 3 nucleotides (chains A)"),
        ([("HOH", [("O", "O")], True)], "no amino-acid residues"),
    ],
)
def test_structure_issues(tmp_path, residues, expected):
    issues = structure_issues(write_model(tmp_path / "m.pdb", residues))
    if expected is None:
        assert issues == []
    else:
        assert len(issues) == 1 and issues[0].startswith(expected), issues


def test_real_models_flagged_for_what_they_contain():
    assert structure_issues(read_structure(pair("20353_6PJ6")["model_path"]))[0].startswith("nucleic acids")
    assert structure_issues(read_structure(pair("35448_8IHL")["model_path"]))[0].startswith("nucleic acids")
    assert structure_issues(read_structure(pair("5778_3J5P")["model_path"])) == ["unknown residues: UNK x11"]
    assert structure_issues(read_structure(pair("6272_3J9S")["model_path"])) == []  # ACE cap only


@pytest.mark.parametrize("entry", ["6272_3J9S", "2513_4CI0", "0093_6GYN"])
def test_misaligned_model_is_caught(entry):
    row = pair(entry)
    density, model = read_map(row["map_path"]), read_structure(row["model_path"])
    issues, figures = map_model_issues(density, model)
    assert issues == [] and figures["fit_ratio"] > 1.2
    moved_issues, moved = map_model_issues(density, model.translated((0.0, 3.0, 0.0)))
    assert moved_issues and moved_issues[0].startswith("misaligned") and moved["fit_ratio"] < 1.0


def test_unmodelled_density_is_caught_in_the_unmasked_crop_only():
    model = read_structure(pair("2513_4CI0")["model_path"])  # the same chain A model for both crops
    masked_issues, masked = map_model_issues(read_map(pair("2513_4CI0")["map_path"]), model)
    crop_issues, crop = map_model_issues(read_map(pair("2513_4CI0_b")["map_path"]), model)
    assert masked_issues == [] and masked["unmodelled_fraction"] < 0.05
    assert crop_issues[0].startswith("large unmodelled regions") and crop["unmodelled_fraction"] > 0.25


# ------------------------------------------------------------------ sequence identity and splits


def test_sequence_identity_hand_cases():
    seq = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNL"  # 48 residues
    assert sequence_identity(seq, seq) == 1.0
    assert sequence_identity(seq, seq[10:40]) == 1.0  # a fragment is identical over its length
    mutated = list(seq)
    for i in range(0, 48, 4):  # 12 of 48 positions changed to W (never W in seq): 36 / 48 identical
        mutated[i] = "W"
    assert sequence_identity(seq, "".join(mutated)) == pytest.approx(0.75)
    assert sequence_identity(seq, seq[::-1]) < 0.3
    assert sequence_identity(seq + "U", seq + "C") == 1.0  # selenocysteine read as cysteine
    assert sequence_identity(seq + "U", seq + "O") == pytest.approx(48 / 49)  # ... pyrrolysine as lysine


def test_chain_sequences_of_a_real_model():
    (seq,) = chain_sequences(read_structure(pair("5925_3J6J")["model_path"]))
    assert len(seq) == 97 and set(seq) <= set("ACDEFGHIKLMNPQRSTVWYX")


def test_redundancy_is_greedy_by_resolution_then_emdb_id():
    seq = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEK"
    rows = __import__("pandas").DataFrame(
        {"entry": ["a", "b", "c", "d"], "emdb_id": ["4", "3", "2", "1"], "resolution": [3.0, 2.5, float("nan"), 2.5]}
    )
    sequences = {"a": [seq], "b": [seq[5:]], "c": [seq[::-1]], "d": ["W" * 40]}
    dropped = redundant_entries(rows, sequences, 0.30)
    assert dropped == {"a": "redundant: sequence identity 100% to b (> 30%)"}  # d (EMDB 1) is first, unrelated
