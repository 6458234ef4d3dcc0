"""Manifests: the shared pairs table and the paper's ID lists load as they are; shipped manifests match them."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd
import pytest
from helpers import ROOT, SHARED_DATA, pair_ids, shared_pairs

from s2mlib.errors import ManifestError
from s2mlib.io.manifest import COLUMNS, entry_file_name, load_manifest, select

PAPER = SHARED_DATA.parent / "paper"
MANIFESTS = ROOT / "params" / "manifests"


@pytest.fixture
def paper() -> Path:
    """../shared/paper: the paper's ID tables (skip when absent)."""
    if not (PAPER / "table_A1_train_val.csv").exists():
        pytest.skip(f"needs the paper's tables of ../shared/paper, not found at {PAPER}")
    return PAPER


def raw_rows(path: Path) -> list[dict]:
    """The table read with the csv module (an oracle independent of pandas and of load_manifest)."""
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t" if path.suffix == ".tsv" else ","))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_shared_pairs_table_loads_as_it_is(pairs):
    df = load_manifest(SHARED_DATA / "pairs.tsv")
    assert list(df.columns[: len(COLUMNS)]) == list(COLUMNS) and "notes" in df.columns
    assert df["entry"].tolist() == pair_ids() and len(df) == 14
    for (_, row), ref in zip(df.iterrows(), pairs):
        assert row["map"] == str(Path(ref["map_path"]).resolve()) and Path(row["map"]).is_absolute()
        assert row["model"] == str(Path(ref["model_path"]).resolve()) and Path(row["model"]).is_file()
        assert row["emdb_id"] == ref["emdb_id"] and row["split"] == ""
    by_entry = df.set_index("entry")
    assert by_entry.loc["0093_6GYN", "emdb_id"] == "0093"  # leading zero kept
    assert by_entry.loc["5925_3J6J", ["pdb_id", "resolution"]].tolist() == ["3J6J", 3.6]  # '3J6J?', '3.6?'
    assert by_entry.loc["6374_unknownPDB", "pdb_id"] == ""  # '?'
    assert by_entry.loc["20026_3AJOfit", ["pdb_id", "resolution"]].tolist() == ["3AJO(fit)", 1.75]
    assert math.isnan(by_entry.loc["35448_8IHL", "resolution"])  # empty
    assert by_entry.loc["2566_3J6B", "resolution"] == 3.2 and df["resolution"].dtype == float


def test_paper_tables_load_with_their_counts(paper):
    train_val = load_manifest(PAPER / "table_A1_train_val.csv")
    test = load_manifest(PAPER / "table_A2_test.csv", default_split="test")
    raw_tv, raw_test = raw_rows(PAPER / "table_A1_train_val.csv"), raw_rows(PAPER / "table_A2_test.csv")
    assert len(train_val) == len(raw_tv) == 149 and len(test) == len(raw_test) == 130
    assert train_val["split"].value_counts().to_dict() == {"train": 134, "val": 15}  # 'validation' -> 'val'
    assert set(test["split"]) == {"test"}
    assert train_val["emdb_id"].tolist() == [r["emdb_id"] for r in raw_tv]  # '0310' stays '0310'
    assert test["resolution"].tolist() == [float(r["resolution_A"]) for r in raw_test]
    assert train_val["entry"].tolist() == [f"{r['emdb_id']}_{r['pdb_id']}" for r in raw_tv]
    assert (train_val["map"] == "").all() and (test["model"] == "").all()
    assert not set(train_val["emdb_id"]) & set(test["emdb_id"])  # the paper: no overlap


def test_shipped_paper_manifests_match_the_paper_tables(paper):
    train_val = load_manifest(PAPER / "table_A1_train_val.csv")
    test = load_manifest(PAPER / "table_A2_test.csv", default_split="test")
    pd.testing.assert_frame_equal(
        load_manifest(MANIFESTS / "paper_train_val.csv")[list(COLUMNS)], train_val[list(COLUMNS)]
    )
    pd.testing.assert_frame_equal(load_manifest(MANIFESTS / "paper_test.csv")[list(COLUMNS)], test[list(COLUMNS)])
    both = load_manifest(MANIFESTS / "paper_all.csv")
    assert len(both) == 279 and both["split"].value_counts().to_dict() == {"train": 134, "test": 130, "val": 15}


def test_default_small_manifest_is_a_few_paper_entries():
    small = load_manifest(MANIFESTS / "default_small.csv")
    paper = load_manifest(MANIFESTS / "paper_all.csv").set_index("entry")
    assert 4 <= len(small) <= 6 and (small["map"] == "").all() and (small["model"] == "").all()
    for _, row in small.iterrows():
        ref = paper.loc[row["entry"]]
        assert (row["emdb_id"], row["pdb_id"], row["resolution"], row["split"]) == (
            ref["emdb_id"],
            ref["pdb_id"],
            ref["resolution"],
            ref["split"],
        )
    assert {"train", "test"} <= set(small["split"])


def test_relative_paths_resolve_from_the_manifest_folder(tmp_path):
    ref = shared_pairs()[0]
    maps = write(tmp_path / "data" / "a.map.gz", "x")
    model = write(tmp_path / "data" / "sub" / "a.cif", "x")
    manifest = write(
        tmp_path / "lists" / "m.tsv",
        "entry\temdb_id\tpdb_id\tresolution\tmap\tmodel\n"
        f"a\tEMD-1234\t1abc\t 2.5 \t../data/a.map.gz\t{model}\n"
        f"b\t1234\t\t?\t{ref['map_path']}\t\n",
    )
    df = load_manifest(manifest)
    assert df.loc[0, "map"] == str(maps.resolve()) and df.loc[0, "model"] == str(model.resolve())
    assert df.loc[0, ["emdb_id", "pdb_id", "resolution"]].tolist() == ["1234", "1ABC", 2.5]
    assert df.loc[1, "model"] == "" and df.loc[1, "pdb_id"] == "" and math.isnan(df.loc[1, "resolution"])
    # no entry column: the default name; map-only rows have no PDB part
    df = load_manifest(write(tmp_path / "n.csv", "emdb_id,pdb_id\n0093,6gyn\n5170,\n"))
    assert df["entry"].tolist() == ["0093_6GYN", "5170"]


