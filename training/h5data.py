"""Labelled frames in one HDF5 file, with units, provenance, content hashes and stored splits.

Layout (format version 2): per-atom arrays concatenated over frames (``numbers`` [A],
``positions`` [A, 3] Å, ``forces`` [A, 3] eV/Å, NaN where a source has none), per-frame arrays
(``natoms``, ``energy`` eV, ``cell`` [F, 3, 3] Å, ``pbc`` [F, 3], ``stress`` [F, 6] eV/Å³ in Voigt
order, NaN where absent, ``structure``, ``trajectory``, ``source`` file, ``frame_index`` in that
source, ``method`` that labelled it, ``hash`` of its content), extra per-frame labels under
``labels/`` and named splits under ``splits/``. Every change writes a copy and renames it over the
file (under a lock), so a reader or a killed writer never leaves a half-written file; appending
skips frames whose hash is already there. Version 1 files (PR 2) still read.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from ase_cnnas.files import atomic_path

if TYPE_CHECKING:  # h5py is imported where a file is opened: Frames alone needs none
    import h5py

FORMAT = "ase-cnnas-frames"
FORMAT_VERSION = 2
GZIP_LEVEL = 9  # densest gzip: positions and forces are float64 noise, 10 % smaller than level 1
UNITS = {"positions": "Angstrom", "cell": "Angstrom", "energy": "eV", "forces": "eV/Angstrom",
         "stress": "eV/Angstrom^3"}
PER_ATOM = ("numbers", "positions", "forces")
PER_FRAME = ("natoms", "energy", "cell", "pbc", "stress", "trajectory", "frame_index", "hash")
TEXT = ("structure", "source", "method")  # per-frame strings
SPLIT_PARTS = ("train", "validation", "test")


class DataFileError(ValueError):
    """An HDF5 file that is missing, not ours, damaged, or of an unknown format version."""


def frame_hash(numbers: np.ndarray, positions: np.ndarray, cell: np.ndarray, pbc: np.ndarray,
               energy: float) -> str:
    """Hex digest of one frame's content (elements, geometry, energy), to spot repeats."""
    h = hashlib.blake2b(digest_size=16)
    for a in (np.asarray(numbers, "<i8"), np.asarray(positions, "<f8"), np.asarray(cell, "<f8"),
              np.asarray(pbc, "?"), np.asarray([energy], "<f8")):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


