"""The CLI's entry points: `assay --version`, `assay --help`, `python -m assay`."""

from __future__ import annotations

import runpy
import sys

import pytest

from assay import __version__
from assay.cli.main import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage:" in out
    assert "up" in out


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_python_dash_m(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m assay` runs assay/__main__.py as `__main__`; run here in process (no unit
    test starts a process), with the argv the interpreter would give it."""
    monkeypatch.setattr(sys, "argv", ["assay", "--version"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("assay", run_name="__main__", alter_sys=True)
    assert exited.value.code == 0
    assert __version__ in capsys.readouterr().out
