"""Fine-tuning to a few DFT frames: a learning curve over their number, scored on held-out DFT.

The training files (--data) are merged and shuffled once (seeded): the first --select frames
pick each run's best epoch, and each run trains on the next N frames, for each N of --frames,
from the same --init model with its per-element energies refitted to the data's energy zero
(`--refit-elements`) and the same number of optimiser steps. Every run, the --init model and
the --references are then scored on the --validation files (frames of trajectories no run
trained on) as `cnnas experiment dft` scores them. Runs are resumable folders under --runs.

    cnnas experiment finetune --data datasets/pbe_small_1000K.h5 datasets/pbe_small_300K.h5 \
        --validation data/pbe/pbe_val_*.h5 --init results/models/free_stage2/best.pt \
        --frames 4 8 16 28 --runs runs/finetune --out results/pbe_finetune.md
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np

from ase_cnnas.calculator import resolve_device
from ase_cnnas.cells import MATCH
from ase_cnnas.modelfile import load_model

from ..cli import add_device_argument, run_module
from ..h5data import Frames, append_frames, read_frames, write_split
from ..importer import import_files
from ..report import command, hardware, save_figure, write_text
from ..train import train
from ..trainconfig import TrainConfig
from .dft import errors, scores, with_model, with_reference

HEADER = ("| calculator | DFT training frames | energy MAE (meV/atom) | force MAE (meV/Å) | "
          "force slope |\n|---|---|---|---|---|")


def merged(paths: list[Path], runs: Path, forces_only: list[Path] = (),
           axes: str = "xyz") -> Path:
    """The training files merged into one under `runs` (made once, atomically, provenance kept),
    the `forces_only` files' frames without their energies and stresses (another teacher's zero)
    and with only the force components along `axes` (the others NaN, so not fitted);
    a folder made from other files is refused."""
    path, made_from = runs / "train.h5", runs / "train_files.json"
    kept = "forces only" if axes == "xyz" else f"{axes} forces only"
    names = [str(p) for p in paths] + [f"{p} ({kept})" for p in forces_only]
    if made_from.exists() and json.loads(made_from.read_text()) != names:
        raise SystemExit(f"--runs {runs} holds runs on other --data or --forces-only files "
                         f"({', '.join(json.loads(made_from.read_text()))}): give another --runs")
    if not path.exists():
        runs.mkdir(parents=True, exist_ok=True)
        partial = runs / "train.partial.h5"
        partial.unlink(missing_ok=True)
        for report in import_files(paths, partial):
            if report.error:
                raise SystemExit(f"{report.path}: {report.error}")
        for p in forces_only:
            frames = read_frames(p)
            forces = frames.forces.copy()
            forces[:, ["xyz".index(a) for a in "xyz" if a not in axes]] = np.nan
            frames = dataclasses.replace(frames, energy=np.full(len(frames), np.nan),
                                         stress=np.full_like(frames.stress, np.nan),
                                         forces=forces, hash=None)
            append_frames(partial, frames, {kept: str(p)})
        partial.replace(path)
        write_text(made_from, json.dumps(names))
    return path


def plot(curve: list[tuple[int, dict]], flat: dict[str, dict], path: Path) -> None:
    """Energy and force MAE against the number of DFT training frames, beside the flat lines of
    the calculators that were not fine-tuned."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    n = [k for k, _ in curve]
    for ax, key, unit in zip(axes, ("energy_mae", "force_mae"), ("meV/atom", "meV/Å")):
        ax.plot(n, [r[key] for _, r in curve], "o-", label="fine-tuned")
        for i, (name, r) in enumerate(flat.items()):
            ax.axhline(r[key], ls="--", color=f"C{i + 1}", label=name[:40])
        ax.set_xscale("log")
        ax.set_xticks(n, [str(k) for k in n])
        ax.minorticks_off()
        ax.set_xlabel("DFT training frames")
        ax.set_ylabel(f"{key.split('_')[0]} MAE ({unit})")
        ax.set_ylim(bottom=0)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def per_atom_text(power: float) -> str:
    """The --energy-per-atom weighting in words, for the table's heading."""
    if power == 1:
        return ", energies fitted per atom"
    return f", energy errors weighted by (mean atoms / atoms)^{power:g}" if power else ""


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--data", nargs="+", type=Path, required=True,
                    help="DFT-labelled frames files to fine-tune on")
    ap.add_argument("--validation", nargs="+", type=Path, required=True,
                    help="DFT-labelled frames of other trajectories, to score on")
    ap.add_argument("--init", default="default", help="the model every run starts from")
    ap.add_argument("--frames", nargs="+", type=int, required=True,
                    help="training frame counts, one run each")
    ap.add_argument("--select", type=int, default=6,
                    help="training frames set aside to pick each run's best epoch")
    ap.add_argument("--steps", type=int, default=300, help="optimiser steps of each run")
    ap.add_argument("--lr", type=float, default=1e-4, help="learning rate of each run")
    ap.add_argument("--batch", type=int, default=8, help="frames per step")
    ap.add_argument("--references", nargs="*", default=["7net-0"],
                    help="reference calculators to score beside (by name)")
    ap.add_argument("--match-pixels", type=float, nargs="?", const=MATCH, default=None,
                    metavar="TOLERANCE",
                    help=f"each run repeats cell sides until the pixels match, within "
                         f"TOLERANCE (default {MATCH}; cnnas train --match-pixels "
                         f"--match-tolerance)")
    ap.add_argument("--force-weight", type=float, default=1.0,
                    help="weight of the force term against the energy's (cnnas train "
                         "--force-weight; below 1 weights the energies more)")
    ap.add_argument("--energy-per-atom", type=float, nargs="?", const=1.0, default=0.0,
                    metavar="POWER",
                    help="weight each frame's energy error by (mean atoms / its atoms)^POWER: "
                         "1 (the flag alone) fits energies per atom, so that small cells count "
                         "as much as large ones (cnnas train --energy-per-atom)")
    ap.add_argument("--stress-weight", type=float, default=0.0,
                    help="weight of the in-plane stress term, on the frames labelled with a "
                         "stress (cnnas train --stress-weight)")
    ap.add_argument("--random-repeats", action="store_true",
                    help="each run lays a frame on one of two matching grids at random "
                         "(cnnas train --random-repeats)")
    ap.add_argument("--stretch-inputs", action="store_true",
                    help="each run's head also reads the pixel stretch (cnnas train "
                         "--stretch-inputs)")
    ap.add_argument("--stretch-response", action="store_true",
                    help="each run's head also gives the energy's change with the pixel stretch "
                         "(cnnas train --stretch-response)")
    ap.add_argument("--near-heights", type=float, default=0.0, metavar="RADIUS",
                    help="each run's network also reads the heights above the neighbours within "
                    "RADIUS Å (cnnas train --near-heights)")
    ap.add_argument("--odd-kernel", type=int, default=0, metavar="PIXELS",
                    help="each run's first layer reads the heights through a kernel PIXELS wide "
                         "(cnnas train --odd-kernel)")
    ap.add_argument("--slopes", action="store_true",
                    help="each run's first layer also reads the slope channel (cnnas train "
                         "--slopes)")
    ap.add_argument("--forces-only", nargs="+", type=Path, default=[], metavar="FILE",
                    help="frames of another teacher (e.g. the pretraining one's large cells, "
                         "which hold the long flexural waves that small DFT cells lack) whose "
                         "forces join every run without their energies")
    ap.add_argument("--forces-only-frames", type=int, default=None, metavar="N",
                    help="draw N of the --forces-only frames (seeded; default: all)")
    ap.add_argument("--forces-only-weight", type=float, default=1.0,
                    help="weight of their force errors against the DFT frames' "
                         "(cnnas train --energyless-weight)")
    ap.add_argument("--forces-only-axes", choices=("xyz", "z"), default="xyz",
                    help="the force components of the --forces-only frames that are fitted: "
                         "z keeps their out-of-plane forces (the flexural waves) and leaves the "
                         "in-plane ones, and so the in-plane stiffness, to the DFT frames")
    ap.add_argument("--train-layers", type=int, default=None,
                    help="train only the last N weight layers (cnnas train --train-layers; "
                         "default: all)")
    ap.add_argument("--hours", type=float, default=None,
                    help="time budget of each run: after its first epoch, its schedule keeps the "
                         "epochs that fit (cnnas train --hours; default: all --steps)")
    add_device_argument(ap)
    ap.add_argument("--seed", type=int, default=1, help="seed of the shuffle and of each run")
    ap.add_argument("--runs", type=Path, default=Path("runs/finetune"),
                    help="folder of the run folders (resumable)")
    ap.add_argument("--out", type=Path, default=Path("results/pbe_finetune.md"),
                    help="Markdown table to write (the learning curve beside it)")


