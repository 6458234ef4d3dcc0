"""Open notebooks in a real browser under ``jupyter lab``, run all their cells, and check what a reader sees.

Starts ``jupyter lab`` on 127.0.0.1 (a free port, a random token, a throw-away workspace), drives Debian's
``chromium`` headless through ``chromedriver`` (pip ``selenium``; nothing is downloaded) with a fresh profile
(``--user-data-dir``, as when run as root; the page's focus emulated, which a headless window never gets), opens each
notebook, waits until it is open and its kernel idle (:func:`readiness`, found by its path, not by the focus), runs
Run > Run All Cells and checks: no cell error, no widget error ("Failed to load model class", "... is not
registered", "model not found"), and in every nglview viewer a WebGL canvas that has drawn something (more than a
few colours). Then it saves the notebook (as JupyterLab's autosave does), shuts its kernel down, closes and reopens
it, and checks that no widget error shows (a widget saved without its state would). Saves a screenshot of each
notebook with its first viewer in view (``browser_NN.png``) and one after the reopening (``browser_NN_reopened.png``).
Exit status 0 when every check passes, 1 otherwise. The notebook files are put back as they were afterwards unless
``--keep-outputs``.

The notebooks use the run folder and figure folder that ``S2M_RUN_DIR`` / ``S2M_FIGURES_DIR`` give (``--run-dir``,
``--figures-dir``); without ``--figures-dir`` they save figures where any interactive session does, in the run
folder's ``figures/``, so the check does not touch the tracked ``figures/``.

Example (offline; notebook 06 needs a run folder where 01-05 ran)::

    S2M_MANIFEST=../shared/data/pairs.tsv tools/check_notebooks_browser.sh --run-dir RUN --screenshots docs 01 06
    tools/check_notebooks_browser.sh --ui notebook 01       # the same in Notebook 7
"""

from __future__ import annotations

import argparse
import io
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from s2mlib.run.jupyter_git import refresh_after_save

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-gl=angle",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--window-size=1400,1000",
]
# Within the notebook's own panel (other notebooks stay open in hidden tabs, their canvases 0 pixels wide):
WIDGET_CANVAS = ".jp-OutputArea-output canvas"  # only widgets draw canvases in outputs (figures are images)
STDERR_OUTPUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
WIDGET_ERRORS = (
    "Failed to load model class",
    "is not registered",
    "Error displaying widget",
    "Error creating view",
    "model not found",
)

# JavaScript run in the page (JupyterLab started with expose_app_in_browser, so window.jupyterapp is the app). The
# notebook is found by its path among the main area's widgets, never as shell.currentWidget: that follows the
# keyboard focus, which a headless Chromium with a fresh profile (--user-data-dir) never gives the page, so
# currentWidget stays null there (the page's focus is also emulated through the DevTools protocol, see browser()).
JS_PANEL = """
const app = window.jupyterapp;
if (!app || !app.shell) return null;
for (const w of app.shell.widgets('main')) { if (w.context && w.context.path === arguments[0]) return w; }
return null;
"""
JS_STATE = (
    "const find = () => {"
    + JS_PANEL
    + """};
const app = window.jupyterapp;
const dialogs = Array.from(document.querySelectorAll('.jp-Dialog')).map(d => d.innerText.trim().slice(0, 200));
if (!app || !app.shell) return {app: false, dialogs};
const w = find();
if (!w) return {app: true, panel: false, dialogs};
const k = w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
return {app: true, panel: true, loaded: !!(w.context.isReady && w.content && w.content.widgets),
        current: app.shell.currentWidget === w, id: w.id, kernel: k ? k.status : null,
        connection: k ? k.connectionStatus : null, dirty: !!(w.context.model && w.context.model.dirty), dialogs};
"""
)
JS_CELLS = (
    "const find = () => {"
    + JS_PANEL
    + """};
const w = find();
return w.content.widgets.filter(c => c.model.type === 'code').map(c => {
  const outs = c.model.outputs.toJSON();
  const err = outs.find(o => o.output_type === 'error');
  return {count: c.model.executionCount, error: err ? err.ename + ': ' + err.evalue : null};
});
"""
)
JS_NODE = "const find = () => {" + JS_PANEL + "}; const w = find(); return w ? w.node : null;"
JS_CANVAS = """
const c = arguments[0], gl = c.getContext('webgl2') || c.getContext('webgl');
return {width: c.width, height: c.height, webgl: gl ? (gl.isContextLost() ? 'lost' : 'ok') : 'none'};
"""
# Dismiss JupyterLab's "notified about official Jupyter news?" toast, which covers part of the screenshot.
JS_NO_NEWS = """
for (const b of document.querySelectorAll('.jp-toast-button')) { if (b.innerText.trim() === 'No') b.click(); }
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(python: str, port: int, token: str, env: dict) -> subprocess.Popen:
    """``jupyter lab`` on 127.0.0.1:port, serving the project root; returns once its API answers."""
    cmd = [
        python,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={ROOT}",
        "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",
    ]
    if os.geteuid() == 0:  # containers and CI runners
        cmd.append("--allow-root")
    log = open(Path(env["JUPYTER_RUNTIME_DIR"]) / "lab.log", "w")
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    for _ in range(120):
        if server.poll() is not None:
            raise SystemExit(f"jupyter lab exited with status {server.returncode}; see {log.name}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return server
        except OSError:
            time.sleep(1)
    server.terminate()
    raise SystemExit(f"jupyter lab did not answer on 127.0.0.1:{port} within 120 s; see {log.name}")


def browser(chromium: str, chromedriver: str, profile_dir: str):
    """Chromium driven by chromedriver, headless, with a fresh profile in ``profile_dir``, its page focus emulated
    (DevTools ``Emulation.setFocusEmulationEnabled``: a headless window with a fresh profile never gets the focus,
    and JupyterLab then has no current widget for its commands to act on)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.execute_cdp_cmd("Emulation.setFocusEmulationEnabled", {"enabled": True})
    return driver


