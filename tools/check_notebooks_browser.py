"""Open notebooks in a real browser under ``jupyter lab``, run all their cells, and check what a reader sees.

Starts ``jupyter lab`` on 127.0.0.1 (a free port, a random token, a throw-away workspace), drives Debian's
``chromium`` headless through ``chromedriver`` (pip ``selenium``; nothing is downloaded), opens each notebook, runs
Run > Run All Cells and checks: no cell error, no widget error ("Failed to load model class", "... is not
registered"), and in every nglview viewer a WebGL canvas that has drawn something (more than a few colours). Saves a
screenshot of each notebook with its first viewer in view. Exit status 0 when every check passes, 1 otherwise.

The notebooks write their run folder and figures where ``S2M_RUN_DIR`` / ``S2M_FIGURES_DIR`` say (a temporary
folder for the figures unless ``--figures-dir`` is given), so the check does not touch the tracked ``figures/``.

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
WIDGET_CANVAS = (
    ".jp-Notebook .jp-OutputArea-output canvas"  # only widgets draw canvases in outputs (figures are images)
)
WIDGET_ERRORS = ("Failed to load model class", "is not registered", "Error displaying widget", "Error creating view")

# JavaScript run in the page (JupyterLab started with expose_app_in_browser, so window.jupyterapp is the app).
JS_KERNEL_STATUS = """
const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
if (!w || !w.sessionContext || !w.content || !w.content.widgets) return null;
const k = w.sessionContext.session && w.sessionContext.session.kernel;
return k ? k.status : 'no kernel';
"""
JS_CELLS = """
const w = window.jupyterapp.shell.currentWidget;
return w.content.widgets.filter(c => c.model.type === 'code').map(c => {
  const outs = c.model.outputs.toJSON();
  const err = outs.find(o => o.output_type === 'error');
  return {count: c.model.executionCount, error: err ? err.ename + ': ' + err.evalue : null};
});
"""
JS_CANVASES = """
const out = [];
for (const c of document.querySelectorAll(arguments[0])) {
  const gl = c.getContext('webgl2') || c.getContext('webgl');
  out.push({width: c.width, height: c.height, webgl: gl ? (gl.isContextLost() ? 'lost' : 'ok') : 'none'});
}
return out;
"""
# Text written to stderr (warnings, a text progress bar): reported, not counted as a failure
JS_STDERR = """
return Array.from(document.querySelectorAll('.jp-Notebook [data-mime-type="application/vnd.jupyter.stderr"]'))
  .map(e => e.innerText.slice(0, 160));
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
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(chromedriver), options=options)


def wait(driver, script: str, done, timeout: float, what: str, poll: float = 1.0):
    """Run ``script`` until ``done(result)``; TimeoutError naming ``what`` after ``timeout`` seconds."""
    end = time.time() + timeout
    while time.time() < end:
        result = driver.execute_script(script)
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


