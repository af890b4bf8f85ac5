"""Import labelled frames from VASP output or any file ase.io reads into an HDF5 frames file.

VASP: OUTCAR, vasprun.xml, or XDATCAR with the OUTCAR or vasprun.xml that labels it; otherwise
anything that ``ase.io.read(path, index=":")`` understands, an ase-cnnas HDF5 file included.

Each file is parsed whole before anything is written; a file that cannot be parsed, is cut short,
or carries no energies is reported by name with the reason and the others still import. All
frames go into the file in one atomic append, which skips frames already there (content hash).

    cnnas data import OUTCAR run2/vasprun.xml md.extxyz -o data.h5
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path

import ase.io
import numpy as np
from ase import Atoms
from ase.io.formats import filetype
from ase.stress import full_3x3_to_voigt_6_stress
from tqdm import tqdm

from .h5data import DataFileError, Frames, append_frames, read_frames

VASP_FORMATS = {"vasp-out", "vasp-xml", "vasp-xdatcar"}
# What a complete file of each kind ends with: without it the run was cut short or the copy is
# truncated.
FOOTERS = {"vasp-out": b"General timing and accounting", "vasp-xml": b"</modeling>"}


class ImportFileError(ValueError):
    """One input file that cannot be imported; the message names the file and the reason."""


@dataclass
class FileReport:
    path: str
    read: int = 0
    kept: int = 0  # after --every
    added: int = 0
    error: str = ""
    note: str = ""


def _format(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
        if head.startswith(b"\x89HDF"):
            return "hdf5"
        return filetype(str(path), guess=False)
    except Exception as err:  # ase raises several kinds for unknown content
        raise ImportFileError(f"{path}: unknown file type ({err}); name the format ase.io should "
                              "use with --format") from err


def _check_complete(path: Path, fmt: str) -> None:
    footer = FOOTERS.get(fmt)
    if footer is None:
        return
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - 20000))
        if footer not in fh.read():
            raise ImportFileError(f"{path}: cut short (no {footer.decode()!r} at the end: the run "
                                  "stopped or the copy is truncated); pass --allow-partial to "
                                  "import its complete frames")


def _read_atoms(path: Path, fmt: str) -> list[Atoms]:
    try:
        images = ase.io.read(path, index=":", format=fmt)
    except Exception as err:  # parsers raise anything from IndexError to ParseError
        if fmt == "vasp-out" and b"TOTAL-FORCE" not in path.read_bytes():
            fix = ("it has no TOTAL-FORCE block, where each ionic step's positions and forces "
                   "are printed: the run ended before its first ionic step; import a file of a "
                   "run that has steps")
        else:
            fix = "check that the file is complete, or name its format with --format"
        raise ImportFileError(f"{path}: cannot be read as {fmt} ({type(err).__name__}: {err}); "
                              f"{fix}") from err
    if not images:
        raise ImportFileError(f"{path}: holds no frames")
    return images


def _label(images: list[Atoms], labels: list[Atoms], path: Path, labels_path: Path) -> list[Atoms]:
    """Copy energies/forces/stress from `labels` onto `images` (XDATCAR + its OUTCAR or
    vasprun), frame by frame, after checking that they are the same frames."""
    if len(images) != len(labels):
        raise ImportFileError(f"{path}: {len(images)} frames but {labels_path} has {len(labels)}; "
                              "give the OUTCAR or vasprun.xml of the same run")
    for a, b in zip(images, labels):
        d = a.get_scaled_positions() - b.get_scaled_positions()
        if (a.numbers != b.numbers).any() or np.abs(d - np.round(d)).max() > 1e-4:
            raise ImportFileError(f"{path}: its frames differ from those of {labels_path}; give "
                                  "the OUTCAR or vasprun.xml of the same run")
        a.calc = b.calc
    return images


def _to_frames(images: list[Atoms], path: Path, method: str, structure: str | None) -> Frames:
    def result(atoms: Atoms, key: str):
        return atoms.calc.results.get(key) if atoms.calc is not None else None

    for i, atoms in enumerate(images):
        if result(atoms, "energy") is None:
            hint = " (an XDATCAR needs --labels OUTCAR)" if "XDATCAR" in path.name else ""
            raise ImportFileError(f"{path}: frame {i} has no energy{hint}; only labelled frames "
                                  "can be imported")
    n_atoms = sum(len(a) for a in images)
    forces, stress = np.full((n_atoms, 3), np.nan), np.full((len(images), 6), np.nan)
    start = 0
    for i, atoms in enumerate(images):
        if (f := result(atoms, "forces")) is not None:
            forces[start:start + len(atoms)] = f
        if (s := result(atoms, "stress")) is not None:
            stress[i] = s if np.size(s) == 6 else full_3x3_to_voigt_6_stress(s)
        start += len(atoms)
    n = len(images)
    return Frames.from_atoms(
        images, np.array([result(a, "energy") for a in images], dtype=float), forces=forces,
        stress=stress,
        structure=np.array([structure or a.get_chemical_formula() for a in images], dtype=object),
        trajectory=np.zeros(n, int), source=np.full(n, os.path.normpath(path), dtype=object),
        frame_index=np.arange(n), method=np.full(n, method, dtype=object))


def read_file(path: Path, labels: Path | None = None, method: str | None = None,
              structure: str | None = None, fmt: str | None = None,
              allow_partial: bool = False) -> tuple[Frames, str]:
    """One input file as Frames, and a note (e.g. frames without forces). ImportFileError
    names the file and what is wrong with it."""
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file")
    fmt = fmt or _format(path)
    if fmt == "hdf5":
        try:
            return read_frames(path), ""
        except DataFileError as err:
            raise ImportFileError(str(err)) from err
    if not allow_partial:
        _check_complete(path, fmt)
    images = _read_atoms(path, fmt)
    if labels is not None:
        lfmt = _format(labels)
        if not allow_partial:
            _check_complete(labels, lfmt)
        images = _label(images, _read_atoms(labels, lfmt), path, labels)
    method = method or ("VASP" if fmt in VASP_FORMATS or labels is not None else "unknown")
    frames = _to_frames(images, path, method, structure)
    missing = np.isnan(frames.forces).any(axis=1)
    note = f"{int(missing.sum())} atoms without forces" if missing.any() else ""
    return frames, note


def every_nth(frames: Frames, every: int) -> Frames:
    """Every `every`-th frame of each trajectory (first frame kept): thins long MD whose
    consecutive frames are near-copies."""
    _, group = np.unique(frames.trajectories(), return_inverse=True)
    position = np.zeros(len(frames), np.int64)
    for g in np.unique(group):
        mine = np.flatnonzero(group == g)
        position[mine] = np.arange(len(mine))
    return frames.subset(np.flatnonzero(position % every == 0))


def import_files(paths: list[Path], output: Path, labels: list[Path] | None = None,
                 every: int = 1, **options) -> list[FileReport]:
    """Import `paths` into `output`, every `every`-th frame of each trajectory; XDATCAR files
    take their labels from `labels`, in order. Returns a report per file; files with errors are
    skipped."""
    labels = list(labels or [])
    reports, parts = [], []
    for path in tqdm(paths, desc="reading", unit="file", disable=len(paths) < 3):
        report = FileReport(str(path))
        try:
            label = labels.pop(0) if "XDATCAR" in path.name and labels else None
            frames, report.note = read_file(path, label, **options)
            report.read = len(frames)
            frames = every_nth(frames, every) if every > 1 else frames
            report.kept = len(frames)
            parts.append((report, frames))
        except ImportFileError as err:
            report.error = str(err)
        reports.append(report)
    for report, frames in parts:  # one append per file keeps the per-file counts exact
        provenance = {"importer": "cnnas data import", "file": report.path}
        if "provenance" in frames.attrs:  # an ase-cnnas file: keep how its frames were made
            provenance["from"] = json.loads(frames.attrs["provenance"])
        report.added = append_frames(output, frames, provenance)
    return reports


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("paths", nargs="+", type=Path, help="OUTCAR, vasprun.xml, XDATCAR, extxyz, "
                    "ASE trajectory or database, an ase-cnnas HDF5 file…")
    ap.add_argument("-o", "--output", type=Path, required=True, help="HDF5 file to append to")
    ap.add_argument("--labels", type=Path, action="append",
                    help="OUTCAR or vasprun.xml that labels the next XDATCAR (repeat, in order)")
    ap.add_argument("--method", help="what labelled the frames (default: VASP for VASP files)")
    ap.add_argument("--structure", help="a label for these frames (default: chemical formula)")
    ap.add_argument("--format", dest="fmt", help="ase.io format name, when it cannot be guessed")
    ap.add_argument("--allow-partial", action="store_true",
                    help="import the complete frames of files that were cut short")
    ap.add_argument("--every", type=int, default=1, metavar="N",
                    help="keep every N-th frame of each trajectory (consecutive MD frames are "
                    "near-copies)")


def run(args: argparse.Namespace) -> int:
    if args.every < 1:
        raise SystemExit(f"--every {args.every}: give a whole number of at least 1")
    reports = import_files(args.paths, args.output, args.labels, args.every, method=args.method,
                           structure=args.structure, fmt=args.fmt, allow_partial=args.allow_partial)
    for r in reports:
        if r.error:
            print(f"SKIPPED {r.error}")
        else:
            kept = f", {r.kept} kept (every {args.every})" if r.kept != r.read else ""
            print(f"{r.path}: {r.read} frames read{kept}, {r.added} added, {r.kept - r.added} "
                  f"already there" + (f" ({r.note})" if r.note else ""))
    failed = sum(bool(r.error) for r in reports)
    if failed:
        print(f"{failed} of {len(reports)} files skipped; the others were imported")
    return 1 if failed else 0
