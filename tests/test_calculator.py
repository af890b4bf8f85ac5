"""CNNASCalculator on a tiny random-weight sheet model: energies, forces, and set-up errors."""
from __future__ import annotations

import hashlib
import itertools
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.calculator import CalculatorSetupError, PropertyNotImplementedError
from ase.calculators.fd import calculate_numerical_forces
from ase.io import Trajectory, read, write
from conftest import ELEMENT_ENERGY, ENERGY_MEAN, ENERGY_SCALE, make_model
from conftest import GRID as GRID_16

from ase_cnnas.calculator import CNNASCalculator, OutOfDistributionWarning
from ase_cnnas.checks import closest_pair
from ase_cnnas.modelfile import file_sha256, save_model
from ase_cnnas.sheets import build_sheet

FD_STEP = 1e-3  # Å
FD_RTOL = 0.01  # of the largest force component
ENERGY_ATOL = 1e-9  # eV: same computation done by hand
PERMUTATION_ATOL = 1e-9  # eV, float64 model: atom order only changes summation order


def rattled(structure: str = "heterostructure_pristine", seed: int = 0, scale: float = 0.1):
    """A sheet with in-plane noise; z stays exactly 0."""
    atoms = build_sheet(structure)
    atoms.positions[:, :2] += np.random.default_rng(seed).normal(0, scale, (len(atoms), 2))
    return atoms


@pytest.fixture
def calc(model_file) -> CNNASCalculator:
    return CNNASCalculator(model_file, device="cpu")


@pytest.fixture
def calc64(calc) -> CNNASCalculator:
    calc.model.double()
    calc.reset()
    return calc


def test_forces_match_finite_differences(calc64):
    """Forces are −∇E less its rigid-translation part (the net force the grid leaves)."""
    atoms = rattled()
    atoms.calc = calc64
    forces = atoms.get_forces()
    assert forces.shape == (60, 3)
    fmax = np.abs(forces).max()
    assert fmax > 1e-6  # a random model at init: small but well above FD round-off (~1e-11)
    numerical = calculate_numerical_forces(atoms, eps=FD_STEP)
    np.testing.assert_allclose(forces, numerical - numerical.mean(0), rtol=0, atol=FD_RTOL * fmax)


def test_forces_sum_to_zero_though_the_gradient_does_not(model_file):
    """A sub-pixel shift of the whole sheet changes the energy a little, so −∇E (what
    remove_net_force=False returns) has a net force; the default forces are −∇E less its mean,
    and the energy is the same either way."""
    results = []
    for remove in (True, False):
        calc = CNNASCalculator(model_file, device="cpu", remove_net_force=remove)
        calc.model.double()
        atoms = rattled(seed=7)
        atoms.calc = calc
        results.append((atoms.get_potential_energy(), atoms.get_forces()))
    (energy, forces), (raw_energy, gradient) = results
    fmax = np.abs(forces).max()
    assert raw_energy == energy
    assert np.abs(gradient.sum(0)).max() > 0.1 * fmax  # on this coarse random model, even more
    np.testing.assert_allclose(forces, gradient - gradient.mean(0), rtol=0, atol=1e-12 * fmax)
    np.testing.assert_allclose(forces.sum(0), 0.0, rtol=0, atol=1e-12 * fmax)
    shifted = rattled(seed=7)
    shifted.positions[:, :2] += 0.37 * calc.model.spacing  # a third of a pixel and more
    shifted.calc = calc
    assert shifted.get_potential_energy() != pytest.approx(energy, abs=1e-9)


def test_nve_keeps_the_centre_of_mass_at_rest(calc):
    """With forces that sum to zero, Verlet MD conserves the total momentum (to round-off)."""
    from ase import units
    from ase.md.velocitydistribution import Stationary, thermalize_momenta
    from ase.md.verlet import VelocityVerlet

    atoms = rattled(seed=8)
    atoms.calc = calc
    thermalize_momenta(atoms, 1000, rng=np.random.default_rng(0))
    atoms.set_momenta(atoms.get_momenta() * [1, 1, 0])
    Stationary(atoms)
    VelocityVerlet(atoms, timestep=0.5 * units.fs).run(40)
    spread = np.abs(atoms.get_momenta()).max()
    assert np.abs(atoms.get_momenta().sum(0)).max() < 1e-9 * spread


