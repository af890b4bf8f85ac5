"""The bad-input corpus: each case feeds one broken input to the part of ase-cnnas that takes it,
and states the exception it must raise and two patterns its message must hold, one naming the
problem, one the fix. Shared by tests/badinput/test_corpus.py and benchmarks/reliability.py
(which tabulates it in results/reliability.md)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import CalculatorSetupError, PropertyNotImplementedError
from conftest import evil_file, make_model, make_sheet_model, truncated_copy

from ase_cnnas import CNNASCalculator
from ase_cnnas.modelfile import ModelFileError, load_model, save_model
from ase_cnnas.networks import CNNAS, network1_config
from ase_cnnas.sheets import build_sheet
from training.dimers import make_dimers
from training.h5data import DataFileError, read_frames, write_frames
from training.importer import ImportFileError, read_file

DATA = Path(__file__).resolve().parents[1] / "data"


@dataclass(frozen=True)
class Case:
    name: str
    given: str  # the input, in words
    run: Callable[[Path], object]  # takes a scratch folder, must raise
    error: type
    problem: str  # regex the message must match: what is wrong
    fix: str  # regex the message must match: what to do
    needs_cpu_only: bool = False  # the case is about a machine without a GPU


CASES: list[Case] = []


def case(name: str, given: str, error: type, problem: str, fix: str, needs_cpu_only: bool = False):
    def register(run):
        CASES.append(Case(name, given, run, error, problem, fix, needs_cpu_only))
        return run
    return register


def energy_of(atoms: Atoms, model: str = "flat") -> float:
    atoms.calc = CNNASCalculator(model, device="cpu")
    return atoms.get_potential_energy()


def sheet(**changes) -> Atoms:
    atoms = build_sheet("graphene_pristine")
    for index, position in changes.get("positions", {}).items():
        atoms.positions[index] = position
    return atoms


# --- the calculator ------------------------------------------------------------------------------
@case("unknown element", "a graphene sheet with one Si atom", CalculatorSetupError,
      "knows only B, C, N; these atoms hold Si", "train a model on data that holds them")
def _(tmp):
    atoms = sheet()
    atoms.numbers[0] = 14
    energy_of(atoms)


@case("empty Atoms", "Atoms() in the model's cell", CalculatorSetupError,
      "holds no atoms", "give the calculator a structure")
def _(tmp):
    energy_of(Atoms(cell=build_sheet("hbn_pristine").cell, pbc=(True, True, False)))


@case("NaN position", "one coordinate NaN", CalculatorSetupError,
      r"atom 3 has a non-finite position \[nan", "restart from the last good frame")
def _(tmp):
    energy_of(sheet(positions={3: [np.nan, 1.0, 0.0]}))


@case("infinite position", "one coordinate +inf", CalculatorSetupError,
      r"atom 7 has a non-finite position \[inf", "smaller time step")
def _(tmp):
    energy_of(sheet(positions={7: [np.inf, 1.0, 0.0]}))


@case("out of plane", "one atom lifted 0.3 Å from the sheet (2D model)", CalculatorSetupError,
      "must lie in one plane.*spreads over 0.300 Å", "FixedPlane")
def _(tmp):
    atoms = sheet()
    atoms.positions[5, 2] = 0.3
    energy_of(atoms)


@case("non-periodic cell", "pbc = False", CalculatorSetupError,
      "needs periodic boundaries along x, y", r"set atoms.pbc = \(True, True, False\)")
def _(tmp):
    atoms = sheet()
    atoms.pbc = False
    energy_of(atoms)


@case("cell not trained for", "the sheet stretched by 2 %", CalculatorSetupError,
      "trained for the cell 12.5300 × 13.0216 Å.*these atoms have 12.7806 × 13.2820 Å",
      "build the structure in that cell.*or train a model on yours")
def _(tmp):
    atoms = sheet()
    atoms.set_cell(atoms.cell.array * [1.02, 1.02, 1.0], scale_atoms=True)
    energy_of(atoms)


@case("non-orthogonal cell", "the sheet's cell sheared by 1 Å", CalculatorSetupError,
      r"trained for the cell 12.5300 × 13.0216 Å .*these atoms have the vectors \[\[12.53, 0.0\], "
      r"\[1.0, 13.0216\]\] Å \(not orthogonal\)",
      "build the structure in that cell.*or train a model on yours")
def _(tmp):
    atoms = sheet()
    cell = atoms.cell.array.copy()
    cell[1, 0] = 1.0
    atoms.set_cell(cell, scale_atoms=True)
    energy_of(atoms)


@case("cell an extensive model cannot take", "a 2 × 2 sheet 0.7 Å wider, on model='extensive'",
      CalculatorSetupError, r"takes orthogonal cells whose sides are whole multiples of 1.5662",
      "build an orthogonal supercell of such a size")
def _(tmp):
    atoms = sheet().repeat((2, 2, 1))
    atoms.set_cell(atoms.cell.array + np.diag([0.7, 0, 0]))
    energy_of(atoms, "extensive")


@case("overlapping atoms", "two atoms 0.05 Å apart", CalculatorSetupError,
      r"atoms \d+ and \d+ overlap \(0.050 Å apart", "check for duplicated atoms")
def _(tmp):
    atoms = sheet()
    atoms.positions[3] = atoms.positions[4] + [0.05, 0, 0]
    energy_of(atoms)


@case("property not implemented", "atoms.get_dipole_moment()", PropertyNotImplementedError,
      "computes energy, free_energy, forces, stress, not 'dipole'", "use another calculator")
def _(tmp):
    atoms = sheet()
    atoms.calc = CNNASCalculator(device="cpu")
    atoms.get_dipole_moment()


@case("CUDA without a GPU", "CNNASCalculator(device='cuda') on a machine without one",
      CalculatorSetupError, "torch sees no CUDA GPU", "use device='cpu'", needs_cpu_only=True)
def _(tmp):
    CNNASCalculator(device="cuda")


# --- model files ---------------------------------------------------------------------------------
@case("model file missing", "a path that does not exist", ModelFileError,
      "no such model file", "check the path, or use model='default'")
def _(tmp):
    load_model(tmp / "nothing.pt")


@case("model file truncated", "a model file cut in half", ModelFileError,
      "not a readable ase-cnnas model file", "save or copy it again")
def _(tmp):
    save_model(make_model(), tmp / "m.pt")
    (tmp / "cut").mkdir()
    load_model(truncated_copy(tmp / "m.pt", tmp / "cut"))


@case("model format version", "a model file of format version 99", ModelFileError,
      "model format version 99", "upgrade ase-cnnas")
def _(tmp):
    save_model(make_model(), tmp / "m.pt")
    blob = torch.load(tmp / "m.pt", weights_only=True)
    torch.save({**blob, "format_version": 99}, tmp / "v99.pt")
    load_model(tmp / "v99.pt")


@case("pickle with code", "a model file whose weights unpickle into os.system", ModelFileError,
      "refused to load: the file holds pickled code", "get the model from a source you trust")
def _(tmp):
    evil_file(tmp / "evil.pt", tmp / "pwned")
    try:
        load_model(tmp / "evil.pt")
    finally:
        assert not (tmp / "pwned").exists(), "the payload ran"


# --- VASP and other inputs -----------------------------------------------------------------------
@case("truncated OUTCAR", "an OUTCAR cut at 60 %", ImportFileError,
      "cut short", "--allow-partial")
def _(tmp):
    read_file(truncated_copy(DATA / "OUTCAR.h2o.md.10", tmp, 0.6))


@case("vasprun.xml cut mid-file", "a vasprun.xml cut at 50 %", ImportFileError,
      "cut short", "--allow-partial")
def _(tmp):
    read_file(truncated_copy(DATA / "vasprun.h2o.md.10.xml", tmp, 0.5))


@case("OUTCAR without forces", "an OUTCAR whose TOTAL-FORCE blocks are gone", ImportFileError,
      "no TOTAL-FORCE block", "import a file of a run that has steps")
def _(tmp):
    text = (DATA / "OUTCAR.h2o.md.10").read_text()  # drop each block: header, dashes, atoms, dashes
    text = re.sub(r" POSITION\s+TOTAL-FORCE \(eV/Angst\)\n -+\n(?:.*\n)*? -+\n", "", text)
    (tmp / "OUTCAR").write_text(text)
    read_file(tmp / "OUTCAR")


@case("unknown file", "random bytes named data.bin", ImportFileError,
      "unknown file type", "--format")
def _(tmp):
    (tmp / "data.bin").write_bytes(np.random.default_rng(0).bytes(3000))
    read_file(tmp / "data.bin")


# --- HDF5 data files -----------------------------------------------------------------------------
def data_file(tmp: Path) -> Path:
    path = tmp / "frames.h5"
    write_frames(path, make_dimers(20, 2, [(1, 2)], seed=0), {"generator": "corpus"})
    return path


@case("HDF5 truncated", "a frames file cut in half", DataFileError,
      "cannot be read as HDF5", "regenerate or re-import it")
def _(tmp):
    path = data_file(tmp)
    (tmp / "cut").mkdir()
    read_frames(truncated_copy(path, tmp / "cut"))


@case("HDF5 without units", "a frames file whose units attribute is gone", DataFileError,
      "units missing", "regenerate or re-import it")
def _(tmp):
    path = data_file(tmp)
    with h5py.File(path, "a") as f:
        del f.attrs["units"]
    read_frames(path)


@case("HDF5 from a newer version", "a frames file of format version 9", DataFileError,
      "format version 9 is newer", "upgrade ase-cnnas")
def _(tmp):
    path = data_file(tmp)
    with h5py.File(path, "a") as f:
        f.attrs["format_version"] = 9
    read_frames(path)


@case("HDF5 of another program", "an HDF5 file with one unrelated dataset", DataFileError,
      "not an ase-cnnas frames file", "cnnas data import")
def _(tmp):
    with h5py.File(tmp / "other.h5", "w") as f:
        f["x"] = np.arange(3)
    read_frames(tmp / "other.h5")


# --- generators and networks ---------------------------------------------------------------------
@case("dimer range inverted", "make_dimers(range 2…1 Å)", ValueError,
      r"interval \(2, 1\) is empty or inverted", "lo < hi")
def _(tmp):
    make_dimers(10, 2, [(2, 1)])


@case("grid the network cannot halve", "Network 1 on a 40 × 40 grid", ValueError,
      r"grid \(40, 40\) cannot be halved 4 times", "multiples of 16")
def _(tmp):
    CNNAS(network1_config((40, 40)))


@case("training target absent", "train on a label the file does not hold", ValueError,
      "the data has no 'charge' to learn", "it has energy, distance; choose one with --target")
def _(tmp):
    from training.train import train
    from training.trainconfig import TrainConfig

    train(TrainConfig(data_file(tmp), tmp / "run", grid=16, epochs=1, network="network1",
                      target="charge"))


def sheet_model_energy(tmp: Path, atoms: Atoms) -> float:
    """The energy by a tiny free-standing any-cell sheet model saved in `tmp`."""
    path = tmp / "sheet.pt"
    save_model(make_sheet_model(), path)
    return energy_of(atoms, str(path))


@case("sheet model: one periodic direction", "a ribbon, pbc = (True, False, False)",
      CalculatorSetupError, "periodic along its first two vectors.*pbc=\\(True, False, False\\)",
      r"set atoms.pbc = \(True, True, False\)")
def _(tmp):
    atoms = build_sheet("hbn_pristine@hex4")
    atoms.pbc = (True, False, False)
    sheet_model_energy(tmp, atoms)


@case("sheet model: bulk crystal", "AB-stacked graphite, periodic in 3D", CalculatorSetupError,
      "lie above each other.*not layered or bulk crystals", "one layer in a cell with vacuum")
def _(tmp):
    from ase.build import graphene

    layer = graphene("C2", a=2.46, size=(2, 2, 1), vacuum=None)
    layer.cell[2, 2] = 6.7
    above = layer.copy()
    above.positions += [0, 0, 3.35]
    above.positions += (2 * layer.cell[0] + layer.cell[1]) / 3  # AB: half the atoms atop
    graphite = layer + above
    graphite.pbc = True
    sheet_model_energy(tmp, graphite)


@case("sheet model: sheet not in the xy plane", "a hexagonal hBN sheet rotated 90° about x",
      CalculatorSetupError, "wants the sheet in the xy plane", r"rotate the structure")
def _(tmp):
    atoms = build_sheet("hbn_pristine@hex4")
    atoms.rotate(90, "x", rotate_cell=True)
    sheet_model_energy(tmp, atoms)


@case("sheet model: oblique cell without a small rectangle", "a cell with b at 28° to a",
      CalculatorSetupError, "no orthogonal supercell of up to 6 cells",
      "rectangular or hexagonal cell")
def _(tmp):
    atoms = build_sheet("graphene_pristine@4x2")
    cell = atoms.cell.array.copy()
    cell[1, :2] = cell[0, 0] * np.array([0.37, 0.2])  # 28° off x, no rectangle of ≤ 6 cells
    atoms.set_cell(cell, scale_atoms=True)
    sheet_model_energy(tmp, atoms)


@case("sheet model: unknown element", "a hexagonal graphene sheet with one Si atom",
      CalculatorSetupError, "knows only B, C, N; these atoms hold Si",
      "train a model on data that holds them")
def _(tmp):
    atoms = build_sheet("graphene_pristine@hex4")
    atoms.numbers[3] = 14
    sheet_model_energy(tmp, atoms)
