"""Does one model serve larger cells? The extensive model on sheets of 1×1 to 4×4 cells.

The extensive model (the bundled default's weights with a fixed pixel spacing, so that its image
and its summed per-pixel energy grow with the cell) scored on thermal sheets of 1×1, 2×2 and 4×4
times the paper's 60-atom cell, two ways:

1. Mosaics (the test): size × size test-split frames of one structure type from the reference's
   1000 K MD, each moved back by its rigid offset from the ideal sheet and laid side by side, so
   that every tile is a configuration the reference made and every seam joins two independent
   ones; labelled by the reference (SevenNet-0). The 1×1 row is the test split itself, so the
   ratio compares like with like: frames the model never trained on, at 4× and 16× the size.
2. The model's own Langevin MD at 1000 K (atoms in the plane), each kept frame labelled by the
   reference: the usual check of a potential on the trajectories it makes. It shows where the
   model's MD wanders, not how its error grows with the cell: larger cells wander further.

Labelled frames are kept in runs/extensive/, in a folder per model, data file and seed (a rerun
reuses them); the tables go to results/extensive.md.

    python -m training.experiments.extensive --bundle      (ase_cnnas/models/extensive.pt)
    python -m training.experiments.extensive --sizes 1 2 4
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms, units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixedPlane
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta
from tqdm import tqdm

from ase_cnnas.calculator import CNNASCalculator
from ase_cnnas.files import replace_atomically
from ase_cnnas.model import EnergyModel
from ase_cnnas.modelfile import load_model, resolve, save_model
from ase_cnnas.scan import scan
from ase_cnnas.sheets import build_sheet

from ..cli import run_module
from ..h5data import Frames, read_frames
from ..reference import make_reference
from ..report import command, hardware, write_text
from ..splits import split_of

STRUCTURES = ("graphene_vacancy", "hbn_pristine", "heterostructure_stone_wales")  # own-MD runs


def aligned(atoms: Atoms, ideal: Atoms) -> Atoms:
    """`atoms` moved by the rigid in-plane offset that best maps it onto `ideal` (same atoms in
    the same order), each atom as its nearest periodic image to its ideal site."""
    cell = atoms.cell.array[:2, :2]
    frac = np.linalg.solve(cell.T, (atoms.positions - ideal.positions)[:, :2].T).T
    angle = 2 * np.pi * frac  # a circular mean: the offset is defined modulo the cell
    offset = np.arctan2(np.sin(angle).mean(0), np.cos(angle).mean(0)) / (2 * np.pi)
    frac -= offset + np.round(frac - offset)
    out = atoms.copy()
    out.positions[:, :2] = ideal.positions[:, :2] + frac @ cell
    return out


def mosaic(tiles: list[Atoms], size: int) -> Atoms:
    """size × size tiles (frames of one cell, row by row) side by side in the supercell."""
    cell = tiles[0].cell.array
    shifts = [i * cell[0] + j * cell[1] for i in range(size) for j in range(size)]
    return Atoms(numbers=np.concatenate([t.numbers for t in tiles]),
                 positions=np.concatenate([t.positions + s for t, s in zip(tiles, shifts)]),
                 cell=cell * [[size], [size], [1]], pbc=tiles[0].pbc)


def mosaics(frames: Frames, test: np.ndarray, size: int, count: int, seed: int) -> list[Atoms]:
    """`count` mosaics per structure type, each of size² distinct test-split frames of that type;
    info["tiles_energy"] holds the sum of the tiles' own reference energies (eV)."""
    rng = np.random.default_rng([seed, size])
    out = []
    for name in sorted(set(frames.structure[test])):
        pool = test[frames.structure[test] == name]
        ideal = build_sheet(name)
        for _ in range(count):
            pick = rng.choice(pool, size * size, replace=False)
            atoms = mosaic([aligned(frames.atoms(i), ideal) for i in pick], size)
            atoms.info.update(structure=name, tiles_energy=float(frames.energy[pick].sum()))
            out.append(atoms)
    return out


