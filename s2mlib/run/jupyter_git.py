"""Notebooks in git while JupyterLab saves them: a save that changes only outputs leaves ``git status`` clean.

``tools/guard_notebooks.sh`` makes git read ``notebooks/*.ipynb`` through nbstripout (a clean filter), so no output
is ever committed and ``git diff`` shows none. That alone does not keep ``git status`` clean: git takes a tracked
file whose size differs from the one its index recorded as modified without reading it, and a notebook saved with
its outputs is larger. :func:`refresh_after_save` is JupyterLab's post-save hook (``ContentsManager.post_save_hook``,
set by ``tools/setup_env.sh`` in the environment's Jupyter configuration): after each save of a tracked notebook whose
filtered content is exactly what the index holds (outputs, counts, widget state changed; no cell), it records the
file's new size and time in the index (``git update-index``: the same blob, no change staged). A notebook whose code
or text changed is left alone, so ``git status`` shows it as modified, as it should.

Example (the hook is called by the Jupyter server, by keyword)::

    refresh_after_save(os_path="notebooks/06_benchmark.ipynb", model={"type": "notebook"}, contents_manager=None)
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def _git(folder: Path, *args: str) -> str:
    run = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=60, check=True)
    return run.stdout


def refresh_after_save(os_path: str | os.PathLike, model: dict | None = None, contents_manager=None, **_) -> bool:
    """Refresh the git index entry of the notebook just saved at ``os_path`` when git sees no change in it (see the
    module docstring); True when it did. Never raises: a save must not fail for git (no git, not a repository, a
    locked index)."""
    path = Path(os_path)
    if path.suffix != ".ipynb" or (model is not None and model.get("type") not in (None, "notebook")):
        return False
    try:
        staged = _git(path.parent, "ls-files", "--stage", "--", path.name).split()
        if not staged:  # not tracked (or not in a repository: git fails)
            return False
        cleaned = _git(path.parent, "hash-object", "--", path.name).strip()  # through the clean filter
        if cleaned != staged[1]:
            return False
        _git(path.parent, "update-index", "--", path.name)
        return True
    except (OSError, subprocess.SubprocessError):
        return False
