"""Compare a model with a trajectory's own labels (OUTCAR, vasprun.xml, extxyz, our HDF5…).

Predicts every frame in batches, reports the energy error per atom (mean and max, meV/atom) beside
the trivial baseline (every frame predicted at the trajectory's own mean energy per atom) and the
force error (meV/Å; in-plane for a flat model, all three components and z alone for one that
sees heights) against the file's energies and forces, and draws the paper's Figure 7 (true and
predicted energy per atom against time, and their difference) and a parity plot of energies and
force components.

    cnnas compare OUTCAR --model default --out results/compare
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from ase_cnnas.modelfile import load_model
from ase_cnnas.scan import check_frames

from .cli import add_device_argument, add_symmetrize_argument
from .evaluate import frame_interval, plot_trajectory, predict
from .h5data import Frames
from .importer import read_file
from .report import command, hardware, save_figure, write_text


def vasp_interval(path: Path) -> float | None:
    """Femtoseconds between the frames of a VASP MD file (POTIM × NBLOCK), None if not stated."""
    head = path.read_bytes()[:2_000_000].decode(errors="replace")
    potim = re.search(r'POTIM\s*=\s*([-\d.Ee+]+)|name="POTIM">\s*([-\d.Ee+]+)', head)
    nblock = re.search(r'NBLOCK\s*=\s*(\d+)|name="NBLOCK">\s*(\d+)', head)
    if not potim:
        return None
    return float(next(filter(None, potim.groups()))) * (
        int(next(filter(None, nblock.groups()))) if nblock else 1)


COMPONENTS = {2: "in-plane", 3: "x, y and z"}


def compare(model, frames: Frames, batch: int = 64) -> dict:
    """Energy and force errors of `model` on every frame, with the per-frame energies."""
    index = np.arange(len(frames))
    energy, forces = predict(model, frames, index, batch, forces=True, progress=True)
    per_atom_true, per_atom_pred = frames.energy / frames.natoms, energy / frames.natoms
    err = np.abs(per_atom_pred - per_atom_true) * 1e3
    d = model.force_components
    has_forces = ~np.isnan(frames.forces).any(axis=1)
    ferr = (forces - frames.forces)[has_forces, :d]
    return {"frames": len(frames), "atoms": int(frames.natoms.sum()),
            "energy_mae": float(err.mean()), "energy_max": float(err.max()),
            "energy_max_frame": int(err.argmax()),
            "mean_baseline_mae": float(np.abs(per_atom_true - per_atom_true.mean()).mean() * 1e3),
            "force_components": d,
            "force_mae": float(np.abs(ferr).mean() * 1e3) if has_forces.any() else None,
            "force_max": float(np.abs(ferr).max() * 1e3) if has_forces.any() else None,
            "force_mae_z": (float(np.abs(ferr[:, 2]).mean() * 1e3)
                            if d == 3 and has_forces.any() else None),
            "per_frame": {"true": per_atom_true.tolist(), "pred": per_atom_pred.tolist()},
            "forces": {"true": frames.forces[has_forces, :d].ravel(),
                       "pred": forces[has_forces, :d].ravel()}}


def plot_parity(result: dict, path: Path, title: str) -> None:
    """Predicted against true: energies per atom, and force components."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("energy per atom (eV)", result["per_frame"]["true"], result["per_frame"]["pred"],
               f"MAE {result['energy_mae']:.2f} meV/atom")]
    if result["force_mae"] is not None:
        panels.append(("force component (eV/Å)", result["forces"]["true"], result["forces"]["pred"],
                       f"MAE {result['force_mae']:.0f} meV/Å"))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4.3), squeeze=False)
    for ax, (what, true, pred, mae) in zip(axes[0], panels):
        ax.plot(true, pred, ".", ms=2, alpha=0.5)
        lo, hi = min(np.min(true), np.min(pred)), max(np.max(true), np.max(pred))
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.5)
        ax.set_xlabel(f"reference {what}")
        ax.set_ylabel(f"CNNAS {what}")
        ax.set_title(mae, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("trajectory", type=Path,
                    help="OUTCAR, vasprun.xml, extxyz, ASE trajectory, ase-cnnas HDF5… with "
                    "energies")
    ap.add_argument("--model", default="default", help="a bundled model's name or a model file")
    ap.add_argument("--out", type=Path, default=Path("compare"),
                    help="folder for the report (<name>.md) and figures")
    ap.add_argument("--format", dest="fmt", help="ase.io format name, when it cannot be guessed")
    ap.add_argument("--method", help="what labelled the file, for the plots (default: VASP for "
                    "VASP files, the stored method for HDF5)")
    ap.add_argument("--every", type=int, default=1, help="score every Nth frame (the paper: 100)")
    ap.add_argument("--timestep", type=float,
                    help="fs between stored frames (default: from the file, else frame numbers)")
    ap.add_argument("--batch", type=int, default=64, help="frames per forward pass")
    add_device_argument(ap)
    add_symmetrize_argument(ap)


def run(args: argparse.Namespace) -> None:
    import torch

    if args.every < 1 or args.batch < 1:
        raise ValueError("--every and --batch must be at least 1")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_model(args.model, device, args.symmetrize)
    frames, _ = read_file(args.trajectory, method=args.method, fmt=args.fmt)
    if len(frames) == 0:
        raise ValueError(f"{args.trajectory}: no frames")
    interval = args.timestep or (frame_interval(frames) if args.trajectory.suffix == ".h5"
                                 else vasp_interval(args.trajectory))
    frames = frames.subset(np.arange(0, len(frames), args.every))
    interval = interval * args.every if interval else None
    check_frames(model, [frames.atoms(i) for i in range(len(frames))])
    result = compare(model, frames, args.batch)
    name = args.trajectory.name
    reference = frames.method[0]
    args.out.mkdir(parents=True, exist_ok=True)
    fig7, parity = args.out / f"{name}_energy.png", args.out / f"{name}_parity.png"
    plot_trajectory(result, interval, fig7, f"{name}: CNNAS against {reference}", reference)
    plot_parity(result, parity, f"{name}: {result['frames']} frames")
    force = ("no forces in the file" if result["force_mae"] is None else
             f"{result['force_mae']:.1f} meV/Å (largest error {result['force_max']:.0f} meV/Å"
             + ("" if result["force_mae_z"] is None else f"; z alone {result['force_mae_z']:.1f}")
             + ")")
    lines = [f"# {name} against CNNAS ({args.model})", "",
             f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}, device {device}", "",
             "| frames | energy MAE (meV/atom) | energy max (meV/atom) | trajectory-mean baseline "
             f"MAE (meV/atom) | force MAE, {COMPONENTS[result['force_components']]} |",
             "|---|---|---|---|---|",
             f"| {result['frames']} (every {args.every}) | {result['energy_mae']:.2f} | "
             f"{result['energy_max']:.2f} (frame {result['energy_max_frame'] * args.every}) | "
             f"{result['mean_baseline_mae']:.2f} | {force} |", "",
             f"Figures: `{fig7.name}` (the paper's Figure 7), `{parity.name}`."]
    write_text(args.out / f"{name}.md", "\n".join(lines) + "\n")
    print("\n".join(lines[5:8]))
    print(f"wrote {args.out / f'{name}.md'}, {fig7}, {parity}")
