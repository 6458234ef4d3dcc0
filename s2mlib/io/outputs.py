"""Output files that are either whole or absent, and checked before the work that makes them.

Every file the package writes goes through :func:`atomic_write` (a temporary ``.NAME.p<PID>-XXXXXXXX.part`` beside
it, renamed into place when whole); commands call :func:`check_output` / :func:`check_folder` before their work, so a
read-only folder or a wrong name is refused at once; :func:`sigterm_raises` lets SIGTERM clean up like Ctrl-C.
Every ``OSError`` on output (a full disk, a read-only folder, a path that is a folder) becomes one line
(:class:`~s2mlib.errors.OutputError`) naming the path.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write(lambda tmp: tmp.write_text("whole"), folder / "out.txt")
    >>> (folder / "out.txt").read_text()
    'whole'
"""

from __future__ import annotations

import errno
import os
import re
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import OutputError, S2MError, Terminated

MAP_SUFFIXES = (".mrc", ".map", ".ccp4", ".rec")  # the names maps are read from and written to (optionally + .gz)
STALE_PART_AGE_S = 600  # a temporary file without its writer's PID counts as stale after this long


def _part_prefix(path: Path) -> str:
    """Prefix of this process's temporary files for ``path``: ``.NAME.p<PID>-`` (the PID tells stale ones)."""
    return f".{path.name}.p{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except (OverflowError, ValueError):
        return False
    return True


def remove_stale_parts(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files ``.NAME.p<PID>-*.part`` beside ``path`` whose writer is gone (killed by SIGKILL
    or a crash); files of live writers stay, and names without a PID (older versions) go after
    :data:`STALE_PART_AGE_S` seconds. Returns the files removed. Called by every :func:`atomic_write`."""
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(?:p(\d+)-)?[A-Za-z0-9_]+\.part$")
    removed: list[Path] = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if not match:
            continue
        try:
            if match.group(1) is not None:
                pid = int(match.group(1))
                stale = pid != os.getpid() and not _alive(pid)
            else:
                stale = time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_PART_AGE_S
            if stale:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def _cannot_write(path: Path, exc: OSError) -> str:
    """One line naming the output and why it cannot be written."""
    if isinstance(exc, IsADirectoryError) or path.is_dir():
        return f"{path}: cannot write: the path is a folder, not a file name"
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno:
        reason = f"[Errno {exc.errno}] {reason}"
    other = (
        exc.filename
        if exc.filename is not None
        and not str(exc.filename).startswith((str(path), str(path.parent / f".{path.name}.")))
        else None
    )
    return f"{path}: cannot write: {reason}" + (f" ({other})" if other else "")


def check_output(path: str | os.PathLike, *, suffixes: tuple[str, ...] | None = MAP_SUFFIXES) -> Path:
    """Check where an output will go before the work that makes it; returns ``path``.

    Refuses (:class:`OutputError`, one line naming the path): a path that is a folder; a name not ending in one
    of ``suffixes`` (optionally + ``.gz``; default the map extensions, ``None`` accepts any name); a folder that
    cannot be created or written (read-only, no permission: a temporary file is created there and removed).
    A full disk can only show when the file is written (:func:`atomic_write` reports it the same way).
    """
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: cannot write: the path is a folder, not a file name")
    if suffixes and not path.name.lower().removesuffix(".gz").endswith(suffixes):
        raise OutputError(f"{path}: not a map file name: maps are written as {', '.join(suffixes)} (optionally + .gz)")
    remove_stale_parts(path)
    try:
        _probe(path.parent, _part_prefix(path))
    except OSError as exc:
        raise OutputError(_cannot_write(path, exc)) from None
    return path


def _same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` are one file: the same path once symlinks are resolved, or the same inode."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def ensure_not_input(output: str | os.PathLike, *inputs: str | os.PathLike | None) -> Path:
    """Refuse (:class:`OutputError`, one line naming both) an output that is one of the ``inputs`` (``None`` ones
    are skipped): the same path, a symlink to it, or a hard link. Returns ``output``. Call it before the work.

    >>> ensure_not_input("/tmp/out.mrc", "/tmp/in.mrc", None)
    PosixPath('/tmp/out.mrc')
    """
    output = Path(output)
    for item in inputs:
        if item is not None and _same_file(output, Path(item)):
            raise OutputError(f"{output}: refusing to write over the input {item}: give another output name")
    return output


def ensure_holds_no_input(folder: str | os.PathLike, inputs, what: str = "output folder") -> Path:
    """Refuse (:class:`OutputError`) an output folder that is, or holds, one of the ``inputs`` (files or folders,
    symlinks resolved; ``None`` skipped): what is written there could replace them. Returns ``folder``."""
    folder = Path(folder)
    root = folder.resolve()
    for item in inputs:
        if item is None:
            continue
        target = Path(item).resolve()
        if target == root or root in target.parents:
            raise OutputError(f"{folder}: the {what} holds the input {item}: give a folder that holds no input")
    return folder


def _probe(folder: Path, prefix: str) -> None:
    """Create ``folder`` if needed, then a temporary file in it, and remove that: raises OSError if it cannot."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=folder)
    os.close(fd)
    os.unlink(probe)


def check_folder(folder: str | os.PathLike) -> Path:
    """Create ``folder`` (and its parents) if needed and check that files can be written in it, before the work
    that writes them; raises :class:`OutputError` with one line naming the folder and the reason."""
    folder = Path(folder)
    try:
        _probe(folder, ".write-test.")
    except OSError as exc:
        reason = f"[Errno {exc.errno}] {exc.strerror}" if exc.errno else str(exc)
        raise OutputError(f"{folder}: cannot write into this folder: {reason}") from None
    return folder


def atomic_write(write, path: str | os.PathLike) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place.

    The temporary file is ``.NAME.p<PID>-XXXXXXXX.part``; it is removed when ``write`` raises, on Ctrl-C, and on
    SIGTERM inside :func:`sigterm_raises`; ones left by killed writers are removed on the next write to ``path``
    (:func:`remove_stale_parts`). Any ``OSError`` (a full disk, a read-only folder, ``path`` being a folder)
    becomes an :class:`OutputError` with one line naming ``path``; the previous file at ``path`` is kept.
    """
    path = Path(path)
    remove_stale_parts(path)
    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=_part_prefix(path), suffix=".part", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise OutputError(_cannot_write(path, exc)) from None
    tmp = Path(name)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the permissions a plain open() would
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, S2MError):
            raise OutputError(_cannot_write(path, exc)) from exc
        raise


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`~s2mlib.errors.Terminated` (a BaseException, like Ctrl-C's
    KeyboardInterrupt) so that :func:`atomic_write` removes its temporary file and a command can exit with one
    line. Only the main thread can install the handler; elsewhere the block runs unchanged."""
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
        installed = True
    except ValueError:  # not the main thread
        installed = False
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
