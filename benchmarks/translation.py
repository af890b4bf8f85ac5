"""How much of a grid model's force error is translation? (A study, not a test.)

The image is invariant only to whole-pixel shifts, and the network, which halves its grid
`reductions` times, only to shifts by whole multiples of 2^reductions pixels (8): a model's
forces depend on where the atoms sit against that period. Averaging the energy over translations
of the whole structure (fractions of a pixel, or whole pixels within the period) removes that
dependence. This measures, for each set of translations, the largest force on a perfect lattice
(zero by symmetry) and the force MAE (x, y, z) against the labels of frame files, and the cost.
Writes a Markdown table.

    python benchmarks/translation.py --model results/models/free_stage2/best.pt \
        --frames datasets/free_unseen_graphene_stone_wales_hex6_600K.h5 \
        --out results/free_stage2/translation.md
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from ase import Atoms

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ase_cnnas import CNNASCalculator  # noqa: E402
from ase_cnnas.sheets import build_sheet  # noqa: E402
from training.h5data import read_frames  # noqa: E402
from training.report import command, hardware, write_text  # noqa: E402


def shift_sets(period: int) -> dict[str, list[tuple[float, float]]]:
    """Named sets of translations, in pixels along x and y, for a network of that period."""
    def grid(step: float, stop: float) -> list[tuple[float, float]]:
        steps = np.arange(0, stop, step)
        return [(float(i), float(j)) for i in steps for j in steps]
    sets = {"none": [(0.0, 0.0)], "½ pixel": grid(0.5, 1), "⅓ pixel": grid(1 / 3, 1)}
    for step in sorted({period // 2, period // 4, 1} - {0}, reverse=True):
        if step < period:
            sets[f"{step} pixel{'s' if step > 1 else ''}"] = grid(step, period)
    return sets


def averaged_forces(calc: CNNASCalculator, atoms: Atoms, shifts: list, start: np.ndarray
                    ) -> np.ndarray:
    """Forces (eV/Å) of the energy averaged over the structure translated by `start` (Å) plus
    each of `shifts` (pixels): a translation leaves forces unchanged, so they average too."""
    spacing = calc.models[0].spacing
    forces = []
    for shift in shifts:
        moved = atoms.copy()
        moved.positions[:, :2] += start + np.array(shift) * spacing
        moved.calc = calc
        forces.append(moved.get_forces())
    return np.mean(forces, axis=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="free")
    ap.add_argument("--lattices", nargs="+", default=["graphene_pristine",
                                                       "graphene_pristine@hex6"])
    ap.add_argument("--frames", nargs="*", type=Path, default=[],
                    help="labelled frame files (HDF5) to score")
    ap.add_argument("--per-file", type=int, default=12, help="frames per file, evenly spaced")
    ap.add_argument("--starts", type=int, default=3,
                    help="random start translations per lattice (the largest force is kept)")
    ap.add_argument("--out", type=Path, default=Path("results/translation.md"))
    args = ap.parse_args()
    calc = CNNASCalculator(args.model, device="cpu")
    rng = np.random.default_rng(0)
    shifts_by = shift_sets(calc.models[0].multiple)
    header = ["| translations averaged (steps along x and y) | number | "
              + " | ".join(f"{s}: largest force (eV/Å)" for s in args.lattices)
              + "".join(f" | {p.stem}: force MAE (meV/Å)" for p in args.frames)
              + " | s per 60 atoms |", "|---" * (3 + len(args.lattices) + len(args.frames)) + "|"]
    lattices = [build_sheet(structure) for structure in args.lattices]
    files = [read_frames(path) for path in args.frames]
    picked = [np.linspace(0, len(frames) - 1, args.per_file).astype(int) for frames in files]
    atoms_seen = (sum(len(atoms) for atoms in lattices) * args.starts
                  + sum(int(frames.natoms[i].sum()) for frames, i in zip(files, picked)))
    rows = []
    for name, shifts in shifts_by.items():
        cells, tick = [], time.perf_counter()
        for atoms in lattices:
            cells.append(max(np.abs(averaged_forces(
                calc, atoms, shifts, rng.uniform(0, 1, 2) * calc.models[0].spacing)).max()
                for _ in range(args.starts)))
        for frames, index in zip(files, picked):
            offsets = frames.offsets
            errors = [np.abs(averaged_forces(calc, frames.atoms(i), shifts, np.zeros(2))
                             - frames.forces[offsets[i]:offsets[i + 1]]).ravel() for i in index]
            cells.append(np.concatenate(errors).mean() * 1e3)
        cost = (time.perf_counter() - tick) / atoms_seen * 60
        forces, maes = cells[:len(lattices)], cells[len(lattices):]
        rows.append(f"| {name} | {len(shifts)} | " + " | ".join(f"{c:.3f}" for c in forces)
                    + "".join(f" | {c:.0f}" for c in maes)
                    + f" | {cost:.2f} |")
        print(rows[-1], flush=True)
    lines = ["# Force error against translation averaging", "",
             f"Regenerate: `{command()}`  ",
             f"Hardware: {hardware()}, {torch.get_num_threads()} torch threads", "",
             f"Model `{args.model}`, its network periodic in {calc.models[0].multiple} pixels. "
             "Each row averages the energy (so the forces) over translations of the whole "
             "structure in those steps (fractions of a pixel, or whole pixels within the "
             "network's period); a perfect lattice's "
             f"largest force is the most over {args.starts} random start positions; force MAE "
             f"over all three components of {args.per_file} evenly spaced frames of each file.",
             "", *header, *rows, ""]
    write_text(args.out, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
