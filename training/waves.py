"""Flat sheets with long flexural waves frozen in, unlabelled: geometries for `cnnas data label`.

MD frames carry the longest waves of their cell with little weight in the forces (at 300 K the
short waves dominate them), and DFT cells of a few atoms carry none longer than the cell. These
frames put those waves into the forces: each is a pristine sheet, strained by a random factor per
in-plane axis (up to `strain`), whose heights are a sum of the cell's own plane waves of
wavelength at least `shortest` Å, each with a random phase and a random amplitude that falls as
1/q² (as thermal bending would), scaled to an RMS height drawn up to `height` Å. Frames are
drawn from seeds alone, so a file is remade exactly by its command.

    cnnas data waves -o data/waves.h5 --frames 20
    cnnas data label data/waves.h5 -o datasets/waves_7net.h5 --reference 7net-0
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from ase import Atoms

from ase_cnnas.sheets import build_sheet, parse_structure

from .h5data import Frames, write_frames

STRUCTURES = ("graphene_pristine", "graphene_pristine@hex6", "graphene_pristine@10x6",
              "hbn_pristine", "hbn_pristine@hex6", "hbn_pristine@10x6",
              "heterostructure_pristine", "heterostructure_pristine@10x6")


def wave_vectors(cell: np.ndarray, shortest: float) -> np.ndarray:
    """[K, 2] the in-plane wave vectors (Å⁻¹) periodic in `cell` with wavelength ≥ `shortest` Å,
    one of each ±q pair."""
    reciprocal = 2 * np.pi * np.linalg.inv(cell[:2, :2]).T  # rows: b1, b2
    reach = int(np.ceil(np.linalg.norm(cell[:2, :2], axis=1).max() / shortest)) + 1
    out = []
    for m in range(0, reach + 1):
        for n in range(-reach, reach + 1):
            if (m, n) <= (0, 0) and not (m == 0 and n > 0):
                continue
            q = m * reciprocal[0] + n * reciprocal[1]
            if 0 < np.linalg.norm(q) <= 2 * np.pi / shortest:
                out.append(q)
    return np.array(out)


def wavy_sheet(structure: str, rng: np.random.Generator, height: float, shortest: float,
               strain: float) -> Atoms:
    """`structure`, strained and given heights of random long waves (see the module docstring)."""
    atoms = build_sheet(structure)
    stretch = np.diag([*(1 + rng.uniform(-strain, strain, 2)), 1.0])
    atoms.set_cell(atoms.cell.array @ stretch, scale_atoms=True)
    q = wave_vectors(atoms.cell.array, shortest)
    if len(q) == 0:
        raise SystemExit(f"{structure}: no wave of {shortest} Å or longer fits its cell; give a "
                         "shorter --shortest")
    size = np.linalg.norm(q, axis=1)
    amplitude = rng.normal(size=len(q)) * (size.min() / size) ** 2
    phase = rng.uniform(0, 2 * np.pi, len(q))
    h = np.cos(atoms.positions[:, :2] @ q.T + phase) @ amplitude
    h -= h.mean()
    atoms.positions[:, 2] += h * rng.uniform(0.2, 1.0) * height / np.sqrt(np.mean(h ** 2))
    return atoms


def waves(structures: list[str], frames: int, height: float, shortest: float, strain: float,
          seed: int) -> Frames:
    """`frames` wavy sheets of each structure, frame i of structure s drawn from seed (seed, s,
    i); each structure is one trajectory."""
    out = []
    for t, structure in enumerate(structures):
        images = [wavy_sheet(structure, np.random.default_rng([seed, t, i]), height, shortest,
                             strain) for i in range(frames)]
        out.append(Frames.from_atoms(images, np.full(frames, np.nan),
                                     structure=np.full(frames, structure, dtype=object),
                                     trajectory=np.full(frames, t),
                                     source=np.full(frames, "waves", object),
                                     method=np.full(frames, "", dtype=object)))
    return Frames.concatenate(out)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("-o", "--output", type=Path, required=True, help="HDF5 file to write")
    ap.add_argument("--structures", nargs="+", default=list(STRUCTURES), metavar="SHEET",
                    help="sheets as ase_cnnas.sheets names them (default: the pristine sheets "
                         "in the 60-atom and 240-atom 10x6 cells, and in hex6 cells)")
    ap.add_argument("--frames", type=int, default=20, help="frames per structure")
    ap.add_argument("--height", type=float, default=0.15,
                    help="largest RMS height of a frame (Å); each draws between 0.2 and 1 times")
    ap.add_argument("--shortest", type=float, default=6.0,
                    help="shortest wavelength (Å): the waves that small DFT cells lack")
    ap.add_argument("--strain", type=float, default=0.02,
                    help="largest in-plane strain per axis, drawn per frame")
    ap.add_argument("--seed", type=int, default=0, help="seed of every frame's random numbers")


def run(args: argparse.Namespace) -> None:
    if args.frames < 1 or not args.height > 0 or not args.shortest > 0:
        raise SystemExit("--frames, --height and --shortest must be positive")
    if not 0 <= args.strain < 0.5:
        raise SystemExit(f"--strain is a fraction in [0, 0.5), not {args.strain}")
    for structure in args.structures:
        parse_structure(structure)  # a clear error naming the choices
    frames = waves(args.structures, args.frames, args.height, args.shortest, args.strain,
                   args.seed)
    write_frames(args.output, frames, {"generator": "waves", **{
        k: v for k, v in vars(args).items() if k in ("frames", "height", "shortest", "strain",
                                                       "seed", "structures")}})
    print(f"{args.output}: {len(frames)} unlabelled frames; label them with "
          f"`cnnas data label {args.output} -o LABELLED.h5 --reference 7net-0`")
