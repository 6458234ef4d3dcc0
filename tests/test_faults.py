"""Faults and awkward input, tried as a demanding user would: odd models and maps, a full or read-only disk, an
output path that is a folder or not a map, signals at chosen points, an empty manifest, an interrupted run.

Every test asserts the outcome (the one-line message, the exit status, the file left behind or not). Odd maps and
models are built from ../shared/data in a temporary folder (skipped when it is absent); the full disk is a
subprocess under ``RLIMIT_FSIZE`` (writes beyond it fail with EFBIG, as CPython ignores SIGXFSZ); a read-only
folder is ``chmod 555``, or for root (whom permissions do not stop) ``chattr +i`` where the file system has it.
Download faults (a stalled, dropping or truncating mirror, a bad cached map) are in ``test_data.py`` beside its
HTTP server.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import gemmi
import mrcfile
import nbformat
import numpy as np
import pytest
from helpers import ROOT, TEST_DATA, pair

from s2mlib import cli
from s2mlib.errors import ManifestError, OutputError
from s2mlib.gan import batch
from s2mlib.io.atoms import read_structure
from s2mlib.io.density import DensityMap, read_map, write_map
from s2mlib.io.manifest import load_manifest
from s2mlib.io.outputs import atomic_write
from s2mlib.run import runner
from s2mlib.sim.simulate import blurrer, e2pdb2mrc, gemmi_density, molmap

BACKBONE = {"N", "CA", "C", "O"}
ENTRY = "5925_3J6J"  # 793 atoms, a 71 x 68 x 68 map: quick to simulate and curate


def env() -> dict:
    """The environment of subprocesses: this one's (monkeypatched variables included), importing this checkout."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def python(code: str, *args, limit_bytes: int | None = None, timeout: float = 180, **kwargs):
    """Run ``code`` in a fresh interpreter (optionally under a file-size limit); returns the CompletedProcess."""

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        env=env(),
        timeout=timeout,
        preexec_fn=limit if limit_bytes else None,
        **kwargs,
    )


def s2m(*args, limit_bytes: int | None = None):
    return python(
        "import sys; from s2mlib.cli import main; sys.exit(main(sys.argv[1:]))", *args, limit_bytes=limit_bytes
    )


