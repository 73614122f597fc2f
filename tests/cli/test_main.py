"""Conventions shared by every command: --version, --help, exit codes 0/1/2, one-line errors on
stderr without a traceback unless --debug."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from sonomsk import __version__
from sonomsk.cli.main import COMMAND_MODULES, EXIT_ERROR, EXIT_USAGE, build_parser, main

EXPECTED_COMMANDS = (
    "info",
    "deidentify",
    "demo",
    "simulate",
    "segment",
    "nerve",
    "differential",
    "report",
    "export",
    "serve",
)


def module_exists(command: str) -> bool:
    return importlib.util.find_spec(f"sonomsk.cli.{command}") is not None


BUILT = [c for c in EXPECTED_COMMANDS if module_exists(c)]
MISSING = [c for c in EXPECTED_COMMANDS if not module_exists(c)]


def registered_commands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return set(sub.choices)  # type: ignore[arg-type]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"sonomsk {__version__}"


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in BUILT:
        assert command in out


def test_every_built_command_is_registered() -> None:
    """Each command whose module exists is wired into COMMAND_MODULES and registers itself."""
    assert "info" in BUILT
    assert set(BUILT) <= registered_commands()
    for command in BUILT:
        assert f"sonomsk.cli.{command}" in COMMAND_MODULES, f"{command} missing from COMMAND_MODULES"


@pytest.mark.skipif(bool(MISSING), reason=f"command modules not written yet: {', '.join(MISSING)}")
def test_the_full_expected_command_set_is_registered() -> None:
    assert set(EXPECTED_COMMANDS) <= registered_commands()


@pytest.mark.parametrize("command", BUILT)
def test_help_of_every_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: sonomsk " + command)


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == EXIT_USAGE
    assert "usage" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["no-such-command"],
        ["info"],
        ["info", "x.dcm", "--no-such-option"],
        ["info", "x", "--spacing-mm", "a"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "sonomsk: usage error:" in err and "Traceback" not in err


def test_error_is_one_line_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.dcm"
    assert main(["info", str(missing)]) == EXIT_ERROR
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("sonomsk: error:") and "missing.dcm" in err and "Traceback" not in err


def _register_failing(monkeypatch: pytest.MonkeyPatch, exc: Exception) -> None:
    """Make `info` raise ``exc`` from inside its run function."""
    import sonomsk.cli.info as info

    def boom(_args: object) -> int:
        raise exc

    monkeypatch.setattr(info, "run", boom)


def test_sonomsk_error_from_a_command_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sonomsk.core.errors import CalibrationError

    _register_failing(monkeypatch, CalibrationError("scan.png has no spatial calibration:\nresults in px"))
    assert main(["info", "scan.png"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err == "sonomsk: error: scan.png has no spatial calibration: results in px\n"


def test_unexpected_exception_is_still_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _register_failing(monkeypatch, KeyError("bug"))
    assert main(["info", "scan.png"]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: KeyError" in err and "--debug" in err


def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from sonomsk.core.errors import CalibrationError

    _register_failing(monkeypatch, CalibrationError("no calibration"))
    with pytest.raises(CalibrationError, match="no calibration"):
        main(["info", "scan.png", "--debug"])


def test_debug_before_the_command_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from sonomsk.core.errors import CalibrationError

    _register_failing(monkeypatch, CalibrationError("no calibration"))
    with pytest.raises(CalibrationError, match="no calibration"):
        main(["--debug", "info", "scan.png"])


def test_a_full_disk_is_an_error_not_a_bug(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from sonomsk.cli import main as cli_main

    def full(_args: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def broken(_args: object) -> int:
        raise OSError(errno.EBADF, "Bad file descriptor")

    parser = cli_main.build_parser()
    for func, expected in ((full, "sonomsk: error: No space left on device"), (broken, "internal error")):
        monkeypatch.setattr(cli_main, "build_parser", lambda: parser)
        ns = parser.parse_args(["info", "x"])
        monkeypatch.setattr(
            parser, "parse_args", lambda _argv, ns=ns, func=func: (setattr(ns, "func", func), ns)[1]
        )
        assert cli_main.main(["info", "x"]) == 1
        assert expected in capsys.readouterr().err


@pytest.mark.parametrize(
    ("code", "expected", "printed"), [(None, 0, ""), (3, 3, ""), ("bad thing", 1, "bad thing")]
)
def test_a_commands_own_exit_is_returned_as_python_would_exit(
    code: object,
    expected: int,
    printed: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sonomsk.cli import main as cli_main

    def exits(_args: object) -> int:
        raise SystemExit(code)

    parser = cli_main.build_parser()
    ns = parser.parse_args(["info", "x"])
    ns.func = exits
    monkeypatch.setattr(cli_main, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", lambda _argv: ns)
    assert cli_main.main(["info", "x"]) == expected
    assert printed in capsys.readouterr().err
