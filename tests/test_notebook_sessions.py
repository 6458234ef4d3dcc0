"""Notebooks as a JupyterLab user runs them (issue 31): the browser checker's readiness logic and its environment,
notebooks guarded in git (outputs stripped when git reads them), progress bars that are text (no widget saved in
a notebook), figures of a session by hand kept out of the tracked figures/, 07's input from the run folder, and a
figure folder whose own README.md or index.json the figure index would replace.

The browser itself is not run here (CI has no browser): ``tools/check_notebooks_browser.sh`` is run by hand (README,
"Open the notebooks"); its decisions on the page's state are plain functions, tested below on the states seen.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from helpers import ROOT, TEST_DATA

from s2mlib.errors import MissingInput, OutputError
from s2mlib.run import config, runner, session
from s2mlib.run.jupyter_git import refresh_after_save
from s2mlib.study import plots

TOOLS = ROOT / "tools"


def load_checker():
    spec = importlib.util.spec_from_file_location("check_notebooks_browser", TOOLS / "check_notebooks_browser.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------------------ the browser checker


def page(**state) -> dict:
    """A state of :data:`JS_STATE`: the notebook open and loaded, its kernel idle and connected, unless changed."""
    base = {"app": True, "panel": True, "loaded": True, "current": True, "id": "id-1", "kernel": "idle"}
    return {**base, "connection": "connected", "dialogs": [], **state}


def test_readiness_finds_the_notebook_by_path_not_by_the_focus():
    """The state the checker met with a fresh --user-data-dir: the notebook open, its kernel idle, but no current
    widget (a headless page without focus). Waiting for shell.currentWidget never ended (180 s, then FAIL); it is
    made current instead."""
    checker = load_checker()
    assert checker.readiness(page(current=False)) == checker.ACTIVATE
    assert checker.readiness(page()) == checker.READY
    for waiting in (
        None,
        {"app": False, "dialogs": []},
        page(panel=False),
        page(loaded=False),
        page(kernel=None),
        page(kernel="starting"),
        page(kernel="busy"),
        page(kernel="unknown"),
        page(connection="connecting"),
    ):
        assert checker.readiness(waiting) == checker.WAIT, waiting
    with pytest.raises(checker.NotReady, match="a dialog is open: 'Select Kernel"):
        checker.readiness(page(dialogs=["Select Kernel\nNo Kernel"]))
    with pytest.raises(checker.NotReady, match="kernel died"):
        checker.readiness(page(kernel="dead"))
    assert checker.describe(page(current=False)) == "notebook open, not the current widget, kernel idle (connected)"
    assert checker.describe(None) == "JupyterLab not started in the page"


def test_the_checker_runs_as_root_chromium_is_launched_here():
    checker = load_checker()
    flags = set(checker.CHROMIUM_FLAGS)
    for flag in ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync"):
        assert flag in flags
    assert any(f.startswith("--headless") for f in flags)
    assert "model not found" in checker.WIDGET_ERRORS  # what a widget saved without its state shows when reopened


@pytest.fixture
def scripts(tmp_path) -> Path:
    """A copy of the set-up and checker scripts with the files they read, in an empty project folder."""
    (tmp_path / "tools").mkdir()
    for name in ("setup_env.sh", "guard_notebooks.sh", "check_notebooks_browser.sh", "check_notebooks_browser.py"):
        shutil.copy2(TOOLS / name, tmp_path / "tools" / name)
    for name in ("environment.yml", "pyproject.toml"):
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


def fake_environment(folder: Path) -> None:
    """``folder/.venv/bin/python``: this test's interpreter (with environment.yml's packages, nbstripout too)."""
    (folder / ".venv" / "bin").mkdir(parents=True)
    python = folder / ".venv" / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)


def bash(script: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("S2M_PYTHON", "S2M_USE_CONDA")}
    return subprocess.run(["bash", str(script), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def test_the_checker_never_installs_an_environment(scripts):
    """Without S2M_PYTHON the checker used to run tools/setup_env.sh, which pip-installs a .venv into the clone;
    now it takes the environment setup_env.sh made, checked (`setup_env.sh --check`), or says how to make it."""
    run = bash(scripts / "tools" / "check_notebooks_browser.sh", "--help")
    assert run.returncode == 2 and not (scripts / ".venv").exists()
    assert run.stderr.strip().splitlines() == [
        f"setup: no environment at {scripts}/.venv: make it with tools/setup_env.sh (or set S2M_PYTHON to a python "
        "with the project's packages)"
    ]
    fake_environment(scripts)
    (scripts / ".venv" / ".s2m-stamp").write_text("an older environment.yml\n")
    run = bash(scripts / "tools" / "check_notebooks_browser.sh", "--help")
    assert run.returncode == 2 and "older than environment.yml" in run.stderr and len(run.stderr.splitlines()) == 1
    stamp = bash(scripts / "tools" / "setup_env.sh", "--check")
    assert stamp.returncode == 1 and stamp.stdout == ""
    digest = subprocess.run(
        f"cat {scripts}/environment.yml {scripts}/pyproject.toml | sha256sum",
        shell=True,
        capture_output=True,
        text=True,
    ).stdout.split()[0]
    (scripts / ".venv" / ".s2m-stamp").write_text(digest + "\n")
    assert bash(scripts / "tools" / "setup_env.sh", "--check").stdout.strip() == f"{scripts}/.venv/bin/python"
    run = bash(scripts / "tools" / "check_notebooks_browser.sh", "--help")
    assert run.returncode == 0 and "--run-dir" in run.stdout and "--keep-outputs" in run.stdout


# ------------------------------------------------------------------------------------ notebooks in git


def git(repo: Path, *args: str) -> str:
    run = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return run.stdout


def executed_as_jupyterlab_saves_it(path: Path) -> None:
    """Outputs, execution counts, widget state and the kernel's language_info, as JupyterLab's autosave writes
    them after a run."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = i + 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="generate: 100%|##########| 3/3\n")]
        cell.metadata["execution"] = {"iopub.status.busy": "2026-12-07T12:00:00.000000Z"}
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.2", "mimetype": "text/x-python"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2}}
    nbformat.write(nb, path)