def one_line(err: str, prefix: str) -> str:
    """The single line of ``err``: no traceback, nothing else, starting with ``prefix``."""
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith(prefix), lines[0]
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    """Names in ``folder`` (hidden temporary files included)."""
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def readonly_dir(tmp_path):
    """A folder this process cannot write into: mode 555, or for root ``chattr +i`` (root ignores mode bits)."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if (
        shutil.which("chattr") is None
        or subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0
    ):
        pytest.skip("running as root, which writes into a mode-555 folder, and chattr +i is not available here")
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


# ------------------------------------------------------------------------------------------ odd models


def conformer_models(tmp_path, occ_a: float, occ_b: float, shift: float = 0.8) -> dict[str, Path]:
    """A real model whose side-chain atoms carry altloc A (as deposited) and B (moved ``shift`` A along x), with
    occupancies ``occ_a`` / ``occ_b``; plus the A-only and B-only models at full occupancy, without altlocs."""
    source = pair(ENTRY)["model_path"]
    out = {}
    for name in ("both", "A", "B"):
        st = gemmi.read_structure(str(source))
        for res in st[0][0]:
            copies = []
            for i in range(len(res)):
                if res[i].name in BACKBONE:
                    continue
                b = res[i].clone()
                b.pos = gemmi.Position(b.pos.x + shift, b.pos.y, b.pos.z)
                if name == "both":
                    res[i].altloc, res[i].occ = "A", occ_a
                    b.altloc, b.occ = "B", occ_b
                    copies.append(b)
                elif name == "B":
                    res[i].pos = b.pos
            for b in copies:
                res.add_atom(b)
        out[name] = tmp_path / f"{name}.pdb"
        st.write_pdb(str(out[name]))
    return out


def sorted_rows(xyz: np.ndarray) -> np.ndarray:
    return xyz[np.lexsort(xyz.T[::-1])]


@pytest.mark.parametrize("occ_a, occ_b, kept", [(0.5, 0.5, "A"), (0.3, 0.7, "B"), (0.6, 0.4, "A")])
def test_alternate_conformers_are_read_once(tmp_path, occ_a, occ_b, kept):
    """read_structure keeps one conformer per atom, as ChimeraX: the highest mean occupancy, then first by name."""
    models = conformer_models(tmp_path, occ_a, occ_b)
    both, single = read_structure(models["both"]), read_structure(models[kept])
    assert both.n_atoms == single.n_atoms == 793
    assert np.array_equal(sorted_rows(both.xyz), sorted_rows(single.xyz))
    assert both.atomic_number.sum() == single.atomic_number.sum()
    side = ~np.isin(both.atom_name.astype(str), list(BACKBONE))
    assert np.allclose(both.occupancy[side], occ_a if kept == "A" else occ_b)  # the file's own occupancy


@pytest.mark.parametrize("simulator", [molmap, e2pdb2mrc, blurrer])
def test_alternate_conformers_are_not_counted_twice(tmp_path, simulator):
    """molmap (as ChimeraX), e2pdb2mrc and blurrer (the package's rule, where EMAN2 and TEMPy themselves would count
    both conformers) see one conformer per atom: A 0.3 / B 0.7 gives the map of conformer B alone."""
    models = conformer_models(tmp_path, 0.3, 0.7)
    ref = read_map(pair(ENTRY)["map_path"])
    both = simulator(read_structure(models["both"]), 3.0, ref_map=ref)
    single = simulator(read_structure(models["B"]), 3.0, ref_map=ref)
    np.testing.assert_allclose(both.data, single.data, rtol=1e-5, atol=1e-6 * float(np.abs(single.data).max()))


def test_tempy_itself_would_count_both_conformers(tmp_path):
    """Why the blurrer's rule is the package's and not TEMPy's: TEMPy's own parser keeps every conformer."""
    from TEMPy.protein.structure_parser import PDBParser

    models = conformer_models(tmp_path, 0.3, 0.7)
    tempy = PDBParser.read_PDB_file("both", str(models["both"]), hetatm=True, water=True)
    assert len(tempy.atomList) == 1198 and read_structure(models["both"]).n_atoms == 793


def test_gemmi_weights_every_conformer_by_its_occupancy(tmp_path):
    """gemmi (DensityCalculatorE) sums every conformer times its occupancy: A 0.3 + B 0.7 = 0.3 map(A) + 0.7 map(B)."""
    models = conformer_models(tmp_path, 0.3, 0.7)
    ref = read_map(pair(ENTRY)["map_path"])
    maps = {
        name: gemmi_density(read_structure(path), 3.0, ref_map=ref).data.astype(np.float64)
        for name, path in models.items()
    }
    np.testing.assert_allclose(maps["both"], 0.3 * maps["A"] + 0.7 * maps["B"], rtol=1e-4, atol=1e-5 * maps["A"].max())


def test_partial_occupancy_without_altlocs(tmp_path):
    """Occupancy 0.4 on every side-chain atom: molmap (ChimeraX ignores occupancy) is unchanged; gemmi's total
    falls by 0.6 of those atoms' scattering at zero angle."""
    st = gemmi.read_structure(str(pair(ENTRY)["model_path"]))
    for res in st[0][0]:
        for atom in res:
            if atom.name not in BACKBONE:
                atom.occ = 0.4
    path = tmp_path / "partial.pdb"
    st.write_pdb(str(path))
    partial, full = read_structure(path), read_structure(pair(ENTRY)["model_path"])
    assert partial.n_atoms == full.n_atoms and (partial.occupancy < 1).sum() > 300
    assert np.array_equal(molmap(partial, 3.0).data, molmap(full, 3.0).data)
    result = gemmi_density(partial, 4.0)
    total = result.data.sum(dtype=np.float64) * np.prod(result.voxel_size)
    f0 = np.array([sum(gemmi.Element(e).c4322.get_coefs()[:5]) for e in partial.element])
    assert total == pytest.approx(float((partial.occupancy * f0).sum()), rel=0.02)
    assert total < 0.8 * float(f0.sum())


# -------------------------------------------------------------------------------------------- thin maps


@pytest.fixture
def thin_map(tmp_path) -> Path:
    """The real 5925 map cut to the one z section through the model's centre: 71 x 68 x 1 voxels."""
    density, model = read_map(pair(ENTRY)["map_path"]), read_structure(pair(ENTRY)["model_path"])
    k = int(round(density.world_to_index(model.xyz.mean(axis=0)[None])[0][2]))
    path = tmp_path / "thin.mrc"
    write_map(DensityMap(density.data[k : k + 1], density.index_to_world([[0, 0, k]])[0], density.voxel_size), path)
    return path


