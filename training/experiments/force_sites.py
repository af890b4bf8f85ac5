"""Where the force error lives: the force error by the kind of site and the distance from defects.

Each atom of each frame is classed by its bonds (within 1.85 Å) as a hexagon-sheet atom, a carbon
bonded to boron or nitrogen (a graphene–hBN boundary), an atom on a ring other than a hexagon
(Stone–Wales 5- and 7-rings, the ring round a vacancy) or one with other than three neighbours (a
vacancy's edge), and by its distance in bonds from the nearest atom of the last two kinds. Writes
the in-plane force MAE of each class and distance beside the reference force's size
(results/force_sites.md and figures beside it), on the unseen trajectories by default, and with
--test-split on the model's test split, by structure type.

    python -m training.experiments.force_sites --test-split datasets/sheets_30k_1000K.h5
    python -m training.experiments.force_sites --model runs/mine/best.pt --out results/sites.md
"""
from __future__ import annotations

import argparse
import sys
from collections import deque
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

from ase_cnnas.model import EnergyModel
from ase_cnnas.modelfile import load_model
from ase_cnnas.scan import predict_arrays

from ..cli import run_module
from ..h5data import Frames, read_frames
from ..report import command, hardware, save_figure, write_text
from ..splits import split_of
from .unseen import add_trajectory_arguments

BOND = 1.85  # Å, neighbours closer than this are bonded (C–C 1.42, B–N 1.45)
CLASSES = ("hexagon sheet", "C bonded to B/N", "on a ring not a hexagon", "not 3 neighbours")
DEFECT = (2, 3)  # the classes distances are counted from
FAR = 4  # distances of FAR bonds and more are pooled
HOPS = (*map(str, range(FAR)), f"≥ {FAR}", "no defect in the frame")  # rows by distance


def bond_graph(atoms: Atoms) -> list[set[int]]:
    """Each atom's bonded neighbours (indices, periodic images folded)."""
    i, j = neighbor_list("ij", atoms, BOND)
    graph = [set() for _ in range(len(atoms))]
    for a, b in zip(i, j):
        if a != b:
            graph[a].add(int(b))
    return graph


def hops(graph: list[set[int]], sources: list[int], avoid: int = -1, limit: int = 99) -> np.ndarray:
    """Bonds from the nearest of `sources` to each atom (breadth first, never through `avoid`,
    never past `limit`); -1 where none is reached."""
    dist = np.full(len(graph), -1)
    dist[sources] = 0
    queue = deque(sources)
    while queue:
        a = queue.popleft()
        if dist[a] >= limit:
            continue
        for b in graph[a]:
            if b != avoid and dist[b] < 0:
                dist[b] = dist[a] + 1
                queue.append(b)
    return dist


def smallest_rings(graph: list[set[int]], a: int) -> list[int]:
    """The smallest ring through each pair of `a`'s bonds (0 when none of at most 8 atoms)."""
    nb = sorted(graph[a])
    rings = []
    for k, b in enumerate(nb):
        for c in nb[k + 1:]:
            d = hops(graph, [b], avoid=a, limit=6)[c]
            rings.append(d + 2 if d > 0 else 0)
    return rings