def test_z_forces_exactly_zero(calc):
    atoms = rattled(seed=1)
    atoms.calc = calc
    forces = atoms.get_forces()
    assert np.all(forces[:, 2] == 0.0)
    assert np.abs(forces[:, :2]).max() > 0


def test_energy_only_computes_no_forces(calc):
    atoms = rattled(seed=2)
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    assert "forces" not in calc.results
    assert calc.results["free_energy"] == energy
    forces = atoms.get_forces()  # now computed, same energy
    assert forces.shape == (60, 3)
    assert calc.results["energy"] == pytest.approx(energy, abs=ENERGY_ATOL)


def test_energy_on_absolute_scale(calc):
    atoms = rattled("hbn_vacancy", seed=3)
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    model = calc.model
    with torch.no_grad():
        images = model.images(torch.tensor(atoms.positions), torch.tensor(atoms.numbers),
                              torch.tensor(atoms.cell.array)[None],
                              torch.zeros(len(atoms), dtype=torch.long), 1)
        out = float(model.network(images)[0])
    reference = sum(ELEMENT_ENERGY[z] for z in atoms.numbers)
    assert reference == pytest.approx(30 * -7.0 + 29 * -8.1)
    assert energy == pytest.approx(reference + ENERGY_MEAN + ENERGY_SCALE * out,
                                   abs=ENERGY_ATOL, rel=0)
    assert abs(energy - reference - ENERGY_MEAN) < 1.0  # the network adds a small correction


def test_energy_changes_with_positions(calc):
    atoms = rattled(seed=4)
    atoms.calc = calc
    e1 = atoms.get_potential_energy()
    atoms.positions[0, 0] += 0.1
    e2 = atoms.get_potential_energy()
    assert e1 != e2


def test_energy_invariant_to_atom_order_and_lattice_shift(calc64):
    atoms = rattled(seed=5)
    atoms.calc = calc64
    e = atoms.get_potential_energy()
    f = atoms.get_forces()
    order = np.random.default_rng(0).permutation(len(atoms))
    shuffled = atoms[order]
    shuffled.positions[:7, :2] += atoms.cell.array[0, :2] - 2 * atoms.cell.array[1, :2]
    shuffled.calc = calc64
    assert shuffled.get_potential_energy() == pytest.approx(e, abs=PERMUTATION_ATOL, rel=0)
    np.testing.assert_allclose(shuffled.get_forces(), f[order], rtol=0, atol=PERMUTATION_ATOL)


def test_dipole_not_implemented(calc):
    atoms = rattled(seed=6)
    atoms.calc = calc
    with pytest.raises(PropertyNotImplementedError, match="not 'dipole'"):
        atoms.get_dipole_moment()


def test_heterostructure_vacancy(calc):
    atoms = build_sheet("heterostructure_vacancy")
    assert len(atoms) == 59
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    forces = atoms.get_forces()
    assert np.isfinite(energy) and forces.shape == (59, 3) and np.isfinite(forces).all()
    pristine = build_sheet("heterostructure_pristine")
    pristine.calc = calc
    # one C less: the energy moves by about one carbon reference energy
    assert energy - pristine.get_potential_energy() == pytest.approx(-ELEMENT_ENERGY[6], abs=1.0)


def test_unknown_element(calc):
    atoms = build_sheet("graphene_pristine")
    atoms.numbers[3] = 8
    atoms.calc = calc
    with pytest.raises(CalculatorSetupError, match=r"knows only B, C, N.*hold O"):
        atoms.get_potential_energy()


def test_other_cell(calc):
    atoms = build_sheet("graphene_pristine")
    atoms.set_cell(atoms.cell.array * [1.02, 1.0, 1.0], scale_atoms=True)
    atoms.calc = calc
    with pytest.raises(CalculatorSetupError, match=r"trained for the cell 12\.5300 × 13\.0216 Å"):
        atoms.get_potential_energy()


def test_no_pbc(calc):
    atoms = build_sheet("graphene_pristine")
    atoms.pbc = False
    atoms.calc = calc
    with pytest.raises(CalculatorSetupError, match="periodic boundaries along x, y"):
        atoms.get_potential_energy()


