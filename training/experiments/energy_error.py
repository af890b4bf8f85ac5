r"""What kind of error is the energy error? Two checks on a trained model, each of a cheap cure.

1. The last layer. A pixel-head model's energy is linear in it: E = offset + s · (w · h + c), h
   the per-pixel head's hidden layer summed over the pixels (averaged over the reflections when
   the model symmetrizes). Refitting w and c by least squares on the training energies, with a
   ridge pull towards the trained w, gives the best energies the trained features allow.
2. Translations. A strided network is exactly invariant only to shifts by whole periods of its
   output grid (2^reductions pixels); the test frames are shifted by fractions of that period
   along the cell axes, and the errors of the shifted copies, and of their average, compared.

If neither moves the error, it lies in the features, and only training them further can.
Writes results/energy_error.md.

    python -m training.experiments.energy_error --model results/models/w64_r5/best.pt \
        --symmetrize --data datasets/sheets_30k_1000K.h5 --every 4
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ase_cnnas.model import EnergyModel
from ase_cnnas.modelfile import load_model
from ase_cnnas.scan import predict_arrays

from ..batches import model_inputs, reference_sums, to_tensors
from ..cli import add_symmetrize_argument, run_module
from ..h5data import Frames, read_frames
from ..report import command, hardware, write_text
from ..splits import split_of

RIDGES = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6)  # λ, relative to the mean diagonal of hᵀh
# along the first two cell axes, in periods of the network's output grid (2^reductions pixels,
# the shortest shift its energy is exactly invariant to): half periods, and half a pixel
SHIFTS = ((0.0, 0.0), (0.5, 0.0), (0.0, 0.5), (0.5, 0.5), (0.0625, 0.0625))


def period(model: EnergyModel) -> int:
    """Input pixels per output pixel of the network: the shortest shift its energy is exactly
    invariant to."""
    return model.network.receptive_field[1]


def check_model(model: EnergyModel) -> None:
    """Refuse models whose energy is not offset + s · (w · h + c) as computed here."""
    config = model.network.config
    if config.head != "pixel" or config.extra_inputs or model.extensive:
        raise SystemExit("the readout study needs a "
                         f"non-extensive pixel-head model without extra inputs (this one: head "
                         f"{config.head!r}, extra inputs {config.extra_inputs}, extensive "
                         f"{model.extensive}); train one with --head pixel --padding circular")


def summed_hidden(model: EnergyModel, images: torch.Tensor) -> torch.Tensor:
    """h [F, dense]: the head's hidden layer summed over the output pixels, averaged over the
    network's shifted copies and, when the model symmetrizes, over the reflections."""
    net = model.network
    flips = model.reflections if model.symmetrize else [()]
    dims = tuple(range(1, images.dim()))
    parts = []
    for axes in flips:
        reflected = model.reflect(images, axes)
        for shift in net.shifts:
            x = reflected.roll(shift, dims)[:, None]
            hidden = net.head[:-1](net.trunk(x).movedim(1, -1))  # [F, *pixels, dense]
            parts.append(hidden.flatten(1, -2).sum(1).double())
    return torch.stack(parts).mean(0)


