"""Which activation for MD: train the same small Network 2 with each activation on the same data
and compare test-split energy and force errors, and how far autograd forces are from central
finite differences of the energy (a ReLU network's energy is only piecewise smooth).

    python -m training.experiments.activation --data data/sheets_1000K/frames.h5 --grid 32 --epochs 15
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.fd import calculate_numerical_forces

from ase_cnnas import CNNASCalculator, load_model

from ..batches import split
from ..evaluate import composition_baseline, score
from ..h5data import read_frames
from ..report import command, hardware, write_text
from ..train import train


def fd_mismatch(model_path: Path, frames, index: int) -> float:
    """Largest |autograd − finite-difference (1e-3 Å)| force over the largest force, one frame."""
    off = frames.offsets
    atoms = Atoms(numbers=frames.numbers[off[index]:off[index + 1]],
                  positions=frames.positions[off[index]:off[index + 1]],
                  cell=frames.cell[index], pbc=frames.pbc[index])
    atoms.calc = CNNASCalculator(model_path, device="cpu")
    f = atoms.get_forces()
    fd = calculate_numerical_forces(atoms, eps=1e-3)
    return float(np.abs(f - fd)[:, :2].max() / np.abs(f).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--grid", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--runs", type=Path, default=Path("runs/activation"))
    ap.add_argument("--out", type=Path, default=Path("results/activation.md"))
    args = ap.parse_args()
    frames = read_frames(args.data)
    train_idx, _, test_idx = split(len(frames), 0)
    baseline = composition_baseline(frames, train_idx)
    lines = [f"# Activation for Network 2: same data, grid {args.grid}², {args.epochs} epochs", "",
             f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}  ",
             f"Data: {args.data} ({len(frames)} frames), test split of seed 0.", "",
             "| activation | energy MAE (meV/atom) | force MAE (meV/Å) | max |F − F_fd| / max |F| |",
             "|---|---|---|---|"]
    for act in ("relu", "silu", "softplus"):
        best = train(args.data, args.runs / act, grid=args.grid, epochs=args.epochs, activation=act)
        r = score(load_model(best), frames, test_idx, baseline)
        mismatch = np.median([fd_mismatch(best, frames, int(i)) for i in test_idx[:3]])
        lines.append(f"| {act} | {r['energy_mae']:.2f} | {r['force_mae']:.0f} | {mismatch:.1e} |")
    write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
