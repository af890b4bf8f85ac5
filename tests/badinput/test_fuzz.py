"""Fuzzing: random Atoms (valid and broken) to the calculator, random and damaged bytes to the
importers and the HDF5 reader. Only the documented exceptions may come out, and what succeeds
must be finite. OUTCOMES counts what happened (benchmarks/reliability.py reports it)."""
from __future__ import annotations

import collections
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.calculator import CalculatorSetupError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ase_cnnas import CNNASCalculator
from ase_cnnas.sheets import build_sheet
from training.h5data import DataFileError, read_frames
from training.importer import ImportFileError, read_file

DATA = Path(__file__).resolve().parents[1] / "data"
OUTCOMES: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
FUZZ = settings(max_examples=int(os.environ.get("CNNAS_FUZZ_EXAMPLES", 60)), deadline=None,
                derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
CALC = CNNASCalculator("flat", device="cpu")  # the 2D model: the most refusals
CELL = build_sheet("graphene_pristine").cell.array
REASONS = {"knows only": "unknown element", "overlap": "overlapping atoms", "non-finite":
           "non-finite position", "no atoms": "no atoms", "one plane": "out of plane",
           "periodic boundaries": "not periodic", "trained for the cell": "another cell"}
BREAKS = ("none", "sheet", "nan", "inf", "lifted", "stretched cell", "sheared cell", "no pbc",
          "overlap", "far outside the cell", "empty")


def broken_atoms(seed: int, n: int, how: str) -> Atoms:
    """A random in-plane B/C/N (sometimes H or Si) structure in the model's cell, broken `how`."""
    rng = np.random.default_rng(seed)
    if how == "sheet":
        atoms = build_sheet(str(rng.choice(["graphene_vacancy", "hbn_stone_wales",
                                            "heterostructure_pristine"])))
        atoms.positions[:, :2] += rng.normal(0, 0.1, (len(atoms), 2))
        return atoms
    n = 0 if how == "empty" else n
    numbers = rng.choice([5, 6, 7, 5, 6, 7, 1, 14] if rng.random() < 0.2 else [5, 6, 7], n)
    positions = np.column_stack([rng.random((n, 2)) @ CELL[:2, :2], np.zeros(n)])
    atoms = Atoms(numbers=numbers, positions=positions, cell=CELL.copy(), pbc=(True, True, False))
    if n and how in ("nan", "inf", "lifted", "overlap", "far outside the cell"):
        i = rng.integers(n)
        atoms.positions[i] = {"nan": [np.nan, 0, 0], "inf": [0, -np.inf, 0], "lifted": [0, 0, 0.5],
                              "overlap": atoms.positions[(i + 1) % n] + [0.01, 0, 0],
                              "far outside the cell": [1e4, -3e3, 0]}[how]
    if how == "stretched cell":
        atoms.set_cell(CELL * [1.05, 1, 1], scale_atoms=True)
    elif how == "sheared cell":
        atoms.set_cell(CELL + [[0, 0, 0], [0.5, 0, 0], [0, 0, 0]], scale_atoms=True)
    elif how == "no pbc":
        atoms.pbc = False
    return atoms


@FUZZ
@pytest.mark.filterwarnings("ignore::ase_cnnas.calculator.OutOfDistributionWarning")
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 70), how=st.sampled_from(BREAKS))
def test_calculator_raises_only_setup_errors(seed, n, how):
    atoms = broken_atoms(seed, n, how)
    atoms.calc = CALC
    outside = CALC.outside
    try:
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    except CalculatorSetupError as err:
        why = next((w for key, w in REASONS.items() if key in str(err)), "other")
        OUTCOMES["calculator"][f"{how}: CalculatorSetupError ({why})"] += 1
        return
    flagged = " (out-of-distribution warning)" if CALC.outside > outside else ""
    OUTCOMES["calculator"][f"{how}: computed{flagged}"] += 1
    assert np.isfinite(energy) and forces.shape == (len(atoms), 3) and np.isfinite(forces).all()


SOURCES = {"OUTCAR": DATA / "OUTCAR.h2o.md.10", "vasprun.xml": DATA / "vasprun.h2o.md.10.xml",
           "frames.extxyz": DATA / "hbn_unseen_1000K_5frames.extxyz"}


def damaged(name: str, how: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    if how == "random bytes":
        return rng.bytes(int(rng.integers(0, 5000)))
    data = bytearray(SOURCES[name].read_bytes())
    if how == "cut":
        return bytes(data[:int(rng.integers(0, len(data)))])
    for i in rng.integers(0, len(data), int(rng.integers(1, 50))):  # "flipped": random bytes
        data[i] = int(rng.integers(0, 256))
    return bytes(data)


@FUZZ
@given(name=st.sampled_from(sorted(SOURCES)),
       how=st.sampled_from(["random bytes", "cut", "flipped"]),
       seed=st.integers(0, 2**32 - 1))
def test_importer_raises_only_import_errors(name, how, seed):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(damaged(name, how, seed))
        try:
            frames, _ = read_file(path)
        except ImportFileError:
            OUTCOMES["importer"][f"{name}, {how}: ImportFileError"] += 1
            return
    OUTCOMES["importer"][f"{name}, {how}: read"] += 1
    assert len(frames) > 0 and np.isfinite(frames.positions).all()


@FUZZ
@given(seed=st.integers(0, 2**32 - 1), cut=st.booleans())
def test_hdf5_reader_raises_only_data_file_errors(seed, cut):
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frames.h5"
        if cut:  # a real HDF5 header, then garbage or nothing
            path.write_bytes(b"\x89HDF\r\n\x1a\n" + rng.bytes(int(rng.integers(0, 3000))))
        else:
            path.write_bytes(rng.bytes(int(rng.integers(0, 3000))))
        try:
            read_frames(path)
        except DataFileError:
            kind = "HDF5 signature + random bytes" if cut else "random bytes"
            OUTCOMES["hdf5"][f"{kind}: DataFileError"] += 1
            return
    raise AssertionError("random bytes were read as a frames file")
