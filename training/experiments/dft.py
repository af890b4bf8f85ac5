"""How far from PBE: SevenNet-0 and CNNAS models against GPAW-labelled frames, per structure type.

Each calculator labels the PBE frames (SevenNet-0 directly; a CNNAS model on the frames it can
describe: a fixed-cell model only on its own cell). Energies are compared after one fitted offset
per element and calculator (the codes' energy zeros differ: only energy differences are physics),
forces over all components; the force slope is the least-squares factor of a calculator's forces
on PBE's (below 1: softer than PBE). Writes a Markdown table and parity plots.

    cnnas experiment dft data/pbe/small_pbe_1000K.h5 --models default runs/free/best.pt \
        --out results/dft.md
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from ase.calculators.calculator import CalculatorSetupError
from tqdm import tqdm

from ase_cnnas.checks import check_atoms
from ase_cnnas.model import EnergyModel
from ase_cnnas.modelfile import load_model

from ..batches import fit_element_energies, reference_sums
from ..cli import run_module
from ..evaluate import predict
from ..h5data import Frames, read_frames
from ..reference import make_reference
from ..report import command, hardware, save_figure, write_text
from ..splits import read_split


def with_reference(frames: Frames, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Energies [F] and forces [A, 3] of a reference calculator on every frame."""
    calc = make_reference(name)
    energies, forces = [], []
    for i in tqdm(range(len(frames)), desc=name, unit="frame"):
        atoms = frames.atoms(i)
        atoms.calc = calc
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
    return np.array(energies), np.concatenate(forces)