def test_ids_as_spreadsheets_and_the_wwpdb_write_them(tmp_path):
    """A spreadsheet drops an EMDB ID's leading zeros (93 for EMD-0093); EMDB IDs past 99999 have six digits; the
    wwPDB's extended PDB IDs are 'pdb_' and 8 characters, those of today's IDs 'pdb_0000' and the ID."""
    df = load_manifest(
        write(
            tmp_path / "m.csv",
            "emdb_id,pdb_id\n93,pdb_00006gyn\nEMD-310,PDB_1000ABCD\n123456,4v1w\n000093,3J6B\n",
        )
    )
    assert df["emdb_id"].tolist() == ["0093", "0310", "123456", "0093"]
    assert df["pdb_id"].tolist() == ["6GYN", "pdb_1000abcd", "4V1W", "3J6B"]
    assert df["entry"].tolist() == ["0093_6GYN", "0310_pdb_1000abcd", "123456_4V1W", "0093_3J6B"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("emdb_id,resolution\n1234,3\n", r"m\.csv: missing column\(s\) pdb_id"),
        ("pdb_id,map_file\n1ABC,x\n", r"m\.csv: missing column\(s\) emdb_id"),
        ("emdb_id,pdb_id\nEMD-12a4,1ABC\n", r"m\.csv, row 2: EMDB ID 'EMD-12a4' is not digits with an optional"),
        ("emdb_id,pdb_id\n0,1ABC\n", r"m\.csv, row 2: EMDB ID '0' is not digits"),
        (
            "emdb_id,pdb_id,resolution\n1234,1ABC,3.1\n1235,1ABD,high\n",
            r"m\.csv, row 3: resolution 'high' is not a number",
        ),
        ("emdb_id,pdb_id,resolution\n1234,1ABC,-2\n", r"row 2: resolution '-2' must be a positive"),
        ("emdb_id,pdb_id,split\n1234,1ABC,holdout\n", r"row 2: split 'holdout' is not one of"),
        ("entry,emdb_id,pdb_id\nx,1234,1ABC\nx,1235,1ABD\n", r"m\.csv: duplicated entry name\(s\) x"),
        ("emdb_id,pdb_id,map\n1234,1ABC,missing.mrc\n", r"m\.csv, row 2: map file not found: .*missing\.mrc"),
        ("", r"m\.csv: empty manifest"),
        ("emdb_id,pdb_id\n1234,1ABC,extra\n", r"m\.csv: not a readable CSV/TSV table"),
        ("entry,emdb_id,pdb_id\nab/c,1234,1ABC\nab_c,1235,1ABD\n", r"row 2: entry name 'ab/c' is not a safe file name"),
        ("entry,emdb_id,pdb_id\n../../ESCAPED,1234,1ABC\n", r"row 2: entry name '../../ESCAPED' is not a safe file"),
        ("entry,emdb_id,pdb_id\n.hidden,1234,1ABC\n", r"row 2: entry name '.hidden' is not a safe file name"),
        (
            "entry,emdb_id,pdb_id\nAb_c,1234,1ABC\nab_C,1235,1ABD\n",
            r"differ only in case would share files: Ab_c and ab_C",
        ),
    ],
)
def test_errors_name_the_file_and_the_problem(tmp_path, text, message):
    with pytest.raises(ManifestError, match=message):
        load_manifest(write(tmp_path / "m.csv", text))


def test_missing_manifest_and_unchecked_files(tmp_path):
    with pytest.raises(ManifestError, match=r"nothere\.csv: manifest file not found"):
        load_manifest(tmp_path / "nothere.csv")
    df = load_manifest(write(tmp_path / "m.csv", "emdb_id,pdb_id,model\n1234,1ABC,later.cif\n"), check_files=False)
    assert df.loc[0, "model"] == str(tmp_path.resolve() / "later.cif")


def test_select_by_resolution_and_split():
    df = load_manifest(MANIFESTS / "paper_all.csv")
    raw = raw_rows(MANIFESTS / "paper_all.csv")
    low = select(df, res_min=3.0, res_max=4.0)
    assert len(low) == sum(3.0 <= float(r["resolution"]) <= 4.0 for r in raw)
    assert low["resolution"].between(3.0, 4.0).all()
    assert len(select(df, splits="validation")) == 15 and len(select(df, splits=["train", "val"])) == 149
    test_hi = select(df, res_max=3.5, splits="test")
    assert len(test_hi) == sum(r["split"] == "test" and float(r["resolution"]) <= 3.5 for r in raw) > 0
    assert len(select(df)) == len(df)
    with pytest.raises(ManifestError, match="split 'dev'"):
        select(df, splits="dev")


@pytest.mark.parametrize("name", ["a/b", "..", "../x", "a b", "", "x" * 101])
def test_every_writer_names_entry_files_with_the_one_check(tmp_path, name):
    """Curation, baselines, generation and the studies name files with entry_file_name; an unsafe name never
    becomes a path (the oracle: a safe name is its own file name inside the folder)."""
    with pytest.raises(ManifestError, match="is not a safe file name"):
        entry_file_name(name)
    assert (tmp_path / entry_file_name("5778_3J5P_b")).parent == tmp_path
