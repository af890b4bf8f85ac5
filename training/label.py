"""Relabel a frames file with another reference (e.g. GPAW PBE), frame by frame, resumably.

Each frame of the input is recomputed by the reference and appended to the output as soon as it
is done (atomically), with the input's structure, trajectory and frame number, so that splits by
trajectory work on the output as on the input. A rerun skips the frames the output already holds
(matched by their atoms and cell): a killed labeller loses only the frames in progress, one per
worker. `--order random` labels in a seeded random order, so that a partly labelled file samples
every structure.

    cnnas data label data/small_7net.h5 -o data/small_pbe.h5 --reference gpaw-pw --workers 2
"""
from __future__ import annotations

import argparse
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .h5data import DataFileError, Frames, append_frames, frame_count, frame_hash, read_frames
from .reference import make_reference, worker_reference


def geometry_keys(frames: Frames) -> np.ndarray:
    """[F] a hash of each frame's atoms, cell and periodicity, blind to its labels."""
    off = frames.offsets
    return np.array([frame_hash(frames.numbers[off[i]:off[i + 1]],
                                frames.positions[off[i]:off[i + 1]], frames.cell[i],
                                frames.pbc[i], 0.0) for i in range(len(frames))])


def label_frame(frame: Frames, reference: str, stress: bool = False) -> tuple[Frames, float]:
    """`frame` (one frame) with the energy, forces and, with `stress`, the stress (Voigt, eV/Å³)
    of `reference`, and the seconds it took."""
    atoms = frame.atoms(0)
    atoms.calc = worker_reference(reference)
    start = time.perf_counter()
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    voigt = np.array([atoms.get_stress()], dtype=float) if stress else None
    took = time.perf_counter() - start
    return replace(frame, energy=np.array([energy]), forces=np.array(forces, dtype=float),
                   stress=voigt, method=np.array([reference], dtype=object), hash=None), took


def provenance(reference: str, source: Path) -> dict:
    """What labelled the output: the reference, its settings where it has any, the input."""
    from .dft import MODES, describe

    settings = describe(reference) if reference.partition(",")[0] in MODES else {}
    return {"labeller": "cnnas data label", "reference": reference, "settings": settings,
            "input": str(source)}


def todo(source: Path, output: Path, every: int, order: str, seed: int) -> Frames:
    """The input's frames (every `every`-th, in `order`) that `output` does not hold yet."""
    frames = read_frames(source)
    frames = frames.subset(np.arange(0, len(frames), every))
    if order == "random":
        frames = frames.subset(np.random.default_rng(seed).permutation(len(frames)))
    if output.exists():
        done = set(geometry_keys(read_frames(output)))
        frames = frames.subset(np.flatnonzero([k not in done for k in geometry_keys(frames)]))
    return frames


def label(source: Path, output: Path, reference: str, workers: int = 1, every: int = 1,
          order: str = "file", seed: int = 0, limit: int | None = None,
          stress: bool = False) -> int:
    """Label the frames of `source` that `output` lacks (at most `limit`), with the stress too
    if `stress`; returns how many were added."""
    frames = todo(source, output, every, order, seed)
    frames = frames.subset(np.arange(len(frames))[:limit])
    record = provenance(reference, source)
    added, seconds = 0, []
    bar = tqdm(total=len(frames), unit="frame", desc=f"label ({reference})", smoothing=0.1)
    try:
        with ProcessPoolExecutor(workers) as pool:
            queue = iter(range(len(frames)))
            running = {pool.submit(label_frame, frames.subset(np.array([i])), reference,
                                   stress): i for _, i in zip(range(workers), queue)}
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in finished:
                    running.pop(fut)
                    frame, took = fut.result()
                    added += append_frames(output, frame, record)
                    seconds.append(took)
                    bar.update(1)
                    bar.set_postfix(s_per_frame=f"{np.mean(seconds):.0f}")
                    if (i := next(queue, None)) is not None:
                        running[pool.submit(label_frame, frames.subset(np.array([i])),
                                            reference, stress)] = i
    finally:
        bar.close()
    return added


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("input", type=Path, help="HDF5 frames file whose frames to relabel")
    ap.add_argument("-o", "--output", type=Path, required=True,
                    help="HDF5 file to append the relabelled frames to (a rerun continues it)")
    ap.add_argument("--reference", required=True,
                    help="'gpaw-pw', 'gpaw-lcao' (settings after commas, e.g. "
                    "'gpaw-pw,ecut=400,kdensity=3'), '7net-0', 'tersoff' or 'module:factory'")
    ap.add_argument("--workers", type=int, default=1,
                    help="parallel processes, one core and one frame each")
    ap.add_argument("--every", type=int, default=1, metavar="N",
                    help="label every N-th frame of the input")
    ap.add_argument("--order", choices=("file", "random"), default="file",
                    help="file order, or a seeded random order (a partly labelled file then "
                    "samples every structure)")
    ap.add_argument("--seed", type=int, default=0, help="of the random order")
    ap.add_argument("--limit", type=int, help="label at most this many frames in this run")
    ap.add_argument("--stress", action="store_true",
                    help="label the stress too (gpaw-pw, 7net-0 and tersoff give it; for "
                    "training with --stress-weight)")


def run(args: argparse.Namespace) -> None:
    for name in ("workers", "every"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name} must be at least 1, not {getattr(args, name)}")
    if args.input.resolve() == args.output.resolve():
        raise SystemExit(f"-o {args.output}: write the labels to a new file, not the input")
    try:
        reference = make_reference(args.reference)  # a clear error now, not in every worker
    except (ImportError, ValueError) as err:
        raise SystemExit(f"--reference {args.reference}: {err}") from err
    if args.stress and ("stress" not in reference.implemented_properties
                        or args.reference.startswith("gpaw-lcao")):
        raise SystemExit(f"--stress: {args.reference} gives no stress; label without --stress, "
                         "or with gpaw-pw")
    try:
        added = label(args.input, args.output, args.reference, args.workers, args.every,
                      args.order, args.seed, args.limit, args.stress)
    except DataFileError as err:
        raise SystemExit(str(err)) from err
    total = frame_count(args.output) if args.output.exists() else 0
    print(f"{args.output}: added {added} frames labelled by {args.reference}, {total} in all")
