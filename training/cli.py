"""The `cnnas` command: data import, inspection, splits and generation, training, evaluation.

    cnnas data import OUTCAR vasprun.xml -o data.h5
    cnnas data info data.h5
    cnnas data split data.h5 --by trajectory
    cnnas data sheets -o sheets.h5 --reference tersoff --frames 29900
    cnnas data dimers -o dimers.h5 --dim 2 --n 500000 --range 1:3
    cnnas compare OUTCAR --model default --out results/compare
    cnnas scan md.traj -o md_cnnas.extxyz --forces
    cnnas train --data data.h5 --out runs/mine      (python -m training.train --help)
    cnnas evaluate --model runs/mine/best.pt ...     (python -m training.evaluate --help)
"""
from __future__ import annotations

import argparse
import sys

from ase.calculators.calculator import CalculatorSetupError

from . import compare, dimers, generate, importer, info, scan, splits
from .h5data import DataFileError

DATA_COMMANDS = {"import": importer, "info": info, "split": splits, "sheets": generate,
                 "dimers": dimers}


USER_ERRORS = (DataFileError, ValueError, ImportError, CalculatorSetupError)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["train"], ["evaluate"]):  # their own argument parsers
        from . import evaluate, train

        try:
            return {"train": train, "evaluate": evaluate}[argv[0]].main(argv[1:]) or 0
        except USER_ERRORS as err:
            return _error(err)
    ap = argparse.ArgumentParser(prog="cnnas", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    data = sub.add_parser("data", help="import, inspect, split and generate labelled frames")
    for name, module in {"compare": compare, "scan": scan}.items():
        p = sub.add_parser(name, help=module.__doc__.split("\n")[0],
                           description=module.__doc__.split("\n\n")[0])
        module.add_arguments(p)
        p.set_defaults(func=module.run)
    sub.add_parser("train", help="train a model (see `cnnas train --help`)")
    sub.add_parser("evaluate", help="score a model (see `cnnas evaluate --help`)")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    for name, module in DATA_COMMANDS.items():
        p = data_sub.add_parser(name, help=module.__doc__.split("\n")[0],
                                description=module.__doc__.split("\n\n")[0])
        module.add_arguments(p)
        p.set_defaults(func=module.run)
    args = ap.parse_args(argv)
    try:
        return args.func(args) or 0
    except USER_ERRORS as err:
        return _error(err)


def _error(err: Exception) -> int:
    print(f"cnnas: error: {err}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