@dataclass
class Frames:
    """Ragged frames: per-atom arrays concatenated, `natoms` says where each frame ends.
    Optional fields default to NaN (forces, stress), "" (strings), 0 (trajectory), the position
    in this set (frame_index) and the content hash."""

    numbers: np.ndarray  # [A] int
    positions: np.ndarray  # [A, 3] Å
    natoms: np.ndarray  # [F] int
    energy: np.ndarray  # [F] eV
    cell: np.ndarray  # [F, 3, 3] Å
    pbc: np.ndarray  # [F, 3] bool
    forces: np.ndarray | None = None  # [A, 3] eV/Å
    stress: np.ndarray | None = None  # [F, 6] eV/Å³
    structure: np.ndarray | None = None  # [F] str
    trajectory: np.ndarray | None = None  # [F] int
    source: np.ndarray | None = None  # [F] str
    frame_index: np.ndarray | None = None  # [F] int
    method: np.ndarray | None = None  # [F] str
    hash: np.ndarray | None = None  # [F] str
    labels: dict = field(default_factory=dict)  # name → [F] float
    attrs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, a = len(self.natoms), len(self.numbers)
        defaults = {"forces": np.full((a, 3), np.nan), "stress": np.full((n, 6), np.nan),
                    "trajectory": np.zeros(n, int), "frame_index": np.arange(n)}
        for key, value in defaults.items():
            if getattr(self, key) is None:
                setattr(self, key, value)
        for key in TEXT:
            if getattr(self, key) is None:
                setattr(self, key, np.full(n, "", dtype=object))
        if self.hash is None:
            off = self.offsets
            self.hash = np.array([frame_hash(self.numbers[off[i]:off[i + 1]],
                                             self.positions[off[i]:off[i + 1]], self.cell[i],
                                             self.pbc[i], self.energy[i]) for i in range(n)],
                                 dtype=object)

    @classmethod
    def from_atoms(cls, images: list[Atoms], energy: np.ndarray, **columns) -> "Frames":
        """Frames of the geometries of `images` (elements, positions, cell, pbc) with their
        `energy` and any other fields as `columns`."""
        return cls(numbers=np.concatenate([a.numbers for a in images]),
                   positions=np.concatenate([a.positions for a in images]),
                   natoms=np.array([len(a) for a in images]), energy=energy,
                   cell=np.array([a.cell.array for a in images]),
                   pbc=np.array([a.pbc for a in images]), **columns)

    def __len__(self) -> int:
        return len(self.natoms)

    @property
    def offsets(self) -> np.ndarray:
        """[F + 1] start of each frame in the per-atom arrays."""
        return np.concatenate([[0], np.cumsum(self.natoms)]).astype(np.int64)

    def subset(self, index: np.ndarray) -> "Frames":
        """The frames at `index`, in that order."""
        index = np.asarray(index, dtype=np.int64)
        off = self.offsets
        atoms = (np.concatenate([np.arange(off[i], off[i + 1]) for i in index]) if len(index)
                 else np.zeros(0, np.int64))
        return Frames(**{k: getattr(self, k)[atoms] for k in PER_ATOM},
                      **{k: getattr(self, k)[index] for k in PER_FRAME + TEXT},
                      labels={k: v[index] for k, v in self.labels.items()}, attrs=dict(self.attrs))

    def translated(self, rng: np.random.Generator) -> "Frames":
        """A copy with each frame shifted by a random fraction of its in-plane cell vectors (an
        exact symmetry: energies and forces stay the same)."""
        shift = rng.uniform(0, 1, (len(self), 2))
        out = self.subset(np.arange(len(self)))
        frame = np.repeat(np.arange(len(self)), self.natoms)
        out.positions[:, :2] += np.einsum("fi,fij->fj", shift, self.cell[:, :2, :2])[frame]
        return out

    def mirrored(self, rng: np.random.Generator) -> "Frames":
        """A copy with each frame reflected at random through x = 0, y = 0, both (a 180°
        rotation) or neither, exact for energies; forces and stress are reflected with the
        positions. A rectangular cell maps onto itself; an oblique one is reflected too (its
        frame's mirror image in the mirrored cell, for models that take any cell)."""
        flip = rng.choice([-1.0, 1.0], (len(self), 2))
        out = self.subset(np.arange(len(self)))
        cells = self.cell[:, :2, :2]
        oblique = np.abs(cells - cells * np.eye(2)).max((1, 2)) > 1e-9
        out.cell[oblique, :, :2] *= flip[oblique, None, :]
        per_atom = np.repeat(flip, self.natoms, axis=0)
        out.positions[:, :2] *= per_atom
        out.forces[:, :2] *= per_atom
        sx, sy = flip.T  # Voigt xx yy zz yz xz xy: off-diagonal terms change sign with their axes
        out.stress[:, 3:] *= np.column_stack([sy, sx, sx * sy])
        return out

    def trajectories(self) -> np.ndarray:
        """[F] a key per frame naming its trajectory: source and chain number, and for frames
        imported from another frames file, which import brought them (a generator's chain 0 of
        "sheets/hbn_pristine" at 300 K and at 1500 K are two trajectories)."""
        log = json.loads(self.attrs.get("provenance", "[]"))
        block = np.repeat([i if "importer" in p else -1 for i, p in enumerate(log)],
                          [p.get("added", 0) for p in log])
        if len(block) != len(self):  # a log that does not count every frame: sources only
            block = np.full(len(self), -1)
        return np.array([f"{b}#{s}#{t}" for b, s, t in zip(block, self.source, self.trajectory)])

    def atoms(self, i: int) -> Atoms:
        """Frame `i` as ASE Atoms carrying its energy, forces and stress where known, and its
        structure type in info["structure"] where named."""
        a, b = self.offsets[i:i + 2]
        atoms = Atoms(numbers=self.numbers[a:b], positions=self.positions[a:b],
                      cell=self.cell[i], pbc=self.pbc[i])
        if self.structure[i]:
            atoms.info["structure"] = str(self.structure[i])
        results = {"energy": self.energy[i], "forces": self.forces[a:b], "stress": self.stress[i]}
        atoms.calc = SinglePointCalculator(atoms, **{k: v for k, v in results.items()
                                                     if np.isfinite(v).all()})
        return atoms

    @staticmethod
    def concatenate(parts: list["Frames"]) -> "Frames":
        """One Frames holding all `parts` in order; attrs from the first, labels all parts share."""
        labels = set.intersection(*(set(p.labels) for p in parts))
        return Frames(**{k: np.concatenate([getattr(p, k) for p in parts])
                         for k in PER_ATOM + PER_FRAME + TEXT},
                      labels={k: np.concatenate([p.labels[k] for p in parts]) for k in labels},
                      attrs=dict(parts[0].attrs))


