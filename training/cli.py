"""The `cnnas` command: labelled data, comparison, scanning, training, evaluation, experiments.

    cnnas data import OUTCAR vasprun.xml -o data.h5
    cnnas data info data.h5
    cnnas data split data.h5 --by trajectory
    cnnas data sheets -o sheets.h5 --reference tersoff --frames 29900
    cnnas data label sheets.h5 -o sheets_pbe.h5 --reference gpaw-pw --workers 2
    cnnas data dimers -o dimers.h5 --dim 2 --n 500000 --range 1:3
    cnnas compare OUTCAR --model default --out results/compare
    cnnas scan md.traj -o md_cnnas.extxyz --forces
    cnnas train --data data.h5 --out runs/mine
    cnnas evaluate --model runs/mine/best.pt --data data.h5 --out results/mine.md
    cnnas experiment unseen --model runs/mine/best.pt

Every command is a module with `add_arguments(parser)` and `run(args)`, whose docstring's first
line is its one-line description. The tables below name the modules; a module is imported only
when its command runs, so that `cnnas --help` starts in a blink (no torch, no h5py).
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import typing
from types import ModuleType

# name: (module, its docstring's first line); a dict instead of a module: a group of commands
DATA_COMMANDS = {
    "import": ("training.importer", "Import labelled frames from VASP output or any file ase.io "
               "reads into an HDF5 frames file."),
    "info": ("training.info", "Summarise an HDF5 frames file: counts, energy and force ranges, "
             "splits, an energy histogram."),
    "split": ("training.splits", "Store a train/validation/test split in a frames file: random, "
              "or whole trajectories held out."),
    "sheets": ("training.generate", "Labelled MD of B/C/N sheets in any cell, flat or "
               "free-standing, in parallel, appended as it goes."),
    "waves": ("training.waves", "Flat sheets with long flexural waves frozen in, unlabelled: "
              "geometries for `cnnas data label`."),
    "label": ("training.label", "Relabel a frames file with another reference (e.g. GPAW PBE), "
              "frame by frame, resumably."),
    "dimers": ("training.dimers", "Generate the paper's dimer data sets: two atoms in a periodic "
               "box, labelled by a pair potential."),
}
EXPERIMENTS = {name: (f"training.experiments.{name}", line) for name, line in {
    "ablation": "Ablations: which Network 2 variant, training ingredient and grid size pays off.",
    "energy_error": "What kind of error is the energy error? Two checks on a trained model, each "
                    "of a cheap cure.",
    "dft": "How far from PBE: SevenNet-0 and CNNAS models against GPAW-labelled frames, per "
           "structure type.",
    "dft_convergence": "Which GPAW settings label PBE well enough for their cost: errors against "
                       "tighter settings.",
    "ensemble": "Does an ensemble's spread flag the frames it gets wrong? Spread against error, "
                "per trajectory.",
    "extensive": "Does one model serve larger cells? The extensive model on sheets of 1×1 to 4×4 "
                 "cells.",
    "finetune": "Fine-tuning to a few DFT frames: a learning curve over their number, scored on "
                "held-out DFT.",
    "force_sites": "Where the force error lives: the force error by the kind of site and the "
                   "distance from defects.",
    "table1": "The paper's Table 1 (NOTES §4): dimer models in 2D and 3D, classic baselines, "
              "hole tests.",
    "transfer": "Transfer by locality: each defect environment left out of training entirely, "
                "then scored.",
    "unseen": "The production model's honest test: whole MD trajectories it never saw, against "
              "our goals.",
}.items()}
COMMANDS = {
    "data": ("Import, inspect, split and generate labelled frames.", DATA_COMMANDS),
    "compare": ("training.compare", "Compare a model with a trajectory's own labels (OUTCAR, "
                "vasprun.xml, extxyz, our HDF5…)."),
    "scan": ("training.scan", "Predict every frame of a file and write the frames with the "
             "model's energies (and forces)."),
    "train": ("training.train", "Train a CNNAS energy model (Network 2 by default) on an HDF5 "
              "frames file, resumably."),
    "evaluate": ("training.evaluate", "Score a model against labelled frames: its test split and "
                 "trajectories it never saw."),
    "experiment": ("Run one of the studies behind the tables in results/.", EXPERIMENTS),
}
OWN = "_cnnas_"  # what the parser stores for itself (command names, run()) starts so
RUN = OWN + "run"  # the chosen command's run()
EXTRAS_HINT = "this command needs the training extras: pip install 'ase-cnnas[train]'"


def version() -> str:
    """The installed ase-cnnas version, read from its metadata so that no torch is imported."""
    from importlib import metadata

    try:
        return metadata.version("ase-cnnas")
    except metadata.PackageNotFoundError:  # a source tree that was never installed
        from ase_cnnas import __version__
        return __version__


class MissingExtraError(ImportError):
    """A command's module needs a package that only an extra installs."""


class _Version(argparse.Action):
    """--version: print `cnnas VERSION` and exit; the version is looked up only when asked."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        print(f"cnnas {version()}")
        parser.exit()


def _formatter(prog: str) -> argparse.HelpFormatter:
    """Help that keeps the docstrings' example lines as they are written."""
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=30)


