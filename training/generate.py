"""Labelled MD of B/C/N sheets in any cell, flat or free-standing, in parallel, appended as it goes.

The paper's protocol (§2.2), extended. Each chain (a sheet named as `ase_cnnas.sheets` names it,
and a chain number) is strained by its own random factor per in-plane axis (up to `strain`),
relaxed, then runs MD segments at `temperature`, with atoms held in the plane or, with `free`,
free to leave it; before each segment the sheet is translated randomly in x and y and its
velocities are redrawn from Maxwell–Boltzmann. Segments of different chains run in parallel
processes; finished ones are appended to the HDF5 file every `flush_seconds` (atomically). A
rerun reads the file, continues every chain from its last stored frame, and stops at exactly the
requested frame count: a kill loses at most the unflushed segments, which are recomputed, and
content hashes keep any repeat out.

    cnnas data sheets -o data/sheets.h5 --frames 2000 --steps 100 --stride 2 --workers 2
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
import zlib
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import numpy as np
from ase import Atoms, units
from ase.constraints import FixedPlane
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.optimize import FIRE
from tqdm import tqdm

from ase_cnnas.sheets import STRUCTURE_TYPES, build_sheet, parse_structure

from .cli import add_dataclass_arguments, option
from .h5data import DataFileError, Frames, append_frames, read_columns, read_frames
from .reference import DEFAULT_REFERENCE, worker_reference

FRICTION = 0.01 / units.fs  # Langevin coupling standing in for the paper's Nosé–Hoover at 1000 K


@dataclass(frozen=True)
class Protocol:
    """What a chain's frames depend on; a file's chains may only be continued with the same."""

    steps: int = option(100, "MD steps per segment")
    stride: int = option(2, "record every stride-th step")
    timestep: float = option(1.0, "MD time step (fs)")
    temperature: float = option(1000.0, "Langevin temperature (K)")
    seed: int = option(0, "seed of every chain's random numbers")
    reference: str = option(DEFAULT_REFERENCE, "'7net-0' (SevenNet-0), 'tersoff' (LAMMPS BNC) "
                            "or 'module:factory'")
    free: bool = option(False, "let atoms leave the plane (free-standing sheets) instead of "
                        "holding them in it")
    strain: float = option(0.0, "largest in-plane strain per axis, drawn per chain, e.g. 0.03 "
                           "for ±3 %%")

    @property
    def per_segment(self) -> int:
        return self.steps // self.stride


def chain_source(structure: str) -> str:
    """The `source` of a structure's generated frames; `trajectory` is the chain number."""
    return f"sheets/{structure}"


def structure_key(structure: str) -> int:
    """A stable number for a sheet's name, to seed its chains: the paper's nine keep their index
    (so their chains are those made before other sheets existed), others a CRC-32."""
    if structure in STRUCTURE_TYPES:
        return STRUCTURE_TYPES.index(structure)
    return zlib.crc32(structure.encode())


def chain_sheet(structure: str, chain: int, protocol: Protocol) -> Atoms:
    """The unrelaxed sheet of a chain, its cell and atoms scaled by the chain's own strain."""
    atoms = build_sheet(structure)
    if protocol.strain:
        rng = np.random.default_rng([protocol.seed, structure_key(structure), chain])
        stretch = np.ones(3)
        stretch[:2] += rng.uniform(-protocol.strain, protocol.strain, 2)
        atoms.set_cell(atoms.cell.array * stretch[None, :], scale_atoms=True)
    if not protocol.free:
        atoms.set_constraint(FixedPlane(range(len(atoms)), direction=[0, 0, 1]))
    return atoms


