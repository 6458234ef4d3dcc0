"""Execute the numbered notebooks with papermill (what ``./run_all.sh`` calls).

``python -m s2mlib.run.runner [--profile NAME] [--only 04 [--only 05]] [--dry-run] [-p key value ...]``
runs ``notebooks/NN_*.ipynb`` in order; executed notebooks and their HTML go to the profile's run folder
(``runs/<profile>/notebooks``); figures and tables are written by the notebooks into ``figures/``. It stops at the
first failure, naming the notebook and the failing cell.

Before the first notebook (and in ``--dry-run``) it checks every ``-p KEY VALUE``
(:func:`s2mlib.run.config.check_overrides`: a known key, the profile's type, the notebooks' own checks), the manifest
(:func:`s2mlib.io.manifest.load_manifest`: it must list entries), and that the run and figure folders can be written and
hold no input (the manifest, its maps and models, the notebooks); each problem is one line and exit status 2. An
output error while a notebook runs (a full disk) gives the usual ``FAILED: notebook`` line and status 2; Ctrl-C gives
one line and status 130, SIGTERM status 143.

Downloads: the files the manifest still needs come from the profile's sources (``mirror``, ``mirror_layout``,
``emdb_url``, ``pdb_url``, ``cache``; :mod:`s2mlib.io.sources`). Before the first notebook every host they come from
must answer (a TCP connection; one line naming those that do not). ``--dry-run`` lists them with their sizes (HEAD
requests, 8 at a time) and the total, saying why a size is unknown. After notebook 01 the runner shows its download
summary (``downloads.txt`` in the run folder: files downloaded, found in the cache, failed entries and why).
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ..errors import S2MError, Terminated, optional_import
from ..io.outputs import check_folder, ensure_holds_no_input, sigterm_raises
from ..study.views import STATIC_VIEWS
from .config import ENV_KEYS, ROOT, add_override_option, check_inputs, check_overrides, parse_value

NOTEBOOK_DIR = ROOT / "notebooks"
# The kernel's own log: its TCP warning at every start and its traceback when stopped mid-cell (Ctrl-C) are noise;
# a failing cell still comes back through papermill, and a dead kernel as papermill's error.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]


def notebooks(only: list[str] | None = None) -> list[Path]:
    """The numbered notebooks, in order; ``only`` keeps those whose number or name starts with one of its items."""
    found = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    if only:
        found = [nb for nb in found if any(nb.name.startswith(key) for key in only)]
        if not found:
            raise S2MError(f"--only {' '.join(only)}: no notebook in {NOTEBOOK_DIR} matches")
    return found


def reachable(url: str, timeout: float = 5.0) -> bool:
    """True when a TCP connection to the URL's host (and port: 443 for https, 80 for http) can be opened."""
    parsed = urlparse(url)
    try:
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def unreachable_hosts(plan: list[dict]) -> dict[str, str]:
    """The hosts of the plan's URLs that do not answer: ``host[:port]`` -> the services ('EMDB', 'PDB') needing it."""
    services: dict[str, set[str]] = collections.defaultdict(set)
    first: dict[str, str] = {}
    for item in plan:
        if str(item["url"]).startswith(("http://", "https://")):
            host = urlparse(item["url"]).netloc
            services[host].add("PDB" if item.get("kind") == "model" else "EMDB")
            first.setdefault(host, item["url"])
    return {host: " and ".join(sorted(services[host])) for host, url in first.items() if not reachable(url)}


def check_data(params: dict) -> list[dict]:
    """The downloads the profile's manifest needs from its sources (empty for a local manifest, or one whose files
    are all in the cache)."""
    from ..io.download import planned_downloads
    from ..io.manifest import load_manifest
    from ..io.sources import Sources

    return planned_downloads(load_manifest(params["manifest"]), params.get("cache"), Sources.from_params(params))


