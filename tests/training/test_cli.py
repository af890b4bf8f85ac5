"""The `cnnas` command: one table of commands, each a module imported only when it runs; `--help`
without torch or h5py, `--version`, every command's name in its usage, its one-liner from its
module's docstring, a help text on every option; errors a user can fix in one line."""
from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from ase_cnnas import __version__
from training import cli

REPO = Path(__file__).resolve().parents[2]


def leaves(table: dict, words: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str, str]]:
    """(command words, module, one-liner) of every command that runs something."""
    out = []
    for name, (target, line) in table.items():
        if isinstance(line, dict):
            out += leaves(line, (*words, name))
        else:
            out.append(((*words, name), target, line))
    return out


COMMANDS = leaves(cli.COMMANDS)
IDS = [" ".join(words) for words, _, _ in COMMANDS]


def parser_of(words: tuple[str, ...]) -> argparse.ArgumentParser:
    """The parser of `cnnas WORDS`, with that command's arguments filled in."""
    parser = cli.build_parser(list(words))
    for word in words:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    return parser


def cnnas(*args: str) -> subprocess.CompletedProcess:
    code = "import sys; from training.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_help_imports_neither_torch_nor_h5py():
    code = ("import sys\nfrom training.cli import main\ntry:\n    main(['--help'])\n"
            "except SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'h5py', 'ase', 'numpy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"
    assert "usage: cnnas" in result.stdout and "experiment" in result.stdout


def test_version():
    result = cnnas("--version")
    assert (result.returncode, result.stdout) == (0, f"cnnas {__version__}\n")


def test_experiments_are_the_files():
    files = {p.stem for p in (REPO / "training/experiments").glob("*.py")} - {"__init__"}
    assert set(cli.EXPERIMENTS) == files
    listing = cnnas("experiment", "--help").stdout
    assert all(name in listing for name in files)


@pytest.mark.parametrize("words, module, line", COMMANDS, ids=IDS)
def test_one_liner_is_the_docstring_first_line(words, module, line):
    source = (REPO / (module.replace(".", "/") + ".py")).read_text()
    first = ast.get_docstring(ast.parse(source), clean=False).split("\n")[0]
    assert line == first
    assert len(first) <= 97 and first.endswith((".", "?")), "a complete line of ≤ 100 characters"


@pytest.mark.parametrize("words, module, line", COMMANDS, ids=IDS)
def test_prog_and_help_of_every_option(words, module, line):
    parser = parser_of(words)
    assert parser.prog == "cnnas " + " ".join(words)
    assert parser.format_usage().startswith(f"usage: cnnas {' '.join(words)} ")
    assert parser.get_default(cli.RUN) is not None, "the module has a run(args)"
    unhelped = [a.option_strings or a.dest for a in parser._actions
                if not isinstance(a, argparse._HelpAction) and not (a.help or "").strip()]
    assert not unhelped, f"options without help: {unhelped}"


def test_subcommand_help_names_the_command():
    result = cnnas("scan", "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: cnnas scan ")


def test_module_runs_on_its_own():
    result = subprocess.run([sys.executable, "-m", "training.evaluate", "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: python -m training.evaluate ")


def test_user_error_is_one_line(tmp_path, capsys):
    assert cli.main(["scan", str(tmp_path / "none.extxyz"), "-o", str(tmp_path / "x.xyz")]) == 2
    err = capsys.readouterr().err
    assert err == f"cnnas: error: {tmp_path / 'none.extxyz'}: no such file\n"


def test_missing_extra_names_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "h5py", None)  # as if h5py were not installed
    monkeypatch.delitem(sys.modules, "training.info", raising=False)
    assert cli.main(["data", "info", "x.h5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnnas: error:") and "pip install 'ase-cnnas[train]'" in err
