r"""Ablations: which Network 2 variant, training ingredient and grid size pays off.

Which Network 2 head, padding, activation and loss (`--set architecture`), and what each
training ingredient of the production recipe brings (`--set ingredients`: force matching and
its weight, mirror and translation augmentation, per-element reference, target scaling,
learning-rate schedule, early stopping, each switched off or changed alone), and what a finer
grid buys (`--set grid`: the production recipe on 1, 1.5 and 2 times `--grid` pixels a side,
each with its grid's default Network 2, reduced to 8–15 pixels a side, so that twice the grid
gets one block more): the same data and epochs for every variant, and within the first two
sets the same grid.

What a free-standing sheet's image should carry (`--set representation`: nothing of z, the
height channels, or a thin slab of height layers), each started from the weights of a flat
model (`--init`, the bundled `flat`), scored with all three force components and timed per
scored frame.

Scores each on the test split as stored and with every test frame shifted by a random in-plane
translation (an exact symmetry: the energy must not change), plus force errors and how far
autograd forces are from central finite differences of the energy (1e-3 Å).

    python -m training.experiments.ablation --data data/sheets_1000K/frames.h5 \
        --unseen data/hbn_unseen_1000K/frames.h5 --grid 32 --epochs 10
    python -m training.experiments.ablation --set ingredients --data datasets/sheets_30k_1000K.h5 \
        --split trajectory --unseen datasets/hbn_unseen_1000K.h5 \
        datasets/heterostructure_vacancy_1000K.h5 datasets/graphene_stone_wales_1200K.h5 \
        --grid 32 --epochs 8 --runs runs/ablation_ingredients_30k
    python -m training.experiments.ablation --set grid --data datasets/sheets_30k_1000K.h5 \
        --split trajectory --unseen datasets/hbn_unseen_1000K.h5 \
        datasets/heterostructure_vacancy_1000K.h5 datasets/graphene_stone_wales_1200K.h5 \
        --grid 64 --epochs 6 --runs runs/ablation_grid
    python -m training.experiments.ablation --set representation --data data/ablation/free.h5 \
        --split ablation --epochs 1 --lr 2e-4 --runs runs/ablation_representation
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from ase.calculators.fd import calculate_numerical_forces

from ase_cnnas import CNNASCalculator, load_model

from ..cli import run_module
from ..evaluate import BASELINES, mean_energy_baseline, score
from ..h5data import Frames, read_frames
from ..report import command, hardware, history_of, learning_curves, save_figure, write_text
from ..splits import stored_or_random
from ..train import train
from ..trainconfig import TrainConfig

PAPER = {"head": "flatten", "padding": "zeros", "copies": True, "activation": "relu"}
INVARIANT = {"padding": "circular", "copies": False, "translate": True}
VARIANTS = {
    "paper Network 2 (flatten, zero padding, 4 copies), ReLU": PAPER,
    "paper + random translations": {**PAPER, "translate": True},
    "pooled head + element counts, circular, 1 copy, translations, SiLU": {
        **INVARIANT, "head": "pool", "counts": True, "activation": "silu"},
    "energy per pixel, circular, 1 copy, translations, SiLU": {
        **INVARIANT, "head": "pixel", "activation": "silu"},
    "energy per pixel + force matching (weight 1), ReLU": {
        **INVARIANT, "head": "pixel", "activation": "relu", "force_weight": 1.0},
    "energy per pixel + force matching (weight 1), SiLU (the default model's recipe)": {
        **INVARIANT, "head": "pixel", "activation": "silu", "force_weight": 1.0},
}

RECIPE = {**INVARIANT, "head": "pixel", "activation": "silu", "force_weight": 1.0, "mirror": True}
INGREDIENTS = {
    "production recipe: energy per pixel, SiLU, force weight 1, mirrors, translations": RECIPE,
    "− force matching (energies only)": {**RECIPE, "force_weight": 0.0},
    "force weight 0.1": {**RECIPE, "force_weight": 0.1},
    "force weight 10": {**RECIPE, "force_weight": 10.0},
    "− mirrors": {**RECIPE, "mirror": False},
    "− translations": {**RECIPE, "translate": False},
    "− per-element reference (one mean energy per atom)": {**RECIPE, "reference": "mean"},
    "− target scaling (network output in eV)": {**RECIPE, "scale_target": False},
    "constant learning rate (no cosine decay)": {**RECIPE, "schedule": "constant"},
    "+ early stopping (patience 2)": {**RECIPE, "patience": 2},
}
FREE = {"any_cell": True, "force_weight": 1.0, "warmup": 100, "ema": 0.99}
REPRESENTATIONS = {  # free-standing sheets, each from the weights of --init, a flat model
    "projected: no height channels (the sheet seen from above; z-forces zero)": FREE,
    "height channels Z · (1, u, u²), even stem (the default's)": {**FREE, "heights": True},
    "thin slab: 4 layers of the height u, mirror-averaged stem": {
        **FREE, "heights": True, "height_layers": 4},
}
VARIANT_SETS = {"architecture": VARIANTS, "ingredients": INGREDIENTS,
                "representation": REPRESENTATIONS}
GRID_FACTORS = (1, 1.5, 2)  # --set grid: the recipe on these multiples of --grid


def variants(name: str, grid: int, cell: np.ndarray,
             factors: tuple[float, ...] = GRID_FACTORS) -> dict[str, dict]:
    """The variants of a set, each with its grid; `cell` [3, 3] Å names the grid set's pixels,
    `factors` its grids."""
    if name == "grid":
        sides = np.diag(cell)[:2]
        return {f"production recipe, grid {n}² ({' × '.join(f'{a / n:.3f}' for a in sides)} Å "
                "pixels)": {**RECIPE, "grid": n} for n in (round(grid * f) for f in factors)}
    return {label: {"grid": grid, **options} for label, options in VARIANT_SETS[name].items()}


def fd_mismatch(model_path: Path, frames: Frames, index: int) -> float:
    """max |autograd − finite-difference force| / max |force| on one frame, float32 model, over
    the components the model describes (a model blind to z sees the frame flattened)."""
    atoms = frames.atoms(index)
    atoms.calc = CNNASCalculator(model_path, device="cpu")
    k = atoms.calc.model.force_components
    if k == 2:
        atoms.positions[:, 2] = atoms.positions[:, 2].mean()
    f = atoms.get_forces()
    if not np.abs(f).max():
        return float("nan")  # a constant model: no forces to compare
    mismatch = np.abs(f - calculate_numerical_forces(atoms, eps=1e-3))[:, :k].max()
    return float(mismatch / np.abs(f).max())


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--set", default="architecture", choices=sorted([*VARIANT_SETS, "grid"]),
                    help="which variants: the network's design, the recipe's ingredients, the "
                    "grid, or a free-standing sheet's representation")
    ap.add_argument("--data", type=Path, required=True,
                    help="HDF5 frames file every variant trains and is tested on")
    ap.add_argument("--split", default="random",
                    help="a split stored in the data file, or 'random' (seeded by --seed)")
    ap.add_argument("--unseen", type=Path, nargs="*", default=[],
                    help="trajectories none of the variants saw (a column each)")
    ap.add_argument("--grid", type=int, default=32, help="pixels per side")
    ap.add_argument("--init", default="flat",
                    help="--set representation: the flat model every variant starts from")
    ap.add_argument("--factors", type=float, nargs="+", default=None,
                    help=f"--set grid: train on these multiples of --grid (default {GRID_FACTORS})")
    ap.add_argument("--seed", type=int, default=0,
                    help="of every variant's initialisation and batches (and a random split)")
    ap.add_argument("--epochs", type=int, default=10, help="epochs of every variant")
    ap.add_argument("--batch", type=int, default=16, help="frames per training step")
    ap.add_argument("--lr", type=float, default=5e-4, help="learning rate")
    ap.add_argument("--clip", type=float, default=20.0,
                    help="gradient-norm bound (train --clip); 0: none")
    ap.add_argument("--runs", type=Path, default=None,
                    help="folder of the variants' runs (default: runs/ablation[_SET][_seedN])")
    ap.add_argument("--out", type=Path, default=None,
                    help="Markdown table to write (default: results/ablation[_SET][_seedN].md)")


def run(args: argparse.Namespace) -> None:
    if args.factors and args.set != "grid":
        raise ValueError("--factors picks the grids of --set grid; "
                         f"--set {args.set} trains on --grid")
    suffix = ("" if args.set == "architecture" else f"_{args.set}") + (
        f"_seed{args.seed}" if args.seed else "")  # another seed never overwrites seed 0's
    runs = args.runs or Path(f"runs/ablation{suffix}")
    out = args.out or Path(f"results/ablation{suffix}.md")
    frames = read_frames(args.data)
    moved = frames.translated(np.random.default_rng(1))
    unseen = {path.stem: read_frames(path) for path in args.unseen}
    parts = stored_or_random(args.data, args.split, len(frames), args.seed)  # as train() splits
    train_idx, test_idx = parts["train"], parts["test"]
    baselines = {by: mean_energy_baseline(frames, train_idx, by) for by in BASELINES}
    runs_of = variants(args.set, args.grid, frames.cell[0], tuple(args.factors or GRID_FACTORS))
    representation = args.set == "representation"  # free-standing variants from --init
    if representation:  # any-cell models on the --init model's pixels
        grids = "the pixels of {} ({} Å)".format(
            args.init, " × ".join(f"{d:.3f}" for d in load_model(args.init).spacing))
    else:
        sizes = dict.fromkeys(o["grid"] for o in runs_of.values())
        grids = "grid " + "², ".join(str(n) for n in sizes) + "²"
    lines = [f"# Network 2 ablation ({args.set}): same data, {grids}, {args.epochs} epochs, "
             f"batch {args.batch}, lr {args.lr}, seed {args.seed}, "
             + (f"gradient norm clipped at {args.clip}" if args.clip else "no gradient clipping"),
             "", f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}  ",
             f"Data: {args.data} ({len(frames)} frames), test part of split '{args.split}' "
             f"({len(test_idx)} frames; {len(train_idx)} train). 'translated': the same test "
             "frames, each shifted by a random in-plane translation.", "",
             "'unseen: NAME': every frame of that trajectory, which no variant trained on."
             if unseen else "No unseen trajectory given.", "",
             "| variant | energy MAE (meV/atom) | translated: energy MAE | "
             + "".join(f"unseen: {name} | " for name in unseen)
             + "force MAE (meV/Å) | max abs(F − F_fd) / max abs(F) | training (min) | "
             "ms per scored frame |",
             "|---|---|---|" + "---|" * len(unseen) + "---|---|---|---|"]
    components = 3 if representation else None  # z too, for every variant
    histories = {}
    for i, (name, options) in enumerate(runs_of.items()):
        if representation:
            options = {**options, "init": args.init}
        try:  # a variant folder trained with other settings is refused, not silently resumed
            best = train(TrainConfig(args.data, runs / f"variant{i}", epochs=args.epochs,
                                     batch=args.batch, seed=args.seed, lr=args.lr,
                                     clip=args.clip or None, split=args.split, **options))
        except ValueError as err:
            raise SystemExit(f"ablation: {err}") from None
        histories[name] = history_of(best.parent)
        minutes = histories[name][-1]["seconds"] / 60
        model = load_model(best)
        start = time.perf_counter()
        r = score(model, frames, test_idx, baselines, components=components)
        ms = (time.perf_counter() - start) / len(test_idx) * 1e3
        t = score(model, moved, test_idx, baselines, components=components)
        u = [score(model, f, np.arange(len(f)), baselines, components=components)
             for f in unseen.values()]
        mismatch = np.median([fd_mismatch(best, frames, int(k)) for k in test_idx[:3]])
        lines.append(f"| {name} | {r['energy_mae']:.2f} | {t['energy_mae']:.2f} | "
                     + "".join(f"{s['energy_mae']:.2f} | " for s in u)
                     + f"{r['force_mae']:.0f} | {mismatch:.1e} | {minutes:.1f} | {ms:.1f} |")
        print(lines[-1], flush=True)
    for by in BASELINES:
        key = by + "_baseline_mae"
        lines.append(f"| baseline: mean energy per atom of the {by} | {r[key]:.2f} | "
                     f"{t[key]:.2f} | " + "".join(f"{s[key]:.2f} | " for s in u) + " | | | |")
    curves = out.with_name(out.stem + "_curves.png")
    lines += ["", f"Validation error per epoch of each variant: `{curves.name}`."]
    save_figure(learning_curves(histories), curves)
    write_text(out, "\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    """`python -m training.experiments.ablation`: the same as `cnnas experiment ablation`."""
    return run_module(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