def test_out_of_plane(calc):
    atoms = build_sheet("graphene_pristine")
    atoms.positions[5, 2] = 0.5
    atoms.calc = calc
    with pytest.raises(CalculatorSetupError, match=r"0\.500 Å.*FixedPlane"):
        atoms.get_forces()


def test_whole_sheet_shifted_in_z_is_fine(calc):
    """Only the spread of z matters, not its value."""
    atoms = rattled(seed=7)
    atoms.calc = calc
    e = atoms.get_potential_energy()
    atoms.positions[:, 2] += 5.0
    assert atoms.get_potential_energy() == pytest.approx(e, abs=ENERGY_ATOL, rel=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_gpu(model_file):
    with pytest.raises(CalculatorSetupError, match="no CUDA GPU"):
        CNNASCalculator(model_file, device="cuda")


def test_device_none_picks_available(model_file):
    calc = CNNASCalculator(model_file, device=None)
    assert calc.model.device.type == ("cuda" if torch.cuda.is_available() else "cpu")


def energy_and_forces(device: str) -> tuple[float, np.ndarray]:
    atoms = rattled(seed=3)
    atoms.calc = CNNASCalculator("flat", device=device)
    return atoms.get_potential_energy(), atoms.get_forces()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("tf32", [False, True])
def test_cuda_matches_cpu(tf32, monkeypatch):
    """The bundled model on the GPU gives the CPU's energy and forces: to float32 rounding with
    TF32 off; with TF32 convolutions (PyTorch's default for cuDNN) to 0.3 meV/atom, far below the
    model's own error (measured on an H100: 0.065 meV/atom)."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", tf32)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", tf32)
    (e_cpu, f_cpu), (e_gpu, f_gpu) = energy_and_forces("cpu"), energy_and_forces("cuda")
    natoms = len(f_cpu)
    tol_e, tol_f = (3e-4 * natoms, 0.05) if tf32 else (5e-4, 5e-4)  # eV, eV/Å
    assert e_gpu == pytest.approx(e_cpu, abs=tol_e)
    np.testing.assert_allclose(f_gpu, f_cpu, atol=tol_f)


def test_closest_pair_sees_periodic_images():
    atoms = build_sheet("graphene_pristine")
    assert closest_pair(atoms)[0] == pytest.approx(2.506 / np.sqrt(3))  # the C–C bond
    atoms.positions[3] = atoms.positions[4] + [atoms.cell[0, 0] - 0.03, 0, 0]  # 0.03 Å via x
    dist, i, j = closest_pair(atoms)
    assert dist == pytest.approx(0.03) and {i, j} == {3, 4}


@pytest.mark.parametrize("seed", range(12))
def test_closest_pair_matches_brute_force_over_images(seed):
    """Orthogonal cells (one k-d tree on the torus) and skewed ones (a query per image) against
    all pairs over 5³ image shifts, for tiny to ordinary cells, with and without periodic z:
    the smallest distance, an atom's own image included."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12))
    cell = np.diag(rng.uniform(0.8, 6.0, 3))
    if seed % 2:
        cell[1, 0] = rng.uniform(-0.3, 0.3) * cell[0, 0]
    atoms = Atoms("C" * n, positions=rng.uniform(-3, 9, (n, 3)), cell=cell,
                  pbc=(True, True, bool(seed % 3)))
    pos = atoms.get_positions(wrap=True)
    best = np.inf
    for shift in itertools.product(range(-2, 3), repeat=3):
        if not atoms.pbc[2] and shift[2]:
            continue
        d = np.linalg.norm(pos[:, None] - pos[None] - np.array(shift) @ cell, axis=-1)
        if not any(shift):
            d[np.diag_indices(n)] = np.inf
        best = min(best, d.min())
    dist, i, j = closest_pair(atoms)
    assert dist == pytest.approx(best, abs=1e-9)


@pytest.mark.parametrize("skew", [0.0, 0.2])
def test_closest_pair_can_be_an_atoms_own_image(skew):
    atoms = Atoms("CC", positions=[[0, 0, 0], [0.3, 2.5, 0]],
                  cell=[[0.9, 0, 0], [skew, 5, 0], [0, 0, 5]], pbc=True)
    dist, i, j = closest_pair(atoms)
    assert dist == pytest.approx(0.9) and i == j


def test_warns_once_outside_the_training_distribution():
    calc = CNNASCalculator("flat", device="cpu")  # a bundled model records its training ranges
    assert set(calc.seen) >= {"energy_per_atom", "closest_distance", "image_peak"}
    atoms = build_sheet("hbn_vacancy")
    atoms.calc = calc
    # the ideal sheet's closest pair is longer than any thermal training frame's: no warning
    assert closest_pair(atoms)[0] > calc.seen["closest_distance"][1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inside the distribution: no warning
        atoms.get_potential_energy()
    assert calc.outside == 0
    squeezed = build_sheet("graphene_pristine")
    squeezed.positions[3] = squeezed.positions[4] + [0.8, 0, 0]
    squeezed.calc = calc
    with pytest.warns(OutOfDistributionWarning, match=r"closest distance 0.8 Å lies outside the "
                      r"training range 1\.\d+…1\.\d+: the model extrapolates"):
        squeezed.get_potential_energy()
    squeezed.positions[3, 0] += 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per calculator; counted after that
        squeezed.get_potential_energy()
    assert calc.outside == 2


def test_extensive_model_on_supercells():
    """The bundled extensive model: a periodic crystal's 2×2 and 3×2 supercells have exactly the
    energy of their copies and the same forces; cells off its pixel spacing are refused."""
    atoms = build_sheet("hbn_vacancy")
    atoms.positions[:, :2] += np.random.default_rng(1).normal(0, 0.03, (len(atoms), 2))
    calc = CNNASCalculator("extensive", device="cpu")
    atoms.calc = calc
    e1, f1 = atoms.get_potential_energy(), atoms.get_forces()
    fixed = atoms.copy()
    fixed.calc = CNNASCalculator("flat", device="cpu")
    assert e1 == pytest.approx(fixed.get_potential_energy(), abs=1e-3)  # μ per atom: 59/59.67 μ
    for reps in ((2, 2, 1), (3, 2, 1)):
        big = atoms.repeat(reps)
        big.calc = calc
        assert big.get_potential_energy() == pytest.approx(np.prod(reps) * e1, abs=5e-4)  # float32
        np.testing.assert_allclose(big.get_forces()[:len(atoms)], f1, atol=1e-4)
        with pytest.raises(CalculatorSetupError, match="use model='extensive' for larger cells"):
            fixed.calc.get_potential_energy(big)
    odd = atoms.repeat((2, 2, 1))
    odd.set_cell(odd.cell.array + np.diag([0.7, 0, 0]))
    odd.calc = calc
    with pytest.raises(CalculatorSetupError, match=r"whole multiples of 1.5662 × 1.6277 Å .* "
                       r"build an orthogonal supercell"):
        odd.get_potential_energy()


def test_large_cells_in_bands_give_the_same_energy_forces_and_stress(monkeypatch):
    """A 3×3 sheet (192² pixels) through the extensive model whole and in bands of 16 rows
    (each recomputed in the backward pass): the same energy, forces and stress."""
    atoms = build_sheet("heterostructure_vacancy").repeat((3, 3, 1))
    atoms.positions[:, :2] += np.random.default_rng(2).normal(0, 0.05, (len(atoms), 2))
    calc = CNNASCalculator("extensive", device="cpu")
    whole = [calc.get_property(p, atoms) for p in ("energy", "forces", "stress")]
    monkeypatch.setattr(calc.model.network, "band_pixels", 16 * 192)
    calc.reset()
    banded = [calc.get_property(p, atoms) for p in ("energy", "forces", "stress")]
    assert banded[0] == pytest.approx(whole[0], abs=2e-4)  # float32 sums in another order
    np.testing.assert_allclose(banded[1], whole[1], atol=2e-5)
    np.testing.assert_allclose(banded[2], whole[2], atol=1e-7)


def test_extensive_needs_a_local_periodic_network():
    from ase_cnnas.model import EnergyModel
    from ase_cnnas.networks import network2_config

    with pytest.raises(ValueError, match="extensive model needs the per-pixel head"):
        EnergyModel(network2_config(GRID_16), cell=np.diag([12.53, 13.02, 10]),
                    element_energy=ELEMENT_ENERGY, extensive=True)


@pytest.mark.parametrize("model", ["flat", "extensive"])
def test_stress_is_the_strain_derivative(model):
    """σ = (1/V) ∂E/∂ε from autograd equals central differences of the energy of strained
    positions and cell (float64 network, so that differences resolve)."""
    atoms = build_sheet("graphene_stone_wales")
    atoms.positions[:, :2] += np.random.default_rng(0).normal(0, 0.03, (len(atoms), 2))
    calc = CNNASCalculator(model, device="cpu")
    calc.model = calc.model.double()
    atoms.calc = calc
    stress = atoms.get_stress(voigt=False)

    def energy(strain: np.ndarray) -> float:
        deform = np.eye(3) + strain
        with torch.no_grad():
            return float(calc.model(torch.tensor(atoms.positions @ deform),
                                    torch.tensor(atoms.numbers),
                                    torch.tensor(atoms.cell.array @ deform)[None],
                                    torch.zeros(len(atoms), dtype=torch.long), 1)[0])

    h, volume = 1e-4, atoms.get_volume()
    for i, j in [(0, 0), (1, 1), (0, 1)]:
        strain = np.zeros((3, 3))
        strain[i, j] = strain[j, i] = h if i == j else h / 2
        numeric = (energy(strain) - energy(-strain)) / (2 * h) / volume
        assert stress[i, j] == pytest.approx(numeric, rel=1e-5, abs=1e-9)
    assert abs(stress[0, 0]) > 1e-4 and np.all(stress[2] == 0)  # nothing along z for a 2D model


def test_ensemble_mean_and_spread(tmp_path):
    """A list of models is an ensemble: energy, forces and stress are the members' means, and
    the spread of their energies is results["energy_std"]."""
    paths = []
    for seed in (0, 1, 2):
        paths.append(tmp_path / f"m{seed}.pt")
        save_model(make_model(seed), paths[-1])
    atoms = rattled(seed=3)
    members = []
    for path in paths:
        atoms.calc = CNNASCalculator(path, device="cpu")
        members.append((atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()))
    energies = np.array([m[0] for m in members])
    forces = np.array([m[1] for m in members])  # [M, N, 3]
    atoms.calc = ens = CNNASCalculator([str(p) for p in paths], device="cpu")
    assert {"energy_std", "forces_std"} <= set(ens.implemented_properties)
    assert "energy_std" not in CNNASCalculator.implemented_properties  # the class list untouched
    assert atoms.get_potential_energy() == pytest.approx(energies.mean(), abs=1e-6)
    np.testing.assert_allclose(atoms.get_forces(), forces.mean(0), atol=1e-6)
    np.testing.assert_allclose(atoms.get_stress(), np.mean([m[2] for m in members], axis=0),
                               atol=1e-9)
    assert ens.results["energy_std"] == pytest.approx(energies.std(), rel=1e-6)
    assert ens.get_property("energy_std", atoms) == ens.results["energy_std"]
    assert ens.results["energy_std"] > 1e-4  # different random weights disagree
    spread = ens.get_property("forces_std", atoms)  # [N, 3], a gradient per member
    np.testing.assert_allclose(spread, forces.std(0), atol=1e-6)
    assert spread[:, :2].min() > 0 and np.all(spread[:, 2] == 0)
    np.testing.assert_allclose(ens.results["forces"], forces.mean(0), atol=1e-6)
    with pytest.raises(CalculatorSetupError, match="an ensemble needs models trained on the same"):
        CNNASCalculator([paths[0], "extensive"], device="cpu")


@pytest.mark.parametrize("name", ["energy_std", "forces_std"])
def test_spread_of_one_model_names_the_fix(calc, name):
    with pytest.raises(PropertyNotImplementedError, match="give it a list of model files"):
        calc.get_property(name, rattled())


def test_parameters_name_the_model_and_its_hash(model_file, calc):
    """ASE's contract: todict() holds every constructor setting, the model file's sha256 and
    the device and symmetrize in effect, defaults included."""
    assert calc.todict() == {
        "model": str(model_file), "device": "cpu", "symmetrize": False, "remove_net_force": True,
        "keep_freed_memory": False,
        "model_sha256": hashlib.sha256(model_file.read_bytes()).hexdigest()}
    assert set(calc.todict()) == set(CNNASCalculator.default_parameters)
    bundled = CNNASCalculator(device="cpu").todict()
    assert bundled["model"] == "default" and bundled["symmetrize"] is False
    assert bundled["model_sha256"] == file_sha256("pbe")  # "default" names the pbe file
    assert CNNASCalculator("flat", device="cpu").todict()["symmetrize"] is True


@pytest.mark.parametrize("how", ["write", "Trajectory"])
def test_trajectory_records_the_calculator_and_rebuilds_it(tmp_path, calc, how):
    atoms = rattled(seed=9)
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    path = tmp_path / "x.traj"
    if how == "write":
        write(path, atoms)
    else:
        with Trajectory(path, "w") as traj:
            traj.write(atoms)
    back = read(path)
    assert back.calc.name == "cnnascalculator"
    assert back.calc.parameters == calc.todict()
    assert back.get_potential_energy() == energy
    back.calc = CNNASCalculator(**back.calc.parameters)  # the same model, checked by its hash
    assert back.get_potential_energy() == energy


def test_a_changed_model_file_is_refused(tmp_path, model_file, calc):
    path = tmp_path / "m.pt"
    shutil.copyfile(model_file, path)
    params = {**calc.todict(), "model": str(path)}
    CNNASCalculator(**params)
    save_model(make_model(seed=1), path)  # retrained under the same name
    with pytest.raises(CalculatorSetupError, match="the file changed since"):
        CNNASCalculator(**params)
    old_default = {"model": "default", "model_sha256": file_sha256("flat")}  # before "pbe"
    with pytest.raises(CalculatorSetupError, match="bundled model 'flat' now: use model='flat'"):
        CNNASCalculator(**old_default)
    with pytest.raises(CalculatorSetupError, match="gives 1 hashes for 2 model files"):
        CNNASCalculator([path, path], model_sha256=params["model_sha256"])


def test_set_changes_what_it_can_and_refuses_the_rest(calc):
    atoms = rattled(seed=10)
    atoms.calc = calc
    atoms.get_forces()
    assert calc.set(remove_net_force=False) == {"remove_net_force": False}
    assert not calc.results  # cleared: the forces change
    assert np.abs(atoms.get_forces().sum(0)).max() > 1e-9
    with pytest.raises(CalculatorSetupError, match=r"build a new CNNASCalculator\(model=...\)"):
        calc.set(model="fast")
    with pytest.raises(CalculatorSetupError, match="has no parameter remove_net_forces"):
        calc.set(remove_net_forces=True)
    with pytest.raises(CalculatorSetupError, match="has no parameter sigma"):
        CNNASCalculator(device="cpu", sigma=0.3)


def test_symmetrize_makes_forces_mirror_exact(model_file):
    """symmetrize=True overrides the file (which says False): the forces of the mirrored sheet
    are the mirrored forces, to round-off, where the raw model's differ."""
    atoms = rattled(seed=4)
    mirror = atoms.copy()
    mirror.positions[:, 0] = atoms.cell[0, 0] - atoms.positions[:, 0]
    forces = {}
    for symmetrize in (None, True):
        calc = CNNASCalculator(model_file, device="cpu", symmetrize=symmetrize)
        assert calc.model.symmetrize is bool(symmetrize)
        calc.model.double()
        f, g = (a.copy() for a in (atoms, mirror))
        f.calc, g.calc = calc, CNNASCalculator(model_file, device="cpu", symmetrize=symmetrize)
        g.calc.model.double()
        forces[symmetrize] = f.get_forces(), g.get_forces() * [-1, 1, 1]
    fmax = np.abs(forces[True][0]).max()
    np.testing.assert_allclose(*forces[True], rtol=0, atol=1e-9 * fmax)
    assert np.abs(np.subtract(*forces[None])).max() > 1e-4 * fmax


def free_sheet(structure: str = "hbn_vacancy@hex4", seed: int = 1) -> Atoms:
    """A sheet rattled in all three directions, as free-standing MD leaves it."""
    atoms = build_sheet(structure)
    atoms.positions += np.random.default_rng(seed).normal(0, 0.08, atoms.positions.shape)
    return atoms


def double_calc(model_file: Path) -> CNNASCalculator:
    """The calculator of `model_file` on the CPU in float64, for exact gradient checks."""
    calc = CNNASCalculator(model_file, device="cpu")
    calc.model.double()
    return calc


@pytest.fixture
def sheet_calc(sheet_model_file) -> CNNASCalculator:
    return double_calc(sheet_model_file)


@pytest.mark.parametrize("model_file", ["sheet_model_file", "stretch_sheet_model_file",
                                        "response_sheet_model_file"])
def test_sheet_model_forces_and_stress_are_gradients(model_file, request):
    """A free-standing any-cell model (its head reading the pixel stretch, giving the stretch
    response, or neither) on a hexagonal cell: forces (all three components) and stress (every
    in-plane component) are central differences of its energy."""
    sheet_calc = double_calc(request.getfixturevalue(model_file))
    atoms = free_sheet()
    atoms.calc = sheet_calc
    forces, stress = atoms.get_forces(), atoms.get_stress(voigt=False)
    assert np.abs(forces[:, 2]).max() > 1e-3  # it sees z
    numerical = calculate_numerical_forces(atoms, eps=FD_STEP)
    np.testing.assert_allclose(forces, numerical - numerical.mean(0), rtol=0,
                               atol=FD_RTOL * np.abs(forces).max())
    h, volume = 1e-4, atoms.get_volume()
    for i, j in [(0, 0), (1, 1), (0, 1)]:
        strain = np.zeros((3, 3))
        strain[i, j] = strain[j, i] = h if i == j else h / 2
        energies = []
        for sign in (1, -1):
            deformed = atoms.copy()
            deformed.set_cell(atoms.cell.array @ (np.eye(3) + sign * strain), scale_atoms=True)
            deformed.calc = sheet_calc
            energies.append(deformed.get_potential_energy())
        numeric = (energies[0] - energies[1]) / (2 * h) / volume
        assert stress[i, j] == pytest.approx(numeric, rel=1e-4, abs=1e-8)


def test_sheet_model_symmetries(sheet_calc):
    """Exactly invariant to a shift along z, the mirror z → −z, a rotation about z, and the
    choice of cell: a hexagonal cell and its orthogonal supercell give one energy per atom."""
    from ase.build import make_supercell

    atoms = free_sheet()
    atoms.calc = sheet_calc
    energy = atoms.get_potential_energy()
    moved = [atoms.copy() for _ in range(3)]
    moved[0].positions[:, 2] += 2.3
    moved[1].positions[:, 2] *= -1
    moved[2].rotate(31, "z", rotate_cell=True)
    for other in moved:
        other.calc = sheet_calc
        assert other.get_potential_energy() == pytest.approx(energy, abs=1e-9)
    rectangle = make_supercell(atoms, [[1, 0, 0], [1, 2, 0], [0, 0, 1]])
    rectangle.calc = sheet_calc
    assert rectangle.get_potential_energy() / len(rectangle) == pytest.approx(
        energy / len(atoms), abs=1e-9)
    flat = atoms.copy()
    flat.positions[:, 2] = 0
    flat.calc = sheet_calc
    assert abs(flat.get_potential_energy() - energy) > 1e-4


def test_sheet_model_takes_strained_cells_and_any_vacuum(sheet_calc):
    """Strained cells get their own grid; the vacuum height and pbc along z change nothing."""
    atoms = free_sheet("graphene_pristine@4x2")
    atoms.calc = sheet_calc
    energy = atoms.get_potential_energy()
    for cell_z, pbc_z in [(25.0, False), (7.0, True)]:
        other = atoms.copy()
        other.cell[2, 2] = cell_z
        other.pbc = (True, True, pbc_z)
        other.calc = sheet_calc
        assert other.get_potential_energy() == pytest.approx(energy, abs=1e-9)
    strained = atoms.copy()
    strained.set_cell(atoms.cell.array * [1.05, 0.95, 1], scale_atoms=True)
    strained.calc = sheet_calc
    assert np.isfinite(strained.get_potential_energy())