def test_curate_refuses_a_one_section_map(tmp_path, thin_map):
    out = tmp_path / "out" / "exp.mrc"
    result = s2m("curate", thin_map, pair(ENTRY)["model_path"], "-o", out)
    line = one_line(result.stderr, "s2m curate: error: ")
    assert result.returncode == 2 and "thin.mrc" in line and "71 x 68 x 1" in line and "at least 2" in line
    assert not out.exists()


def test_evaluate_refuses_maps_too_thin_to_score(tmp_path, thin_map, capsys):
    real = pair(ENTRY)["map_path"]
    assert cli.main(["evaluate", str(thin_map), "--ref", str(real), "--json"]) == 2
    line = one_line(capsys.readouterr().err, "s2m evaluate: error: ")
    assert "thin.mrc" in line and "at least 2" in line
    density = read_map(real)
    six = tmp_path / "six.mrc"
    write_map(density.copy(density.data[:6].copy()), six)
    assert cli.main(["evaluate", str(real), "--ref", str(six), "--json"]) == 2
    line = one_line(capsys.readouterr().err, "s2m evaluate: error: ")
    assert "six.mrc" in line and "71 x 68 x 6" in line and "at least 7" in line and "SSIM" in line


def strict_json(text: str):
    def refuse(name):
        raise AssertionError(f"{name} in JSON output")

    return json.loads(text, parse_constant=refuse)


