"""The production model's honest test: whole MD trajectories it never saw, against our goals.

The goals: energy MAE ≤ 1 meV/atom and max ≤ 10 meV/atom, force MAE ≤ 60 meV/Å, beside the trivial
baseline (each frame predicted at the trajectory's own mean energy per atom); and the paper's
figures on its unseen hBN MD (6.85 and 38.8 meV/atom). Each trajectory has
its own seed, so its own random placement in the cell and its own thermal history. Writes
results/unseen.md and, per trajectory, the paper's Figure 7 and a parity plot in results/unseen/.

    python -m training.experiments.unseen                       # the bundled default model
    python -m training.experiments.unseen --model runs/mine/best.pt --out results/unseen_mine.md
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ase_cnnas.modelfile import load_model

from ..cli import run_module
from ..compare import COMPONENTS, compare, plot_parity
from ..evaluate import frame_interval, plot_trajectory
from ..h5data import read_frames
from ..report import command, hardware, write_text

TRAJECTORIES = ("datasets/hbn_unseen_1000K.h5", "datasets/heterostructure_vacancy_1000K.h5",
                "datasets/graphene_stone_wales_1200K.h5")
GOALS = {"energy_mae": 1.0, "energy_max": 10.0, "force_mae": 60.0}  # meV/atom, meV/atom, meV/Å


def add_trajectory_arguments(ap: argparse.ArgumentParser, out: str) -> None:
    """The arguments of a study of one model on trajectories (the unseen ones by default)."""
    ap.add_argument("trajectories", nargs="*", type=Path, default=[Path(t) for t in TRAJECTORIES],
                    help="labelled HDF5 trajectories (default: the three unseen ones in datasets/)")
    ap.add_argument("--model", default="default", help="a model file, or a bundled model's name")
    ap.add_argument("--out", type=Path, default=Path(out), help="Markdown table to write")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    add_trajectory_arguments(ap, "results/unseen.md")


def run(args: argparse.Namespace) -> None:
    model = load_model(args.model, "cpu")
    figures = args.out.with_suffix("")
    figures.mkdir(parents=True, exist_ok=True)
    rows = {}
    for path in args.trajectories:
        frames = read_frames(path)
        result = compare(model, frames)
        name = path.stem
        step = frame_interval(frames)
        plot_trajectory(result, step, figures / f"{name}_energy.png",
                        f"{name}: CNNAS ({args.model}) against "
                        f"{frames.method[0] or 'the reference'}",
                        frames.method[0] or "reference")
        plot_parity(result, figures / f"{name}_parity.png", f"{name}: {len(frames)} frames")
        rows[name] = {k: result[k] for k in ("frames", "energy_mae", "energy_max", "force_mae",
                                             "mean_baseline_mae")}
        rows[name]["ps"] = len(frames) * step / 1000 if step else None
        print(name, rows[name], flush=True)

    def cell(key: str, value: float) -> str:
        return f"{value:.2f}" + (" ✓" if value <= GOALS[key] else " ✗")

    lines = ["# Unseen trajectories", "", f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}",
             "", f"Model `{args.model}`. Goals: energy MAE ≤ {GOALS['energy_mae']:g} and "
             f"max ≤ {GOALS['energy_max']:g} meV/atom, force MAE "
             f"({COMPONENTS[model.force_components]} components) ≤ {GOALS['force_mae']:g} "
             "meV/Å. The trivial baseline predicts every frame at the trajectory's own mean "
             "energy per atom. The paper, on its unseen hBN MD (VASP): 6.85 and 38.8 meV/atom, "
             "no forces.", "",
             "| trajectory | frames | ps | energy MAE (meV/atom) | energy max (meV/atom) | "
             "force MAE (meV/Å) | trivial baseline (meV/atom) |", "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        ps = f"{r['ps']:.1f}" if r["ps"] else "–"
        lines.append(f"| {name} | {r['frames']} | {ps} | "
                     f"{cell('energy_mae', r['energy_mae'])} | "
                     f"{cell('energy_max', r['energy_max'])} | "
                     f"{cell('force_mae', r['force_mae'])} | {r['mean_baseline_mae']:.2f} |")
    lines += ["", f"Figures in `{figures}/`: `<trajectory>_energy.png` (the paper's Figure 7) and "
              "`<trajectory>_parity.png`. The trajectories and how they were made: "
              "`datasets/README.md`."]
    write_text(args.out, "\n".join(lines) + "\n")
    write_text(args.out.with_suffix(".json"), json.dumps(rows, indent=1))
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    """`python -m training.experiments.unseen`: the same as `cnnas experiment unseen`."""
    return run_module(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
