"""Predict every frame of a file and write the frames with the model's energies (and forces).

`cnnas scan TRAJ -o OUT.extxyz` evaluates the frames in batches, on the CPU or GPU, and writes
them with the model's energies (and forces, with --forces) in any format ase.io writes.

    cnnas scan md.traj -o md_cnnas.extxyz --forces --batch 256
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import ase.io
from ase.calculators.singlepoint import SinglePointCalculator

from ase_cnnas.files import replace_atomically
from ase_cnnas.scan import PRECISIONS, scan

from .cli import add_device_argument, add_symmetrize_argument


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("trajectory", type=Path, help="any file ase.io reads (extxyz, traj, OUTCAR…)")
    ap.add_argument("-o", "--output", type=Path, required=True,
                    help="where to write the frames with the predictions (format from its name)")
    ap.add_argument("--model", default="default", help="a bundled model's name or a model file")
    ap.add_argument("--forces", action="store_true", help="forces too (slower: a backward pass)")
    ap.add_argument("--batch", type=int, default=64, help="frames per forward pass")
    ap.add_argument("--precision", choices=PRECISIONS, default="float32",
                    help="of the network's convolutions: bfloat16 is about 1.8× as fast on CPUs "
                         "with AMX and moves energies by ~0.3 meV/atom (docs/benchmarks.md)")
    ap.add_argument("--index", default=":", help="which frames, as ase.io reads them (e.g. ::10)")
    ap.add_argument("--format", dest="fmt", help="ase.io format name, when it cannot be guessed")
    add_device_argument(ap)
    add_symmetrize_argument(ap)


def run(args: argparse.Namespace) -> None:
    if not args.trajectory.is_file():
        raise ValueError(f"{args.trajectory}: no such file")
    try:
        frames = ase.io.read(args.trajectory, index=args.index, format=args.fmt)
    except Exception as err:  # parsers raise anything from IndexError to ParseError
        raise ValueError(f"{args.trajectory}: cannot be read ({type(err).__name__}: {err}); "
                         "check the file, or name its format with --format") from err
    frames = frames if isinstance(frames, list) else [frames]
    start = time.perf_counter()
    energies, forces = scan(frames, args.model, forces=args.forces, batch=args.batch,
                            device=args.device, symmetrize=args.symmetrize,
                            precision=args.precision)
    seconds = time.perf_counter() - start
    for i, atoms in enumerate(frames):
        atoms.calc = SinglePointCalculator(atoms, energy=float(energies[i]),
                                           **({"forces": forces[i]} if args.forces else {}))
    fmt = args.fmt or ase.io.formats.filetype(args.output, read=False)
    replace_atomically(args.output, lambda tmp: ase.io.write(tmp, frames, format=fmt))
    print(f"{args.output}: {len(frames)} frames, energies{' and forces' if args.forces else ''} "
          f"in {seconds:.2f} s ({len(frames) / seconds:.0f} frames/s, batch {args.batch}, "
          f"{args.precision})")