def with_model(frames: Frames, model: str | EnergyModel
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A CNNAS model's (a name, a file or a loaded model) energies and forces on the frames it
    can describe, and which those are."""
    loaded = model if isinstance(model, EnergyModel) else load_model(model)
    ok = np.zeros(len(frames), bool)
    for i in range(len(frames)):
        try:
            check_atoms(loaded, frames.atoms(i))
            ok[i] = True
        except CalculatorSetupError:
            pass
    index = np.flatnonzero(ok)
    energy, forces = predict(loaded, frames, index, forces=True) if len(index) else (
        np.zeros(0), np.zeros((0, 3)))
    return energy, forces, ok


def errors(frames: Frames, energy: np.ndarray, forces: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame energy errors (meV/atom) after one least-squares offset per element, and force
    errors [A, 3] (eV/Å), of a calculator's `energy` [F] and `forces` [A, 3] on `frames`."""
    every = np.arange(len(frames))
    offsets = fit_element_energies(replace(frames, energy=frames.energy - energy), every)
    shifted = energy + reference_sums(frames, every, offsets)
    return (shifted - frames.energy) / frames.natoms * 1e3, forces - frames.forces


def scores(frames: Frames, energy: np.ndarray, forces: np.ndarray, e_err: np.ndarray,
           f_err: np.ndarray) -> dict:
    """Energy MAE (meV/atom), force MAE (meV/Å) and slope on `frames`, from `errors`."""
    truth = frames.forces.ravel()
    return {"frames": len(frames), "energy_mae": float(np.abs(e_err).mean()),
            "force_mae": float(np.abs(f_err).mean() * 1e3),
            "force_slope": float(np.dot(truth, forces.ravel()) / np.dot(truth, truth)),
            "per_atom": (frames.energy / frames.natoms,
                         frames.energy / frames.natoms + e_err / 1e3),
            "forces": (truth, forces.ravel())}


def plot(results: dict[str, dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(results), figsize=(3.8 * len(results), 7.2), squeeze=False)
    for col, (name, r) in enumerate(results.items()):
        for row, (what, key, mae) in enumerate(
                (("energy per atom (eV)", "per_atom", f"{r['energy_mae']:.2f} meV/atom"),
                 ("force component (eV/Å)", "forces",
                  f"{r['force_mae']:.0f} meV/Å, slope {r['force_slope']:.2f}"))):
            ax = axes[row, col]
            true, pred = r[key]
            ax.plot(true, pred, ".", ms=2, alpha=0.5)
            lo, hi = min(true.min(), pred.min()), max(true.max(), pred.max())
            ax.plot([lo, hi], [lo, hi], "k-", lw=0.5)
            ax.set_xlabel(f"PBE {what}", fontsize=8)
            ax.set_ylabel(f"{name} {what}"[:60], fontsize=8)
            ax.set_title(f"{name[:40]}: {mae}", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def chains(frames: Frames) -> np.ndarray:
    """Each frame's chain [F], numbered from 0: the frames of one structure in one cell (each
    chain of these data sets is one MD run in its own strained cell)."""
    cells = np.round(frames.cell.reshape(len(frames), -1), 2)
    keys = [f"{s}|{c.tobytes().hex()}" for s, c in zip(frames.structure, cells)]
    return np.unique(keys, return_inverse=True)[1].ravel()


def chain_split(frames: Frames, e_err: np.ndarray) -> tuple[float, float]:
    """The energy errors `e_err` (meV/atom) split by chain: the mean |offset| of the chains'
    mean errors, and the mean |error| about its chain's mean (the scatter from frame to frame)."""
    chain = chains(frames)
    means = np.bincount(chain, e_err) / np.bincount(chain)
    return float(np.abs(means).mean()), float(np.abs(e_err - means[chain]).mean())


def chain_rows(frames: Frames, e_err: np.ndarray) -> list[str]:
    """One table row per chain: its structure, in-plane cell sides and area per atom, frames,
    mean energy error and scatter about it (meV/atom)."""
    chain, rows = chains(frames), []
    for c in range(chain.max() + 1):
        index = np.flatnonzero(chain == c)
        cell, err = frames.cell[index[0]], e_err[index]
        sides = " × ".join(f"{x:.2f}" for x in np.linalg.norm(cell[:2], axis=1))
        area = abs(np.linalg.det(cell[:2, :2])) / frames.natoms[index[0]]
        rows.append(f"| {frames.structure[index[0]]} | {sides} | {area:.3f} | {len(index)} | "
                    f"{err.mean():+.2f} | {np.abs(err - err.mean()).mean():.2f} |")
    return rows


def group_rows(keys: np.ndarray, name: str, frames: Frames, energy: np.ndarray,
               forces: np.ndarray, e_err: np.ndarray, f_err: np.ndarray) -> list[str]:
    """One table row per distinct value of `keys` [F] (a structure type, a data file) for the
    calculator `name`: its frames' energy MAE, signed mean energy error, force MAE and slope."""
    rows = []
    for key in sorted(set(keys)):
        sel = keys == key
        atoms = np.repeat(sel, frames.natoms)
        s = scores(frames.subset(np.flatnonzero(sel)), energy[sel], forces[atoms], e_err[sel],
                   f_err[atoms])
        rows.append(f"| {key} | {name} | {s['frames']} | {s['energy_mae']:.2f} | "
                    f"{e_err[sel].mean():+.2f} | {s['force_mae']:.0f} | {s['force_slope']:.3f} |")
    return rows


MAIN_HEADER = ("| calculator | frames | energy MAE (meV/atom) | force MAE (meV/Å) | force slope "
               "| chain offset (meV/atom) | scatter in chains (meV/atom) | r with ")
GROUP_HEADER = ("| {} | calculator | frames | energy MAE (meV/atom) | mean error (meV/atom) "
                "| force MAE (meV/Å) | force slope |\n|---|---|---|---|---|---|---|")
SPREAD = 1e-6  # meV/atom: per-frame errors spread less than this are rounding, with no correlation


def correlation(reference: np.ndarray | None, e_err: np.ndarray, ok: np.ndarray) -> str:
    """The correlation of per-frame energy errors `e_err` (of the frames `ok`) with `reference`'s
    (all frames, NaN where it scores none), as table text; '–' when undefined."""
    if reference is None:
        return "–"
    both = np.isfinite(reference[ok])
    a, b = reference[ok][both], e_err[both]
    if len(a) < 3 or a.std() < SPREAD or b.std() < SPREAD:
        return "–"
    return f"{np.corrcoef(a, b)[0, 1]:.2f}"


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("data", nargs="+", type=Path, help="PBE-labelled frames files")
    ap.add_argument("--split", help="score only this stored split's test frames (default: all)")
    ap.add_argument("--references", nargs="*", default=["7net-0"],
                    help="reference calculators to score (by name, as `--reference` takes)")
    ap.add_argument("--models", nargs="*", default=["default"],
                    help="CNNAS model files or bundled names")
    ap.add_argument("--out", type=Path, default=Path("results/dft.md"),
                    help="Markdown table to write (the parity plots beside it)")


def run(args: argparse.Namespace) -> None:
    parts = []
    for path in args.data:
        frames = read_frames(path)
        if args.split:
            frames = frames.subset(read_split(path, args.split)["test"])
        parts.append(frames)
    frames = Frames.concatenate(parts)
    methods = sorted(set(frames.method))
    labelled = {name: with_reference(frames, name) + (np.ones(len(frames), bool),)
                for name in args.references}
    labelled.update({f"CNNAS {m}": with_model(frames, m) for m in args.models})
    files = np.repeat([str(p) for p in args.data], [len(p) for p in parts])  # frame → its file
    rows, by_type, by_file, results = [], [], [], {}
    last = None  # (name, frames, energy errors) of the last calculator scoring any frame
    first, reference = next(iter(labelled)), None  # the first's per-frame errors, for r
    for name, (energy, forces, ok) in labelled.items():
        if not ok.any():
            rows.append(f"| {name} | 0 | – | – | – | – | – | – |")
            continue
        mine = frames.subset(np.flatnonzero(ok))
        e_err, f_err = errors(mine, energy, forces)  # offsets fitted on all the frames
        if name == first:
            reference = np.full(len(frames), np.nan)
            reference[ok] = e_err
        r = results[name] = scores(mine, energy, forces, e_err, f_err)
        offset, scatter = chain_split(mine, e_err)
        last = (name, mine, e_err)
        rows.append(f"| {name} | {r['frames']} | {r['energy_mae']:.2f} | {r['force_mae']:.0f} | "
                    f"{r['force_slope']:.3f} | {offset:.2f} | {scatter:.2f} | "
                    f"{correlation(reference, e_err, ok)} |")
        by_type += group_rows(mine.structure, name, mine, energy, forces, e_err, f_err)
        by_file += group_rows(files[ok], name, mine, energy, forces, e_err, f_err)
    chain_table = "" if last is None else f"""
By chain, for {last[0]} (cell: the in-plane sides, Å; area per atom, Å²; errors in meV/atom):

| structure | cell | area per atom | frames | mean error | scatter |
|---|---|---|---|---|---|
{chr(10).join(chain_rows(*last[1:]))}
"""
    file_table = "" if len(args.data) < 2 else f"""
By data file (the same offsets):

{GROUP_HEADER.format("data file")}
{chr(10).join(by_file)}
"""
    figure = args.out.with_suffix(".png")
    if results:
        plot(results, figure)
    write_text(args.out, f"""# Against PBE: {len(frames)} GPAW-labelled frames

Labels: {', '.join(f'`{m}`' for m in methods)} ({', '.join(str(p) for p in args.data)}{
        f', split {args.split!r} test frames' if args.split else ''}). Energies after one fitted
offset per element and calculator; forces over all components; slope: the least-squares factor
of the calculator's forces on PBE's (below 1: softer). A fixed-cell model scores only the frames
in its own cell.

Regenerate: `{command()}`
Hardware: {hardware()}

{MAIN_HEADER}{first} |
|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

The energy error split by chain (the frames of one structure in one cell, each chain in its own
strain): chain offset, the mean |mean error| of the chains; scatter, the mean |error| about its
chain's mean. r: the correlation of the calculator's energy errors per frame with {first}'s, on
the frames both score (near 1: the calculator misplaces the same frames, as a model learnt from
{first} inherits its errors; – where undefined).

By structure type (energies with the offsets fitted on all the frames; mean error: the type's
signed mean energy error, its offset as a whole, so that an MAE well above it is scatter from
frame to frame):

{GROUP_HEADER.format("structure")}
{chr(10).join(by_type)}
{file_table}{chain_table}
Parity plots: `{figure.name}`.
""")
    print(args.out.read_text())


def main(argv: list[str] | None = None) -> int:
    """`python -m training.experiments.dft`: the same as `cnnas experiment dft`."""
    return run_module(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