class NotReady(RuntimeError):
    """The notebook's page is in a state that waiting will not change (a dialog is open, the kernel died)."""


WAIT, ACTIVATE, READY = "wait", "activate", "ready"


def readiness(state: dict | None) -> str:
    """What the page's state (:data:`JS_STATE`) means for a notebook about to run: READY (open, loaded, the current
    widget, its kernel idle and connected), ACTIVATE (all of that, but another widget, or none, is current: make it
    current, so that Run All Cells acts on it), WAIT (the app, the notebook or its kernel still starting). Raises
    :class:`NotReady` for a dialog (JupyterLab's kernel selection, a kernel error) or a dead kernel.

    >>> readiness({"app": True, "panel": True, "loaded": True, "current": False, "kernel": "idle",
    ...            "connection": "connected", "dialogs": []})
    'activate'
    """
    if not state or not state.get("app"):
        return WAIT
    if state.get("dialogs"):
        raise NotReady(f"a dialog is open: {state['dialogs'][0]!r}")
    if not (state.get("panel") and state.get("loaded")):
        return WAIT
    if state.get("kernel") == "dead":
        raise NotReady("its kernel died")
    if state.get("kernel") != "idle" or state.get("connection") != "connected":
        return WAIT
    return READY if state.get("current") else ACTIVATE


def describe(state: dict | None) -> str:
    """One line for what :data:`JS_STATE` found (for a timeout's message).

    >>> describe({"app": True, "panel": True, "loaded": True, "current": True, "kernel": "busy",
    ...           "connection": "connected", "dialogs": []})
    'notebook open, current, kernel busy (connected)'
    """
    if not state or not state.get("app"):
        return "JupyterLab not started in the page"
    if not state.get("panel"):
        return "notebook not open" + (f"; dialog {state['dialogs'][0]!r}" if state.get("dialogs") else "")
    where = "current" if state.get("current") else "not the current widget"
    return (
        f"notebook {'open' if state.get('loaded') else 'loading'}, {where}, kernel {state.get('kernel')} "
        f"({state.get('connection')})"
    )


def wait_ready(driver, path: str, timeout: float, what: str) -> dict:
    """Wait until the notebook at ``path`` is :func:`readiness` READY, making it the current widget when it is not;
    TimeoutError with the last state after ``timeout`` s, :class:`NotReady` at once for a state that will not pass."""
    end, state = time.time() + timeout, None
    while time.time() < end:
        state = driver.execute_script(JS_STATE, path)
        step = readiness(state)
        if step == READY:
            return state
        if step == ACTIVATE:
            driver.execute_script("window.jupyterapp.shell.activateById(arguments[0]);", state["id"])
        time.sleep(1)
    raise TimeoutError(f"{what}: not ready within {timeout:.0f} s ({describe(state)})")


