"""Many structures in one call (s2mlib.gan.batch, s2m generate --out-dir / --list, s2m join).

Oracle: the same structures through single ``s2m generate MODEL -o OUT`` calls (the path tested in
test_generate.py); the list, the shards and the torchrun run must make the very same maps. Every run here uses one
torch thread (torchrun's default for several processes): convolutions summed over another number of threads differ
in the last float bits. Real models from
tests/data (two experimental ones, the AlphaFold-DB-like one and a missing file); the shipped default weights.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import pair

from s2mlib.cli import main
from s2mlib.errors import S2MError
from s2mlib.gan import batch
from s2mlib.gan.batch import Shard, current_shard, join_summaries, parse_shard
from s2mlib.gan.writer import output_name
from s2mlib.io.density import read_map

ROOT = Path(__file__).resolve().parents[1]
PREDICTED = ROOT / "tests" / "data" / "predicted" / "AF-Q7Z434-F1-model_v4.pdb.gz"


def write_list(folder: Path) -> Path:
    """Four rows: a model at the default resolution, one at 6 A, the predicted model, and a file that is not there."""
    rows = [
        {"model": str(pair("5925_3J6J")["model_path"]), "resolution": ""},
        {"model": str(pair("20353_6PJ6")["model_path"]), "resolution": "6"},
        {"model": str(PREDICTED), "resolution": ""},
        {"model": "no_such_model.pdb", "resolution": ""},
    ]
    path = folder / "list.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The three good rows through single calls: {map name: array}."""
    folder = tmp_path_factory.mktemp("single")
    maps = {}
    for model, extra in (
        (pair("5925_3J6J")["model_path"], []),
        (pair("20353_6PJ6")["model_path"], ["--resolution", "6"]),
        (PREDICTED, []),
    ):
        out = folder / output_name(model)
        assert main(["generate", str(model), "-o", str(out), *extra]) == 0
        maps[out.name] = read_map(out).data
    return maps


