"""The bundled free-standing model "free": it takes the sheets the fixed-cell default refuses (a
hexagonal cell as ASE builds it, atoms out of the plane), its forces in all three directions are
the derivative of its energy, and it stays close to SevenNet-0 on frames it never saw."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.build import graphene
from ase.calculators.calculator import CalculatorSetupError
from ase.calculators.fd import calculate_numerical_forces
from ase.io import read

from ase_cnnas import CNNASCalculator
from ase_cnnas.modelfile import read_metadata, resolve

UNSEEN = Path(__file__).parent / "data" / "hbn_unseen_1000K_5frames.extxyz"
UNSEEN_MAE_LIMIT = 1.5  # meV/atom (0.45 on the whole 201-frame trajectory)


@pytest.fixture(scope="module")
def calc():
    return CNNASCalculator("free", device="cpu")


def test_bundled_file_is_small_and_described():
    assert resolve("free").stat().st_size < 25e6
    meta = read_metadata("free")
    assert meta["image"]["any_cell"] and meta["network"]["heights"]
    assert meta["data"]["reference"] == "7net-0" and meta["data"]["frames"] > 10_000


def test_takes_a_hexagonal_rippled_sheet_the_flat_model_refuses(calc):
    atoms = graphene(formula="BN", a=2.506, size=(3, 3, 1), vacuum=5)
    atoms.rattle(0.05, seed=1)
    atoms.positions[4, 2] += 0.3
    with pytest.raises(CalculatorSetupError):
        CNNASCalculator("flat", device="cpu").calculate(atoms)
    atoms.calc = calc
    forces = atoms.get_forces()
    numeric = calculate_numerical_forces(atoms, eps=1e-3)
    assert np.abs(forces - numeric).max() < 0.01 * np.abs(forces).max()
    assert abs(forces[4, 2]) > 0.1  # pulled back towards the plane
    assert np.sign(forces[4, 2]) == -1


def test_energy_close_to_reference_on_unseen_frames(calc):
    errors = []
    for atoms in read(UNSEEN, index=":"):
        reference = atoms.get_potential_energy()
        atoms.calc = calc
        errors.append(abs(atoms.get_potential_energy() - reference) / len(atoms) * 1e3)
    assert np.mean(errors) < UNSEEN_MAE_LIMIT
