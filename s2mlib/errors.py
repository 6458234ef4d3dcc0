"""Exceptions raised for bad input. Every message names the file (or ID) and the problem.

Everything that is the user's input (files, IDs, arguments, settings, a missing optional package) raises a subclass
of :class:`S2MError`; the command lines print it as one line with exit status 2. Any other exception is a bug:
:func:`internal_error` says so in one line, with where to report it.

>>> raise InputError("--resolution must be a positive number of Angstrom, got -1")
Traceback (most recent call last):
s2mlib.errors.InputError: --resolution must be a positive number of Angstrom, got -1
>>> isinstance(InputError("x"), ValueError)  # callers that catch ValueError keep working
True
"""

from __future__ import annotations

import importlib
from types import ModuleType

REPORT = "please report it with the command and its --debug output (README: Reporting a bug)"


class S2MError(Exception):
    """Base class of struc2map's user-facing errors (the CLI prints them without a traceback)."""


class MapError(S2MError, ValueError):
    """A density map file is missing, not an MRC/CCP4 map, truncated, corrupt, or holds NaN/Inf."""


class StructureError(S2MError, ValueError):
    """A model file is missing, not PDB/mmCIF, empty, or has atoms of unknown element."""


class ManifestError(S2MError, ValueError):
    """A manifest table is missing columns or points at files that do not exist."""


class InputError(S2MError, ValueError):
    """An argument or setting is invalid: a resolution out of range, an unknown method or device, a profile key
    that does not exist or a value of the wrong kind."""


class WeightsError(S2MError, ValueError):
    """A weights file is missing, unreadable or not a struc2map generator, or cannot do what is asked of it."""


class MissingDependency(S2MError, ImportError):
    """An optional package that the asked-for feature needs is not installed (the message says how to get it)."""


class DownloadError(S2MError, OSError):
    """A download failed (bad ID, HTTP error, truncated or corrupt file)."""


class SourceError(DownloadError):
    """Where downloads come from is wrong for every file: a mirror or base folder that does not exist, a mirror that
    cannot be reached or holds no known layout (:mod:`s2mlib.io.sources`)."""


class OutputError(S2MError, OSError):
    """An output file cannot be written: a folder that is read-only or missing, a full disk, a path that is a
    folder, or a name that is not a map file name where a map is written."""


class MissingInput(S2MError, FileNotFoundError):
    """A notebook's input from the run folder is missing; the message names the notebook that makes it. Shown as
    that one line in Jupyter (no traceback)."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook for how an exception is shown
        return [f"{type(self).__name__}: {self}"]


class Terminated(BaseException):
    """The process received SIGTERM (raised by the handler of :func:`s2mlib.io.outputs.sigterm_raises`), so that
    temporary files are removed on the way out as for Ctrl-C."""


def require_columns(table, columns, what: str) -> None:
    """Raise :class:`ManifestError` naming ``what`` and the missing ones unless ``table`` has every column."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ManifestError(f"{what} lacks column(s) {', '.join(missing)} (has: {', '.join(map(str, table.columns))})")


def require_file(path, what: str, error: type[Exception]) -> None:
    """Raise ``error`` naming ``path`` when it is missing or not a file (``what``: 'map', 'model', ...)."""
    if not path.exists():
        raise error(f"{path}: {what} file not found")
    if not path.is_file():
        raise error(f"{path}: not a file")


def optional_import(module: str, feature: str, install: str) -> ModuleType:
    """``module`` imported, or :class:`MissingDependency` naming ``feature`` and the ``install`` command.

    >>> optional_import("no_such_module", "the test", "pip install no_such_module")
    Traceback (most recent call last):
    s2mlib.errors.MissingDependency: the test needs the package no_such_module, which is not installed: pip install \
no_such_module
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise MissingDependency(
            f"{feature} needs the package {top}, which is not installed: {install}"
            + (f" ({exc})" if exc.name != top else "")
        ) from None


def internal_error(program: str, exc: BaseException) -> str:
    """The one line for an exception that is not the user's input (a bug), with where to report it."""
    return f"{program}: internal error ({type(exc).__name__}: {exc}); {REPORT}"
