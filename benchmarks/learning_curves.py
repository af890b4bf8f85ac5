"""Draw the validation error per epoch of several training runs on one plot, to compare recipes.

Each RUN is a run folder (or its history.json) that `cnnas train` wrote; the legend names each by
its folder. The y axis is logarithmic: a diverging run and a converging one share the plot. With
--chained the runs are fine-tune rounds, each from the one before, drawn one after another.

    python benchmarks/learning_curves.py runs/a runs/b --out curves.png

--forecast TABLE (with --chained) fits the best validation error so far to a power law of the
epochs counted over the rounds, a·n^(−b), draws the fit, and writes a table of how many epochs
the fit needs to bring that error down to each fraction (--reach) of the last best: how far more
of the same training would go.
"""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from training.report import command, hardware, history_of, learning_curves, save_figure, write_text

FLAT = 1e-6  # an exponent b below this is no fall: its epochs to any target would overflow


def power_law(best: np.ndarray, start: int = 1) -> tuple[float, float, float]:
    """Fit best[n−1] ≈ a·n^(−b) for n ≥ start by least squares in log–log; (a, b, the rms of
    the log residual: 0.01 is 1 % scatter about the line)."""
    n = np.arange(1, len(best) + 1)
    keep = n >= start
    if keep.sum() < 3:
        raise SystemExit(f"--fit-from {start} leaves {keep.sum()} of {len(best)} epochs; a fit "
                         "needs 3 at least: start it earlier")
    slope, intercept = np.polyfit(np.log(n[keep]), np.log(best[keep]), 1)
    residual = np.log(best[keep]) - (intercept + slope * np.log(n[keep]))
    return float(np.exp(intercept)), float(-slope), float(np.sqrt(np.mean(residual ** 2)))


def forecast_table(best: np.ndarray, fits: dict[int, tuple[float, float, float]],
                   reach: list[float]) -> str:
    """Markdown: per fit (its start epoch: power_law's a, b, scatter), the epochs (counted over
    all rounds) at which it reaches each fraction of the last best validation error."""
    done = len(best)
    head = "| fit from epoch | a | b | rms scatter | " + " | ".join(
        f"epochs to ×{q:g} ({q * best[-1]:.3f})" for q in reach) + " |"
    rows = [head, "|" + "---|" * (4 + len(reach))]
    for start, (a, b, scatter) in fits.items():
        if b > FLAT:
            epochs = [(a / (q * best[-1])) ** (1 / b) for q in reach]
            cells = [f"{e:,.0f} ({e / done:.1f}× the {done} done)" for e in epochs]
        else:
            cells = ["never (the fit does not fall)"] * len(reach)
        rows.append(f"| {start} | {a:.3f} | {b:.3f} | {scatter:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", type=Path, nargs="+", help="run folders (or their history.json)")
    ap.add_argument("--out", type=Path, required=True, help="the plot to write (.png, .pdf…)")
    ap.add_argument("--chained", action="store_true",
                    help="the runs are rounds, each from the last one's weights: draw them in turn")
    ap.add_argument("--forecast", type=Path,
                    help="with --chained: fit a power law to the best validation error so far and "
                         "write this table of the epochs it needs to reach --reach")
    ap.add_argument("--reach", type=float, nargs="+", default=[0.9, 0.75, 0.5],
                    help="fractions of the last best validation error to forecast")
    ap.add_argument("--fit-from", type=int, nargs="+", default=[1],
                    help="fit the epochs from this one on (one fit, and one table row, each)")
    args = ap.parse_args(argv)
    if args.forecast and not args.chained:
        ap.error("--forecast fits rounds counted one after another: add --chained")
    if not all(0 < q < 1 for q in args.reach):
        ap.error(f"--reach takes fractions between 0 and 1 of the last best, not {args.reach}")
    histories = {(run.parent if run.suffix == ".json" else run).name: history_of(run)
                 for run in args.runs}
    fig = learning_curves(histories, args.chained)
    if args.forecast:
        best = np.minimum.accumulate([h["val_mae"] for hs in histories.values() for h in hs])
        fits = {start: power_law(best, start) for start in args.fit_from}  # before any writing
        table = forecast_table(best, fits, args.reach)
        for (start, (a, b, _)), style in zip(fits.items(), itertools.cycle(["--", ":", "-."])):
            n = np.arange(start, len(best) + 1)
            fig.axes[0].plot(n, a * n ** -b, "k" + style, lw=1,
                             label=f"fit from {start}: b = {b:.2f}")
        fig.axes[0].legend(fontsize=7)
        regenerate = f"Regenerate: `{command()}`  "  # two spaces: a Markdown line break
        write_text(args.forecast, f"""# How far more of the same training would go

{regenerate}
Hardware: {hardware()} (a fit of stored histories; the training ran where each run says)

The best raw validation energy MAE so far (meV/atom), counted over {len(best)} epochs of the
rounds {', '.join(histories)} (each from the weights before), fitted to a·n^(−b). The last best is
{best[-1]:.3f}. Each fit extrapolates rounds with their own warm-ups and schedules, so read its
epochs as an order of magnitude; fits from later epochs weigh the recent rounds alone.

{table}

Plot: `{args.out}` (the fits in black).
""")
        print(table)
    save_figure(fig, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