def test_running_a_notebook_leaves_git_status_clean(tmp_path):
    """tools/guard_notebooks.sh (run by setup_env.sh) makes git read notebooks/*.ipynb through nbstripout: a
    notebook saved with its outputs is unchanged for git, a notebook whose code changed is not."""
    repo = tmp_path / "clone"
    (repo / "tools").mkdir(parents=True)
    (repo / "notebooks").mkdir()
    shutil.copy2(TOOLS / "guard_notebooks.sh", repo / "tools")
    shutil.copy2(ROOT / ".gitattributes", repo)
    shutil.copy2(ROOT / "notebooks" / "06_benchmark.ipynb", repo / "notebooks")
    fake_environment(repo)
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "t@example.org")
    git(repo, "config", "user.name", "t")
    guard = bash(repo / "tools" / "guard_notebooks.sh", cwd=repo)
    assert guard.returncode == 0 and "guarded" in guard.stderr
    assert bash(repo / "tools" / "guard_notebooks.sh", cwd=repo).stderr == ""  # idempotent
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "notebooks")
    notebook = repo / "notebooks" / "06_benchmark.ipynb"
    executed_as_jupyterlab_saves_it(notebook)
    assert '"outputs": []' not in notebook.read_text()  # the working copy keeps the outputs
    assert git(repo, "diff") == ""  # the filter alone: no output reaches git ...
    assert git(repo, "status", "--porcelain") != ""  # ... but git takes the larger file as modified
    assert refresh_after_save(os_path=str(notebook), model={"type": "notebook"}, contents_manager=None)
    assert git(repo, "status", "--porcelain") == "" and git(repo, "diff") == ""
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[2].source += "\nprint('edited')"
    nbformat.write(nb, notebook)
    assert not refresh_after_save(os_path=str(notebook), model={"type": "notebook"}, contents_manager=None)
    assert git(repo, "status", "--porcelain").split() == ["M", "notebooks/06_benchmark.ipynb"]
    assert "print('edited')" in git(repo, "diff") and "generate: 100%" not in git(repo, "diff")
    assert git(repo, "diff", "--cached") == ""  # nothing staged by the hook
    assert not refresh_after_save(os_path=str(tmp_path / "elsewhere.ipynb"))  # not in a repository: nothing