def sample(model, size: int, frames: int, seed: int, burn: int = 200, stride: int = 100) -> list:
    """`frames` configurations per structure of the size × size supercell, from the model's MD."""
    out = []
    for k, name in enumerate(STRUCTURES):
        atoms = build_sheet(name).repeat((size, size, 1))
        atoms.set_constraint(FixedPlane(range(len(atoms)), [0, 0, 1]))
        atoms.calc = CNNASCalculator(model)
        rng = np.random.default_rng([seed, size, k])
        thermalize_momenta(atoms, 2000, rng=rng)
        dyn = Langevin(atoms, 0.5 * units.fs, temperature_K=1000, friction=0.01 / units.fs, rng=rng)
        dyn.run(burn)
        for _ in tqdm(range(frames), desc=f"MD {size}×{size} {name}", leave=False):
            dyn.run(stride)
            snap = atoms.copy()
            snap.set_constraint()
            snap.info["structure"] = name
            out.append(snap)
    return out


def content_tag(path: Path) -> str:
    """A short hash of a file's bytes: cached frames are reused only for the same model and data."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def labelled(path: Path, make: Callable[[], list[Atoms]], reference: str) -> list[Atoms]:
    """The frames `make` builds, labelled by the reference once and kept in `path` (written
    atomically)."""
    if path.exists():
        return ase.io.read(path, ":")
    snaps = make()
    calc = make_reference(reference)
    for atoms in tqdm(snaps, desc=f"labelling {path.stem}", unit="frame"):
        atoms.calc = calc
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    replace_atomically(path, lambda tmp: ase.io.write(tmp, snaps, format="extxyz"))
    return ase.io.read(path, ":")


def score(model, frames: list[Atoms]) -> dict:
    """Energy error per atom (meV/atom) and in-plane force error (meV/Å), overall and per
    structure; for mosaics also the seam energy, the reference's energy beyond the sum of its
    tiles' (timing is benchmarks/performance.py's job)."""
    energies, forces = scan(frames, model, forces=True, batch=1, progress=False)
    n = np.array([len(a) for a in frames])
    signed = (energies - [a.get_potential_energy() for a in frames]) / n * 1e3
    err = np.abs(signed)
    ferr = np.concatenate([np.abs(f - a.get_forces())[:, :2].ravel()
                           for f, a in zip(forces, frames)]) * 1e3
    kind = np.array([a.info["structure"] for a in frames])
    out = {"frames": len(frames), "atoms": int(n.max()), "energy_mae": float(err.mean()),
           "energy_max": float(err.max()), "force_mae": float(ferr.mean()),
           "per_structure": {s: {"mae": float(err[kind == s].mean()),
                                 "mean_error": float(signed[kind == s].mean())}
                             for s in sorted(set(kind))}}
    if "tiles_energy" in frames[0].info:
        seam = [(a.get_potential_energy() - a.info["tiles_energy"]) / len(a) * 1e3 for a in frames]
        out["seam_energy"] = float(np.mean(seam))
    return out


def table(rows: dict[int, dict], seam: bool) -> list[str]:
    """Markdown: one line per size, then the per-structure errors."""
    base = rows[min(rows)]["energy_mae"]
    head = ("| cell | atoms | frames | energy MAE (meV/atom) | energy max (meV/atom) | "
            "MAE / 1×1 MAE | force MAE (meV/Å) |" + (" seam energy (meV/atom) |" if seam else ""))
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for size, r in rows.items():
        seam_cell = (f" {r['seam_energy']:+.2f} |" if "seam_energy" in r
                     else (" – |" if seam else ""))
        lines.append(f"| {size}×{size} | {r['atoms']} | {r['frames']} | {r['energy_mae']:.2f} | "
                     f"{r['energy_max']:.2f} | {r['energy_mae'] / base:.2f} | "
                     f"{r['force_mae']:.0f} |" + seam_cell)
    names = sorted(rows[min(rows)]["per_structure"])
    lines += ["", "Per structure: energy MAE (mean signed error, predicted − reference), meV/atom:",
              "", "| structure | " + " | ".join(f"{s}×{s}" for s in rows) + " |",
              "|---|" + "---|" * len(rows)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(
            f"{r['per_structure'][name]['mae']:.2f} ({r['per_structure'][name]['mean_error']:+.2f})"
            for r in rows.values()) + " |")
    return lines


def as_extensive(model: EnergyModel) -> EnergyModel:
    """The same weights with the training cell's pixel spacing kept on any cell."""
    out = EnergyModel(model.network.config, model.cell,
                      model.element_energies,
                      model.energy_mean, model.energy_scale, model.image_scale, model.count_scale,
                      extensive=True, sigma=model.sigma, cutoff=model.cutoff,
                      symmetrize=model.symmetrize,
                      metadata={**model.metadata, "made_from": "the bundled default model"})
    out.load_state_dict(model.state_dict())
    return out.eval()


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4],
                    help="cells of N×N times the paper's 60-atom cell")
    ap.add_argument("--mosaics", type=int, nargs="+", default=[8, 4],
                    help="mosaics per structure type for each size above 1×1 in turn")
    ap.add_argument("--frames", type=int, nargs="+", default=[8, 6, 4],
                    help="own-MD frames per structure, for each size in turn (larger cells need "
                    "fewer)")
    ap.add_argument("--data", type=Path, default=Path("datasets/sheets_30k_1000K.h5"),
                    help="the data the model was trained on (its test split makes the mosaics)")
    ap.add_argument("--model", default="extensive",
                    help="an extensive model file, or a bundled model's name")
    ap.add_argument("--reference", default="7net-0",
                    help="what labels the frames: '7net-0' (SevenNet-0), 'tersoff' or "
                    "'module:factory'")
    ap.add_argument("--seed", type=int, default=0, help="of the mosaics and of the model's MD")
    ap.add_argument("--runs", type=Path, default=Path("runs/extensive"),
                    help="folder that keeps the labelled frames, for reruns")
    ap.add_argument("--out", type=Path, default=Path("results/extensive.md"),
                    help="Markdown table to write (a JSON file goes beside it)")
    ap.add_argument("--bundle", action="store_true",
                    help="write the flat model's extensive twin to ase_cnnas/models/ and stop")


