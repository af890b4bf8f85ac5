"""Labelled frames in one HDF5 file, with units and provenance (format version 1).

Layout: per-atom arrays concatenated over frames (``numbers`` [A], ``positions`` [A, 3] Å,
``forces`` [A, 3] eV/Å), per-frame arrays (``natoms`` [F], ``energy`` [F] eV, ``cell`` [F, 3, 3] Å,
``pbc`` [F, 3], ``structure`` [F] str, ``trajectory`` [F] int). Files are written to a temporary
name and renamed, so a reader never sees a half-written file.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

FORMAT = "ase-cnnas-frames"
FORMAT_VERSION = 1
UNITS = {"positions": "Angstrom", "cell": "Angstrom", "energy": "eV", "forces": "eV/Angstrom"}


class DataFileError(ValueError):
    """An HDF5 file that is missing, not ours, damaged, or of an unknown format version."""


@dataclass
class Frames:
    """Ragged frames: per-atom arrays concatenated, `natoms` says where each frame ends."""

    numbers: np.ndarray  # [A] int
    positions: np.ndarray  # [A, 3] Å
    forces: np.ndarray  # [A, 3] eV/Å
    natoms: np.ndarray  # [F] int
    energy: np.ndarray  # [F] eV
    cell: np.ndarray  # [F, 3, 3] Å
    pbc: np.ndarray  # [F, 3] bool
    structure: np.ndarray  # [F] str
    trajectory: np.ndarray  # [F] int
    attrs: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.natoms)

    @property
    def offsets(self) -> np.ndarray:
        """[F + 1] start of each frame in the per-atom arrays."""
        return np.concatenate([[0], np.cumsum(self.natoms)])

    def subset(self, index: np.ndarray) -> "Frames":
        """The frames at `index`, in that order."""
        off = self.offsets
        atoms = np.concatenate([np.arange(off[i], off[i + 1]) for i in index]) if len(index) else []
        per_atom = {k: getattr(self, k)[atoms] for k in ("numbers", "positions", "forces")}
        per_frame = {k: getattr(self, k)[index] for k in
                     ("natoms", "energy", "cell", "pbc", "structure", "trajectory")}
        return Frames(**per_atom, **per_frame, attrs=dict(self.attrs))

    def translated(self, rng: np.random.Generator) -> "Frames":
        """A copy with each frame shifted by a random fraction of its in-plane cell vectors (an
        exact symmetry: energies and forces stay the same)."""
        shift = rng.uniform(0, 1, (len(self), 2))
        out = self.subset(np.arange(len(self)))
        frame = np.repeat(np.arange(len(self)), self.natoms)
        out.positions[:, :2] += np.einsum("fi,fij->fj", shift, self.cell[:, :2, :2])[frame]
        return out

    def atoms(self, i: int) -> Atoms:
        """Frame `i` as ASE Atoms carrying its energy and forces."""
        a, b = self.offsets[i:i + 2]
        atoms = Atoms(numbers=self.numbers[a:b], positions=self.positions[a:b],
                      cell=self.cell[i], pbc=self.pbc[i])
        atoms.calc = SinglePointCalculator(atoms, energy=self.energy[i], forces=self.forces[a:b])
        return atoms

    @staticmethod
    def concatenate(parts: list["Frames"]) -> "Frames":
        """One Frames holding all `parts` in order; attrs from the first."""
        keys = ("numbers", "positions", "forces", "natoms", "energy", "cell", "pbc", "structure",
                "trajectory")
        return Frames(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in keys},
                      attrs=dict(parts[0].attrs))


def write_frames(path: str | os.PathLike, frames: Frames, reference: str, provenance: dict) -> None:
    """Write `frames` to `path` atomically (temporary file + rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["units"] = json.dumps(UNITS)
        f.attrs["reference"] = reference
        f.attrs["provenance"] = json.dumps(provenance)
        for key in ("numbers", "positions", "forces", "natoms", "energy", "cell", "pbc", "trajectory"):
            f.create_dataset(key, data=getattr(frames, key), compression="gzip")
        f.create_dataset("structure", data=frames.structure.astype(object),
                         dtype=h5py.string_dtype())
    os.replace(tmp, path)


def read_frames(path: str | os.PathLike) -> Frames:
    """Read a file written by `write_frames`; refuse anything else with a clear error."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such data file; generate one with `python -m training.generate`")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise DataFileError(f"{path}: not an ase-cnnas frames file (no format={FORMAT!r})")
            version = int(f.attrs["format_version"])
            if version > FORMAT_VERSION:
                raise DataFileError(f"{path}: format version {version} is newer than this ase-cnnas "
                                    f"reads ({FORMAT_VERSION}); upgrade ase-cnnas")
            if json.loads(f.attrs.get("units", "{}")) != UNITS:
                raise DataFileError(f"{path}: units missing or not {UNITS}")
            data = {k: f[k][()] for k in ("numbers", "positions", "forces", "natoms", "energy",
                                          "cell", "pbc", "trajectory")}
            data["structure"] = f["structure"].asstr()[()]
            attrs = {k: f.attrs[k] for k in ("reference", "provenance")}
    except KeyError as err:
        raise DataFileError(f"{path}: damaged, {err} is missing; regenerate or re-import it") from err
    except OSError as err:  # h5py's word for a truncated or non-HDF5 file
        raise DataFileError(f"{path}: cannot be read as HDF5 ({err}); regenerate or re-import it") from err
    return Frames(**data, attrs=attrs)