def test_setup_makes_jupyter_save_widget_state_and_refresh_git(scripts):
    """setup_env.sh writes the environment's JupyterLab settings (widget state saved with a notebook) and the
    server's post-save hook; tested on the settings files it writes, in an environment that is up to date."""
    fake_environment(scripts)
    digest = subprocess.run(
        f"cat {scripts}/environment.yml {scripts}/pyproject.toml | sha256sum",
        shell=True,
        capture_output=True,
        text=True,
    ).stdout.split()[0]
    (scripts / ".venv" / ".s2m-stamp").write_text(digest + "\n")
    run = bash(scripts / "tools" / "setup_env.sh")
    assert run.returncode == 0 and run.stdout.strip().endswith(".venv/bin/python"), run.stderr
    settings = json.loads((scripts / ".venv/share/jupyter/lab/settings/overrides.json").read_text())
    assert settings == {"@jupyter-widgets/jupyterlab-manager:plugin": {"saveState": True}}
    server = scripts / ".venv/etc/jupyter/jupyter_server_config.json"
    assert json.loads(server.read_text()) == {
        "ContentsManager": {"post_save_hook": "s2mlib.run.jupyter_git.refresh_after_save"}
    }
    assert bash(scripts / "tools" / "setup_env.sh").returncode == 0 and json.loads(server.read_text())  # idempotent
    code = (  # a Jupyter server started with that configuration folder has the hook (a .d/ file was not read)
        "from jupyter_server.serverapp import ServerApp; app = ServerApp(); "
        "app.initialize(argv=['--port=0', '--no-browser', '--allow-root', '--ServerApp.root_dir=.'], "
        "find_extensions=False, new_httpserver=False); print(app.contents_manager.post_save_hook.__qualname__)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=scripts,
        env={**os.environ, "JUPYTER_CONFIG_PATH": str(server.parent)},
        timeout=120,
    )
    assert run.stdout.strip().splitlines()[-1] == "refresh_after_save", run.stderr


def test_the_committed_notebooks_are_what_the_filter_makes_of_them():
    """Every notebook is stored as nbstripout leaves it (no outputs, no language_info, the cells' own ids) and with
    the kernel's display name that JupyterLab writes when it saves ('Python 3 (ipykernel)'), so the filter changes
    nothing in a fresh clone and a saved notebook compares equal to the commit."""
    paths = sorted(str(p) for p in (ROOT / "notebooks").glob("*.ipynb"))
    verify = [sys.executable, "-m", "nbstripout", "--verify", "--keep-id", "--extra-keys", "metadata.language_info"]
    run = subprocess.run([*verify, *paths], capture_output=True, text=True, timeout=120)
    assert len(paths) == 9 and run.returncode == 0, run.stdout + run.stderr  # --verify: 1 when one would change
    from jupyter_client.kernelspec import KernelSpecManager

    shown = KernelSpecManager().get_kernel_spec("python3").display_name  # JupyterLab writes it on saving
    assert {nbformat.read(p, as_version=4).metadata.kernelspec.display_name for p in paths} == {shown}


# ------------------------------------------------------------------------------------ progress bars


