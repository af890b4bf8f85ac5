"""The LAMMPS Tersoff B–N–C reference against ASE's own Tersoff reading the same BNC.tersoff."""
import numpy as np
import pytest
import torch
from ase.calculators.tersoff import Tersoff

from ase_cnnas.sheets import build_sheet
from training import tersoff
from training.reference import make_reference

try:
    tersoff.load_lammps()
except ImportError as err:  # lammps[mpi] not installed: nothing here can run
    pytest.skip(str(err), allow_module_level=True)


def _displaced(structure: str, seed: int = 0, scale: float = 0.05):
    atoms = build_sheet(structure)
    atoms.positions += np.random.default_rng(seed).normal(0.0, scale, atoms.positions.shape)
    return atoms


def _ase(atoms):
    """Energy, forces and stress from ASE's pure-Python Tersoff with the shipped file."""
    atoms = atoms.copy()
    atoms.calc = Tersoff.from_lammps(tersoff.bnc_tersoff_path())
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()


def _lammps(atoms, calc=None):
    atoms = atoms.copy()
    atoms.calc = calc or tersoff.LammpsTersoff()
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()


@pytest.mark.parametrize("structure, scale", [("hbn_pristine", 0.0), ("hbn_pristine", 0.05),
                                              ("heterostructure_vacancy", 0.05)])
def test_matches_ase_tersoff(structure, scale):
    atoms = _displaced(structure, scale=scale)
    e, f, s = _lammps(atoms)
    e_ref, f_ref, s_ref = _ase(atoms)
    assert e == pytest.approx(e_ref, abs=1e-8)
    np.testing.assert_allclose(f, f_ref, atol=1e-8)
    np.testing.assert_allclose(s, s_ref, atol=1e-10)
    if scale:
        assert np.abs(f).max() > 0.1  # a displaced sheet has real forces to compare


def test_forces_are_minus_energy_gradient():
    atoms = _displaced("heterostructure_stone_wales", seed=1)
    atoms.calc = tersoff.LammpsTersoff()
    forces = atoms.get_forces()
    h = 1e-5
    for i in (0, 17, 31, 59):
        for k in range(3):
            e = []
            for sign in (1, -1):
                atoms.positions[i, k] += sign * h
                e.append(atoms.get_potential_energy())
                atoms.positions[i, k] -= sign * h
            assert -(e[0] - e[1]) / (2 * h) == pytest.approx(forces[i, k], abs=1e-5)


def test_new_positions_give_new_results():
    atoms = _displaced("graphene_pristine", seed=2)
    atoms.calc = tersoff.LammpsTersoff()
    e1, f1 = atoms.get_potential_energy(), atoms.get_forces().copy()
    atoms.positions[3] += [0.1, -0.05, 0.02]
    e2, f2 = atoms.get_potential_energy(), atoms.get_forces()
    assert e2 != e1 and not np.allclose(f1, f2)
    e_fresh, f_fresh, _ = _lammps(atoms)
    assert e2 == pytest.approx(e_fresh, abs=1e-10)
    np.testing.assert_allclose(f2, f_fresh, atol=1e-10)
    atoms.positions[3] -= [0.1, -0.05, 0.02]  # and back again
    assert atoms.get_potential_energy() == pytest.approx(e1, abs=1e-10)


def test_changing_structure_between_calls():
    calc = tersoff.LammpsTersoff()
    wider = build_sheet("graphene_pristine", a=2.46)  # same atoms, another cell
    for atoms in (_displaced("hbn_pristine"), _displaced("graphene_vacancy"),  # 60 -> 59 atoms
                  _displaced("hbn_vacancy"), wider, _displaced("hbn_pristine")):
        e, f, s = _lammps(atoms, calc)
        e_ref, f_ref, s_ref = _lammps(atoms)
        assert e == pytest.approx(e_ref, abs=1e-10)
        np.testing.assert_allclose(f, f_ref, atol=1e-10)
        np.testing.assert_allclose(s, s_ref, atol=1e-12)


def test_unwrapped_and_out_of_slab_positions():
    """Atoms several cells away in x, y and outside the 10 Å slab in z are handled."""
    atoms = _displaced("hbn_pristine", seed=3)
    e, f, _ = _lammps(atoms)
    moved = atoms.copy()
    moved.positions[::2, :2] += np.diag(atoms.cell.array)[:2] * [3, -2]
    moved.positions[:, 2] -= 4.0  # below z = 0: shrink-wrapped, not lost
    e_moved, f_moved, _ = _lammps(moved)
    assert e_moved == pytest.approx(e, abs=1e-9)
    np.testing.assert_allclose(f_moved, f, atol=1e-9)


def test_non_orthorhombic_cell_is_refused():
    atoms = build_sheet("hbn_pristine")
    atoms.set_cell(atoms.cell.array + [[0, 0, 0], [1.0, 0, 0], [0, 0, 0]])
    atoms.calc = tersoff.LammpsTersoff()
    with pytest.raises(ValueError, match="orthorhombic"):
        atoms.get_potential_energy()
    atoms.set_cell(build_sheet("hbn_pristine").cell)  # the same calculator recovers
    assert atoms.get_potential_energy() == pytest.approx(_lammps(atoms)[0], abs=1e-10)


def test_unknown_element_is_refused():
    atoms = build_sheet("graphene_pristine")
    atoms.numbers[0] = 14
    atoms.calc = tersoff.LammpsTersoff()
    with pytest.raises(ValueError, match="B', 'C', 'N"):
        atoms.get_potential_energy()


def test_make_reference():
    calc = make_reference("tersoff")
    assert isinstance(calc, tersoff.LammpsTersoff)


def test_leaves_torch_threads_alone():
    """LAMMPS sets OpenMP to one thread, which would slow every torch model run after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        tersoff.LammpsTersoff().get_potential_energy(build_sheet("graphene_pristine"))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