@pytest.fixture(scope="module")
def batch_run(tmp_path_factory):
    """One ``s2m generate --list`` run of the four rows: (list, out_dir, exit status, stdout)."""
    folder = tmp_path_factory.mktemp("batch")
    listed = write_list(folder)
    out = folder / "out"
    capture = subprocess.run(
        [sys.executable, "-m", "s2mlib.cli", "generate", "--list", str(listed), "--out-dir", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return listed, out, capture.returncode, capture.stdout


def same_maps(out: Path, single: dict) -> None:
    assert sorted(p.name for p in out.glob("*.mrc")) == sorted(single)
    for name, data in single.items():
        np.testing.assert_array_equal(read_map(out / name).data, data, err_msg=name)


def test_a_list_with_a_bad_row_makes_the_other_maps_as_single_calls_do(batch_run, single):
    listed, out, status, stdout = batch_run
    assert status == 1
    assert stdout.strip().splitlines()[-1].endswith("3 made, 0 skipped (already there), 1 failed, of 4")
    same_maps(out, single)
    summary = pd.read_csv(out / "generated.csv")
    assert summary["row"].tolist() == [0, 1, 2, 3]
    assert summary["status"].tolist() == ["done", "done", "done", "failed"]
    assert "no_such_model.pdb" in summary["reason"][3] and "not found" in summary["reason"][3]
    assert summary["reason"][:3].isna().all()
    assert summary["resolution"][:3].tolist() == [3.5, 6.0, 3.5]
    assert summary["resolution_source"][:3].tolist() == ["default", "list", "default"]
    assert summary["b_factors"][:3].tolist() == ["b", "b", "plddt"]  # the AF-...-F1 file read as pLDDT
    assert summary["residues"][:3].tolist() == [97, 7, 97]


def test_a_rerun_skips_the_maps_already_made(batch_run, single):
    listed, out, _, _ = batch_run
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.mrc")}
    assert main(["generate", "--list", str(listed), "--out-dir", str(out)]) == 1
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.mrc")} == before
    summary = pd.read_csv(out / "generated.csv")
    assert summary["status"].tolist() == ["skipped", "skipped", "skipped", "failed"]
    assert summary["residues"][:3].tolist() == [97, 7, 97]  # the earlier records are kept
    same_maps(out, single)


def test_two_shards_make_the_same_set_as_one_run(tmp_path, single, capsys):
    listed = write_list(tmp_path)
    out = tmp_path / "out"
    statuses = [main(["generate", "--list", str(listed), "--out-dir", str(out), "--shard", f"{i}/2"]) for i in (0, 1)]
    assert statuses == [0, 1]  # shard 1 holds rows 1 and 3 (the missing model)
    same_maps(out, single)
    parts = [pd.read_csv(out / f"generated.part-{i}-of-2.csv") for i in (0, 1)]
    assert [p["row"].tolist() for p in parts] == [[0, 2], [1, 3]]
    joined = pd.read_csv(out / "generated.csv")  # joined by the last shard to finish
    assert joined["row"].tolist() == [0, 1, 2, 3]
    assert joined["status"].tolist() == ["done", "done", "done", "failed"]
    assert "every shard done" in capsys.readouterr().err


def test_torchrun_processes_share_the_list(tmp_path, single):
    listed = write_list(tmp_path)
    out = tmp_path / "out"
    run = subprocess.run(
        [
            *(sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"),
            *("-m", "s2mlib.cli", "generate", "--list", str(listed), "--out-dir", str(out), "--device", "cpu"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    assert run.returncode != 0, run.stdout + run.stderr  # rank 1 had the missing model
    assert "torchrun rank 1 of 2" in run.stderr
    same_maps(out, single)
    joined = pd.read_csv(out / "generated.csv")  # joined by rank 0 after both finished
    assert joined["row"].tolist() == [0, 1, 2, 3]
    assert joined["status"].tolist() == ["done", "done", "done", "failed"]


@pytest.fixture
def no_work(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the work started before the outputs were checked")

    monkeypatch.setattr(batch, "generate_one", fail)
    monkeypatch.setattr("s2mlib.gan.generate.MapGenerator.__init__", fail)


def test_outputs_that_collide_are_refused_before_the_work(tmp_path, no_work, capsys):
    first, second = tmp_path / "a" / "model.pdb", tmp_path / "b" / "model.pdb.gz"
    for path in (first, second):
        path.parent.mkdir()
        path.write_bytes(b"")
    assert main(["generate", str(first), str(second), "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.mrc" in err and "would both write" in err
    assert not list((tmp_path / "out").glob("*.mrc"))


@pytest.mark.parametrize("case", ["another row's ref_map", "a half map's", "the weights"])
def test_an_output_that_is_any_rows_input_is_refused_before_the_work(tmp_path, no_work, capsys, case):
    """Each was written over in the batch (the single command refused it): a row writing the map another row reads,
    a half map named like another row's map or written over the --ref-map, an output that is the weights file."""
    out, model = tmp_path / "out", str(pair("5925_3J6J")["model_path"])
    out.mkdir()
    if case == "another row's ref_map":
        (out / "second.mrc").write_bytes(b"a map")
        listed = tmp_path / "list.csv"
        pd.DataFrame(
            {"model": [model, model], "ref_map": [str(out / "second.mrc"), ""], "output": ["first.mrc", "second.mrc"]}
        ).to_csv(listed, index=False)
        argv, says = ["--list", str(listed)], "refusing to write over the input"
    elif case == "a half map's":
        (tmp_path / "m.pdb").write_bytes(b"")
        (tmp_path / "m_half_map_1.pdb").write_bytes(b"")
        argv, says = [str(tmp_path / "m.pdb"), str(tmp_path / "m_half_map_1.pdb"), "--half-maps"], "would both write"
    else:
        (out / "5925_native.mrc").write_bytes(b"weights")  # the name of the map of 5925_native.pdb
        (tmp_path / "link.pt").symlink_to(out / "5925_native.mrc")
        argv, says = [model, "--weights", str(tmp_path / "link.pt")], "refusing to write over the input"
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["generate", *argv, "--out-dir", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err, err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def warning_lines(err: str) -> list[str]:
    """The one-line warnings of stderr (a progress bar is redrawn after a carriage return)."""
    return [x for x in re.split(r"[\r\n]+", err) if x.startswith("s2m generate: warning: ")]


def test_every_row_gets_the_notices_a_single_call_gives(tmp_path, capsys):
    """An NMR ensemble (first model used) whose B column is read as pLDDT, a nucleic-acid-only model, resolutions
    beyond the trained range: one line for each row, as s2m generate MODEL -o OUT says them (the batch said none of
    the model's, and each resolution line once)."""
    import gemmi

    ensemble = gemmi.read_structure(str(pair("5925_3J6J")["model_path"]))
    for residue in ensemble[0][0]:
        for atom in residue:
            atom.b_iso = 70.0
    ensemble.add_model(ensemble[0])
    ensemble[1].num = 2
    predicted = tmp_path / "AF-P12345-F1-model_v4.pdb"  # an AlphaFold DB name: pLDDT
    ensemble.write_pdb(str(predicted))
    rna = str(pair("20353_6PJ6")["model_path"])
    listed = tmp_path / "list.csv"
    pd.DataFrame({"model": [str(predicted), rna], "resolution": ["12", "12"]}).to_csv(listed, index=False)
    assert main(["generate", "--list", str(listed), "--out-dir", str(tmp_path / "out")]) == 0
    lines = warning_lines(capsys.readouterr().err)
    assert sum(f"{predicted}: 2 models (an NMR ensemble?): only the first is used" in x for x in lines) == 1
    assert sum(f"{predicted}: the B-factor column is read as pLDDT" in x for x in lines) == 1
    assert sum(f"{rna}: the model has only nucleic-acid chains" in x for x in lines) == 1
    assert sum("resolution 12 A is beyond the 10 A the weights were trained up to" in x for x in lines) == 2
    assert len(lines) == 5
    assert main(["generate", rna, "-o", str(tmp_path / "one.mrc"), "--resolution", "12"]) == 0
    single = warning_lines(capsys.readouterr().err)
    assert len(single) == 2 and set(single) <= set(lines)  # the same lines for the same model


def test_an_unwritable_out_dir_is_refused_before_the_work(tmp_path, no_work, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    model = str(pair("5925_3J6J")["model_path"])
    assert main(["generate", model, "--out-dir", str(blocker / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "a_file" in err and "cannot write" in err


def test_shards_from_the_option_torchrun_and_slurm():
    assert current_shard("1/3", env={"RANK": "0", "WORLD_SIZE": "2"}) == Shard(1, 3, "--shard")
    torchrun = current_shard(env={"RANK": "1", "WORLD_SIZE": "2"})
    assert (torchrun.index, torchrun.count) == (1, 2)
    slurm = {"SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "5", "SLURM_ARRAY_TASK_COUNT": "4"}
    assert (current_shard(env=slurm).index, current_shard(env=slurm).count) == (2, 4)
    assert (current_shard(env={}).index, current_shard(env={}).count) == (0, 1)
    for bad in ("2/2", "1", "a/b", "-1/2"):
        with pytest.raises(S2MError, match="0 <= I < N"):
            parse_shard(bad)


def test_join_names_the_missing_shards(tmp_path):
    pd.DataFrame({"row": [0], "status": ["done"]}).to_csv(tmp_path / "generated.part-0-of-3.csv", index=False)
    with pytest.raises(S2MError, match="shards 1, 2 of 3 are missing"):
        join_summaries(tmp_path)
    assert main(["join", str(tmp_path)]) == 2


def test_a_manifest_is_a_list_and_outputs_go_under_the_out_dir(tmp_path):
    manifest = ROOT / "tests" / "data" / "pairs.tsv"
    jobs = batch.plan(batch.jobs_from(table=batch.read_list(manifest)), tmp_path / "out")
    entries = pd.read_csv(manifest, sep="\t", dtype=str, keep_default_na=False)  # the table as written
    assert jobs["output"].tolist() == [str((tmp_path / "out" / f"{e}.mrc").resolve()) for e in entries["entry"]]
    assert jobs["model"].tolist() == [str(manifest.parent / m) for m in entries["model_file"]]
    assert jobs["ref_map"].tolist() == [str(manifest.parent / m) for m in entries["map_file"]]
    assert [batch._number(r) for r in jobs["resolution"]] == [3.6, None, 3.2, None]  # '3.6?' is 3.6, '' unknown
    listed = tmp_path / "list.tsv"
    listed.write_text(f"model\toutput\n{entries['model_file'][0]}\tsub/first.map\n")
    jobs = batch.plan(batch.jobs_from(table=batch.read_list(listed)), tmp_path / "out")
    assert jobs["output"].tolist() == [str((tmp_path / "out" / "sub" / "first.map").resolve())]
    assert jobs["model"].tolist() == [str(tmp_path / entries["model_file"][0])]
