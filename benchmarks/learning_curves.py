"""Draw the validation error per epoch of several training runs on one plot, to compare recipes.

Each RUN is a run folder (or its history.json) that `cnnas train` wrote; the legend names each by
its folder. The y axis is logarithmic: a diverging run and a converging one share the plot. With
--chained the runs are fine-tune rounds, each from the one before, drawn one after another.

    python benchmarks/learning_curves.py runs/a runs/b --out curves.png
"""
from __future__ import annotations

import argparse
from pathlib import Path

from training.report import history_of, learning_curves, save_figure


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", type=Path, nargs="+", help="run folders (or their history.json)")
    ap.add_argument("--out", type=Path, required=True, help="the plot to write (.png, .pdf…)")
    ap.add_argument("--chained", action="store_true",
                    help="the runs are rounds, each from the last one's weights: draw them in turn")
    args = ap.parse_args(argv)
    histories = {(run.parent if run.suffix == ".json" else run).name: history_of(run)
                 for run in args.runs}
    save_figure(learning_curves(histories, args.chained), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
