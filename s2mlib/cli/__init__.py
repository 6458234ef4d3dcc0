"""The ``s2m`` command line: parse, call s2mlib, print.

Errors: the user's input (any :class:`s2mlib.errors.S2MError`) and the file system's (``OSError``: a missing or
unreadable file, a full disk) print one line, no traceback, and exit 2. Anything else is a bug: one line saying it
is an internal error and where to report it, exit 1; ``--debug`` shows the traceback of either.

One module per command (info, fetch, simulate, curate, evaluate, confidence, generate, join, template,
projections), each with its options
(``add_parser``) beside its code (``run``); :mod:`.common` holds what they share. Checked before any work: the
output path (a map file name, not a folder, in a folder that can be written:
:func:`s2mlib.io.outputs.check_output`). Maps must be at least :data:`.common.MIN_GRID` voxels along every axis for the
commands that resample them (curate, evaluate, ``--ref-map``) and the reference of ``evaluate`` at least
:data:`.common.MIN_SSIM`. ``--json`` output is strict JSON: a score that is undefined (NaN) is ``null``, with the
reason under ``"undefined"`` (of the record holding it). Ctrl-C exits 130 and SIGTERM 143, each with one line; a
file being written is not left behind half-written or as a temporary file.

A new command is a module here with ``add_parser(sub)`` and ``run(args)`` (returning None or an exit status),
named in :data:`COMMANDS`.

>>> from s2mlib.cli import main
>>> main(["info", "tests/data/pairs.tsv"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import sys
import traceback
import warnings

from ..errors import S2MError, Terminated, internal_error
from ..io.outputs import sigterm_raises
from ..version import __version__
from . import confidence, curate, evaluate, fetch, generate, info, join, projections, simulate, template

COMMANDS = (info, fetch, simulate, curate, evaluate, confidence, generate, join, template, projections)
__all__ = ["COMMANDS", "build_parser", "main"]
DEBUG_HELP = "show the traceback of an error"


def build_parser() -> argparse.ArgumentParser:
    """The ``s2m`` parser, one sub-command per module of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="s2m", description="struc2map: cryo-EM-like density maps from atomic structures."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    for command_parser in sub.choices.values():  # s2m COMMAND ... --debug works as well as s2m --debug COMMAND
        command_parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


def _error_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, S2MError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    return str(exc)


def main(argv: list[str] | None = None) -> int:
    """Run ``s2m`` with ``argv`` (default: the process's arguments); returns the exit status."""
    args = build_parser().parse_args(argv)
    command = f"s2m {args.command}"

    def one_line_warning(message, category, filename, lineno, file=None, line=None):
        print(f"{command}: warning: {message}", file=sys.stderr)

    with sigterm_raises(), warnings.catch_warnings():
        warnings.showwarning = one_line_warning
        try:
            status = args.func(args)
        except (S2MError, OSError) as exc:  # the user's input, or the file system's
            _traceback(args)
            print(f"{command}: error: {_error_line(exc)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"{command}: interrupted", file=sys.stderr)
            return 130
        except Terminated:
            print(f"{command}: terminated", file=sys.stderr)
            return 143
        except Exception as exc:  # a bug
            _traceback(args)
            print(internal_error(command, exc), file=sys.stderr)
            return 1
    return int(status or 0)


def _traceback(args: argparse.Namespace) -> None:
    if args.debug:
        traceback.print_exc()