def run_segment(atoms: Atoms, protocol: Protocol, rng: np.random.Generator,
                start_temperature: float) -> dict[str, np.ndarray]:
    """Translate randomly in-plane, redraw velocities, run `steps` MD steps; record every
    `stride`-th frame after the start (the last one is where the next segment begins)."""
    atoms.positions[:, :2] += rng.uniform(0, 1, 2) @ atoms.cell.array[:2, :2]
    atoms.wrap()
    thermalize_momenta(atoms, start_temperature, rng=rng)
    Stationary(atoms)
    dyn = Langevin(atoms, protocol.timestep * units.fs, temperature_K=protocol.temperature,
                   friction=FRICTION, fixcm=False, rng=rng)
    record: dict[str, list] = {"positions": [], "energy": [], "forces": []}

    def observe() -> None:
        if dyn.nsteps:
            record["positions"].append(atoms.get_positions(wrap=True))
            record["energy"].append(atoms.get_potential_energy())
            record["forces"].append(atoms.get_forces(apply_constraint=False))

    dyn.attach(observe, interval=protocol.stride)
    dyn.run(protocol.steps)
    return {k: np.asarray(v) for k, v in record.items()}


def segment_task(structure: str, chain: int, segment: int, start: np.ndarray | None,
                 skip: int, keep: int, protocol: Protocol) -> Frames:
    """Segment `segment` of a chain, from `start` positions (None: relax the fresh sheet first);
    its frames `skip`…`keep` (a segment cut short by the requested count is redone whole and only
    its missing frames kept, so that a resumed chain is the same as an uninterrupted one)."""
    atoms = chain_sheet(structure, chain, protocol)
    atoms.calc = worker_reference(protocol.reference)
    if start is None:
        FIRE(atoms, logfile=None).run(fmax=0.05, steps=300)
    else:
        atoms.positions = start
    rng = np.random.default_rng([protocol.seed, structure_key(structure), chain, segment])
    # the first segment starts cold, so it gets 2T: equipartition brings it to ~T
    start_t = protocol.temperature * (2 if start is None else 1)
    seg = run_segment(atoms, protocol, rng, start_t)
    n, natoms, part = keep - skip, len(atoms), slice(skip, keep)
    return Frames(numbers=np.tile(atoms.numbers, n),
                  positions=seg["positions"][part].reshape(-1, 3),
                  forces=seg["forces"][part].reshape(-1, 3), natoms=np.full(n, natoms),
                  energy=seg["energy"][part], cell=np.repeat(atoms.cell.array[None], n, axis=0),
                  pbc=np.tile(atoms.pbc, (n, 1)), structure=np.full(n, structure, dtype=object),
                  trajectory=np.full(n, chain),
                  source=np.full(n, chain_source(structure), dtype=object),
                  frame_index=segment * protocol.per_segment + np.arange(skip, keep),
                  method=np.full(n, protocol.reference, dtype=object))


def chain_state(path: Path, protocol: Protocol) -> dict[tuple[str, int], tuple[int, np.ndarray]]:
    """(structure, chain) → (frames stored, positions where their last segment started) for the
    chains in `path`; refuses a file whose chains were made with another protocol."""
    if not path.exists():
        return {}
    col = read_columns(path, ("source", "trajectory", "frame_index"))
    made = [p for p in json.loads(col["provenance"]) if p.get("generator") == "sheets"]
    # files made before `free` and `strain` existed were made with their defaults
    if made and {**asdict(Protocol()), **made[-1]["protocol"]} != asdict(protocol):
        raise DataFileError(f"{path}: its sheets were generated with {made[-1]['protocol']}, "
                            f"not {asdict(protocol)}; rerun with those settings or write to "
                            "another file")
    state = {}
    for s in {src.partition("/")[2] for src in col["source"] if src.startswith("sheets/")}:
        ours = col["source"] == chain_source(s)
        for chain in np.unique(col["trajectory"][ours]):
            mine = np.flatnonzero(ours & (col["trajectory"] == chain))
            if sorted(col["frame_index"][mine]) != list(range(len(mine))):
                raise DataFileError(f"{path}: chain {chain} of {s} has a gap; write to a new file")
            before = len(mine) // protocol.per_segment * protocol.per_segment - 1
            start = None
            if before >= 0:  # the last frame before the segment that comes next
                i = int(mine[col["frame_index"][mine] == before][0])
                start = read_frames(path, i, i + 1).positions.copy()
            state[(s, int(chain))] = (len(mine), start)
    return state


