"""Tests of s2mlib.io.cache: records match only the same stamp; file stamps notice a changed file; names are safe."""

from __future__ import annotations

import os

from s2mlib.io.cache import file_stamp, matches, read_record, safe_name, write_record


def test_a_record_matches_only_its_stamp(tmp_path):
    path = tmp_path / "r.json"
    stamp = {"params": {"mask_radius": 3.0, "clip": True}, "inputs": [["a.mrc", 10, 5]]}
    write_record(path, {**stamp, "result": {"x": 1}})
    record = read_record(path)
    assert matches(record, stamp) and record["result"] == {"x": 1}
    assert not matches(record, {**stamp, "params": {"mask_radius": 2.5, "clip": True}})
    assert not matches(record, {**stamp, "version": "0.2"})  # a key the record lacks
    assert matches(record, {"inputs": [("a.mrc", 10, 5)]})  # tuples compare as the JSON lists they are stored as


def test_unreadable_records_are_empty(tmp_path):
    assert read_record(tmp_path / "absent.json") == {}
    (tmp_path / "bad.json").write_text("{not json")
    assert read_record(tmp_path / "bad.json") == {}
    (tmp_path / "list.json").write_text("[1, 2]")
    assert read_record(tmp_path / "list.json") == {}


def test_file_stamp_changes_with_the_file(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("one")
    first = file_stamp(path)
    assert first[:2] == [str(path), 3]
    path.write_text("three")
    os.utime(path, ns=(first[2] + 10**9, first[2] + 10**9))
    assert file_stamp(path) != first


def test_safe_name():
    assert safe_name("2513_4CI0 b/1") == "2513_4CI0_b_1" and safe_name("a.b-c_d") == "a.b-c_d"
