"""The ``sonomsk`` command line: one sub-command per module of :mod:`sonomsk.cli`.

Conventions for every command: ``--help``; ``--json`` for machine output; exit code 0 (success),
1 (error), 2 (usage); errors as one line on stderr, with the traceback only under ``--debug``.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Sequence

from sonomsk import __version__
from sonomsk.core.errors import SonomskError

#: Sub-command modules, in the order ``--help`` lists them. Each has ``register(subparsers)``
#: which adds its parser and sets ``func`` to a ``run(args) -> int``.
COMMAND_MODULES: tuple[str, ...] = (
    "sonomsk.cli.info",
    "sonomsk.cli.deidentify",
    "sonomsk.cli.demo",
    "sonomsk.cli.nerve",
    "sonomsk.cli.serve",
    "sonomsk.cli.differential",
    "sonomsk.cli.report",
    "sonomsk.cli.export",
    "sonomsk.cli.simulate",
    "sonomsk.cli.segment",
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"sonomsk: usage error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sonomsk",
        description="Quantitative musculoskeletal and neuromuscular ultrasound.",
    )
    parser.add_argument("--version", action="version", version=f"sonomsk {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name) is None:  # a command not built yet; tests list the expected ones
            continue
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code instead of exiting."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else EXIT_USAGE
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    debug = bool(getattr(args, "debug", False))
    try:
        with warnings.catch_warnings():
            if not debug:
                warnings.simplefilter("ignore")
            return int(args.func(args))
    except SonomskError as exc:
        if debug:
            raise
        print(f"sonomsk: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("sonomsk: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except SystemExit as exc:  # a command's own exit (parser.error: 2), returned as Python would exit
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:  # the reader of the output went away (`| head`): stop quietly
        with contextlib.suppress(OSError, ValueError):  # no real stdout: nothing to silence
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except OSError as exc:
        if debug:
            raise
        if exc.filename:  # a file the command was told to read or write: the user's to fix
            print(f"sonomsk: error: {exc.filename}: {exc.strerror or _one_line(exc)}", file=sys.stderr)
        elif exc.errno in _USER_ERRNOS:  # the disk or the permissions, not a bug
            print(f"sonomsk: error: {exc.strerror or _one_line(exc)}", file=sys.stderr)
        else:  # no file named: not the user's input, report it as what it is
            print(
                f"sonomsk: internal error: {type(exc).__name__}: {_one_line(exc)} (run with --debug for details)",
                file=sys.stderr,
            )
        return EXIT_ERROR
    except Exception as exc:  # a bug: still one line unless --debug
        if debug:
            raise
        print(
            f"sonomsk: internal error: {type(exc).__name__}: {_one_line(exc)} (run with --debug for details)",
            file=sys.stderr,
        )
        return EXIT_ERROR


#: OSError numbers that are the machine's state, not a bug: a full disk, a quota, no permission,
#: a read-only file system, an input/output error.
_USER_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO})


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def console_main() -> None:
    """Entry point of the ``sonomsk`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
