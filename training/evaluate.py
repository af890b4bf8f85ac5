r"""Score a model against labelled frames: its test split and trajectories it never saw.

Energy errors in meV/atom (mean and max of |ΔE|/N), force errors in meV/Å over the in-plane
components (all three for a model that sees heights), each beside the trivial baseline "predict
the mean energy per atom of the composition" taken from the training split. Writes a Markdown
table, a plot of the unseen trajectory in the manner of the paper's Figure 7, and optionally
bundles the model with its metrics.

    cnnas evaluate --model runs/production/best.pt \
        --data datasets/sheets_30k_1000K.h5 --unseen datasets/hbn_unseen_1000K.h5 \
        --out results/default_model.md --bundle ase_cnnas/models/flat.pt
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ase_cnnas.calculator import resolve_device
from ase_cnnas.model import EnergyModel
from ase_cnnas.modelfile import load_model, save_model
from ase_cnnas.scan import predict_arrays

from .cli import add_device_argument, add_symmetrize_argument, run_module
from .h5data import Frames, read_frames
from .report import command, hardware, save_figure, write_text
from .splits import split_of


def predict(model: EnergyModel, frames: Frames, index: np.ndarray, batch: int = 64,
            forces: bool = False, progress: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Total energies [F] (eV) and, if asked, forces [A, 3] (eV/Å) of the frames at `index`."""
    sub = frames.subset(np.asarray(index))
    return predict_arrays(model, sub.positions, sub.numbers, sub.cell, sub.natoms, batch, forces,
                          progress)


def compositions(frames: Frames) -> np.ndarray:
    """A key per frame that names its composition (atom counts per element)."""
    off = frames.offsets
    return np.array([",".join(map(str, np.bincount(frames.numbers[off[i]:off[i + 1]], minlength=8)))
                     for i in range(len(frames))])


BASELINES = {"composition": compositions, "structure": lambda frames: frames.structure}


def mean_energy_baseline(frames: Frames, train_idx: np.ndarray, by: str) -> dict[str, float]:
    """Mean energy per atom over the training frames of each composition or structure type."""
    keys = BASELINES[by](frames)[train_idx]
    per_atom = (frames.energy / frames.natoms)[train_idx]
    return {k: float(per_atom[keys == k].mean()) for k in set(keys)}


def score(model: EnergyModel, frames: Frames, index: np.ndarray,
          baselines: dict[str, dict[str, float]], progress: bool = False,
          components: int | None = None) -> dict:
    """Energy and force errors of `model`, and energy errors of each mean-energy baseline; the
    force error over the model's components, or the first `components` (3: a model blind to z
    is scored on the z-forces it takes for zero)."""
    energy, forces = predict(model, frames, index, forces=True, progress=progress)
    sub = frames.subset(index)
    err = np.abs(energy - sub.energy) / sub.natoms * 1e3
    k = components or model.force_components  # x, y (and z for a model that sees heights)
    force_err = np.abs(forces - sub.forces)[:, :k].mean(1) * 1e3  # per atom
    atom_structure = np.repeat(sub.structure, sub.natoms)
    result = {"frames": len(index), "energy_mae": float(err.mean()), "energy_max": float(err.max()),
              "force_mae": float(force_err.mean()),
              "force_rms_ref": float(np.sqrt((sub.forces[:, :k] ** 2).mean())),
              "by_structure": {str(s): {"frames": int((sub.structure == s).sum()),
                                        "energy_mae": float(err[sub.structure == s].mean()),
                                        "force_mae": float(force_err[atom_structure == s].mean())}
                               for s in sorted(set(sub.structure))},
              "per_frame": {"true": (sub.energy / sub.natoms).tolist(),
                            "pred": (energy / sub.natoms).tolist()}}
    for by, table in baselines.items():
        guess = np.array([table.get(k, np.nan) for k in BASELINES[by](sub)])
        result[f"{by}_baseline_mae"] = float(
            np.nanmean(np.abs(guess - sub.energy / sub.natoms)) * 1e3)
    return result


def frame_interval(frames: Frames) -> float | None:
    """Femtoseconds between stored frames of generated MD (None when the file does not say)."""
    log = json.loads(frames.attrs["provenance"])  # version 1: the settings; 2: a list of appends
    if isinstance(log, dict):
        log = [{"protocol": log}]
    # an import's entry holds the provenance of the file it copied
    appends = [q for p in log for q in [p, *p.get("from", [])]]
    for settings in [p.get("protocol", {}) for p in appends]:
        if "timestep" in settings:
            return settings["timestep"] * settings["stride"]
    return None