def run(args: argparse.Namespace) -> None:
    if args.bundle:
        save_model(as_extensive(load_model("flat")), resolve("extensive"))
        print(f"wrote {resolve('extensive')}")
        return
    model = load_model(args.model, "cpu")
    if not model.extensive:
        raise SystemExit(f"{args.model} is a fixed-cell model; give an extensive one")
    larger = [s for s in args.sizes if s > 1]
    if len(args.frames) != len(args.sizes) or len(args.mosaics) != len(larger):
        raise SystemExit("give one --frames count per size and one --mosaics count per size "
                         "above 1")
    data = read_frames(args.data)
    test = split_of(model.metadata, args.data, len(data))["test"]
    tiled = {1: score(model, [data.atoms(i) for i in test])}
    cache = args.runs / (f"model-{content_tag(resolve(args.model))}_data-{content_tag(args.data)}"
                         f"_seed{args.seed}")
    for size, count in zip(larger, args.mosaics):
        frames = labelled(cache / f"mosaic{size}_{count}.extxyz",
                          partial(mosaics, data, test, size, count, args.seed), args.reference)
        tiled[size] = score(model, frames)
        print(f"mosaic {size}×{size}: {tiled[size]}", flush=True)
    own = {}
    for size, count in zip(args.sizes, args.frames):
        frames = labelled(cache / f"size{size}_{count}.extxyz",
                          partial(sample, args.model, size, count, args.seed), args.reference)
        own[size] = score(model, frames)
        print(f"own MD {size}×{size}: {own[size]}", flush=True)
    lines = ["# One model, larger cells: the extensive model on 1×1 … 4×4 sheets", "",
             f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}", "",
             f"Model `{args.model}` (the bundled default's weights at a fixed pixel spacing).", "",
             "## Mosaics of the reference's MD (the test)", "",
             f"1×1: the {len(test)} test-split frames of `{args.data}` (1000 K MD of the nine "
             f"sheets), never trained on. Larger: {'/'.join(map(str, args.mosaics))} mosaics per "
             "structure type, each of size² test-split frames of that type moved back to the "
             "ideal sheet's position and laid side by side, labelled by "
             f"{args.reference}. Seam energy: the reference's energy beyond the sum of its tiles' "
             "own energies (the seams join independent thermal configurations).", "",
             *table(tiled, seam=True), "",
             "## On the model's own MD", "",
             f"Langevin MD at 1000 K with the model itself ({', '.join(STRUCTURES)}; "
             f"{'/'.join(map(str, args.frames))} frames each for the sizes in turn, 50 fs apart, "
             f"after 100 fs), labelled by {args.reference}. Larger cells let the model's MD "
             "wander further into configurations it gets wrong; this measures that, not the "
             "cell-size transfer.", "", *table(own, seam=False)]
    write_text(args.out, "\n".join(lines) + "\n")
    write_text(args.out.with_suffix(".json"),
               json.dumps({"mosaics": tiled, "own_md": own}, indent=1))
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    """`python -m training.experiments.extensive`: the same as `cnnas experiment extensive`."""
    return run_module(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