def add_commands(parser: argparse.ArgumentParser, table: dict, argv: list[str]) -> None:
    """Subcommands of `parser` from `table`; the one `argv` names (argv[0]) gets its module's
    arguments and docstring, the others only their names and one-liners."""
    sub = parser.add_subparsers(dest=OWN + parser.prog.replace(" ", "_"), metavar="COMMAND",
                                required=True, title="commands")
    for name, (target, line) in table.items():
        chosen = bool(argv) and argv[0] == name
        if isinstance(line, dict):  # a group: target is its description
            group = sub.add_parser(name, help=target, description=target,
                                   formatter_class=_formatter)
            add_commands(group, line, argv[1:] if chosen else [])
            continue
        p = sub.add_parser(name, help=line, description=line, formatter_class=_formatter)
        if chosen:
            module = load(target)
            p.description = module.__doc__
            module.add_arguments(p)
            p.set_defaults(**{RUN: module.run})


def load(path: str) -> ModuleType:
    """Import a command's module; a missing optional package becomes a MissingExtraError that
    says which extras to install."""
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as err:
        if err.name and err.name.split(".")[0] in ("ase_cnnas", "training"):
            raise  # our own code is broken: that is a bug, not a missing extra
        raise MissingExtraError(f"{err}; {EXTRAS_HINT}") from err


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The `cnnas` parser, with the arguments of the command `argv` names (if any) filled in."""
    doc = __doc__.split("\n\n")
    ap = argparse.ArgumentParser(prog="cnnas", description=doc[0], epilog="examples:\n" + doc[1],
                                 formatter_class=_formatter)
    ap.add_argument("--version", action=_Version)
    add_commands(ap, COMMANDS, argv)
    return ap


def user_errors() -> tuple[type[Exception], ...]:
    """Errors a user can fix (bad input, a missing extra, a device that is not there): told in one
    line, without a traceback. Imported when a command runs: ase costs 0.1 s to import."""
    from ase.calculators.calculator import CalculatorSetupError

    return (ValueError, ImportError, CalculatorSetupError)


def _message(err: Exception) -> str:
    """The error's one line; a package missing at run time gets the extras to install."""
    return f"{err}; {EXTRAS_HINT}" if isinstance(err, ModuleNotFoundError) else str(err)


def _keep_freed_memory() -> None:
    """A cnnas process is ours: its large images reuse freed memory (ase_cnnas.memory; imported
    here, as the package imports torch)."""
    from ase_cnnas.memory import keep_freed_memory

    keep_freed_memory()


def main(argv: list[str] | None = None) -> int:
    """`cnnas ARGV`: 0 on success; 2 and one line on stderr for an error the user can fix."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser(argv).parse_args(argv)
    except MissingExtraError as err:
        print(f"cnnas: error: {err}", file=sys.stderr)
        return 2
    run = getattr(args, RUN)
    args = argparse.Namespace(**{k: v for k, v in vars(args).items() if not k.startswith(OWN)})
    _keep_freed_memory()
    try:
        return run(args) or 0
    except user_errors() as err:
        print(f"cnnas: error: {_message(err)}", file=sys.stderr)
        return 2


def run_module(module: ModuleType, argv: list[str] | None = None) -> int:
    """`python -m training.NAME ARGV`: a command module run on its own, as `cnnas` runs it;
    errors the user can fix exit with status 2 and one line on stderr, as argparse's own do."""
    ap = argparse.ArgumentParser(prog=f"python -m {module.__spec__.name}",
                                 description=module.__doc__, formatter_class=_formatter)
    module.add_arguments(ap)
    args = ap.parse_args(argv)
    _keep_freed_memory()
    try:
        return module.run(args) or 0
    except user_errors() as err:
        ap.exit(2, f"{ap.prog}: error: {_message(err)}\n")


def option(default: typing.Any, text: str, **cli: typing.Any) -> typing.Any:
    """A dataclass field that is a command-line option: its default, its one-line help `text`,
    and its `choices`, an `off_alias` (an older flag that turns a boolean off) or a `const` (the
    value of the flag given alone)."""
    return dataclasses.field(default=default, metadata={"help": text, **cli})


def add_dataclass_arguments(ap: argparse.ArgumentParser, cls: type) -> None:
    """A `--field-name` per field of the dataclass `cls`, typed by its annotation, explained by
    its metadata's help and limited to its choices; booleans as --flag/--no-flag."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        flag, text = "--" + f.name.replace("_", "-"), f.metadata["help"]
        kind = next(t for t in typing.get_args(hints[f.name]) or (hints[f.name],)
                    if t is not type(None))  # str for `str | Path | None`
        if kind is bool:
            ap.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default,
                            help=text)
        elif f.default is dataclasses.MISSING:
            ap.add_argument(flag, type=kind, required=True, help=text)
        else:
            shown = "" if f.default is None else " (default: %(default)s)"
            alone = {"nargs": "?", "const": f.metadata["const"]} if "const" in f.metadata else {}
            ap.add_argument(flag, type=kind, default=f.default, choices=f.metadata.get("choices"),
                            help=text + shown, **alone)
        if "off_alias" in f.metadata:
            ap.add_argument(f.metadata["off_alias"], dest=f.name, action="store_false",
                            help=f"the older name of --no-{flag[2:]}")


def add_device_argument(ap: argparse.ArgumentParser) -> None:
    """--device: where the model runs (ase_cnnas.calculator.resolve_device reads it)."""
    ap.add_argument("--device", default=None,
                    help="cpu, cuda… (default: the GPU when there is one)")


def add_symmetrize_argument(ap: argparse.ArgumentParser) -> None:
    """--[no-]symmetrize: override the model file's choice (EnergyModel.symmetrize)."""
    ap.add_argument("--symmetrize", action=argparse.BooleanOptionalAction,
                    help="average the energy over the cell's mirror images (default: as the model "
                         "file says); --no-symmetrize scans about 3× faster, ~20 %% less accurate "
                         "on the bundled model")


if __name__ == "__main__":
    sys.exit(main())