def run(args: argparse.Namespace) -> None:
    data = merged(args.data, args.runs, args.forces_only, args.forces_only_axes)
    dft = np.isfinite(read_frames(data).energy)
    total = int(dft.sum())
    if max(args.frames) + args.select > total:
        raise SystemExit(f"--frames {max(args.frames)} + --select {args.select} frames: "
                         f"the training files hold {total}")
    rng = np.random.default_rng(args.seed)
    order = np.flatnonzero(dft)[rng.permutation(total)]
    select, pool = order[:args.select], order[args.select:]
    teacher = np.flatnonzero(~dft)
    if args.forces_only_frames is not None:
        if args.forces_only_frames > len(teacher):
            raise SystemExit(f"--forces-only-frames {args.forces_only_frames}: the --forces-only "
                             f"files hold {len(teacher)}")
        teacher = rng.choice(teacher, args.forces_only_frames, replace=False)
    device = resolve_device(args.device)
    init = load_model(args.init, device)
    if args.match_pixels is not None:
        init.match_pixels = args.match_pixels
    stretch = args.stretch_inputs or init.stretch_inputs
    response = args.stretch_response or init.stretch_response
    val = Frames.concatenate([read_frames(p) for p in args.validation])

    def score(energy: np.ndarray, forces: np.ndarray, ok: np.ndarray) -> dict:
        mine = val.subset(np.flatnonzero(ok))
        return scores(mine, energy, forces, *errors(mine, energy, forces))

    flat = {name: score(*with_reference(val, name), np.ones(len(val), bool))
            for name in args.references}
    flat[f"CNNAS {args.init} (not fine-tuned)"] = score(*with_model(val, init))
    curve = []
    for n in sorted(args.frames):
        name = f"first_{n}"
        parts = {"train": np.sort(np.concatenate([pool[:n], teacher])),
                 "validation": np.sort(select),
                 "test": np.zeros(0, int)}
        write_split(data, name, parts, {"seed": args.seed, "select": args.select})
        best = train(TrainConfig(
            data, args.runs / f"n{n}", split=name, init=str(args.init), refit_elements=True,
            heights=init.network.config.heights, any_cell=init.any_cell,
            near_heights=args.near_heights or init.network.config.near_heights,
            odd_kernel=args.odd_kernel or init.network.config.odd_kernel,
            slopes=args.slopes or init.network.config.slopes,
            match_pixels=bool(init.match_pixels), match_tolerance=init.match_pixels or MATCH,
            stretch_inputs=stretch, stretch_response=response,
            force_weight=args.force_weight, energyless_weight=args.forces_only_weight,
            energy_per_atom=args.energy_per_atom,
            stress_weight=args.stress_weight, random_repeats=args.random_repeats,
            train_layers=args.train_layers,
            lr=args.lr, batch=args.batch, warmup=min(50, args.steps // 5), ema=0.99,
            epochs=max(1, math.ceil(args.steps * args.batch / (n + len(teacher)))),
            hours=args.hours,
            device=str(device), seed=args.seed))
        curve.append((n, score(*with_model(val, load_model(best, device)))))
        print(f"{n} frames: {curve[-1][1]['energy_mae']:.2f} meV/atom, "
              f"{curve[-1][1]['force_mae']:.0f} meV/Å", flush=True)
    rows = [f"| {name} | 0 | {r['energy_mae']:.2f} | {r['force_mae']:.0f} | "
            f"{r['force_slope']:.3f} |" for name, r in flat.items()]
    rows += [f"| fine-tuned `{args.runs / f'n{n}'}` | {n} | {r['energy_mae']:.2f} | "
             f"{r['force_mae']:.0f} | {r['force_slope']:.3f} |" for n, r in curve]
    figure = args.out.with_suffix(".png")
    plot(curve, flat, figure)
    write_text(args.out, f"""# Fine-tuning to DFT: a learning curve

Each run starts from `{args.init}` (per-element energies refitted to the data's zero{
f', cell sides repeated until the pixels match within {100 * init.match_pixels:g} %'
if init.match_pixels else ''}{
f', all but its last {args.train_layers} weight layers frozen' if args.train_layers else ''
}{', the head reading the pixel stretch' if stretch else ''}{
', the head giving the energy change with the pixel stretch' if response else ''
}{f', forces weighted {args.force_weight:g} against energies' if args.force_weight != 1 else ''
}{f', in-plane stresses weighted {args.stress_weight:g}' if args.stress_weight else ''
}{', each frame on one of two matching grids at random' if args.random_repeats else ''
}{per_atom_text(args.energy_per_atom)
}{f', with the {"out-of-plane " if args.forces_only_axes == "z" else ""}forces alone of '
  f'{len(teacher)} frames of '
  f"{', '.join(f'`{p}`' for p in args.forces_only)}"
  f' weighted {args.forces_only_weight:g}' if len(teacher) else ''
}) and takes
{args.steps} steps of {args.batch} frames (learning rate {args.lr}) on N frames of
{', '.join(f'`{p}`' for p in args.data)}; {args.select} more frames of those files pick its best
epoch. All are scored on {len(val)} held-out frames ({', '.join(f'`{p}`' for p in
args.validation)}), which come from other trajectories: energies after one fitted offset per
element and calculator, forces over all components, slope the least-squares factor of the
calculator's forces on the labels' (below 1: softer).

Regenerate: `{command()}`
Hardware: {hardware()}

{HEADER}
{chr(10).join(rows)}

Learning curve: `{figure.name}`.
""")
    print(args.out.read_text())


def main(argv: list[str] | None = None) -> int:
    """`python -m training.experiments.finetune`: the same as `cnnas experiment finetune`."""
    return run_module(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