def check_notebook(
    driver, base: str, token: str, notebook: Path, shots: Path, timeout: float, ui: str = "lab"
) -> list[str]:
    """Open in JupyterLab (``ui`` 'lab') or Notebook 7 ('notebook'), run all cells, check; returns the problems found
    (empty when it passes) and prints one summary line."""
    from selenium.webdriver.common.by import By

    started = time.time()
    page = "lab/tree" if ui == "lab" else "notebooks"
    driver.get(f"{base}/{page}/{notebook.relative_to(ROOT)}?token={token}")
    wait(driver, JS_KERNEL_STATUS, lambda s: s == "idle", 180, f"{notebook.name}: kernel start")
    driver.execute_script("window.jupyterapp.commands.execute('notebook:run-all-cells');")
    time.sleep(2)

    def finished(cells):
        return any(c["error"] for c in cells) or all(c["count"] is not None for c in cells)

    wait(driver, JS_CELLS, finished, timeout, f"{notebook.name}: Run All Cells", poll=3)
    wait(driver, JS_KERNEL_STATUS, lambda s: s == "idle", 120, f"{notebook.name}: kernel idle after the run")
    time.sleep(5)  # widgets render after their comm messages
    cells = driver.execute_script(JS_CELLS)
    problems = [f"cell error: {c['error']}" for c in cells if c["error"]]
    text = driver.find_element(By.CSS_SELECTOR, ".jp-Notebook").get_attribute("innerText")
    problems += [f"widget error on the page: '{m}'" for m in WIDGET_ERRORS if m in text]
    logs = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    problems += [
        f"browser console: {e['message'][:200]}" for e in logs if any(k in e["message"] for k in WIDGET_ERRORS)
    ]
    stderr = driver.execute_script(JS_STDERR)
    notes = [f"stderr (not counted): {t!r}" for t in stderr[:5]]
    notes += [f"browser console error (not counted): {e['message'][:240]}" for e in logs[:5]]

    viewers = driver.find_elements(By.CSS_SELECTOR, WIDGET_CANVAS)
    if not viewers:
        problems.append("no WebGL canvas in a widget (the 3D viewer did not render)")
    drawn = []
    for canvas in viewers:
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", canvas)
        time.sleep(3)
        drawn.append(colours(canvas.screenshot_as_png))
    info = driver.execute_script(JS_CANVASES, WIDGET_CANVAS)
    for i, (c, n) in enumerate(zip(info, drawn, strict=True)):
        if c["webgl"] != "ok" or n < 16 or not c["width"] or not c["height"]:
            problems.append(f"viewer {i + 1}: WebGL {c['webgl']}, {c['width']}x{c['height']}, {n} colours")
    driver.execute_script(JS_NO_NEWS)
    errors = driver.find_elements(By.CSS_SELECTOR, '.jp-Notebook [data-mime-type="application/vnd.jupyter.stderr"]')
    if viewers or errors:  # the first viewer in view, or the first error when none drew
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", (viewers or errors)[0])
        time.sleep(2)
    shot = shots / f"browser_{notebook.name.split('_')[0]}{'' if ui == 'lab' else '_notebook7'}.png"
    save_small(driver.get_screenshot_as_png(), shot)
    views = ", ".join(f"WebGL {c['webgl']} {c['width']}x{c['height']} {n} colours" for c, n in zip(info, drawn))
    print(
        f"{notebook.name}: {len(cells)} code cells run in {time.time() - started:.0f} s; "
        f"{sum(1 for c in cells if c['error'])} cell errors; {len(stderr)} stderr boxes; viewers: {views or 'none'}; "
        f"{'PASS' if not problems else 'FAIL'}; screenshot {shot}",
        flush=True,
    )
    for line in problems + notes:
        print(f"  {notebook.name}: {line}", flush=True)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", default=["01"], help="notebook numbers or names (default: 01)")
    parser.add_argument("--run-dir", help="the run folder the notebooks use (S2M_RUN_DIR; default: the profile's)")
    parser.add_argument("--figures-dir", help="where the notebooks save figures (default: a temporary folder)")
    parser.add_argument("--screenshots", default="runs/browser", help="folder for the screenshots (runs/browser)")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds allowed per notebook's run (1200)")
    parser.add_argument("--ui", choices=["lab", "notebook"], default="lab", help="JupyterLab (lab) or Notebook 7")
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
    env["S2M_FIGURES_DIR"] = str(Path(args.figures_dir).resolve()) if args.figures_dir else str(scratch / "figures")
    if args.run_dir:
        env["S2M_RUN_DIR"] = str(Path(args.run_dir).resolve())
    Path(env["JUPYTER_RUNTIME_DIR"]).mkdir()
    port, token = free_port(), secrets.token_hex(16)
    server = start_lab(sys.executable, port, token, env)
    driver = None
    problems: list[str] = []
    try:
        driver = browser(args.chromium, args.chromedriver, str(scratch / "chromium"))
        version = driver.capabilities.get("browserVersion", "?")
        print(f"jupyter lab on 127.0.0.1:{port}; chromium {version}, headless; figures -> {env['S2M_FIGURES_DIR']}")
        for nb in selected:
            try:
                problems += check_notebook(
                    driver, f"http://127.0.0.1:{port}", token, nb, Path(args.screenshots), args.timeout, args.ui
                )
            except TimeoutError as exc:
                problems.append(str(exc))
                print(f"{nb.name}: FAIL: {exc}", flush=True)
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)
    print("browser check: " + ("PASS" if not problems else f"FAIL ({len(problems)} problems)"))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
