"""Does an ensemble's spread flag the frames it gets wrong? Spread against error, per trajectory.

Each member predicts every frame of the trajectories (the unseen ones by default); the ensemble's
answer is the members' mean and its uncertainty their spread (what `CNNASCalculator([...])`
returns as `energy_std`). Per trajectory: each member's and the mean's energy MAE, the rank
correlation (Spearman) of spread and error per frame, and how many of the worst tenth of frames by
error the largest tenth by spread flags (10 % by chance). Writes results/ensemble.md and a
spread-against-error plot beside it.

    python -m training.experiments.ensemble --members runs/member*/best.pt
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from ase_cnnas.modelfile import load_model
from ase_cnnas.scan import predict_arrays

from ..cli import run_module
from ..h5data import read_frames
from ..report import command, hardware, save_figure, write_text
from .unseen import TRAJECTORIES

FLAG_SHARE = 0.1  # the share of frames flagged by spread, and of worst frames by error


def frame_statistics(energies: np.ndarray, forces: np.ndarray, natoms: np.ndarray,
                     true_energy: np.ndarray, true_forces: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame errors and spreads (meV/atom, meV/Å) from members' energies [M, F] (eV) and
    forces [M, A, 3] (eV/Å): the mean's energy and in-plane force errors, the members' standard
    deviation of the energy and their mean standard deviation of the in-plane force components."""
    frame = np.repeat(np.arange(len(natoms)), natoms)

    def per_frame(per_atom: np.ndarray) -> np.ndarray:  # [A] → mean over each frame's atoms [F]
        return np.bincount(frame, per_atom, len(natoms)) / natoms

    mean_f = forces.mean(0)[:, :2]
    return {"energy_error": np.abs(energies.mean(0) - true_energy) / natoms * 1e3,
            "energy_spread": energies.std(0) / natoms * 1e3,
            "force_error": per_frame(np.abs(mean_f - true_forces[:, :2]).mean(1)) * 1e3,
            "force_spread": per_frame(forces[:, :, :2].std(0).mean(1)) * 1e3,
            "member_energy_error": np.abs(energies - true_energy) / natoms * 1e3}


def flags(error: np.ndarray, spread: np.ndarray, share: float = FLAG_SHARE) -> dict[str, float]:
    """Spearman ρ of spread and error, and the share of the worst `share` of frames by error that
    the largest `share` by spread catches (`share` on average when the spread knows nothing)."""
    k = max(int(round(share * len(error))), 1)
    worst, flagged = set(np.argsort(-error)[:k]), set(np.argsort(-spread)[:k])
    rho = spearmanr(spread, error).statistic if len(error) > 2 else float("nan")
    return {"spearman": float(rho), "caught": len(worst & flagged) / k}


def study(members: list[str], paths: list[Path], batch: int = 64) -> dict:
    """Every member on every trajectory: the per-trajectory summary and per-frame values."""
    models = [load_model(m, "cpu") for m in members]
    out = {}
    for path in paths:
        frames = read_frames(path)
        preds = [predict_arrays(m, frames.positions, frames.numbers, frames.cell, frames.natoms,
                                batch, forces=True, progress=True) for m in models]
        stats = frame_statistics(np.array([e for e, _ in preds]), np.array([f for _, f in preds]),
                                 frames.natoms, frames.energy, frames.forces)
        out[path.stem] = {
            "frames": len(frames),
            "member_energy_mae": stats["member_energy_error"].mean(1).tolist(),
            "energy_mae": float(stats["energy_error"].mean()),
            "force_mae": float(stats["force_error"].mean()),
            "energy": flags(stats["energy_error"], stats["energy_spread"]),
            "force": flags(stats["force_error"], stats["force_spread"]),
            "per_frame": {k: v.tolist() for k, v in stats.items() if k != "member_energy_error"}}
    return out


def plot(results: dict, path: Path) -> None:
    """Error against spread per frame, energies and forces, one colour per trajectory."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for what, unit, ax in (("energy", "meV/atom", axes[0]), ("force", "meV/Å", axes[1])):
        for name, r in results.items():
            ax.loglog(r["per_frame"][f"{what}_spread"], r["per_frame"][f"{what}_error"], ".",
                      ms=4, label=f"{name} (ρ = {r[what]['spearman']:.2f})")
        ax.set_xlabel(f"ensemble spread ({unit})")
        ax.set_ylabel(f"error of the ensemble mean ({unit})")
        ax.set_title(f"{what} per frame", fontsize=10)
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--members", nargs="+", required=True, help="model files of the ensemble")
    ap.add_argument("--data", nargs="+", type=Path, default=[Path(t) for t in TRAJECTORIES],
                    help="labelled trajectories (default: the three unseen ones in datasets/)")
    ap.add_argument("--out", type=Path, default=Path("results/ensemble.md"),
                    help="Markdown table to write (the plot and a JSON file go beside it)")


def run(args: argparse.Namespace) -> None:
    if len(args.members) < 2:
        raise ValueError("an ensemble needs at least two members (--members A.pt B.pt ...)")
    results = study(args.members, args.data)
    plot(results, args.out.with_suffix(".png"))
    lines = ["# Ensemble spread against error", "", f"Regenerate: `{command()}`  ",
             f"Hardware: {hardware()}", "", f"{len(args.members)} members: "
             + ", ".join(f"`{m}`" for m in args.members) + f". Flagged: the {FLAG_SHARE:.0%} of "
             f"frames with the largest spread; caught: the share of the {FLAG_SHARE:.0%} of "
             f"frames with the largest error that are flagged ({FLAG_SHARE:.0%} by chance).", "",
             "| trajectory | frames | members' energy MAE (meV/atom) | mean's energy MAE | "
             "energy: ρ(spread, error) | energy: caught | mean's force MAE (meV/Å) | "
             "force: ρ(spread, error) | force: caught |", "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        members = ", ".join(f"{v:.2f}" for v in r["member_energy_mae"])
        lines.append(f"| {name} | {r['frames']} | {members} | {r['energy_mae']:.2f} | "
                     f"{r['energy']['spearman']:.2f} | {r['energy']['caught']:.0%} | "
                     f"{r['force_mae']:.0f} | {r['force']['spearman']:.2f} | "
                     f"{r['force']['caught']:.0%} |")
    lines += ["", f"Figure: `{args.out.with_suffix('.png').name}`."]
    write_text(args.out, "\n".join(lines) + "\n")
    write_text(args.out.with_suffix(".json"), json.dumps(results))
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    """`python -m training.experiments.ensemble`: the same as `cnnas experiment ensemble`."""
    return run_module(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
