"""Exceptions raised for bad input. Every message names the file (or ID) and the problem."""


class S2MError(Exception):
    """Base class of struc2map's user-facing errors (the CLI prints them without a traceback)."""


class MapError(S2MError, ValueError):
    """A density map file is missing, not an MRC/CCP4 map, truncated, corrupt, or holds NaN/Inf."""


class StructureError(S2MError, ValueError):
    """A model file is missing, not PDB/mmCIF, empty, or has atoms of unknown element."""


class ManifestError(S2MError, ValueError):
    """A manifest table is missing columns or points at files that do not exist."""


class DownloadError(S2MError, OSError):
    """A download failed (bad ID, HTTP error, truncated or corrupt file)."""


class OutputError(S2MError, OSError):
    """An output file cannot be written: a folder that is read-only or missing, a full disk, a path that is a
    folder, or a name that is not a map file name where a map is written."""


class MissingInput(S2MError, FileNotFoundError):
    """A notebook's input from the run folder is missing; the message names the notebook that makes it. Shown as
    that one line in Jupyter (no traceback)."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook for how an exception is shown
        return [f"{type(self).__name__}: {self}"]


class Terminated(BaseException):
    """The process received SIGTERM (raised by the handler of :func:`s2mlib.outputs.sigterm_raises`), so that
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
