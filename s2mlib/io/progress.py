"""Progress bars: tqdm's text bar everywhere, in Jupyter too, never a widget.

``tqdm.auto`` draws an ipywidgets bar in a notebook. Saved with the notebook (JupyterLab's autosave), the bar's
output refers to a widget model that only the kernel held, so the notebook reopened later shows "Error displaying
widget: model not found" where the bar was. The text bar is plain output: it reads the same when the notebook is
reopened, in papermill's executed copies and in their HTML. In a Jupyter kernel it writes to stdout (stderr is shown
as a warning box there) and redraws at most once a second; elsewhere it is tqdm's default bar on stderr, so a
command's standard output stays its results.

Example:
    >>> from s2mlib.io.progress import tqdm
    >>> sum(tqdm(range(3), disable=True))
    3
"""

from __future__ import annotations

import sys

from tqdm.std import tqdm as _text_bar


def in_kernel() -> bool:
    """True inside a Jupyter (IPython) kernel."""
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class tqdm(_text_bar):  # noqa: N801 (tqdm's own name, so that it replaces tqdm.auto.tqdm where imported)
    """``tqdm.std.tqdm``; in a Jupyter kernel on stdout, redrawn at most once a second (see the module docstring)."""

    def __init__(self, *args, **kwargs) -> None:
        if in_kernel():
            kwargs.setdefault("file", sys.stdout)
            kwargs.setdefault("mininterval", 1.0)
        super().__init__(*args, **kwargs)
