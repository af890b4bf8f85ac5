"""Does one model serve larger cells? The extensive model (the bundled default's weights with a
fixed pixel spacing, so that its image and its summed per-pixel energy grow with the cell) scored
on thermal sheets of 1×1, 2×2 and 4×4 times the paper's 60-atom cell.

Configurations come from the model's own Langevin MD at 1000 K (atoms in the plane), each kept
frame labelled by the reference (SevenNet-0): the usual check of a potential on the trajectories
it makes, affordable at 960 atoms where reference MD is not. (Tersoff MD was tried first: its
configurations lie outside the training distribution, 10.9 meV/atom already on the 60-atom
cell.) The same recipe at every size makes the errors comparable. Labelled frames are kept
in runs/extensive/ (a rerun reuses them); the table goes to results/extensive.md.

    python -m training.experiments.extensive --bundle      (ase_cnnas/models/extensive.pt)
    python -m training.experiments.extensive --sizes 1 2 4
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import ase.io
import numpy as np
from ase import units
from ase.calculators.singlepoint import SinglePointCalculator
from ase.constraints import FixedPlane
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from tqdm import tqdm

from ase_cnnas.calculator import CNNASCalculator
from ase_cnnas.model import EnergyModel
from ase_cnnas.modelfile import load_model, resolve, save_model
from ase_cnnas.scan import scan

from ..reference import make_reference
from ..report import command, hardware, write_text
from ..structures import build_sheet

STRUCTURES = ("graphene_vacancy", "hbn_pristine", "heterostructure_stone_wales")


def sample(model, size: int, frames: int, seed: int, burn: int = 200, stride: int = 100) -> list:
    """`frames` configurations per structure of the size × size supercell, from the model's MD."""
    out = []
    for k, name in enumerate(STRUCTURES):
        atoms = build_sheet(name).repeat((size, size, 1))
        atoms.set_constraint(FixedPlane(range(len(atoms)), [0, 0, 1]))
        atoms.calc = CNNASCalculator(model)
        rng = np.random.default_rng([seed, size, k])
        MaxwellBoltzmannDistribution(atoms, temperature_K=2000, rng=rng)
        dyn = Langevin(atoms, 0.5 * units.fs, temperature_K=1000, friction=0.01 / units.fs, rng=rng)
        dyn.run(burn)
        for _ in tqdm(range(frames), desc=f"MD {size}×{size} {name}", leave=False):
            dyn.run(stride)
            snap = atoms.copy()
            snap.set_constraint()
            snap.info["structure"] = name
            out.append(snap)
    return out


def labelled(model, path: Path, size: int, frames: int, reference: str, seed: int) -> list:
    """The size's labelled frames, made once and kept in `path` (written atomically)."""
    if path.exists():
        return ase.io.read(path, ":")
    snaps = sample(model, size, frames, seed)
    calc = make_reference(reference)
    for atoms in tqdm(snaps, desc=f"labelling {size}×{size}", unit="frame"):
        atoms.calc = calc
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    ase.io.write(tmp, snaps, format="extxyz")
    os.replace(tmp, path)
    return ase.io.read(path, ":")


def score(model, frames: list) -> dict:
    """Energy error per atom (meV/atom) and in-plane force error (meV/Å), overall and per
    structure (timing is benchmarks/performance.py's job)."""
    energies, forces = scan(frames, model, forces=True, batch=1, progress=False)
    n = np.array([len(a) for a in frames])
    err = np.abs(energies - [a.get_potential_energy() for a in frames]) / n * 1e3
    ferr = np.concatenate([np.abs(f - a.get_forces())[:, :2].ravel()
                           for f, a in zip(forces, frames)]) * 1e3
    kind = np.array([a.info["structure"] for a in frames])
    signed = (energies - [a.get_potential_energy() for a in frames]) / n * 1e3
    return {"frames": len(frames), "atoms": int(n[0]), "energy_mae": float(err.mean()),
            "energy_max": float(err.max()), "force_mae": float(ferr.mean()),
            "per_structure": {s: {"mae": float(err[kind == s].mean()),
                                  "mean_error": float(signed[kind == s].mean())} for s in STRUCTURES}}


def as_extensive(model: EnergyModel) -> EnergyModel:
    """The same weights with the training cell's pixel spacing kept on any cell."""
    out = EnergyModel(model.network.config, model.cell,
                      {z: float(model.element_energy[z]) for z in model.elements},
                      model.energy_mean, model.energy_scale, model.image_scale, model.count_scale,
                      extensive=True, sigma=model.sigma, cutoff=model.cutoff,
                      metadata={**model.metadata, "made_from": "the bundled default model"})
    out.load_state_dict(model.state_dict())
    return out.eval()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--frames", type=int, nargs="+", default=[8, 6, 4],
                    help="frames per structure, for each size in turn (larger cells need fewer)")
    ap.add_argument("--model", default="extensive")
    ap.add_argument("--reference", default="7net-0")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=Path, default=Path("runs/extensive"))
    ap.add_argument("--out", type=Path, default=Path("results/extensive.md"))
    ap.add_argument("--bundle", action="store_true",
                    help="write the default model's extensive twin to ase_cnnas/models/ and stop")
    args = ap.parse_args(argv)
    if args.bundle:
        save_model(as_extensive(load_model("default")), resolve("extensive"))
        print(f"wrote {resolve('extensive')}")
        return
    model = load_model(args.model, "cpu")
    if not model.extensive:
        raise SystemExit(f"{args.model} is a fixed-cell model; give an extensive one")
    rows = {}
    if len(args.frames) != len(args.sizes):
        raise SystemExit("give one --frames count per size")
    for size, count in zip(args.sizes, args.frames):
        frames = labelled(args.model, args.runs / f"size{size}_{count}.extxyz", size, count,
                          args.reference, args.seed)
        rows[size] = score(model, frames)
        print(f"{size}×{size}: {rows[size]}", flush=True)
    base = rows[min(rows)]
    lines = ["# One model, larger cells: the extensive model on 1×1 … 4×4 sheets", "",
             f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}", "",
             f"Model `{args.model}`; frames: its own Langevin MD at 1000 K ({', '.join(STRUCTURES)}; "
             f"{'/'.join(map(str, args.frames))} frames each for the sizes in turn, 50 fs apart, "
             f"after 100 fs), labelled by {args.reference}.",
             "",
             "| cell | atoms | frames | energy MAE (meV/atom) | energy max (meV/atom) | MAE / "
             f"{min(rows)}×{min(rows)} MAE | force MAE (meV/Å) |", "|---|---|---|---|---|---|---|"]
    for size, r in rows.items():
        lines.append(f"| {size}×{size} | {r['atoms']} | {r['frames']} | {r['energy_mae']:.2f} | "
                     f"{r['energy_max']:.2f} | {r['energy_mae'] / base['energy_mae']:.2f} | "
                     f"{r['force_mae']:.0f} |")
    lines += ["", "Atom counts are those of the first structure (graphene with a vacancy: 59 per "
              "60-atom cell).", "", "Per structure: energy MAE (mean signed error, predicted − "
              "reference), meV/atom:", "", "| cell | " + " | ".join(STRUCTURES) + " |",
              "|---|" + "---|" * len(STRUCTURES)]
    for size, r in rows.items():
        lines.append(f"| {size}×{size} | " + " | ".join(
            f"{r['per_structure'][s]['mae']:.2f} ({r['per_structure'][s]['mean_error']:+.2f})"
            for s in STRUCTURES) + " |")
    write_text(args.out, "\n".join(lines) + "\n")
    write_text(args.out.with_suffix(".json"), json.dumps(rows, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
