"""How closely must an any-cell model's pixels match? (A study, not a test.)

An any-cell model lays a cell side on whole network periods (8 pixels), repeating a short side
until the pixels are within a tolerance of the model's own (ase_cnnas.cells.repeats). The
network sees positions in pixels, so a side laid on pixels 0.5 % too large looks 0.5 % more
compressed than it is: on a sheet strained a few per cent, where the energy rises steeply with
strain, that is several meV/atom. This scores each model on DFT-labelled frames at several
tolerances: energy and force error against the labels (as `cnnas experiment dft`), how far each
frame's energy moves from the tightest tolerance's, the mean pixel mismatch, and the time.

    python benchmarks/pixel_match.py datasets/pbe_val_1000K.h5 datasets/pbe_val_flat_1000K.h5 \
        --models default --out results/pixel_match.md
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ase_cnnas.model import EnergyModel  # noqa: E402
from ase_cnnas.modelfile import load_model  # noqa: E402
from training.experiments.dft import errors, scores, with_model  # noqa: E402
from training.h5data import Frames, read_frames  # noqa: E402
from training.report import command, hardware, write_text  # noqa: E402


def mismatch(frames: Frames, model: EnergyModel) -> np.ndarray:
    """Per frame, the larger of its two sides' pixel mismatch |L/(nΔ) − 1| as the model lays it
    (its own grouping and grid, at its match_pixels)."""
    spacing = torch.as_tensor(model.spacing)
    out = []
    for i in range(len(frames)):
        atoms = frames.atoms(i)
        _, inputs, _, _ = next(model.groups(
            torch.tensor(atoms.positions), torch.tensor(atoms.numbers),
            torch.tensor(atoms.cell.array)[None], torch.zeros(len(atoms), dtype=torch.long), 1))
        out.append(float((model.pixel_spacing(inputs[2]) / spacing - 1).abs().max()))
    return np.array(out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", nargs="+", type=Path, help="DFT-labelled frames files")
    ap.add_argument("--models", nargs="+", default=["default"],
                    help="any-cell model files or bundled names")
    ap.add_argument("--tolerances", nargs="+", type=float, default=[0.01, 0.004, 0.002, 0.001])
    ap.add_argument("--out", type=Path, default=Path("results/pixel_match.md"))
    args = ap.parse_args(argv)
    frames = Frames.concatenate([read_frames(p) for p in args.data])
    tolerances = sorted(args.tolerances, reverse=True)
    rows = []
    for name in args.models:
        model = load_model(name)
        if not model.any_cell:
            raise SystemExit(f"{name}: not an any-cell model; it lays every frame on its own grid")
        trained, scored = model.match_pixels, {}
        for tol in tolerances:
            model.match_pixels = tol
            start = time.perf_counter()
            energy, forces, ok = with_model(frames, model)
            seconds = time.perf_counter() - start
            mine = frames.subset(np.flatnonzero(ok))
            scored[tol] = (energy / mine.natoms * 1e3,
                           scores(mine, energy, forces, *errors(mine, energy, forces)),
                           mismatch(mine, model).mean(), seconds)
        tightest = scored[tolerances[-1]][0]
        rows += [(name, trained, tol, r, np.abs(per_atom - tightest).mean(), mis, sec)
                 for tol, (per_atom, r, mis, sec) in scored.items()]
    lines = [
        "# Pixel matching: how an any-cell model's errors move with the tolerance", "",
        f"Regenerate: `{command()}`  ",
        f"Hardware: {hardware()}, float32, {torch.get_num_threads()} torch threads", "",
        f"{len(frames)} DFT-labelled frames ({', '.join(f'`{p}`' for p in args.data)}). Each "
        "model lays a side on whole network periods, repeating short sides until the pixels "
        "are within the tolerance (up to a longest side that grows as the tolerance shrinks). "
        "Energy MAE after one fitted offset per element; |ΔE|: the mean change of a frame's "
        "energy from the tightest tolerance's; mismatch: the mean over frames of the larger "
        "side's |L/(n·step) − 1|; seconds: scoring all frames (energies and forces).", "",
        "| model | trained within | tolerance | energy MAE (meV/atom) | force MAE (meV/Å) | "
        "\\|ΔE\\| (meV/atom) | mismatch (%) | seconds |",
        "|---|---|---|---|---|---|---|---|"]
    lines += [f"| `{name}` | {100 * trained:g} % | {100 * tol:g} % | {r['energy_mae']:.2f} | "
              f"{r['force_mae']:.0f} | {moved:.2f} | {100 * mis:.2f} | {sec:.0f} |"
              for name, trained, tol, r, moved, mis, sec in rows]
    write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