def plot_trajectory(result: dict, timestep_fs: float | None, path: Path, title: str,
                    reference: str) -> None:
    """The paper's Figure 7: true and predicted energy per atom vs time (vs frame when the time
    step is unknown), and their difference."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    true, pred = np.array(result["per_frame"]["true"]), np.array(result["per_frame"]["pred"])
    t = np.arange(len(true)) * (timestep_fs / 1000 if timestep_fs else 1)
    fig, (a, b) = plt.subplots(2, 1, sharex=True, figsize=(6, 5), height_ratios=(2, 1))
    a.plot(t, true, "k-", label=f"reference ({reference})")
    a.plot(t, pred, "C3.", ms=4, label="CNNAS")
    a.set_ylabel("energy per atom (eV)")
    a.legend()
    a.set_title(title, fontsize=9)
    b.plot(t, (true - pred) * 1e3, "C0-")
    b.axhline(0, color="gray", lw=0.5)
    b.set_ylabel("true − predicted (meV/atom)")
    b.set_xlabel("time (ps)" if timestep_fs else "frame")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def plot_history(history: list[dict], path: Path) -> None:
    """Learning curves of a run: training loss and validation energy MAE per epoch."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epoch = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    a.semilogy(epoch, [h["train_mse"] for h in history], "C0-")
    a.set_ylabel("training loss (scaled energy + force MSE)")
    b.semilogy(epoch, [h["val_mae"] for h in history], "C3.-")
    b.set_ylabel("validation energy MAE (meV/atom)")
    for ax in (a, b):
        ax.set_xlabel("epoch")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--model", required=True, help="a model file, or a bundled model's name")
    ap.add_argument("--data", type=Path, required=True, help="the frames the model was trained on")
    ap.add_argument("--unseen", type=Path, nargs="*", default=[], help="trajectories it never saw")
    ap.add_argument("--out", type=Path, required=True, help="Markdown table to write")
    ap.add_argument("--bundle", type=Path, help="also save the model here with its metrics (and "
                    "the --symmetrize choice)")
    add_device_argument(ap)
    add_symmetrize_argument(ap)


def run(args: argparse.Namespace) -> None:
    model = load_model(args.model, resolve_device(args.device), args.symmetrize)
    frames = read_frames(args.data)
    split = model.metadata["data"]["split"]
    split_name = split.get("name", "random")
    parts = split_of(model.metadata, args.data, len(frames))
    train_idx, test_idx = parts["train"], parts["test"]
    baselines = {by: mean_energy_baseline(frames, train_idx, by) for by in BASELINES}
    # training and validation splits beside the test split: a gap shows overfitting, none a
    # model that underfits (capacity or training time, not data, is then what limits it)
    results = {f"{name} split": score(model, frames, parts[part], baselines, progress=True)
               for name, part in (("training", "train"), ("validation", "validation"),
                                  ("test", "test"))}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for path in args.unseen:
        unseen = read_frames(path)
        label = path.parent.name if path.name == "frames.h5" else path.stem
        name = f"unseen {label}"
        results[name] = score(model, unseen, np.arange(len(unseen)), baselines, progress=True)
        png = args.out.with_name(f"{args.out.stem}_{label}.png")
        plot_trajectory(results[name], frame_interval(unseen), png,
                        f"{label}: a trajectory the model never saw", unseen.method[0])

    lines = [f"# {Path(args.model).name}: energy and force errors"
             f"{' (averaged over the cell reflections)' if model.symmetrize else ''}", "",
             f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}  ",
             f"Reference: {', '.join(sorted(set(frames.method)))}; training data {args.data} "
             f"({len(frames)} frames; split {split_name!r}"
             f"{', seed ' + str(split['seed']) if split_name == 'random' else ''}: "
             f"train {len(train_idx)}, validation {len(parts['validation'])}, "
             f"test {len(test_idx)}).",
             "",
             "| set | frames | energy MAE (meV/atom) | energy max (meV/atom) | composition-mean "
             "baseline MAE | structure-mean baseline MAE | force MAE (meV/Å) | reference force "
             "RMS (eV/Å) |", "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['frames']} | {r['energy_mae']:.2f} | {r['energy_max']:.2f} | "
                     f"{r['composition_baseline_mae']:.2f} | {r['structure_baseline_mae']:.2f} | "
                     f"{r['force_mae']:.0f} | {r['force_rms_ref']:.2f} |")
    lines += ["", "By structure type (the test split, then each unseen set):", "",
              "| set | structure | frames | energy MAE (meV/atom) | force MAE (meV/Å) |",
              "|---|---|---|---|---|"]
    lines += [f"| {name} | {s} | {r['frames']} | {r['energy_mae']:.2f} | {r['force_mae']:.0f} |"
              for name, res in results.items() if name not in ("training split", "validation split")
              for s, r in res["by_structure"].items()]
    lines += ["", "Baselines: the mean energy per atom over the training split of the frame's "
              "composition (the trivial one) or of its structure type (an oracle that is told "
              "the defect; pristine and Stone–Wales sheets share a composition). Forces: "
              + ("all three components." if model.force_components == 3 else
                 "in-plane components only (the model is 2D; z-forces are zero).")]
    history = Path(args.model).with_name("history.json")
    if history.is_file():  # the model's run folder: draw how it learned
        png = args.out.with_name(f"{args.out.stem}_training.png")
        plot_history(json.loads(history.read_text()), png)
        lines.append(f"Learning curves: `{png.name}`.")
    write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))
    if args.bundle:
        model.metadata["metrics"] = {k: {m: v for m, v in r.items() if m != "per_frame"}
                                     for k, r in results.items()}
        save_model(model, args.bundle)
        print(f"bundled {args.bundle}")


def main(argv: list[str] | None = None) -> int:
    """`python -m training.evaluate`: the same as `cnnas evaluate`."""
    return run_module(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