def site_classes(atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
    """Each atom's class (an index into CLASSES) and its bonds from the nearest defect atom
    (classes in DEFECT; -1 in a frame without one)."""
    graph = bond_graph(atoms)
    z = atoms.numbers
    cls = np.zeros(len(atoms), int)
    for a, nb in enumerate(graph):
        if len(nb) != 3:
            cls[a] = 3
        elif any(r != 6 for r in smallest_rings(graph, a)):
            cls[a] = 2
        elif z[a] == 6 and any(z[b] != 6 for b in nb):
            cls[a] = 1
    defects = [a for a in range(len(atoms)) if cls[a] in DEFECT]
    return cls, (hops(graph, defects) if defects else np.full(len(atoms), -1))


def site_errors(model: EnergyModel, frames: Frames) -> dict[str, np.ndarray]:
    """Per atom of all frames: class, distance from the nearest defect, in-plane force error
    (meV/Å, mean of |Δ| over x and y) and in-plane reference force (eV/Å, rms over x and y)."""
    _, forces = predict_arrays(model, frames.positions, frames.numbers, frames.cell, frames.natoms,
                               forces=True)
    cls, dist = zip(*(site_classes(frames.atoms(i)) for i in range(len(frames))))
    return {"class": np.concatenate(cls), "hops": np.concatenate(dist),
            "error": np.abs(forces - frames.forces)[:, :2].mean(1) * 1e3,
            "reference": np.sqrt((frames.forces[:, :2] ** 2).mean(1))}


def summary(sites: dict[str, np.ndarray], mask: np.ndarray) -> dict | None:
    """Atom count, force MAE (meV/Å) and reference force rms (eV/Å) over the atoms in `mask`."""
    if not mask.any():
        return None
    return {"atoms": int(mask.sum()), "force_mae": float(sites["error"][mask].mean()),
            "reference_rms": float(np.sqrt((sites["reference"][mask] ** 2).mean()))}


def tables(sites: dict[str, np.ndarray]) -> dict[str, dict[str, dict]]:
    """Summaries by class and by bonds from the nearest defect (absent rows dropped)."""
    h = sites["hops"]
    by_hops = [h == d for d in range(FAR)] + [h >= FAR, h < 0]
    rows = {"class": {name: summary(sites, sites["class"] == k) for k, name in enumerate(CLASSES)},
            "hops": {name: summary(sites, mask) for name, mask in zip(HOPS, by_hops)}}
    return {key: {name: row for name, row in table.items() if row} for key, table in rows.items()}


def plot(results: dict[str, dict], path: Path) -> None:
    """Force MAE by class and by distance from the nearest defect, one bar per trajectory."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9 + 0.6 * len(results), 3.8), sharey=True)
    for ax, key, title in zip(axes, ("class", "hops"),
                              ("by site", "by bonds from the nearest defect atom")):
        names = [n for n in {"class": CLASSES, "hops": HOPS}[key]
                 if any(n in r[key] for r in results.values())]
        width = 0.8 / len(results)
        for k, (traj, r) in enumerate(results.items()):
            x = [i + k * width for i, n in enumerate(names) if n in r[key]]
            ax.bar(x, [r[key][n]["force_mae"] for n in names if n in r[key]], width, label=traj)
        ax.set_xticks([i + width * (len(results) - 1) / 2 for i in range(len(names))], names,
                      rotation=20, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
    axes[0].set_ylabel("in-plane force MAE (meV/Å)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def labelled(name: str, frames: Frames) -> Frames:
    """`frames`, refused by name when an atom lacks reference forces."""
    missing = np.isnan(frames.forces).any(1).sum()
    if missing:
        raise SystemExit(f"{name}: {missing} atoms have no reference forces; this study needs "
                         "every atom's (label the frames first, or pass files that carry forces)")
    return frames


def split_by_structure(model: EnergyModel, path: Path, per_structure: int) -> dict[str, Frames]:
    """The model's test split of `path` (the data it was trained on) by structure type, at most
    `per_structure` frames of each, evenly spaced."""
    frames = read_frames(path)
    index = split_of(model.metadata, path, len(frames))["test"]
    groups = {}
    for structure in sorted(set(frames.structure[index])):
        own = index[frames.structure[index] == structure]
        pick = np.linspace(0, len(own) - 1, min(per_structure, len(own))).round().astype(int)
        groups[f"test {structure}"] = labelled(f"{path} ({structure})", frames.subset(own[pick]))
    return groups


def add_arguments(ap: argparse.ArgumentParser) -> None:
    add_trajectory_arguments(ap, "results/force_sites.md")
    ap.add_argument("--test-split", type=Path, metavar="DATA",
                    help="also the model's test split of DATA, the file it was trained on, by "
                         "structure type (figure: OUT_test.png)")
    ap.add_argument("--per-structure", type=int, default=200,
                    help="frames of each structure type taken from the test split")


def run(args: argparse.Namespace) -> None:
    if args.per_structure < 1:
        raise ValueError(f"--per-structure {args.per_structure}: take at least one frame of each "
                         "type")
    model = load_model(args.model, "cpu")
    # each set of frames by name, under the suffix its figure's name takes
    sets = {"": {p.stem: labelled(str(p), read_frames(p)) for p in args.trajectories}}
    if args.test_split:
        sets["_test"] = split_by_structure(model, args.test_split, args.per_structure)
    results = {group: {name: tables(site_errors(model, frames)) for name, frames in members.items()}
               for group, members in sets.items() if members}
    lines = ["# Where the force error lives", "", f"Regenerate: `{command()}`  ",
             f"Hardware: {hardware()}", "",
             f"Model `{args.model}`. Every atom of every frame, classed by its bonds (neighbours "
             f"within {BOND} Å, found afresh in each frame, so a bond stretched past it for a few "
             "femtoseconds reclasses its atoms for that frame). Defect atoms: those on a ring "
             "not a hexagon or with other than three neighbours. Force MAE: in-plane components; "
             "reference: the rms of the reference's in-plane components over the same atoms."]
    if args.test_split:
        lines[-1] += (f" Test split: the model's own of `{args.test_split}`, at most "
                      f"{args.per_structure} evenly spaced frames of each structure type.")
    lines.append("")
    rows = {name: r for group in results.values() for name, r in group.items()}
    for key, head in (("class", "site"), ("hops", "bonds from the nearest defect atom")):
        lines += [f"| frames | {head} | atoms × frames | force MAE (meV/Å) | reference force "
                  "rms (eV/Å) | MAE / rms |", "|---|---|---|---|---|---|"]
        lines += [f"| {traj} | {name} | {row['atoms']} | {row['force_mae']:.0f} | "
                  f"{row['reference_rms']:.2f} | "
                  f"{row['force_mae'] / row['reference_rms'] / 1e3:.3f} |"
                  for traj, r in rows.items() for name, row in r[key].items()]
        lines.append("")
    figures = [args.out.with_name(f"{args.out.stem}{group}.png") for group in results]
    for figure, group in zip(figures, results.values()):
        plot(group, figure)
    write_text(args.out, "\n".join(lines + ["Figures: " + ", ".join(f"`{f.name}`" for f in figures)
                                            + ".", ""]))
    print(f"wrote {args.out} and {', '.join(map(str, figures))}")


def main(argv: list[str] | None = None) -> int:
    """`python -m training.experiments.force_sites`: the same as `cnnas experiment force_sites`."""
    return run_module(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