def check_outputs(params: dict, selected: list[Path], create: bool = True) -> None:
    """The run and figure folders: writable (created here; with ``create`` False, as ``--dry-run`` checks, the
    nearest folder that exists is checked instead), holding none of the run's inputs (the manifest, its local maps
    and models, the notebooks), whatever symlinks lie between, and a figure folder whose ``README.md`` and
    ``index.json`` are the notebooks' own (:func:`s2mlib.study.plots.check_figure_folder`); one line each
    (:class:`OutputError`)."""
    from ..io.manifest import load_manifest
    from ..study.plots import check_figure_folder

    table = load_manifest(params["manifest"])
    inputs = [params["manifest"], NOTEBOOK_DIR, *selected, *(p for p in (*table["map"], *table["model"]) if p)]
    for key in ("run_dir", "figures_dir"):
        if params.get(key):
            ensure_holds_no_input(params[key], inputs, f"{key} folder")
    if params.get("figures_dir"):
        check_figure_folder(params["figures_dir"])
    for folder in (Path(params["run_dir"]) / "notebooks", params.get("figures_dir")):
        if folder:  # refuses a folder that cannot be written, before any notebook
            check_folder(folder) if create else check_folder(_nearest_existing(Path(folder)))


def _nearest_existing(folder: Path) -> Path:
    """``folder`` or the nearest of its parents that exists (what creating ``folder`` would write into)."""
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder


def _size(size: float) -> str:
    """A size in kB, MB or GB (powers of 1000)."""
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"


def dry_run(params: dict, selected: list[Path]) -> None:
    from ..io.download import add_sizes
    from ..io.sources import Sources

    plan = check_data(params)
    print(f"profile {params['profile']}: {params.get('description', '')}")
    print(f"manifest: {params['manifest']}")
    if plan:
        print(f"sources: {Sources.from_params(params).describe()}")
        down = unreachable_hosts(plan)
        for item in plan:
            host = urlparse(str(item["url"])).netloc
            item["why"] = f"{host} cannot be reached" if host in down else ""
        add_sizes(plan)
        known = [item["size"] for item in plan if item.get("size") is not None]
        unknown = collections.Counter(item["why"] for item in plan if item.get("size") is None)
        line = f"downloads: {len(plan)} files, {_size(sum(known))}"
        if unknown:
            why = "; ".join(f"{reason}: {n}" for reason, n in unknown.most_common())
            line += f" for the {len(known)} of known size; {len(plan) - len(known)} of unknown size ({why})"
        print(line)
        for item in plan:
            size = f"{_size(item['size']):>9}" if item.get("size") is not None else "   size ?"
            print(f"  {size}  {item['url']}" + (f"  ({item['why']})" if item.get("size") is None else ""))
    else:
        print("downloads: none (a local manifest, or every file in the cache)")
    print("steps:")
    for nb in selected:
        print(f"  {nb.name} -> {Path(params['run_dir']) / 'notebooks' / nb.name}")


