"""The nine sheets: sizes, cell, composition, bonding."""
from __future__ import annotations

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from training.structures import A_LATTICE, STRUCTURE_TYPES, build_sheet

BOND_CUTOFF = 1.7  # Å; the C–C bond is a/√3 = 1.447 Å, second neighbours are at a = 2.506 Å
CELL = (12.53, 13.022, 10.0)
CELL_ATOL = 1e-3  # Å


def coordination(atoms) -> np.ndarray:
    return np.bincount(neighbor_list("i", atoms, BOND_CUTOFF), minlength=len(atoms))


def test_nine_types():
    assert len(STRUCTURE_TYPES) == 9
    assert set(STRUCTURE_TYPES) == {f"{m}_{d}" for m in ("graphene", "hbn", "heterostructure")
                                    for d in ("pristine", "vacancy", "stone_wales")}


@pytest.mark.parametrize("structure", STRUCTURE_TYPES)
def test_size_cell_plane_bonds(structure):
    atoms = build_sheet(structure)
    vacancy = structure.endswith("vacancy")
    assert len(atoms) == (59 if vacancy else 60)
    np.testing.assert_allclose(atoms.cell.array, np.diag(CELL), rtol=0, atol=CELL_ATOL)
    assert tuple(atoms.pbc) == (True, True, False)
    assert np.all(atoms.positions[:, 2] == 0.0)
    frac = atoms.get_scaled_positions(wrap=False)[:, :2]
    assert (frac >= 0).all() and (frac < 1).all()
    counts = coordination(atoms)
    if vacancy:  # the three neighbours of the missing atom keep two bonds
        assert sorted(counts)[:4] == [2, 2, 2, 3]
        assert (counts == 3).sum() == 56
    else:
        assert (counts == 3).all()
    # no two atoms closer than a bond (Stone–Wales keeps its rotated bond at a/√3)
    d = atoms.get_all_distances(mic=True)[np.triu_indices(len(atoms), 1)]
    assert d.min() == pytest.approx(A_LATTICE / np.sqrt(3), abs=1e-9)


@pytest.mark.parametrize("material, formula", [
    ("graphene", {6: 60}), ("hbn", {5: 30, 7: 30}), ("heterostructure", {6: 30, 5: 15, 7: 15})])
def test_composition(material, formula):
    pristine = build_sheet(f"{material}_pristine")
    assert dict(zip(*np.unique(pristine.numbers, return_counts=True))) == formula
    vacancy = build_sheet(f"{material}_vacancy")
    lost = 7 if material == "hbn" else 6  # hBN loses an N, the others a C
    expected = dict(formula)
    expected[lost] -= 1
    assert dict(zip(*np.unique(vacancy.numbers, return_counts=True))) == expected
    assert dict(zip(*np.unique(build_sheet(f"{material}_stone_wales").numbers,
                               return_counts=True))) == formula


def test_hbn_alternates():
    """In hBN every bond joins B and N."""
    atoms = build_sheet("hbn_pristine")
    i, j = neighbor_list("ij", atoms, BOND_CUTOFF)
    assert set(zip(atoms.numbers[i], atoms.numbers[j])) == {(5, 7), (7, 5)}


def test_heterostructure_halves():
    atoms = build_sheet("heterostructure_pristine")
    left = atoms.positions[:, 0] < atoms.cell[0, 0] / 2 - 0.1
    assert (atoms.numbers[left] == 6).all()
    assert set(atoms.numbers[~left]) == {5, 7}


def test_stone_wales_rotates_one_bond():
    pristine, sw = build_sheet("graphene_pristine"), build_sheet("graphene_stone_wales")
    moved = np.flatnonzero(np.linalg.norm(sw.positions - pristine.positions, axis=1) > 1e-9)
    assert len(moved) == 2
    i, j = moved
    bond_before = pristine.positions[j] - pristine.positions[i]
    bond_after = sw.positions[j] - sw.positions[i]
    assert abs(bond_before[0]) < 1e-9  # a bond along y …
    assert abs(bond_after[1]) < 1e-9  # … turned to lie along x
    assert np.linalg.norm(bond_after) == pytest.approx(np.linalg.norm(bond_before))
    # 5-7 rings: the rotated atoms now bond to other neighbours than before
    pairs = lambda a: set(map(tuple, np.sort(np.column_stack(neighbor_list("ij", a, BOND_CUTOFF)), 1)))  # noqa: E731
    assert pairs(sw) != pairs(pristine)


def test_vacancy_is_near_defect_centre():
    pristine, vacancy = build_sheet("graphene_pristine"), build_sheet("graphene_vacancy")
    missing = [p for p in pristine.positions
               if np.linalg.norm(vacancy.positions - p, axis=1).min() > 1e-9]
    assert len(missing) == 1
    centre = np.array([pristine.cell[0, 0] / 2, pristine.cell[1, 1] / 2])
    assert np.linalg.norm(missing[0][:2] - centre) < A_LATTICE


@pytest.mark.parametrize("name", ["graphene", "silicene_pristine", "graphene_divacancy", "hbn-vacancy", ""])
def test_unknown_name(name):
    with pytest.raises(ValueError, match="unknown structure"):
        build_sheet(name)
