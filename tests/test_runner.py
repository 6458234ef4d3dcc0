"""The notebook runner behind run_all.sh: order, --only, overrides, stop at the first failing cell, offline stop."""

import nbformat
import pytest
from helpers import TEST_DATA

from s2mlib.errors import S2MError
from s2mlib.run import runner


def write_notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "default"\nepochs = None\nrun_dir = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def notebook_dir(tmp_path, monkeypatch):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", folder)
    monkeypatch.setenv("S2M_MANIFEST", str(TEST_DATA / "pairs.tsv"))  # the in-repo tiny set: local files
    return folder


def test_runs_in_order_and_stops_at_the_failing_cell(notebook_dir, tmp_path, capsys):
    write_notebook(notebook_dir / "01_ok.ipynb", "open('ran_01', 'w').write(str(epochs))")
    write_notebook(notebook_dir / "02_fail.ipynb", "x = 1", "raise ValueError('boom in cell')")
    write_notebook(notebook_dir / "03_never.ipynb", "open('ran_03', 'w').write('x')")
    out_dir = tmp_path / "run"
    status = runner.main(["-p", "run_dir", str(out_dir), "-p", "epochs", "7"])
    assert status == 1
    err = capsys.readouterr().err
    assert "02_fail.ipynb" in err and "cell 4 of the executed notebook" in err
    assert "boom in cell" in err and "raise ValueError" in err
    assert "IPKernelApp" not in err  # the kernel's own log is quiet
    assert (notebook_dir / "ran_01").read_text() == "7"  # the override reached the notebook as an int
    assert not (notebook_dir / "ran_03").exists()
    executed = out_dir / "notebooks"
    assert {p.name for p in executed.iterdir()} == {"01_ok.ipynb", "01_ok.html", "02_fail.ipynb", "02_fail.html"}


def test_only_selects_notebooks(notebook_dir, tmp_path):
    write_notebook(notebook_dir / "01_a.ipynb", "open('ran_01', 'w').write('x')")
    write_notebook(notebook_dir / "04_b.ipynb", "open('ran_04', 'w').write('x')")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "curation.csv").write_text("entry\n")  # 04 reads 01's table
    assert runner.main(["--only", "04", "-p", "run_dir", str(tmp_path / "run")]) == 0
    assert (notebook_dir / "ran_04").exists() and not (notebook_dir / "ran_01").exists()
    with pytest.raises(S2MError, match="--only 09"):
        runner.notebooks(["09"])


def test_a_missing_input_names_the_notebook_that_makes_it_before_any_work(notebook_dir, tmp_path, capsys):
    for name in ("05_generate", "06_benchmark"):
        write_notebook(notebook_dir / f"{name}.ipynb", f"open('ran_{name[:2]}', 'w').write('x')")
    run = tmp_path / "run"
    assert runner.main(["--only", "06", "-p", "run_dir", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"run_all.sh: error: 06_benchmark needs {run}/curation.csv (made by notebook 01_curate), "
        f"{run}/generated/generated.csv (made by notebook 05_generate): run them first (./run_all.sh --only 01 "
        "--only 05)"
    )
    assert not (notebook_dir / "ran_06").exists()
    run.mkdir()
    (run / "curation.csv").write_text("entry\n")
    assert runner.main(["--only", "05", "--only", "06", "-p", "run_dir", str(run)]) == 0  # 05 makes 06's input
    assert (notebook_dir / "ran_06").exists()


def test_offline_without_local_manifest_stops_at_once(notebook_dir, monkeypatch, capsys):
    monkeypatch.delenv("S2M_MANIFEST")
    monkeypatch.setattr(runner, "reachable", lambda *a, **k: False)
    write_notebook(notebook_dir / "01_ok.ipynb", "open('ran_01', 'w').write('x')")
    assert runner.main([]) == 2
    err = capsys.readouterr().err
    assert "S2M_MANIFEST=../shared/data/pairs.tsv" in err and "cannot reach" in err
    assert not (notebook_dir / "ran_01").exists()


def test_dry_run_lists_downloads_and_steps(notebook_dir, monkeypatch, capsys):
    monkeypatch.delenv("S2M_MANIFEST")
    write_notebook(notebook_dir / "01_ok.ipynb", "pass")
    assert runner.main(["--profile", "paper", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "emd_" in out and ".cif.gz" in out and "01_ok.ipynb" in out


def test_dry_run_sizes_from_head_requests(notebook_dir, monkeypatch, capsys, tmp_path):
    """Online, the dry run asks each download's size with a HEAD request (here: a local server)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Head(BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(200)
            self.send_header("Content-Length", "2500000")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Head)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/emd_1.map.gz"
        monkeypatch.setattr(runner, "check_data", lambda params: [{"url": url, "size": None}])
        monkeypatch.setattr(runner, "reachable", lambda *a, **k: True)
        write_notebook(notebook_dir / "01_ok.ipynb", "pass")
        assert runner.main(["--dry-run"]) == 0
    finally:
        server.shutdown()
    out = capsys.readouterr().out
    assert "2.5 MB  http://127.0.0.1" in out and "downloads: 1 files, 2.5 MB\n" in out


@pytest.mark.parametrize(
    "args, says",
    [
        (["-p", "epoch", "10"], "-p epoch: profile default: no parameter 'epoch'; did you mean epochs?"),
        (["-p", "epochs", "abc"], "-p epochs 'abc': epochs takes a whole number (profile default has 3)"),
        (["-p", "lr", "0"], "the training settings are invalid: TrainConfig.lr must be a positive number"),
        (["-p", "min_correlation", "2"], "the curation settings are invalid: CurationConfig: min_correlation 2"),
        (["-p", "device", "mps"], "device 'mps' is not supported: choose auto, cpu or cuda"),
        (["--dry-run", "-p", "epochs", "abc"], "-p epochs 'abc': epochs takes a whole number"),
    ],
)
def test_every_override_is_checked_before_the_first_notebook(notebook_dir, tmp_path, capsys, args, says):
    write_notebook(notebook_dir / "01_ok.ipynb", "open('ran_01', 'w').write('x')")
    assert runner.main(["-p", "run_dir", str(tmp_path / "run"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("run_all.sh: error: ") and says in err[0], err
    assert not (notebook_dir / "ran_01").exists() and not (tmp_path / "run").exists()


def test_run_and_figure_folders_that_hold_an_input_are_refused(notebook_dir, tmp_path, capsys):
    """figures_dir = the project root would write figures/README.md-like files beside the notebooks; a run folder
    reached through a symlink that holds the manifest's maps is the same danger."""
    write_notebook(notebook_dir / "01_ok.ipynb", "open('ran_01', 'w').write('x')")
    assert runner.main(["-p", "run_dir", str(tmp_path / "run"), "-p", "figures_dir", str(tmp_path)]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith(f"run_all.sh: error: {tmp_path}: the figures_dir folder holds the input ")
    (tmp_path / "link").symlink_to(TEST_DATA)
    assert runner.main(["-p", "run_dir", str(tmp_path / "link")]) == 2
    assert "the run_dir folder holds the input" in capsys.readouterr().err
    assert not (notebook_dir / "ran_01").exists()