def generate(path: Path, structures: list[str], frames: int, chains: int, protocol: Protocol,
             workers: int, flush_seconds: float = 60.0) -> int:
    """Make `frames` frames per chain for `chains` chains of each structure into `path`,
    continuing what is there. Returns how many frames were added."""
    state = chain_state(path, protocol)
    todo = {(s, c): state.get((s, c), (0, None)) for s in structures for c in range(chains)}
    total = frames * len(todo)
    bar = tqdm(total=total, initial=sum(min(n, frames) for n, _ in todo.values()), unit="frame",
               desc="sheets", mininterval=2, smoothing=0.05)
    provenance = {"generator": "sheets", "protocol": asdict(protocol)}
    buffer, added, last_flush = [], 0, time.time()

    def flush() -> None:
        nonlocal buffer, added, last_flush
        if buffer:
            added += append_frames(path, Frames.concatenate(buffer), provenance)
        buffer, last_flush = [], time.time()

    def submit(pool, key):
        done, start = todo[key]
        if done >= frames:
            return None
        segment = done // protocol.per_segment
        first = segment * protocol.per_segment
        return pool.submit(segment_task, *key, segment, start, done - first,
                           min(protocol.per_segment, frames - first), protocol)

    # CUDA cannot be used in a forked child of a process that has touched it
    context = multiprocessing.get_context("spawn" if "cuda" in protocol.reference else None)
    try:  # whatever stops the loop (an error, Ctrl-C), the finished segments are kept
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            running = {f: key for key in todo if (f := submit(pool, key)) is not None}
            while running:
                finished, _ = wait(running, timeout=flush_seconds, return_when=FIRST_COMPLETED)
                for fut in finished:
                    key = running.pop(fut)
                    seg = fut.result()
                    buffer.append(seg)
                    todo[key] = (todo[key][0] + len(seg), seg.positions[-seg.natoms[-1]:])
                    bar.update(len(seg))
                    if (nxt := submit(pool, key)) is not None:
                        running[nxt] = key
                if time.time() - last_flush >= flush_seconds:
                    flush()
    finally:
        flush()
        bar.close()
    return added


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("-o", "--output", type=Path, required=True, help="HDF5 file to append to")
    ap.add_argument("--structures", nargs="+", default=list(STRUCTURE_TYPES), metavar="SHEET",
                    help="sheets as ase_cnnas.sheets names them, material_defect[@cell], e.g. "
                    "hbn_vacancy_b@hex6 (default: the paper's nine 60-atom sheets)")
    ap.add_argument("--frames", type=int, default=96, help="frames per chain")
    ap.add_argument("--chains", type=int, default=1,
                    help="independent chains per structure (whole chains are what a "
                    "split by trajectory holds out)")
    add_dataclass_arguments(ap, Protocol)
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                    help="parallel processes, one core each")
    ap.add_argument("--flush-seconds", type=float, default=60.0,
                    help="append finished segments to the file this often")


def run(args: argparse.Namespace) -> None:
    for name in ("frames", "chains", "workers", "steps", "stride"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name} must be at least 1, not {getattr(args, name)}")
    if args.steps % args.stride:
        raise SystemExit(f"--steps ({args.steps}) must be a multiple of --stride ({args.stride}), "
                         "so that each segment ends on a recorded frame and the next one can "
                         "resume from it")
    if not 0 <= args.strain < 0.5:
        raise SystemExit(f"--strain is a fraction in [0, 0.5), not {args.strain}")
    for structure in args.structures:
        parse_structure(structure)  # a clear error naming the choices
    protocol = Protocol(**{k: getattr(args, k) for k in asdict(Protocol())})
    added = generate(args.output, args.structures, args.frames, args.chains, protocol,
                     args.workers, args.flush_seconds)
    with h5py.File(args.output, "r") as f:
        print(f"{args.output}: added {added} frames, {len(f['natoms'])} in all")
