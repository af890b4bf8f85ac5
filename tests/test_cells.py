"""Any sheet cell as a rectangle: supercell factors, refusals, and the canonical frames."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import graphene, make_supercell

from ase_cnnas.cells import CellError, canonical, check_sheet_cell, supercell_factor
from ase_cnnas.sheets import build_sheet


@pytest.mark.parametrize("cell, factor", [
    (np.diag([3.0, 4.0, 10.0]), (0, 1)),
    ([[2.5, 0, 0], [-1.25, 2.165, 0], [0, 0, 10]], (1, 2)),  # 120°, ase.build.graphene's
    ([[2.5, 0, 0], [1.25, 2.165, 0], [0, 0, 10]], (-1, 2)),  # 60°
    ([[3.0, 0, 0], [1.0, 2.0, 0], [0, 0, 10]], (-1, 3)),
])
def test_supercell_factor(cell, factor):
    assert supercell_factor(np.array(cell)) == factor


def test_oblique_without_small_rectangle_refused():
    with pytest.raises(CellError, match="no orthogonal supercell"):
        supercell_factor(np.array([[1.0, 0, 0], [0.37, 0.2, 0], [0, 0, 1]]))


def test_slightly_sheared_cells_keep_their_supercell():
    """A hexagonal cell sheared by 0.1 % keeps (a, a + 2b), a little off orthogonal."""
    cell = np.array([[2.5, 0, 0], [-1.25, 2.165, 0], [0, 0, 10]]) @ (np.eye(3) + [[0, 1e-3, 0],
                                                                               [1e-3, 0, 0],
                                                                               [0, 0, 0]])
    assert supercell_factor(cell) == (1, 2)


@pytest.mark.parametrize("cell, pbc, message", [
    (np.diag([3.0, 3.0, 10.0]), (True, False, False), "periodic along its first two vectors"),
    (np.diag([3.0, 3.0, 10.0]), (True, True, True), None),
    ([[3.0, 0, 0.5], [0, 3, 0], [0, 0, 10]], (True, True, False), "in the xy plane"),
    ([[3.0, 0, 0], [3, 0, 0], [0, 0, 10]], (True, True, False), "parallel or zero"),
])
def test_check_sheet_cell(cell, pbc, message):
    if message is None:
        assert check_sheet_cell(np.array(cell), np.array(pbc)) == (0, 1)
        return
    with pytest.raises(CellError, match=message):
        check_sheet_cell(np.array(cell), np.array(pbc))


def as_tensors(atoms):
    return (torch.tensor(atoms.positions), torch.tensor(atoms.numbers),
            torch.tensor(atoms.cell.array)[None], torch.zeros(len(atoms), dtype=torch.long))


def test_hexagonal_cell_becomes_its_rectangular_supercell():
    """The canonical frame of a hexagonal sheet is the (a, a + 2b) supercell, atom for atom."""
    hexagonal = graphene("BN", a=2.506, size=(4, 4, 1), vacuum=5)  # 10 Å: not repeated
    hexagonal.rotate(23, "z", rotate_cell=True)  # any in-plane orientation
    positions, numbers, cells, frame, copies = canonical(
        *as_tensors(hexagonal), [supercell_factor(hexagonal.cell.array)])
    assert copies.tolist() == [2.0] and len(positions) == 2 * len(hexagonal)
    cell = cells[0].numpy()
    np.testing.assert_allclose(cell, np.diag(np.diag(cell)), atol=1e-9)
    reference = make_supercell(graphene("BN", a=2.506, size=(4, 4, 1), vacuum=5),
                               [[1, 0, 0], [1, 2, 0], [0, 0, 1]])
    np.testing.assert_allclose(np.diag(cell), reference.cell.lengths(), atol=1e-9)
    ours = Atoms(numbers=numbers.numpy(), positions=positions.numpy(), cell=cell, pbc=True)
    assert frame.tolist() == [0] * len(ours)
    assert sorted(ours.numbers) == sorted(reference.numbers)
    spectrum = [np.sort(a.get_all_distances(mic=True).ravel()) for a in (ours, reference)]
    np.testing.assert_allclose(*spectrum, atol=1e-9)  # the same structure, up to a rigid move


def test_rectangles_pass_unchanged():
    sheet = build_sheet("hbn_vacancy")
    positions, numbers, cells, frame, copies = canonical(*as_tensors(sheet), [(0, 1)])
    assert torch.equal(positions, torch.tensor(sheet.positions)) and copies.tolist() == [1.0]
    assert torch.equal(cells[0], torch.tensor(sheet.cell.array))


def test_small_cell_is_its_supercell(sheet_model_file):
    """A cell shorter than MIN_SIDE is scored as its supercell: a rattled 8-atom cell has the
    energy per atom and stress of the same atoms repeated 2 × 3 times (what the grid spans either
    way), and on each atom the mean force on its six images there (the grid is not exactly
    translation invariant), where the 8-atom image alone would be a few distorted pixels."""
    from ase_cnnas import CNNASCalculator
    from ase_cnnas.cells import MIN_SIDE, rectangle
    from ase_cnnas.sheets import build_sheet

    small = build_sheet("hbn_pristine@2x1")
    small.rattle(0.05, seed=3)
    big = small.repeat((2, 3, 1))
    assert np.allclose(rectangle(small.cell.array), rectangle(big.cell.array))
    assert rectangle(small.cell.array).diagonal()[:2].min() >= MIN_SIDE
    calc = CNNASCalculator(sheet_model_file, device="cpu")
    results = []
    for atoms in (small, big):
        atoms.calc = calc
        results.append((atoms.get_potential_energy() / len(atoms), atoms.get_forces(),
                        atoms.get_stress()))
    assert results[0][0] == pytest.approx(results[1][0], abs=1e-9)
    np.testing.assert_allclose(results[0][1], results[1][1].reshape(6, 8, 3).mean(0), atol=1e-7)
    np.testing.assert_allclose(results[0][2], results[1][2], atol=1e-9)


def test_repeats_until_the_pixels_match():
    """With the Å of one network period, a side is repeated (up to MATCH_SIDE) until whole
    periods span it within MATCH (or a tighter tolerance, searching further): 5.012 Å on steps
    of 1.56625 Å (the paper's cell's 8 pixels) first fits at 5 repeats, 25.06 Å = 16 steps; a
    long side is never repeated."""
    from ase_cnnas.cells import MATCH, MATCH_SIDE, match_side, repeats

    sides = torch.tensor([5.012, 4.3405, 12.53, 60.0])
    assert repeats(sides).tolist() == [2, 3, 1, 1]
    got = repeats(sides, 1.56625)
    assert got.tolist() == [5, 4, 1, 1]  # 4 × 4.3405 Å = 11.08 steps: within 1 %
    assert repeats(sides[1:2], 1.62769).tolist() == [3]  # 13.02 Å = 8 of these steps
    for side, k in zip(sides.tolist(), got.tolist()):
        blocks = round(side * k / 1.56625)
        assert abs(side * k / blocks / 1.56625 - 1) <= MATCH or side * (k + 1) > MATCH_SIDE
    # tighter: within 0.2 %, searching up to match_side(0.002) = 89 Å
    tight = repeats(sides, 1.56625, 0.002)
    assert match_side(0.002) == pytest.approx(MATCH_SIDE * 5 ** 0.5)
    assert tight.tolist() == [5, 13, 1, 1]  # 13 × 4.3405 Å = 36.03 steps
    for side, k in zip(sides.tolist(), tight.tolist()):
        blocks = round(side * k / 1.56625)
        assert abs(side * k / blocks / 1.56625 - 1) <= 0.002 or side * (k + 1) > match_side(0.002)


def test_random_repeats_draw_between_the_two_fewest_that_match(sheet_model_file):
    """With a generator a side takes the fewest repeats within the tolerance or the fewest that
    is no multiple of it, whose pixels differ (2.506 Å on steps of 1.56625 Å: 5, exact, or 13,
    0.95 % off; not 10, which has 5's pixels), both drawn; a model draws only while it trains,
    so that it scores as it always did."""
    from ase_cnnas.cells import repeats
    from ase_cnnas.modelfile import load_model

    sides = torch.tensor([2.506])
    drawn = {int(repeats(sides, 1.56625, rng=np.random.default_rng(seed))[0])
             for seed in range(20)}
    assert drawn == {5, 13} and repeats(sides, 1.56625).tolist() == [5]
    model = load_model(sheet_model_file)
    model.match_pixels = 0.01
    model.repeat_rng = np.random.default_rng(0)
    atoms = build_sheet("hbn_pristine@hex1")
    inputs = (torch.tensor(atoms.positions), torch.tensor(atoms.numbers),
              torch.tensor(atoms.cell.array)[None], torch.zeros(2, dtype=torch.long), 1)

    def sides():
        cells = next(model.groups(*inputs))[1][2]
        return tuple(cells[0, :2, :2].norm(dim=-1).round(decimals=6).tolist())

    model.eval()
    assert len({sides() for _ in range(8)}) == 1
    model.train()
    assert len({sides() for _ in range(8)}) > 1


def test_matched_pixels_make_a_small_cell_its_big_twin(sheet_model_file):
    """A model with match_pixels lays the 8-atom hBN cell on the very pixels of the 60-atom cell
    (5 × 3 repeats: twice that cell), so the two have one energy per atom; without, the small
    cell is seen 7 % stretched along x and its energy is another."""
    from ase_cnnas import CNNASCalculator
    from ase_cnnas.cells import MATCH
    from ase_cnnas.modelfile import load_model, save_model

    model = load_model(sheet_model_file)
    assert not model.match_pixels
    model.match_pixels = True  # as files before the tolerance was a setting say
    matched = sheet_model_file.parent / "matched.pt"
    save_model(model, matched)
    assert load_model(matched).match_pixels == MATCH
    small, big = build_sheet("hbn_pristine@2x1"), build_sheet("hbn_pristine")
    per_atom = {}
    for path in (sheet_model_file, matched):
        calc = CNNASCalculator(path, device="cpu")
        for atoms in (small, big):
            atoms.calc = calc
            per_atom[path, len(atoms)] = atoms.get_potential_energy() / len(atoms)
    assert per_atom[matched, 8] == pytest.approx(per_atom[matched, 60], abs=1e-9)
    assert abs(per_atom[sheet_model_file, 8] - per_atom[sheet_model_file, 60]) > 1e-6