def test_evaluate_json_holds_null_with_the_reason_never_nan(tmp_path, capsys):
    """A map that is empty where the reference is scored: the correlations are undefined -> null + the reason."""
    ref = read_map(pair(ENTRY)["map_path"])
    empty = tmp_path / "empty.mrc"
    write_map(ref.copy(np.zeros_like(ref.data)), empty)
    assert cli.main(["evaluate", str(empty), "--ref", str(pair(ENTRY)["map_path"]), "--json"]) == 0
    scores = strict_json(capsys.readouterr().out)
    assert scores["correlation"] is None and scores["pcc"] is None and np.isfinite(scores["ssim"])
    assert set(scores["undefined"]) >= {"correlation", "correlation_about_mean", "pcc", "pearson_box"}
    assert "zero" in scores["undefined"]["correlation"]
    assert cli.main(["evaluate", str(empty), "--ref", str(pair(ENTRY)["map_path"])]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out.lower() and "undefined" in out


# ----------------------------------------------------------------------------------------- output errors


@pytest.mark.parametrize("command", ["simulate", "curate"])
def test_full_disk_is_one_line_with_status_2(tmp_path, command):
    """A 64 KiB file-size limit: the map cannot be written (EFBIG); one line, exit 2, no file and no part left."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    model, real = pair(ENTRY)["model_path"], pair(ENTRY)["map_path"]
    args = ("simulate", model) if command == "simulate" else ("curate", real, model)
    result = s2m(*args, "-o", out_dir / "x.mrc", limit_bytes=1 << 16)
    line = one_line(result.stderr, f"s2m {command}: error: ")
    assert result.returncode == 2 and "x.mrc" in line and "cannot write" in line and "File too large" in line
    assert leftovers(out_dir) == []


def test_no_space_left_is_one_line(tmp_path, monkeypatch, capsys):
    """ENOSPC from the MRC writer (a full disk) in-process: the one line, exit 2, the old file kept."""
    out = tmp_path / "sim.mrc"
    write_map(DensityMap(np.ones((2, 2, 2))), out)

    def full(self):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(mrcfile.mrcfile.MrcFile, "update_header_stats", full)
    assert cli.main(["simulate", str(pair(ENTRY)["model_path"]), "-o", str(out)]) == 2
    line = one_line(capsys.readouterr().err, "s2m simulate: error: ")
    assert "sim.mrc" in line and "No space left on device" in line
    assert leftovers(tmp_path) == ["sim.mrc"] and read_map(out).data.shape == (2, 2, 2)


@pytest.mark.parametrize("command", ["simulate", "curate", "generate"])
def test_read_only_folder_is_refused_before_the_work(readonly_dir, monkeypatch, capsys, command):
    def no_work(*args, **kwargs):
        raise AssertionError("the work started before the output location was checked")

    module = getattr(
        cli, command
    )  # the command's own module (s2mlib/cli/<command>.py); generate's work: s2mlib.gan.batch
    monkeypatch.setattr(batch if command == "generate" else module, "read_structure", no_work)
    if hasattr(module, "read_map"):
        monkeypatch.setattr(module, "read_map", no_work)
    model, real = str(pair(ENTRY)["model_path"]), str(pair(ENTRY)["map_path"])
    args = {"simulate": [model], "curate": [real, model], "generate": [model, "--weights", "fast"]}[command]
    assert cli.main([command, *args, "-o", str(readonly_dir / "x.mrc")]) == 2
    line = one_line(capsys.readouterr().err, f"s2m {command}: error: ")
    assert "x.mrc" in line and "cannot write" in line
    assert leftovers(readonly_dir) == []


@pytest.mark.parametrize(
    "name, message",
    [
        (".", "is a folder"),
        ("out.pdb", "not a map file name"),
        ("out.xyz", "not a map file name"),
        ("out.gz", "not a map file name"),
    ],
)
def test_output_must_be_a_map_file_name(tmp_path, monkeypatch, capsys, name, message):
    def no_work(*args, **kwargs):
        raise AssertionError("the work started before the output path was checked")

    monkeypatch.setattr(cli.simulate, "read_structure", no_work)
    out = tmp_path / name
    assert cli.main(["simulate", str(pair(ENTRY)["model_path"]), "-o", str(out)]) == 2
    line = one_line(capsys.readouterr().err, "s2m simulate: error: ")
    assert message in line and str(out.name if name != "." else tmp_path) in line
    assert leftovers(tmp_path) == []


def test_atomic_write_turns_os_errors_into_one_line(tmp_path):
    target = tmp_path / "sub"
    target.mkdir()
    with pytest.raises(OutputError, match=r"sub: cannot write: .*(directory|folder)"):
        atomic_write(lambda tmp: tmp.write_text("x"), target)
    with pytest.raises(OutputError, match=r"f\.txt: cannot write: .*No space left"):
        atomic_write(
            lambda tmp: (_ for _ in ()).throw(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))), tmp_path / "f.txt"
        )
    assert leftovers(tmp_path) == ["sub"]


# --------------------------------------------------------------------------------- signals, temporaries

SLOW_WRITE = """
import sys, time
from pathlib import Path
import mrcfile.mrcfile
def slow(self):
    print("writing", flush=True)
    time.sleep(120)
mrcfile.mrcfile.MrcFile.update_header_stats = slow
from s2mlib.cli import main
sys.exit(main(sys.argv[1:]))
"""


def start_and_signal(tmp_path, sig) -> tuple[subprocess.Popen, str]:
    """``s2m simulate`` in a subprocess whose map writer blocks; ``sig`` is sent once the temporary file exists."""
    out = tmp_path / "sim.mrc"
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITE, "simulate", str(pair(ENTRY)["model_path"]), "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    assert proc.stdout.readline().strip() == "writing"
    assert [p for p in leftovers(tmp_path) if p.endswith(".part")]  # the chosen point: inside the write
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc, err


def test_sigkill_leaves_a_part_file_that_the_next_write_removes(tmp_path):
    proc, _ = start_and_signal(tmp_path, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    stale = [p for p in leftovers(tmp_path) if p.endswith(".part")]
    assert len(stale) == 1 and stale[0].startswith(".sim.mrc.")
    write_map(DensityMap(np.ones((2, 2, 2))), tmp_path / "sim.mrc")
    assert leftovers(tmp_path) == ["sim.mrc"]


def test_sigterm_removes_the_part_file_and_says_so(tmp_path):
    proc, err = start_and_signal(tmp_path, signal.SIGTERM)
    assert proc.returncode == 128 + signal.SIGTERM
    assert one_line(err, "s2m simulate: ") == "s2m simulate: terminated"
    assert leftovers(tmp_path) == []


def test_a_live_writers_part_file_is_left_alone(tmp_path):
    """Only parts of processes that are gone are stale: another live writer's temporary file stays."""
    live = tmp_path / f".x.mrc.p{os.getppid()}-abcd1234.part"
    dead = tmp_path / ".x.mrc.p999999999-abcd1234.part"
    old_style = tmp_path / ".x.mrc.k3j4h5g6.part"  # made before temporary names held the writer's PID
    for path in (live, dead, old_style):
        path.write_bytes(b"")
    os.utime(old_style, (time.time() - 3600, time.time() - 3600))
    write_map(DensityMap(np.ones((2, 2, 2))), tmp_path / "x.mrc")
    assert leftovers(tmp_path) == sorted([live.name, "x.mrc"])


# ---------------------------------------------------------------------------------------- manifests, runner


def test_manifest_with_a_header_and_no_rows(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("entry\temdb_id\tpdb_id\tresolution\tmap\tmodel\n")
    with pytest.raises(ManifestError, match=r"m\.tsv: the manifest has no entries .*add one row per"):
        load_manifest(path)


def write_notebook(path: Path, *sources: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "default"\nrun_dir = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def run_setup(tmp_path, monkeypatch):
    """Notebooks in tmp_path/notebooks and a one-entry local manifest (files need only exist)."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    (tmp_path / "a.map").write_bytes(b"")
    (tmp_path / "a.pdb").write_bytes(b"")
    manifest = tmp_path / "m.csv"
    manifest.write_text("entry,emdb_id,pdb_id,map,model\na,1234,1ABC,a.map,a.pdb\n")
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", folder)
    monkeypatch.setenv("S2M_MANIFEST", str(manifest))
    return folder


def test_runner_stops_at_once_on_a_manifest_without_entries(run_setup, tmp_path, capsys):
    (tmp_path / "m.csv").write_text("entry,emdb_id,pdb_id,map,model\n")
    write_notebook(run_setup / "01_ok.ipynb", "open('ran_01', 'w').write('x')")
    assert runner.main(["-p", "run_dir", str(tmp_path / "run")]) == 2
    line = one_line(capsys.readouterr().err, "run_all.sh: error: ")
    assert "m.csv: the manifest has no entries" in line
    assert not (run_setup / "ran_01").exists()


def test_runner_refuses_a_read_only_run_folder_before_any_notebook(run_setup, readonly_dir, capsys):
    write_notebook(run_setup / "01_ok.ipynb", "open('ran_01', 'w').write('x')")
    assert runner.main(["-p", "run_dir", str(readonly_dir / "run")]) == 2
    line = one_line(capsys.readouterr().err, "run_all.sh: error: ")
    assert "cannot write" in line and str(readonly_dir) in line
    assert not (run_setup / "ran_01").exists()


def test_runner_output_error_while_running_gives_the_failure_line(run_setup, tmp_path, monkeypatch, capsys):
    import papermill

    def full(notebook, output, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), output)

    monkeypatch.setattr(papermill, "execute_notebook", full)
    write_notebook(run_setup / "01_ok.ipynb", "pass")
    assert runner.main(["-p", "run_dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    failed = [line for line in err.splitlines() if line.startswith("FAILED: ")]
    assert len(failed) == 1 and "01_ok.ipynb" in failed[0] and "No space left on device" in failed[0]


RUNNER = """
import sys
from pathlib import Path
from s2mlib.run import runner
runner.NOTEBOOK_DIR = Path(sys.argv[1])
sys.exit(runner.main(sys.argv[2:]))
"""


@pytest.mark.parametrize(
    "sig, status, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
)
def test_runner_interrupted_in_a_cell_says_one_line(run_setup, tmp_path, sig, status, word):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) or SIGTERM while a cell runs."""
    write_notebook(run_setup / "01_slow.ipynb", "open('started', 'w').close()\nimport time\ntime.sleep(120)")
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, str(run_setup), "-p", "run_dir", str(tmp_path / "run")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        start_new_session=True,
    )
    deadline = time.time() + 120
    while not (run_setup / "started").exists():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.2)
    if sig == signal.SIGINT:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == status, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == f"run_all.sh: {word} (in 01_slow.ipynb)"


@pytest.mark.parametrize(
    "entries, says",
    [
        (["20353_6PJ6"], "every entry of the manifest was excluded (20353_6PJ6: nucleic acids"),
        (["5925_3J6J"], "no kept entry in split(s) val, test (kept: train 1)"),
    ],
)
def test_the_real_curation_notebook_says_what_is_wrong_with_the_data(tmp_path, capsys, entries, says):
    """Item 4: a manifest whose every entry is excluded, and a single-entry manifest, stop notebook 01 (the real one,
    through the runner) with a sentence about the data and what to do, not a KeyError or StopIteration later on."""
    rows = [line for line in (TEST_DATA / "pairs.tsv").read_text().splitlines()]
    text = "\n".join([rows[0]] + [r for r in rows[1:] if r.split("\t")[0] in entries]) + "\n"
    text = text.replace("\tpairs/", f"\t{TEST_DATA / 'pairs'}/")
    manifest = tmp_path / "m.tsv"
    manifest.write_text(text)
    args = ["--only", "01", "-p", "manifest", str(manifest), "-p", "run_dir", str(tmp_path / "run")]
    assert runner.main(args + ["-p", "figures_dir", str(tmp_path / "fig")]) == 1
    err = capsys.readouterr().err
    failed = [line for line in err.splitlines() if line.startswith("FAILED: ")]
    assert len(failed) == 1 and "01_curate.ipynb" in failed[0]
    assert "ManifestError" in err and says in err and "Add" in err
    assert (tmp_path / "fig" / "table_curation.md").exists()  # the reasons are saved before the stop