def features(model: EnergyModel, frames: Frames, index: np.ndarray, batch: int = 64,
             progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """h [F, dense] of the frames at `index` and the model's energies [F] (eV) of them."""
    hs, energies = [], []
    with torch.no_grad():
        for start in tqdm(range(0, len(index), batch), desc="features", unit="batch",
                          disable=not progress):
            b = to_tensors(frames, index[start:start + batch], model.device)
            images = model.images(*model_inputs(b))
            hs.append(summed_hidden(model, images).cpu().numpy())
            energies.append(model.energy(images, b["numbers"], b["frame"], b["n_frames"])
                            .cpu().numpy())
    return np.concatenate(hs), np.concatenate(energies)


def readout(model: EnergyModel) -> tuple[np.ndarray, float]:
    """The trained last layer as (w, c): c is its bias times the output pixels it is summed over."""
    last = model.network.head[-1]
    pixels = np.prod([n // period(model) for n in model.network.config.grid])
    return (last.weight.detach().double().cpu().numpy()[0],
            float(last.bias.detach()) * float(pixels))


def refit(h: np.ndarray, target: np.ndarray, w: np.ndarray, c: float, ridge: float
          ) -> tuple[np.ndarray, float]:
    """(w, c) minimising Σ (target − w·h − c)² + λ ‖w − w_trained‖², λ = ridge × mean diag hᵀh."""
    x = np.hstack([h, np.ones((len(h), 1))])
    gram = x.T @ x
    penalty = ridge * np.trace(gram[:-1, :-1]) / len(w)
    gram[np.arange(len(w)), np.arange(len(w))] += penalty
    step = np.linalg.solve(gram, x.T @ (target - h @ w - c))
    return w + step[:-1], c + step[-1]


def readout_rows(model: EnergyModel, frames: Frames, split: dict[str, np.ndarray]
                 ) -> tuple[list[tuple[str, float, list[float]]], float]:
    """(name, ‖Δw‖ / ‖w‖, energy MAE in meV/atom of the train, validation and test parts) of the
    trained readout and of each refit, and how closely offset + s (w·h + c) reproduces the
    model's own energies (eV)."""
    parts = ("train", "validation", "test")
    h, energy = {}, {}
    for part in parts:
        h[part], energy[part] = features(model, frames, split[part], progress=True)
    w0, c0 = readout(model)
    offset = {p: reference_sums(frames, split[p], model.element_energies) + model.energy_mean
              for p in parts}
    worst = max(np.abs(energy[p] - model.energy_scale * (h[p] @ w0 + c0) - offset[p]).max()
                for p in parts)
    if worst > 1e-3:  # eV: the decomposition must reproduce the model's own energies
        raise SystemExit(f"E ≠ offset + s (w·h + c) by up to {worst:.2g} eV: the readout study "
                         "does not apply to this model")

    def maes(w: np.ndarray, c: float) -> list[float]:
        return [float((np.abs(offset[p] + model.energy_scale * (h[p] @ w + c)
                              - frames.energy[split[p]]) / frames.natoms[split[p]]).mean() * 1e3)
                for p in parts]

    target = (frames.energy[split["train"]] - offset["train"]) / model.energy_scale
    rows = [("as trained", 0.0, maes(w0, c0))]
    for ridge in RIDGES:
        w, c = refit(h["train"], target, w0, c0, ridge)
        rows.append((f"refit, λ = {ridge:g}", float(np.linalg.norm(w - w0) / np.linalg.norm(w0)),
                     maes(w, c)))
    return rows, worst


def shifted(model: EnergyModel, frames: Frames, index: np.ndarray, shift: tuple[float, float],
            batch: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Energies [F] (eV) and forces [A, 3] (eV/Å) of the frames at `index`, every atom moved by
    `shift` periods of the network's output grid along the first two cell axes of its frame."""
    sub = frames.subset(np.asarray(index))
    grid = model.network.config.grid
    step = sum(f * period(model) / n * sub.cell[:, k]  # [F, 3] Å
               for k, (f, n) in enumerate(zip(shift, grid)))
    positions = sub.positions + np.repeat(step, sub.natoms, axis=0)
    return predict_arrays(model, positions, sub.numbers, sub.cell, sub.natoms, batch, forces=True)


def translation_rows(model: EnergyModel, frames: Frames, index: np.ndarray,
                     shifts: tuple[tuple[float, float], ...] = SHIFTS
                     ) -> list[tuple[str, float, float]]:
    """(name, energy MAE in meV/atom, in-plane force MAE in meV/Å) of each shifted copy of the
    frames at `index` and of the average over the copies, and the mean spread (standard
    deviation over the copies) of the energy per atom."""
    sub = frames.subset(np.asarray(index))
    runs = [shifted(model, frames, index, s) for s in tqdm(shifts, desc="shifts", unit="shift")]
    energies = np.array([e for e, _ in runs]) / sub.natoms  # eV/atom
    forces = np.array([f for _, f in runs])[..., :2]
    truth, true_forces = sub.energy / sub.natoms, sub.forces[:, :2]

    def row(name: str, e: np.ndarray, f: np.ndarray) -> tuple[str, float, float]:
        return (name, float(np.abs(e - truth).mean() * 1e3),
                float(np.abs(f - true_forces).mean() * 1e3))

    rows = [row(f"shifted by ({a * period(model):g}, {b * period(model):g}) pixels", e, f)
            for (a, b), e, f in zip(shifts, energies, forces)]
    rows.append(row(f"average of the {len(shifts)}", energies.mean(0), forces.mean(0)))
    rows.append(("spread: std over the copies (meV/atom)", float(energies.std(0).mean() * 1e3),
                 float("nan")))
    return rows


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--model", default="default",
                    help="a pixel-head model file, or a bundled model's name")
    ap.add_argument("--data", type=Path, required=True, help="the file the model was trained on")
    add_symmetrize_argument(ap)
    ap.add_argument("--every", type=int, default=1, help="use every N-th frame of each split part")
    ap.add_argument("--out", type=Path, default=Path("results/energy_error.md"),
                    help="Markdown table to write")


def run(args: argparse.Namespace) -> None:
    if args.every < 1:
        raise ValueError(f"--every {args.every}: give 1 (every frame) or more")
    model = load_model(args.model, "cpu", symmetrize=args.symmetrize).eval()
    check_model(model)
    frames = read_frames(args.data)
    split = {part: index[::args.every]
             for part, index in split_of(model.metadata, args.data, len(frames)).items()}
    rows, worst = readout_rows(model, frames, split)
    lines = ["# What kind of error is the energy error?", "",
             f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}", "",
             f"Model `{args.model}`, data `{args.data}`: one frame in {args.every} of each part of "
             f"its split ({', '.join(f'{p} {len(v)}' for p, v in split.items())}).", "",
             "The last layer refitted on the training energies. The energy is "
             "offset + s · (w · h + c), h the per-pixel head's hidden layer summed over the "
             f"pixels{', averaged over the reflections' if model.symmetrize else ''} (reproduced "
             f"to {worst:.1g} eV); w and c refitted by least squares on the training part, with a "
             "ridge pull λ towards the trained w. Forces are not refitted, so a large change in w "
             "leaves them untested.", "",
             "| readout | ‖Δw‖ / ‖w‖ | train E MAE | validation E MAE | test E MAE (meV/atom) |",
             "|---|---|---|---|---|"]
    lines += [f"| {name} | {change:.2f} | " + " | ".join(f"{e:.3f}" for e in maes) + " |"
              for name, change, maes in rows]
    shift_rows = translation_rows(model, frames, split["test"])
    lines += ["", f"Translations: the test part ({len(split['test'])} frames), every atom moved "
              "along the first two cell axes by the pixels named (only whole multiples of "
              f"{period(model)} pixels, the network's output grid, leave its energy exactly "
              "unchanged); forces as the calculator gives them, in-plane.", "",
              "| frames | energy MAE (meV/atom) | force MAE (meV/Å) |", "|---|---|---|"]
    lines += [f"| {name} | {e:.3f} | " + ("" if np.isnan(f) else f"{f:.1f}") + " |"
              for name, e, f in shift_rows]
    write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    """`python -m training.experiments.energy_error`: the same as
    `cnnas experiment energy_error`."""
    return run_module(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