def wait(driver, script: str, done, timeout: float, what: str, poll: float = 1.0, *args):
    """Run ``script`` until ``done(result)``; TimeoutError naming ``what`` after ``timeout`` seconds."""
    end = time.time() + timeout
    while time.time() < end:
        result = driver.execute_script(script, *args)
        if done(result):
            return result
        time.sleep(poll)
    raise TimeoutError(f"{what}: not done within {timeout:.0f} s")


def colours(png: bytes) -> int:
    """Distinct colours in a PNG (a blank or failed canvas has one or two)."""
    from PIL import Image

    return len(Image.open(io.BytesIO(png)).convert("RGB").getcolors(maxcolors=1 << 24) or [])


def save_small(png: bytes, path: Path, width: int = 1100) -> None:
    """The screenshot, scaled to ``width`` pixels and reduced to 256 colours (small enough to commit)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    image.quantize(256).save(tmp, format="PNG", optimize=True)
    os.replace(tmp, path)


def widget_problems(driver, path: str) -> tuple[list[str], list[str]]:
    """Widget errors shown in the notebook ("Error displaying widget: model not found", a model class not registered;
    read from the panel's text content, which off-screen cells have too), and the browser console's widget errors
    as notes: under load the widget manager logs "widget model not found" for a model that arrives more than 2 s
    after a view asks for it (its get_model), although the view is drawn a moment later."""
    text = driver.execute_script(JS_NODE, path).get_attribute("textContent")
    problems = [f"widget error in the notebook: '{m}'" for m in WIDGET_ERRORS if m in text]
    logs = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    notes = [
        f"browser console (not counted): {e['message'][:160]}"
        for e in logs
        if any(k in e["message"] for k in WIDGET_ERRORS)
    ]
    return problems, notes


def run_all(driver, path: str, timeout: float, what: str) -> tuple[list[dict], int]:
    """Run > Run All Cells on the (current) notebook at ``path``; wait until every code cell has run or one failed
    and the kernel is idle again. Returns the cells (:data:`JS_CELLS`) and how many of the polls while cells were
    still to run found the kernel shown 'idle' (the status JupyterLab shows a user)."""
    driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
    end, idle_polls, started = time.time() + timeout, 0, time.time()
    while True:
        cells = driver.execute_script(JS_CELLS, path)
        if any(c["error"] for c in cells) or all(c["count"] is not None for c in cells):
            break
        state = driver.execute_script(JS_STATE, path)
        ran = any(c["count"] is not None for c in cells)
        if not ran and state.get("kernel") == "idle" and time.time() - started > 30:
            raise NotReady("Run All Cells started nothing in 30 s (no current notebook for the command?)")
        idle_polls += ran and state.get("kernel") == "idle"
        if time.time() > end:
            raise TimeoutError(f"{what}: not done within {timeout:.0f} s")
        time.sleep(3)
    wait(driver, JS_STATE, lambda s: s and s.get("kernel") == "idle", 120, f"{what}: kernel idle after", 1.0, path)
    return cells, idle_polls


def reopen(driver, url: str, notebook: Path, what: str) -> tuple[list[str], list[str]]:
    """Save the notebook (as JupyterLab's autosave does), shut its kernel down, close it and open it again with a new
    kernel, as a reader reopening it later; returns the widget errors shown then (outputs of widgets whose state was
    not saved show "Error displaying widget: model not found")."""
    from selenium.webdriver.common.by import By

    path = notebook.relative_to(ROOT).as_posix()
    driver.execute_script("return window.jupyterapp.commands.execute('docmanager:save');")
    wait(driver, JS_STATE, lambda s: s and not s.get("dirty"), 60, f"{what}: saving", 1.0, path)
    close(driver, path)
    driver.get(url)
    wait_ready(driver, path, 180, f"{what}: reopened, kernel start")
    time.sleep(5)  # widgets render (or fail to) after the outputs
    shown, notes = widget_problems(driver, path)
    problems = [f"reopened: {p}" for p in shown]
    canvases = driver.execute_script(JS_NODE, path).find_elements(By.CSS_SELECTOR, WIDGET_CANVAS)
    if canvases:  # the first view drawn again, in view for the screenshot
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", canvases[0])
        time.sleep(3)
        size = driver.execute_script(JS_CANVAS, canvases[0])
        drawn = colours(canvases[0].screenshot_as_png) if size["width"] and size["height"] else 0
        if drawn < 16:
            problems.append(
                f"reopened: the first view is not drawn again ({size['width']}x{size['height']}, {drawn} colours)"
            )
    elif expects_viewer(notebook):
        problems.append("reopened: no 3D view drawn again (its widget state was not saved?)")
    return problems, [f"reopened: {n}" for n in notes]


def expects_viewer(notebook: Path) -> bool:
    """True when the notebook draws a 3D view (calls ``s2mlib.study.views``: 01 and 06), which must then render."""
    import json

    cells = json.loads(notebook.read_text())["cells"]
    return any("views." in "".join(c["source"]) for c in cells if c["cell_type"] == "code")


def close(driver, path: str) -> None:
    """Shut the notebook's kernel down and close it without saving (the next notebook is checked alone)."""
    driver.execute_script(
        "const find = () => {" + JS_PANEL + "}; const w = find(); if (!w) return true;"
        "w.context.model.dirty = false;"
        "return w.sessionContext.shutdown().then(() => { w.close(); return true; });",
        path,
    )
    wait(driver, JS_STATE, lambda s: s and s.get("app") and not s.get("panel"), 60, f"{path}: closing", 1.0, path)


def check_notebook(
    driver, base: str, token: str, notebook: Path, shots: Path, timeout: float, ui: str = "lab", again: bool = True
) -> list[str]:
    """Open in JupyterLab (``ui`` 'lab') or Notebook 7 ('notebook'), run all cells, check; with ``again``, save,
    close and reopen it (:func:`reopen`) and check again. Returns the problems found (empty when it passes) and
    prints one summary line."""
    from selenium.webdriver.common.by import By

    started = time.time()
    path = notebook.relative_to(ROOT).as_posix()
    page = "lab/tree" if ui == "lab" else "notebooks"
    # ?reset: an empty layout, not the workspace's (which reopens the notebooks checked before, with their kernels)
    url = f"{base}/{page}/{path}?{'reset&' if ui == 'lab' else ''}token={token}"
    driver.get(url)
    wait_ready(driver, path, 180, f"{notebook.name}: kernel start")
    cells, idle_polls = run_all(driver, path, timeout, f"{notebook.name}: Run All Cells")
    time.sleep(5)  # widgets render after their comm messages
    cells = driver.execute_script(JS_CELLS, path)
    problems = [f"cell error: {c['error']}" for c in cells if c["error"]]
    shown, console = widget_problems(driver, path)
    problems += shown
    logs = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    node = driver.execute_script(JS_NODE, path)
    stderr = [e.get_attribute("innerText")[:160] for e in node.find_elements(By.CSS_SELECTOR, STDERR_OUTPUT)]
    notes = [f"stderr (not counted): {t!r}" for t in stderr[:5]]
    notes += console + [f"browser console error (not counted): {e['message'][:240]}" for e in logs[:5]]
    if idle_polls:
        notes.append(f"kernel shown idle at {idle_polls} polls (3 s apart) while cells were still to run")

    viewers = node.find_elements(By.CSS_SELECTOR, WIDGET_CANVAS)
    if not viewers and expects_viewer(notebook):
        problems.append("no WebGL canvas in a widget (the 3D viewer did not render)")
    info, drawn = [], []
    for canvas in viewers:
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", canvas)
        time.sleep(3)
        info.append(driver.execute_script(JS_CANVAS, canvas))
        drawn.append(colours(canvas.screenshot_as_png) if info[-1]["width"] and info[-1]["height"] else 0)
    for i, (c, n) in enumerate(zip(info, drawn, strict=True)):
        if c["webgl"] != "ok" or n < 16 or not c["width"] or not c["height"]:
            problems.append(f"viewer {i + 1}: WebGL {c['webgl']}, {c['width']}x{c['height']}, {n} colours")
    driver.execute_script(JS_NO_NEWS)
    errors = node.find_elements(By.CSS_SELECTOR, STDERR_OUTPUT)
    if viewers or errors:  # the first viewer in view, or the first error when none drew
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", (viewers or errors)[0])
        time.sleep(2)
    stem = f"browser_{notebook.name.split('_')[0]}{'' if ui == 'lab' else '_notebook7'}"
    shot = shots / f"{stem}.png"
    save_small(driver.get_screenshot_as_png(), shot)
    if again and not any(c["error"] for c in cells):
        shown, seen = reopen(driver, url, notebook, notebook.name)
        problems, notes = problems + shown, notes + seen
        save_small(driver.get_screenshot_as_png(), shots / f"{stem}_reopened.png")
    close(driver, path)
    views = ", ".join(f"WebGL {c['webgl']} {c['width']}x{c['height']} {n} colours" for c, n in zip(info, drawn))
    print(
        f"{notebook.name}: {len(cells)} code cells run in {time.time() - started:.0f} s; "
        f"{sum(1 for c in cells if c['error'])} cell errors; {len(stderr)} stderr boxes; viewers: {views or 'none'}; "
        f"{'reopened; ' if again else ''}{'PASS' if not problems else 'FAIL'}; screenshot {shot}",
        flush=True,
    )
    for line in problems + notes:
        print(f"  {notebook.name}: {line}", flush=True)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", default=["01"], help="notebook numbers or names (default: 01)")
    parser.add_argument("--run-dir", help="the run folder the notebooks use (S2M_RUN_DIR; default: the profile's)")
    parser.add_argument(
        "--figures-dir",
        help="where the notebooks save figures (S2M_FIGURES_DIR; default: as in any interactive session, the run "
        "folder's figures/)",
    )
    parser.add_argument("--screenshots", default="runs/browser", help="folder for the screenshots (runs/browser)")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds allowed per notebook's run (1200)")
    parser.add_argument("--ui", choices=["lab", "notebook"], default="lab", help="JupyterLab (lab) or Notebook 7")
    parser.add_argument(
        "--no-reopen", dest="reopen", action="store_false", help="do not save, close and reopen each notebook"
    )
    parser.add_argument(
        "--keep-outputs",
        action="store_true",
        help="leave the notebooks as saved, with their outputs (default: put back the files as they were)",
    )
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = parser.parse_args(argv)

    for exe in (args.chromium, args.chromedriver):
        if not shutil.which(exe):
            print(f"check_notebooks_browser: {exe}: not found (apt-get install chromium chromium-driver)")
            return 2
    found = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    selected = [nb for key in args.notebooks for nb in found if nb.name.startswith(key)]
    if len(selected) != len(args.notebooks):
        print(f"check_notebooks_browser: {' '.join(args.notebooks)}: not all match a notebook in notebooks/")
        return 2

    scratch = Path(tempfile.mkdtemp(prefix="s2m_browser_"))
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(scratch / "runtime"))
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(scratch / "workspaces")
    if args.figures_dir:
        env["S2M_FIGURES_DIR"] = str(Path(args.figures_dir).resolve())
    if args.run_dir:
        env["S2M_RUN_DIR"] = str(Path(args.run_dir).resolve())
    Path(env["JUPYTER_RUNTIME_DIR"]).mkdir()
    originals = {nb: nb.read_bytes() for nb in selected}
    port, token = free_port(), secrets.token_hex(16)
    server = start_lab(sys.executable, port, token, env)
    driver = None
    problems: list[str] = []
    try:
        driver = browser(args.chromium, args.chromedriver, str(scratch / "chromium"))
        version = driver.capabilities.get("browserVersion", "?")
        where = env.get("S2M_FIGURES_DIR", "the run folder's figures/")
        print(f"jupyter lab on 127.0.0.1:{port}; chromium {version}, headless; figures -> {where}", flush=True)
        for nb in selected:
            try:
                problems += check_notebook(
                    driver,
                    f"http://127.0.0.1:{port}",
                    token,
                    nb,
                    Path(args.screenshots),
                    args.timeout,
                    args.ui,
                    args.reopen,
                )
            except (TimeoutError, NotReady) as exc:
                problems.append(f"{nb.name}: {exc}")
                print(f"{nb.name}: FAIL: {exc}", flush=True)
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)
        if not args.keep_outputs:
            for nb, content in originals.items():
                if nb.read_bytes() != content:
                    nb.write_bytes(content)
                    refresh_after_save(os_path=nb)  # the index kept the saved file's size: git would say modified
        shutil.rmtree(scratch, ignore_errors=True)
    print("browser check: " + ("PASS" if not problems else f"FAIL ({len(problems)} problems)"))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
