"""The GPAW reference: settings by name, k-points by density, and on a 2-atom cell (where GPAW is
installed) forces that are the derivatives of the energy."""
from __future__ import annotations

import numpy as np
import pytest

from ase_cnnas.sheets import build_sheet
from training.dft import GpawReference, GpawSettings
from training.reference import make_reference


def test_settings_from_names():
    assert GpawSettings.parse("gpaw-pw") == GpawSettings()
    s = GpawSettings.parse("gpaw-lcao,basis=szp,kdensity=3")
    assert (s.mode, s.basis, s.kdensity, s.ecut) == ("lcao", "szp", 3.0, 500.0)
    with pytest.raises(ValueError, match="'cutoff=4' is not a setting.*ecut"):
        GpawSettings.parse("gpaw-pw,cutoff=4")
    with pytest.raises(ValueError, match="ecut must be a number, not 'high'"):
        GpawSettings.parse("gpaw-pw,ecut=high")
    with pytest.raises(ValueError, match="unknown GPAW reference 'gpaw-fd'"):
        GpawSettings.parse("gpaw-fd")


def test_without_gpaw_the_error_names_the_install(monkeypatch, lj_data, tmp_path):
    """Where GPAW is installed the name gives a GpawReference; where it is not, the reference
    and `cnnas data label` say how to install it, before any frame is tried."""
    import importlib.util

    from training.cli import main

    if importlib.util.find_spec("gpaw") is not None:
        assert isinstance(make_reference("gpaw-pw,ecut=300"), GpawReference)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(ImportError, match="make setup-dft"):
        make_reference("gpaw-pw")
    out = tmp_path / "pbe.h5"
    with pytest.raises(SystemExit, match="--reference gpaw-pw: GPAW is not installed.*setup-dft"):
        main(["data", "label", str(lj_data), "-o", str(out), "--reference", "gpaw-pw"])
    assert not out.exists()


def test_kpoints_follow_the_cell():
    """12 × 12 for the 2-atom cell and 3 × 2 for the paper's 60-atom one at 4 per Å⁻¹; one
    point along z, whatever the vacuum."""
    s = GpawSettings()
    assert s.kpts(build_sheet("hbn_pristine@hex1")) == (12, 12, 1)
    assert s.kpts(build_sheet("hbn_pristine")) == (3, 2, 1)
    assert GpawSettings(kdensity=2).kpts(build_sheet("graphene_pristine@2x1")) == (3, 3, 1)


def test_forces_are_derivatives_of_the_energy_on_a_two_atom_cell():
    pytest.importorskip("gpaw", reason="GPAW is absent: `make setup-dft` installs it")
    atoms = build_sheet("hbn_pristine@hex1")
    atoms.positions[0] += [0.04, 0.0, 0.05]  # off the plane too
    calc = make_reference("gpaw-pw,ecut=250,kdensity=1.2")
    atoms.calc = calc
    forces = atoms.get_forces()
    np.testing.assert_allclose(forces.sum(axis=0), 0, atol=0.02)
    assert forces[0, 0] < -0.1 and forces[0, 2] < -0.05  # pulled back into place
    h, energies = 0.01, []
    for sign in (1, -1):
        moved = atoms.copy()
        moved.positions[0, 0] += sign * h
        moved.calc = calc
        energies.append(moved.get_potential_energy())
    assert -(energies[0] - energies[1]) / (2 * h) == pytest.approx(forces[0, 0], rel=0.03)


@pytest.mark.parametrize("height", [0.0, 0.1])
def test_stress_is_the_strain_derivative_of_the_energies_on_a_two_atom_cell(height):
    """In plane waves, flat and with an atom raised: σ_xx = (1/V) ∂E/∂ε_xx of the energies at
    the label's cutoff by central differences (GPAW's own, at a fixed set of plane waves, is
    off by the Pulay stress: 0.094 against 0.049 eV/Å³ here); LCAO refuses it."""
    pytest.importorskip("gpaw", reason="GPAW is absent: `make setup-dft` installs it")
    name = "gpaw-pw,kdensity=2"
    atoms = build_sheet("hbn_pristine@hex1")
    atoms.set_cell(atoms.cell.array * [1.03, 1.03, 1.0], scale_atoms=True)
    atoms.positions[0, 2] += height
    atoms.calc = make_reference(name)
    stress = atoms.get_stress()
    h, energies = 0.01, []
    for sign in (1, -1):
        strained = atoms.copy()
        strained.set_cell(atoms.cell.array * [1 + sign * h, 1, 1], scale_atoms=True)
        strained.calc = make_reference(name)
        energies.append(strained.get_potential_energy())
    assert stress[0] > 0.02 and stress[0] == pytest.approx(stress[1])  # stretched: pulls back
    assert (energies[0] - energies[1]) / (2 * h) / atoms.get_volume() == pytest.approx(
        stress[0], rel=0.04)
    assert abs(stress[2]) < 0.1 * stress[0]
    atoms.calc = make_reference("gpaw-lcao,kdensity=1.2")
    with pytest.raises(ValueError, match="plane waves only: label with gpaw-pw"):
        atoms.get_stress()


def test_atoms_moved_off_a_symmetric_start_get_a_fresh_calculation():
    """Phonons start from the perfect lattice, whose symmetry the displaced atoms break: the
    reused GPAW calculation is replaced, not left to raise."""
    pytest.importorskip("gpaw", reason="GPAW is absent: `make setup-dft` installs it")
    atoms = build_sheet("graphene_pristine@hex1")
    atoms.calc = make_reference("gpaw-pw,ecut=250,kdensity=1.2")
    assert np.abs(atoms.get_forces()).max() < 1e-3  # zero by symmetry
    atoms.positions[0, 2] += 0.05
    forces = atoms.get_forces()
    assert forces[0, 2] < -0.01 and forces[1, 2] == pytest.approx(-forces[0, 2], abs=5e-3)
