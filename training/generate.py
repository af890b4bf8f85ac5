"""Labelled sheet MD following the paper's protocol (NOTES §2), resumable.

Each structure is relaxed in the plane, then runs short MD segments at `temperature` with atoms
held in the plane; before each segment the sheet is translated randomly in x and y and its
velocities redrawn from Maxwell–Boltzmann. Every segment is written atomically to its own part
file, so a killed job loses at most one segment and a rerun continues where it stopped;
`assemble` then gathers the parts into one HDF5 file.

    python -m training.generate --out data/sheets --runs 8 --steps 100 --stride 2 --workers 2
"""
from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.constraints import FixedPlane
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
from ase.optimize import FIRE
from tqdm import tqdm

from .h5data import Frames, write_frames
from .reference import DEFAULT_REFERENCE, make_reference
from .structures import STRUCTURE_TYPES, build_sheet

FRICTION = 0.01 / units.fs  # Langevin coupling standing in for the paper's Nosé–Hoover at 1000 K


def _part_path(out: Path, structure: str, run: int) -> Path:
    return out / "parts" / structure / f"run{run:04d}.npz"


def _save_part(path: Path, **arrays: np.ndarray) -> None:
    """np.savez to a temporary name, then rename: a part is either whole or absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _in_plane(atoms: Atoms) -> Atoms:
    atoms.set_constraint(FixedPlane(range(len(atoms)), direction=[0, 0, 1]))
    return atoms


def run_segment(atoms: Atoms, steps: int, stride: int, timestep: float, temperature: float,
                rng: np.random.Generator, start_temperature: float) -> dict[str, np.ndarray]:
    """Translate randomly in-plane, redraw velocities, run `steps` MD steps; record every
    `stride`-th frame's positions, energy and forces as labelled by the attached calculator."""
    atoms.positions[:, :2] += rng.uniform(0, 1, 2) @ atoms.cell.array[:2, :2]
    atoms.wrap()
    MaxwellBoltzmannDistribution(atoms, temperature_K=start_temperature, rng=rng)
    Stationary(atoms)
    record: dict[str, list] = {"positions": [], "energy": [], "forces": []}

    def observe() -> None:
        record["positions"].append(atoms.get_positions(wrap=True))
        record["energy"].append(atoms.get_potential_energy())
        record["forces"].append(atoms.get_forces(apply_constraint=False))

    dyn = Langevin(atoms, timestep * units.fs, temperature_K=temperature, friction=FRICTION, rng=rng)
    dyn.attach(observe, interval=stride)
    dyn.run(steps)
    return {k: np.asarray(v) for k, v in record.items()}


def generate_structure(structure: str, out: Path, runs: int, steps: int, stride: int,
                       timestep: float, temperature: float, seed: int, reference: str,
                       position: int = 0) -> int:
    """All `runs` segments of one structure, skipping those already on disk. Returns frames made."""
    import torch

    torch.set_num_threads(1)  # one core per worker process
    atoms = _in_plane(build_sheet(structure))
    atoms.calc = make_reference(reference)
    missing = [r for r in range(runs) if not _part_path(out, structure, r).is_file()]
    if not missing:
        return 0
    made = 0
    bar = tqdm(range(runs), desc=f"{structure:28s}", position=position, mininterval=5,
               unit="segment", initial=runs - len(missing))
    for run in missing:
        if run == 0:
            FIRE(atoms, logfile=None).run(fmax=0.05, steps=300)
        else:  # each segment starts where the one before it ended
            atoms.positions = np.load(_part_path(out, structure, run - 1))["positions"][-1]
        rng = np.random.default_rng([seed, STRUCTURE_TYPES.index(structure), run])
        # the first segment starts cold, so it gets 2T: equipartition brings it to ~T
        start_t = 2 * temperature if run == 0 else temperature
        seg = run_segment(atoms, steps, stride, timestep, temperature, rng, start_t)
        _save_part(_part_path(out, structure, run), numbers=atoms.numbers, cell=atoms.cell.array,
                   **seg)
        made += len(seg["energy"])
        bar.update()
    bar.close()
    return made


def assemble(out: Path, structures: list[str], runs: int, reference: str, settings: dict) -> Path:
    """Gather every part under `out` into `out/frames.h5`; each segment is its own trajectory."""
    parts = []
    for s in structures:
        for r in range(runs):
            p = np.load(_part_path(out, s, r))
            n, natoms = len(p["energy"]), len(p["numbers"])
            parts.append(Frames(
                numbers=np.tile(p["numbers"], n), positions=p["positions"].reshape(-1, 3),
                forces=p["forces"].reshape(-1, 3), natoms=np.full(n, natoms),
                energy=p["energy"], cell=np.repeat(p["cell"][None], n, axis=0),
                pbc=np.tile([True, True, False], (n, 1)), structure=np.array([s] * n),
                trajectory=np.full(n, STRUCTURE_TYPES.index(s) * 100000 + r)))
    path = out / "frames.h5"
    write_frames(path, Frames.concatenate(parts), reference, settings)
    return path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder (parts/ and frames.h5)")
    ap.add_argument("--structures", nargs="+", default=list(STRUCTURE_TYPES), choices=STRUCTURE_TYPES)
    ap.add_argument("--runs", type=int, default=8, help="MD segments per structure")
    ap.add_argument("--steps", type=int, default=100, help="MD steps per segment")
    ap.add_argument("--stride", type=int, default=2, help="record every stride-th step")
    ap.add_argument("--timestep", type=float, default=1.0, help="fs")
    ap.add_argument("--temperature", type=float, default=1000.0, help="K")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reference", default=DEFAULT_REFERENCE,
                    help="'7net-0' (SevenNet-0, sevenn==0.13.0) or 'module:factory'")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    args = ap.parse_args(argv)
    if args.steps % args.stride:
        ap.error(f"--steps ({args.steps}) must be a multiple of --stride ({args.stride}), so that "
                 "each segment ends on a recorded frame and the next one can resume from it")
    args.out.mkdir(parents=True, exist_ok=True)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    (args.out / "settings.json").write_text(json.dumps(settings, indent=1))
    jobs = [(s, args.out, args.runs, args.steps, args.stride, args.timestep, args.temperature,
             args.seed, args.reference, i) for i, s in enumerate(args.structures)]
    with ProcessPoolExecutor(args.workers) as pool:
        list(pool.map(generate_structure, *zip(*jobs)))
    path = assemble(args.out, args.structures, args.runs, args.reference, settings)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
