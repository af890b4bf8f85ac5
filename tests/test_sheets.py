"""The nine sheets: sizes, cell, composition, bonding."""
from __future__ import annotations

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from ase_cnnas.sheets import A_LATTICE, MATERIAL_DEFECTS, STRUCTURE_TYPES, build_sheet

BOND_CUTOFF = 1.7  # Å; the C–C bond is a/√3 = 1.447 Å, second neighbours are at a = 2.506 Å
CELL = (12.53, 13.022, 10.0)
CELL_ATOL = 1e-3  # Å


def coordination(atoms) -> np.ndarray:
    return np.bincount(neighbor_list("i", atoms, BOND_CUTOFF), minlength=len(atoms))


def bonds(atoms) -> set[tuple[int, int]]:
    """The bonded pairs (i < j)."""
    return set(map(tuple, np.sort(np.column_stack(neighbor_list("ij", atoms, BOND_CUTOFF)), 1)))


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
    assert bonds(sw) != bonds(pristine)


def test_vacancy_is_near_defect_centre():
    pristine, vacancy = build_sheet("graphene_pristine"), build_sheet("graphene_vacancy")
    missing = [p for p in pristine.positions
               if np.linalg.norm(vacancy.positions - p, axis=1).min() > 1e-9]
    assert len(missing) == 1
    centre = np.array([pristine.cell[0, 0] / 2, pristine.cell[1, 1] / 2])
    assert np.linalg.norm(missing[0][:2] - centre) < A_LATTICE


@pytest.mark.parametrize("name", ["graphene", "silicene_pristine", "graphene_divacancy",
                                  "hbn-vacancy", ""])
def test_unknown_name(name):
    with pytest.raises(ValueError, match="unknown structure"):
        build_sheet(name)


@pytest.mark.parametrize("structure", [f"{m}_{d}@{c}" for m, defects in MATERIAL_DEFECTS.items()
                                       for d in defects for c in ("4x2", "10x6", "hex4")
                                       if not (m == "heterostructure" and c == "hex4")])
def test_every_sheet_in_every_cell_is_bonded(structure):
    atoms = build_sheet(structure)
    counts = coordination(atoms)
    if "vacancy" in structure:
        assert sorted(counts)[:4] == [2, 2, 2, 3] and (counts == 3).sum() == len(atoms) - 3
    else:
        assert (counts == 3).all()
    d = atoms.get_all_distances(mic=True)[np.triu_indices(len(atoms), 1)]
    assert d.min() == pytest.approx(A_LATTICE / np.sqrt(3), abs=1e-9)


def test_hexagonal_cell_is_ase_graphene():
    """hexN is the cell ase.build.graphene makes (120° between a and b), N² × 2 atoms."""
    from ase.build import graphene

    ours, theirs = build_sheet("hbn_pristine@hex3"), graphene("BN", a=A_LATTICE, size=(3, 3, 1))
    assert len(ours) == len(theirs) == 18
    np.testing.assert_allclose(ours.cell.array[:2, :2], theirs.cell.array[:2, :2], atol=1e-9)
    assert ours.cell.angles()[2] == pytest.approx(theirs.cell.angles()[2])


@pytest.mark.parametrize("structure, lost, partners", [
    ("hbn_vacancy_b", 5, {7}), ("heterostructure_vacancy_b", 5, {7}),
    ("heterostructure_vacancy_n", 7, {5}), ("heterostructure_vacancy_interface", 6, {5, 6})])
def test_vacancy_species_and_neighbours(structure, lost, partners):
    """Each vacancy removes the species it names, with the neighbours that region has."""
    pristine = build_sheet(structure.split("_vacancy")[0] + "_pristine")
    sheet = build_sheet(structure)
    gone = [i for i, p in enumerate(pristine.positions)
            if np.linalg.norm(sheet.positions - p, axis=1).min() > 1e-9]
    assert len(gone) == 1 and pristine.numbers[gone[0]] == lost
    i, j = neighbor_list("ij", pristine, BOND_CUTOFF)
    assert set(pristine.numbers[j[i == gone[0]]]) == partners


@pytest.mark.parametrize("structure", ["graphene_stone_wales@hex4",
                                       "heterostructure_stone_wales_bn"])
def test_stone_wales_in_other_cells_and_regions(structure):
    """The rotated bond makes 5-7 rings in hexagonal cells and in the hBN half as well."""
    pristine = build_sheet(structure.replace("stone_wales_bn", "pristine")
                           .replace("stone_wales", "pristine"))
    sheet = build_sheet(structure)
    moved = np.flatnonzero(np.linalg.norm(sheet.positions - pristine.positions, axis=1) > 1e-9)
    assert len(moved) == 2
    if structure.endswith("_bn"):
        assert set(sheet.numbers[moved]) == {5, 7}
    assert bonds(sheet) != bonds(pristine)


@pytest.mark.parametrize("name", ["graphene_vacancy_b", "heterostructure_pristine@hex4",
                                  "hbn_pristine@5x", "hbn_pristine@0x3", "hbn_pristine@hex"])
def test_unknown_cell_or_environment(name):
    with pytest.raises(ValueError, match="unknown structure"):
        build_sheet(name)
