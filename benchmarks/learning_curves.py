"""Draw the validation error per epoch of several training runs on one plot, to compare recipes.

Each RUN is a run folder (or its history.json) that `cnnas train` wrote; the legend names each by
its folder. The y axis is logarithmic: a diverging run and a converging one share the plot.

    python benchmarks/learning_curves.py runs/a runs/b --out curves.png
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from training.report import save_figure


def history_of(run: Path) -> list[dict]:
    """The per-epoch history of a run folder (or of the history.json named)."""
    path = run if run.suffix == ".json" else run / "history.json"
    if not path.is_file():
        raise SystemExit(f"{run}: no history.json; name a run folder that `cnnas train` finished")
    return json.loads(path.read_text())


def figure(histories: dict[str, list[dict]]):
    """A matplotlib figure: each history's validation MAE against its epochs, named."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, history in histories.items():
        ax.semilogy([h["epoch"] for h in history], [h["val_mae"] for h in history], ".-",
                    label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation energy MAE (meV/atom, raw network)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", type=Path, nargs="+", help="run folders (or their history.json)")
    ap.add_argument("--out", type=Path, required=True, help="the plot to write (.png, .pdf…)")
    args = ap.parse_args(argv)
    histories = {(run.parent if run.suffix == ".json" else run).name: history_of(run)
                 for run in args.runs}
    save_figure(figure(histories), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