def test_progress_bars_in_a_kernel_are_text_not_widgets(tmp_path):
    """tqdm.auto drew an ipywidgets bar in a notebook, saved without its model: "Error displaying widget: model not
    found" when reopened. The package's bars are text in a kernel (on stdout) as in a terminal."""
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from s2mlib.gan import batch, generate, train\n"
            "from s2mlib.study import benchmark as study, resolution\n"
            "from s2mlib.io.progress import tqdm\n"
            "assert batch.tqdm is generate.tqdm is resolution.tqdm is study.tqdm is train.tqdm is tqdm\n"
            "for _ in tqdm(range(3), desc='rows'):\n    pass"
        )
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    assert not [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream" and o.name == "stdout")
    assert "rows: 100%" in text and "3/3" in text


# ------------------------------------------------------------------------------------ figures and inputs


def test_a_session_by_hand_writes_figures_to_the_run_folder(monkeypatch, tmp_path, capsys):
    """06 and 07 run by hand overwrote the tracked figures/; a session writes into the run folder unless asked
    (S2M_FIGURES_DIR or -p figures_dir); ./run_all.sh updates the profile's figures_dir."""
    monkeypatch.delenv("S2M_FIGURES_DIR", raising=False)
    run = session.start("default", {"run_dir": str(tmp_path / "run")})
    assert run.figures == tmp_path / "run" / "figures" == run.paths.interactive_figures and run.figures.is_dir()
    assert "S2M_FIGURES_DIR=figures" in capsys.readouterr().out
    monkeypatch.setenv("S2M_FIGURES_DIR", str(tmp_path / "asked"))
    assert session.start("default", {"run_dir": str(tmp_path / "run")}, quiet=True).figures == tmp_path / "asked"
    monkeypatch.delenv("S2M_FIGURES_DIR")
    chosen = {"run_dir": str(tmp_path / "run"), "figures_dir": str(tmp_path / "p")}
    assert session.start("default", chosen, quiet=True).figures == tmp_path / "p"


def write_notebook(path: Path, *sources: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "default"')  # declares no other key
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture
def notebook_dir(tmp_path, monkeypatch):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", folder)
    monkeypatch.setenv("S2M_MANIFEST", str(TEST_DATA / "pairs.tsv"))
    monkeypatch.delenv("S2M_FIGURES_DIR", raising=False)
    return folder


def test_the_runner_updates_the_profiles_figures_and_checks_every_key_once(notebook_dir, tmp_path, caplog):
    """Under ./run_all.sh the notebooks write the profile's figures_dir (here -p figures_dir); papermill's "Passed
    unknown parameter: run_dir" on every -p is gone (the runner checked every key against the profile)."""
    write_notebook(
        notebook_dir / "01_a.ipynb",
        "from s2mlib.run.session import start\nrun = start(profile, globals(), quiet=True)\n"
        "open('figures_at', 'w').write(str(run.figures))",
    )
    args = ["-p", "run_dir", str(tmp_path / "run"), "-p", "figures_dir", str(tmp_path / "fig"), "-p", "epochs", "2"]
    with caplog.at_level("INFO", logger="papermill"):
        assert runner.main(args) == 0
    assert (notebook_dir / "figures_at").read_text() == str(tmp_path / "fig")
    assert [r for r in caplog.records if r.name == "papermill"]  # papermill's log is seen here ...
    assert not [r for r in caplog.records if "Passed unknown parameter" in r.getMessage()]  # ... without those
    assert "S2M_FIGURES_DIR" not in os.environ  # set for the kernels only


def test_07_reads_the_map_quality_from_the_run_folder_and_checks_it_first(tmp_path):
    """07 read table_map_quality.csv from the figure folder (with another one: a late FileNotFoundError; with the
    default, the committed table); it is 01's output in the run folder, checked by 07's first cell."""
    paths = config.RunPaths(tmp_path)
    for name in ("curation_table", "scores"):
        getattr(paths, name).write_text("entry\n")
    params = {"run_dir": str(tmp_path), "weights": "fast"}
    assert config.missing_inputs("07", params) == {"01_curate": paths.map_quality}
    with pytest.raises(MissingInput, match=r"07_resolution needs .*map_quality\.csv \(made by notebook 01_curate\)"):
        config.check_inputs(["07_resolution"], params)
    source = "".join(c.source for c in nbformat.read(ROOT / "notebooks" / "07_resolution.ipynb", as_version=4).cells)
    assert "PATHS.map_quality" in source and 'FIG / "table_map_quality' not in source
    source_01 = "".join(c.source for c in nbformat.read(ROOT / "notebooks" / "01_curate.ipynb", as_version=4).cells)
    assert "PATHS.map_quality" in source_01


def test_07_says_the_resolution_range_in_words():
    from s2mlib.io.manifest import resolution_range

    assert resolution_range(None, None) == "at every reported resolution"  # was "between None and None Å"
    assert resolution_range(3, 5) == "between 3 and 5 Å"
    assert resolution_range(3.5, None) == "at 3.5 Å and coarser"
    assert resolution_range(None, 4) == "at 4 Å and finer"


@pytest.mark.parametrize(
    "name, content, says",
    [
        ("README.md", "# Test data\n\nProvenance of these maps.\n", "README.md: not a figure index"),
        ("index.json", '["not", "ours"]', "index.json: not a figure index written by the notebooks"),
        ("index.json", '{"files": {"a.png": 3}}', "index.json: not a figure index written by the notebooks"),
        ("index.json", "{broken", "index.json: not a readable figure index"),
    ],
)
def test_a_folder_with_its_own_readme_or_index_is_refused_as_figures_dir(
    notebook_dir, tmp_path, capsys, name, content, says
):
    """`./run_all.sh --only 01 -p figures_dir tests/data` replaced that folder's provenance README with the figure
    index; a foreign index.json gave an AttributeError traceback. Refused before any notebook (and in --dry-run),
    and by every save."""
    folder = tmp_path / "theirs"
    folder.mkdir()
    (folder / name).write_text(content)
    write_notebook(notebook_dir / "01_a.ipynb", "open('ran', 'w').write('x')")
    for dry in ([], ["--dry-run"]):
        assert runner.main([*dry, "-p", "run_dir", str(tmp_path / "run"), "-p", "figures_dir", str(folder)]) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("run_all.sh: error: ") and says in lines[0], lines
    assert not (notebook_dir / "ran").exists() and (folder / name).read_text() == content
    with pytest.raises(OutputError, match=says):
        plots.save_table(__import__("pandas").DataFrame({"a": [1]}), folder / "t", profile="default")
    assert sorted(p.name for p in folder.iterdir()) == [name]
    plots.save_table(__import__("pandas").DataFrame({"a": [1]}), tmp_path / "ours" / "t", profile="default")
    plots.check_figure_folder(tmp_path / "ours")  # the notebooks' own index passes
    assert json.loads((tmp_path / "ours" / "index.json").read_text())["files"]["t.csv"]["profile"] == "default"


def test_dry_run_refuses_the_run_folders_the_real_run_refuses(notebook_dir, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    write_notebook(notebook_dir / "01_a.ipynb", "pass")
    for dry in (["--dry-run"], []):
        assert runner.main([*dry, "-p", "run_dir", str(blocker / "run")]) == 2
        line = capsys.readouterr().err.strip()
        assert line.startswith("run_all.sh: error: ") and "a_file" in line and "cannot write" in line
    assert runner.main(["--dry-run", "-p", "run_dir", str(tmp_path / "new" / "run")]) == 0
    assert not (tmp_path / "new").exists()  # the dry run creates nothing


def test_the_runner_without_papermill_says_so_before_making_anything(notebook_dir, tmp_path):
    write_notebook(notebook_dir / "01_a.ipynb", "pass")
    code = (
        "import sys; sys.modules['papermill'] = None\n"
        "from pathlib import Path; from s2mlib.run import runner\n"
        f"runner.NOTEBOOK_DIR = Path({str(notebook_dir)!r})\n"
        f"sys.exit(runner.main(['-p', 'run_dir', {str(tmp_path / 'run')!r}]))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines() == [
        "run_all.sh: error: ./run_all.sh (running the notebooks) needs the package papermill, which is not "
        "installed: pip install 's2mlib[notebooks]' (Jupyter and papermill)"
    ]
    assert not (tmp_path / "run").exists()