class KernelStop:
    """Ctrl-C (SIGINT) and SIGTERM while a notebook runs, made deterministic.

    jupyter_client starts the kernel in its own session, so a terminal's Ctrl-C reaches only the runner; raised there
    as an exception inside nbclient's event loop, it left the cell's task pending and the loop half-way (a traceback
    after the runner's line, or, now and then, a runner that never exited). Instead the handler records the signal
    and a thread interrupts the kernels (the runner's child processes, by process group, as
    ``KernelManager.interrupt_kernel`` does) every second until the cell stops, killing them after
    :attr:`patience` seconds; the cell then fails as any cell does and the runner reports the signal. A second Ctrl-C
    raises ``KeyboardInterrupt`` at once."""

    patience = 10.0

    def __init__(self) -> None:
        self.signum: int | None = None
        self.done = threading.Event()

    def handler(self, signum: int, frame) -> None:
        if self.signum is not None:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            return
        self.signum = signum
        threading.Thread(target=self._stop_kernels, daemon=True).start()

    def _stop_kernels(self) -> None:
        start = time.monotonic()
        while not self.done.is_set():
            late = time.monotonic() - start > self.patience
            for pid in _children():
                try:
                    group = os.getpgid(pid)
                    sig = signal.SIGKILL if late else signal.SIGINT
                    os.killpg(group, sig) if group == pid else os.kill(pid, sig)
                except OSError:  # gone meanwhile
                    pass
            self.done.wait(1.0)

    @contextmanager
    def installed(self):
        """Within the block, SIGINT and SIGTERM go to :meth:`handler`; the old handlers come back after it."""
        previous = {sig: signal.signal(sig, self.handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            self.done.set()
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _children() -> list[int]:
    """Process IDs of this process's children (Linux /proc; none elsewhere)."""
    pids = []
    for task in Path(f"/proc/{os.getpid()}/task").glob("*/children"):
        try:
            pids += [int(pid) for pid in task.read_text().split()]
        except (OSError, ValueError):
            pass
    return pids


def run(profile: str, only: list[str] | None, overrides: dict, dry: bool = False) -> int:
    params = check_overrides(profile, overrides)
    selected = notebooks(only)
    if dry:
        check_outputs(params, selected, create=False)  # the folders the real run would refuse, refused here too
        dry_run(params, selected)
        return 0
    check_inputs([nb.stem for nb in selected], params)  # e.g. --only 06 without 05's maps: one line, before any work
    plan = check_data(params) if any(nb.name.startswith("01") for nb in selected) else []
    down = unreachable_hosts(plan)
    if down:
        hosts = ", ".join(f"{host} ({service})" for host, service in down.items())
        raise S2MError(
            f"the manifest {params['manifest']} needs {len(plan)} downloads, and this machine cannot reach {hosts}. "
            f"Offline, use a local manifest: S2M_MANIFEST=../shared/data/pairs.tsv ./run_all.sh (or ./run_all.sh -p "
            f"manifest PATH); or point the run at a mirror or other hosts (README, Data: -p mirror, $S2M_EMDB_URL, "
            f"$S2M_PDB_URL)."
        )
    notebooks_extra = "pip install 's2mlib[notebooks]' (Jupyter and papermill)"
    pm = optional_import("papermill", "./run_all.sh (running the notebooks)", notebooks_extra)
    exporter = optional_import("nbconvert", "./run_all.sh (the notebooks' HTML)", notebooks_extra).HTMLExporter
    check_outputs(params, selected)
    out_dir = Path(params["run_dir"]) / "notebooks"
    logging.getLogger("papermill").addFilter(_known_parameters)

    pm_params = {"profile": profile, **overrides}
    os.environ[STATIC_VIEWS] = "1"  # the kernels draw s2mlib.study.views as static figures (no browser to draw widgets)
    # the kernels save figures in the profile's figure folder (a notebook run by hand: in the run folder)
    with environment({ENV_KEYS["figures_dir"]: params.get("figures_dir")}):
        return _execute(selected, out_dir, params, pm_params, pm, exporter)


def _known_parameters(record: logging.LogRecord) -> bool:
    """Papermill's "Passed unknown parameter: KEY" for a key that the notebook's parameters cell does not name is
    left out: every ``-p KEY`` was checked against the profile's keys before the run (:func:`check_overrides`), and
    a notebook reads the keys it needs from its profile."""
    return not str(record.msg).startswith("Passed unknown parameter")


@contextmanager
def environment(values: dict[str, str | None]):
    """``os.environ`` with ``values`` set (None: left as it is) within the block, as it was after it."""
    before = {key: os.environ.get(key) for key in values}
    os.environ.update({key: value for key, value in values.items() if value})
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _execute(selected: list[Path], out_dir: Path, params: dict, pm_params: dict, pm, exporter_cls) -> int:
    """Execute the ``selected`` notebooks in order with papermill; the exit status (see :func:`run`)."""
    for nb in selected:
        out = out_dir / nb.name
        start = time.time()
        print(f"== {nb.name} (profile {params['profile']})", flush=True)
        stop = KernelStop()
        try:
            with stop.installed():
                pm.execute_notebook(
                    str(nb),
                    str(out),
                    parameters=pm_params,
                    cwd=str(NOTEBOOK_DIR),
                    kernel_name="python3",
                    progress_bar=False,
                    log_output=False,
                    extra_arguments=KERNEL_ARGUMENTS,
                )
        except (KeyboardInterrupt, Terminated) as exc:  # a second Ctrl-C, or a signal just outside the block
            stop.signum = stop.signum or (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)
        except Exception as exc:
            if stop.signum is None:
                _show_downloads(params, start)
                return _failed(nb, out, exc, pm.PapermillExecutionError, exporter_cls)
        _show_downloads(params, start)
        if stop.signum is not None:
            word, status = ("terminated", 143) if stop.signum == signal.SIGTERM else ("interrupted", 130)
            print(f"\nrun_all.sh: {word} (in {nb.name})", file=sys.stderr)
            return status
        _export_html(exporter_cls, out)
        print(f"   done in {time.time() - start:.0f} s -> {out}", flush=True)
    return 0


def _show_downloads(params: dict, since: float) -> None:
    """Print the download summary a notebook wrote into the run folder (01: ``downloads.txt``) since ``since``."""
    from .config import RunPaths

    path = RunPaths(Path(params["run_dir"])).downloads
    if path.is_file() and path.stat().st_mtime >= since - 1:
        print("\n".join(f"   {line}" for line in path.read_text().splitlines()), flush=True)


def _failed(nb: Path, out: Path, exc: Exception, execution_error: type, exporter_cls) -> int:
    """Report a notebook that failed: a failing cell (status 1) or an output error (status 2); anything else
    propagates."""
    if isinstance(exc, execution_error):
        cell: Any = exc  # papermill's PapermillExecutionError (untyped): the failing cell
        source = "\n".join("    " + line for line in cell.source.splitlines()[:12])
        print(
            f"\nFAILED: {nb.name}, cell {cell.cell_index + 1} of the executed notebook (counting from 1; "
            f"execution count [{cell.exec_count}]):\n"
            f"{source}\n  {cell.ename}: {cell.evalue}\nexecuted notebook with the error: {out}",
            file=sys.stderr,
        )
        _export_html(exporter_cls, out)
        return 1
    if isinstance(exc, OSError):  # papermill writing the executed notebook: a full disk, a folder made read-only
        where = exc.filename or out
        print(f"\nFAILED: {nb.name}: cannot write {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    raise exc


def _export_html(exporter_cls, notebook: Path) -> None:
    """The executed notebook as HTML beside it; a failure to write it is reported, not fatal."""
    if notebook.exists():
        body, _ = exporter_cls().from_filename(str(notebook))
        try:
            notebook.with_suffix(".html").write_text(body)
        except OSError as exc:
            print(
                f"run_all.sh: warning: cannot write {notebook.with_suffix('.html')}: {exc.strerror or exc}",
                file=sys.stderr,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_all.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default="default", help="params/<profile>.yaml (default: default)")
    parser.add_argument("--only", action="append", help="run only notebooks starting with this (e.g. 04); repeatable")
    parser.add_argument("--dry-run", action="store_true", help="list downloads and steps, run nothing")
    add_override_option(parser, "override a profile parameter, passed to papermill (e.g. -p res_min 3)")
    args = parser.parse_args(argv)
    overrides = {key: parse_value(value) for key, value in args.parameter}
    with sigterm_raises():
        try:
            return run(args.profile, args.only, overrides, args.dry_run)
        except S2MError as exc:
            print(f"run_all.sh: error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("run_all.sh: interrupted", file=sys.stderr)
            return 130
        except Terminated:
            print("run_all.sh: terminated", file=sys.stderr)
            return 143


if __name__ == "__main__":
    sys.exit(main())
