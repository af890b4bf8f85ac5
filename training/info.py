"""Summarise an HDF5 frames file: counts, energy and force ranges, splits, an energy histogram.

What the file holds: frame counts per composition and source, energy and force ranges, stored
splits, and a histogram of energies per atom (the light-blue distributions of the paper's
figures).

    cnnas data info data.h5 --plot data_energies.png
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
from ase.data import chemical_symbols
from ase.formula import Formula

from .h5data import Frames, read_frames
from .report import save_figure


def compositions(frames: Frames) -> np.ndarray:
    """The chemical formula of every frame (e.g. "B30N30")."""
    counts = np.zeros((len(frames), 119), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(len(frames)), frames.natoms), frames.numbers), 1)
    rows, inverse = np.unique(counts, axis=0, return_inverse=True)
    names = np.array([str(Formula.from_dict({chemical_symbols[z]: int(n) for z, n in
                                             enumerate(row) if n})) for row in rows], dtype=object)
    return names[inverse.reshape(-1)]


def summary(frames: Frames, splits: dict[str, dict[str, int]]) -> str:
    """A plain-text report of `frames` (and the sizes of its stored `splits`)."""
    per_atom = frames.energy / frames.natoms
    force = np.linalg.norm(frames.forces, axis=1)
    lines = [f"{len(frames)} frames, {len(frames.numbers)} atoms, methods: "
             + ", ".join(f"{m} ({n})" for m, n in Counter(frames.method).most_common())]
    for title, values in (("composition", compositions(frames)), ("structure", frames.structure),
                          ("source", frames.source)):
        lines += ["", f"{'frames':>8}  {'E/atom min … max (eV)':>24}  {title}"]
        for key, n in sorted(Counter(values).items()):
            e = per_atom[values == key]
            lines.append(f"{n:8d}  {e.min():11.4f} … {e.max():9.4f}  {key}")
    lines += ["", f"energy per atom: {per_atom.min():.4f} … {per_atom.max():.4f} eV "
              f"(mean {per_atom.mean():.4f}, std {per_atom.std() * 1e3:.1f} meV)"]
    if np.isfinite(force).any():
        lines.append(f"force magnitude: {np.nanmin(force):.3f} … {np.nanmax(force):.3f} eV/Å "
                     f"(RMS component {np.sqrt(np.nanmean(frames.forces ** 2)):.3f}); "
                     f"{int(np.isnan(force).sum())} atoms without forces")
    else:
        lines.append("no forces")
    for name, parts in splits.items():
        lines.append(f"split {name!r}: " + ", ".join(f"{k} {v}" for k, v in parts.items()))
    return "\n".join(lines)


def plot_energies(frames: Frames, path: Path) -> None:
    """Histogram of energy per atom, one colour per structure label, written to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_atom = frames.energy / frames.natoms
    labels = sorted(set(frames.structure))
    fig, ax = plt.subplots(figsize=(8, 4))
    bins = np.linspace(per_atom.min(), per_atom.max(), 120) if np.ptp(per_atom) > 0 else 10
    ax.hist(per_atom, bins=bins, color="lightblue", label="all frames")
    if 1 < len(labels) <= 12:  # each structure type as an outline over the whole distribution
        for k in labels:
            ax.hist(per_atom[frames.structure == k], bins=bins, histtype="step", label=k)
    ax.set_xlabel("energy per atom (eV)")
    ax.set_ylabel("frames")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("path", type=Path, help="HDF5 frames file")
    ap.add_argument("--plot", type=Path, help="histogram PNG (default: next to the file)")


def run(args: argparse.Namespace) -> None:
    frames = read_frames(args.path)
    with h5py.File(args.path, "r") as f:
        splits = {name: {k: len(v) for k, v in g.items()}
                  for name, g in f.get("splits", {}).items()}
    print(summary(frames, splits))
    plot = args.plot or args.path.with_name(args.path.stem + "_energies.png")
    plot_energies(frames, plot)
    print(f"histogram: {plot}")