@contextlib.contextmanager
def _rewrite(path: Path):
    """An h5py.File on a copy of `path` (or a new file) that replaces `path` on success only.
    A lock file serialises writers; a killed writer leaves `path` as it was."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with atomic_path(path) as tmp:
            if path.exists():
                _check(path)
                shutil.copyfile(path, tmp)
            with h5py.File(tmp, "a") as f:
                yield f


def _create(f: h5py.File, frames: Frames) -> None:
    """Empty, growable datasets shaped like `frames`, and the file's tags."""
    import h5py

    f.attrs["format"] = FORMAT
    f.attrs["format_version"] = FORMAT_VERSION
    f.attrs["units"] = json.dumps(UNITS)
    f.attrs["provenance"] = json.dumps([])
    for key in PER_ATOM + PER_FRAME:
        value = np.asarray(getattr(frames, key))
        dtype = "S32" if key == "hash" else value.dtype
        f.create_dataset(key, shape=(0,) + value.shape[1:], maxshape=(None,) + value.shape[1:],
                         dtype=dtype, chunks=True, compression="gzip", compression_opts=GZIP_LEVEL,
                         shuffle=True)
    for key in TEXT:
        f.create_dataset(key, shape=(0,), maxshape=(None,), dtype=h5py.string_dtype(),
                         chunks=True, compression="gzip", compression_opts=GZIP_LEVEL)
    for key in frames.labels:
        f.create_dataset(f"labels/{key}", shape=(0,), maxshape=(None,), dtype="f8", chunks=True)


def _extend(f: h5py.File, frames: Frames) -> None:
    def put(name: str, value: np.ndarray) -> None:
        d = f[name]
        d.resize(len(d) + len(value), axis=0)
        d[len(d) - len(value):] = value

    for key in PER_ATOM + PER_FRAME:
        put(key, np.asarray(getattr(frames, key)).astype("S32") if key == "hash"
            else getattr(frames, key))
    for key in TEXT:
        put(key, np.asarray(getattr(frames, key), dtype=object))
    for key in f.get("labels", {}):
        put(f"labels/{key}", frames.labels[key])


def logged(log: list[dict], provenance: dict, added: int) -> list[dict]:
    """The provenance log with `added` frames made as `provenance` says: counted into the last
    entry when that says the same (a generator flushing every minute, a resumed run), so that
    the log lists each way the frames were made, not each append."""
    if log and {k: v for k, v in log[-1].items() if k != "added"} == provenance:
        return log[:-1] + [{**log[-1], "added": log[-1]["added"] + added}]
    return log + [{**provenance, "added": added}]


def append_frames(path: str | os.PathLike, frames: Frames, provenance: dict | None = None) -> int:
    """Add the frames of `frames` whose content hash `path` lacks (creating the file if needed),
    atomically. Returns how many were added."""
    path = Path(path)
    with _rewrite(path) as f:
        if "format" not in f.attrs:
            _create(f, frames)
        elif int(f.attrs["format_version"]) < FORMAT_VERSION:
            raise DataFileError(f"{path}: format version {f.attrs['format_version']} cannot be "
                                "appended to; convert it with "
                                f"`cnnas data import {path} -o NEW.h5`")
        elif set(f.get("labels", {})) - set(frames.labels):
            raise DataFileError(f"{path}: its frames carry labels {sorted(f['labels'])}, the new "
                                f"frames only {sorted(frames.labels)}; append to another file")
        seen = set(f["hash"].asstr()[()])
        keep = []
        for i, h in enumerate(frames.hash):
            if h not in seen:
                seen.add(h)
                keep.append(i)
        if keep:
            _extend(f, frames.subset(np.array(keep)))
            if provenance is not None:
                f.attrs["provenance"] = json.dumps(logged(json.loads(f.attrs["provenance"]),
                                                          provenance, len(keep)))
        return len(keep)


def write_frames(path: str | os.PathLike, frames: Frames, provenance: dict | None = None) -> None:
    """Write `frames` to a new file at `path` (replacing any), atomically."""
    path = Path(path)
    if path.exists():
        path.unlink()
    append_frames(path, frames, provenance)


def _check(path: Path) -> int:
    """The format version of `path`, or a DataFileError saying what is wrong with it."""
    import h5py

    if not path.is_file():
        raise DataFileError(f"{path}: no such data file; make one with `cnnas data import` or "
                            "`cnnas data sheets`")
    try:
        with h5py.File(path, "r") as f:
            if f.attrs.get("format") != FORMAT:
                raise DataFileError(f"{path}: not an ase-cnnas frames file (no format={FORMAT!r}); "
                                    "make one from the source files with `cnnas data import`")
            version = int(f.attrs["format_version"])
            if version > FORMAT_VERSION:
                raise DataFileError(f"{path}: format version {version} is newer than this "
                                    f"ase-cnnas reads ({FORMAT_VERSION}); upgrade ase-cnnas")
            units = json.loads(f.attrs.get("units", "{}"))
            if any(units.get(k) != v for k, v in UNITS.items() if k != "stress" or version > 1):
                raise DataFileError(f"{path}: units missing or not {UNITS}; "
                                    "regenerate or re-import it")
            return version
    except KeyError as err:
        raise DataFileError(f"{path}: damaged, {err} is missing; "
                            "regenerate or re-import it") from err
    except OSError as err:  # h5py's word for a truncated or non-HDF5 file
        raise DataFileError(f"{path}: cannot be read as HDF5 ({err}); "
                            "regenerate or re-import it") from err


