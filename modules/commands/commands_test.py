"""Every ``spectrain`` command registers itself with a handler, and ``main`` dispatches to it."""

import argparse
import subprocess
import sys

import pytest

from modules import cli
from modules.commands import COMMAND_MODULES


def _leaf_parsers(parser: argparse.ArgumentParser, path=()):
    """(command words, parser) for every parser that runs something (no sub-commands below)."""
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not actions:
        yield path, parser
        return
    for name, sub in actions[0].choices.items():
        yield from _leaf_parsers(sub, path + (name,))


def test_every_command_has_a_handler():
    leaves = list(_leaf_parsers(cli.build_parser()))
    assert len(leaves) > 20
    missing = [" ".join(path) for path, parser in leaves if not callable(
        parser.get_default("handler"))]
    assert not missing, f"commands without a handler: {missing}"


def test_each_module_registers_its_own_commands():
    seen = []
    for module in COMMAND_MODULES:
        subparsers = argparse.ArgumentParser().add_subparsers(dest="command")
        module.register(subparsers)
        assert subparsers.choices, module.__name__
        seen += list(subparsers.choices)
    assert len(seen) == len(set(seen))  # no command registered twice
    assert seen == list(cli.build_parser()._subparsers._group_actions[0].choices)


def test_main_returns_the_handlers_exit_code(monkeypatch, tmp_path):
    from modules.commands import jobs

    monkeypatch.setattr(jobs, "list_jobs_table", lambda root, selector: f"{root} {selector}")
    assert cli.main(["jobs", "esc10", "--cache-root", str(tmp_path)]) == 0
    with pytest.raises(SystemExit, match="spectrain detect: --threshold takes one number"):
        cli.main(["detect", "--job", str(tmp_path), "--input", str(tmp_path), "--output",
                  str(tmp_path / "out"), "--threshold", "x"])


def test_help_imports_no_heavy_module():
    code = ("import sys; from modules.cli import build_parser; build_parser(); "
            "heavy = [m for m in ('tensorflow', 'keras', 'modules.training', 'modules.replay') "
            "if m in sys.modules]; print(heavy); sys.exit(bool(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