def _read_v1(f: h5py.File, path: Path) -> Frames:
    data = {k: f[k][()] for k in ("numbers", "positions", "forces", "natoms", "energy", "cell",
                                  "pbc", "trajectory")}
    n = len(data["natoms"])
    return Frames(**data, structure=f["structure"].asstr()[()].astype(object),
                  source=np.full(n, path.name, dtype=object),
                  method=np.full(n, f.attrs["reference"], dtype=object),
                  attrs={"provenance": f.attrs["provenance"]})


def frame_count(path: str | os.PathLike) -> int:
    """How many frames `path` holds (checked like read_frames)."""
    import h5py

    path = Path(path)
    _check(path)
    with h5py.File(path, "r") as f:
        return len(f["natoms"])


def read_frames(path: str | os.PathLike, start: int = 0, stop: int | None = None) -> Frames:
    """Frames `start`…`stop` (all by default) of a file written here; anything else is refused
    with a clear error."""
    import h5py

    path = Path(path)
    version = _check(path)
    try:
        with h5py.File(path, "r") as f:
            if version == 1:
                return _read_v1(f, path).subset(np.arange(len(f["natoms"]))[start:stop])
            stop = len(f["natoms"]) if stop is None else min(stop, len(f["natoms"]))
            off = np.concatenate([[0], np.cumsum(f["natoms"][:stop])])  # only what comes before
            a, b = off[start], off[stop]
            return Frames(**{k: f[k][a:b] for k in PER_ATOM},
                          **{k: f[k][start:stop] for k in PER_FRAME if k != "hash"},
                          hash=f["hash"][start:stop].astype(str).astype(object),
                          **{k: f[k].asstr()[start:stop].astype(object) for k in TEXT},
                          labels={k: d[start:stop] for k, d in f.get("labels", {}).items()},
                          attrs={"provenance": f.attrs["provenance"]})
    except KeyError as err:
        raise DataFileError(f"{path}: damaged, {err} is missing; "
                            "regenerate or re-import it") from err
    except OSError as err:
        raise DataFileError(f"{path}: cannot be read ({err}); regenerate or re-import it") from err


def read_columns(path: str | os.PathLike, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Per-frame columns `names` (of PER_FRAME and TEXT) and the "provenance", without the atoms:
    what a resuming writer needs from a large file."""
    import h5py

    path = Path(path)
    if _check(path) == 1:
        frames = read_frames(path)
        return {**{k: getattr(frames, k) for k in names}, **frames.attrs}
    try:
        with h5py.File(path, "r") as f:
            return {**{k: f[k].asstr()[()].astype(object) if k in TEXT else f[k][()]
                       for k in names},
                    "provenance": f.attrs["provenance"]}
    except KeyError as err:
        raise DataFileError(f"{path}: damaged, {err} is missing; "
                            "regenerate or re-import it") from err
    except OSError as err:
        raise DataFileError(f"{path}: cannot be read ({err}); regenerate or re-import it") from err


def write_split(path: str | os.PathLike, name: str, parts: dict[str, np.ndarray],
                settings: dict) -> None:
    """Store split `name` (frame indices for train, validation, test) in `path`, atomically."""
    path = Path(path)
    with _rewrite(path) as f:
        n = len(f["natoms"])
        for key in SPLIT_PARTS:
            index = np.asarray(parts[key], dtype=np.int64)
            if len(index) and (index.min() < 0 or index.max() >= n):
                raise ValueError(f"split {name!r}: {key} index outside 0…{n - 1}")
            if f"splits/{name}/{key}" in f:
                del f[f"splits/{name}/{key}"]
            f.create_dataset(f"splits/{name}/{key}", data=index)
        f[f"splits/{name}"].attrs["settings"] = json.dumps(settings)


def read_split(path: str | os.PathLike, name: str) -> dict[str, np.ndarray]:
    """Split `name` stored in `path`: {"train", "validation", "test"} → frame indices."""
    import h5py

    path = Path(path)
    _check(path)
    with h5py.File(path, "r") as f:
        if f"splits/{name}" not in f:
            have = sorted(f.get("splits", {}))
            raise DataFileError(f"{path}: no split named {name!r} (it has {have or 'none'}); make "
                                f"one with `cnnas data split {path} --name {name}`")
        return {k: f[f"splits/{name}/{k}"][()] for k in SPLIT_PARTS}
