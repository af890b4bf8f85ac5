"""EnergyModel: the upscaled image of the paper's grid test is the coarse image with every pixel
replicated, and survives a model file round trip; `symmetrize` makes the energy exactly
invariant under the reflections that map the cell onto itself, and only under those."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from conftest import ELEMENT_ENERGY, make_model

from ase_cnnas.model import EnergyModel
from ase_cnnas.modelfile import load_model, save_model
from ase_cnnas.networks import network1_config, network2_config
from ase_cnnas.sheets import build_sheet
from training.batches import model_inputs, to_tensors
from training.dimers import make_dimers

SYMMETRY_RTOL = 1e-10  # float64: a reflected image is the same pixels in another order


def dimer_model(grid: int, upsample: int = 1) -> EnergyModel:
    torch.manual_seed(0)
    return EnergyModel(network1_config((grid, grid), dense=8),
                       cell=[[10, 0, 0], [0, 10, 0], [0, 0, 10]],
                       element_energy={1: 0.0}, upsample=upsample).eval()


def test_upscaled_image_replicates_coarse_pixels():
    frames = make_dimers(3, 2, [(1, 2)], seed=0)
    inputs = model_inputs(to_tensors(frames, [0, 1, 2], "cpu"))
    coarse = dimer_model(8).images(*inputs)
    fine = dimer_model(32, upsample=4).images(*inputs)
    assert fine.shape == (3, 32, 32)
    assert coarse.abs().max() > 0.1
    for i, j in [(0, 0), (3, 3), (5, 2)]:
        torch.testing.assert_close(fine[:, 4 * i:4 * i + 4, 4 * j:4 * j + 4],
                                   coarse[:, i:i + 1, j:j + 1].expand(-1, 4, 4))
    assert not torch.equal(fine, dimer_model(32).images(*inputs))  # the native 32² image differs


def test_upsample_round_trips_through_the_model_file(tmp_path):
    model = dimer_model(16, upsample=2)
    save_model(model, tmp_path / "m.pt")
    back = load_model(tmp_path / "m.pt")
    assert back.upsample == 2
    frames = make_dimers(4, 2, [(1, 3)], seed=1)
    inputs = model_inputs(to_tensors(frames, range(4), "cpu"))
    torch.testing.assert_close(back(*inputs), model(*inputs))


@pytest.mark.parametrize("upsample", [0, 3])
def test_upsample_must_divide_the_grid(upsample):
    with pytest.raises(ValueError, match="whole divisor of the grid"):
        EnergyModel(network1_config((16, 16)), cell=[[10, 0, 0], [0, 10, 0], [0, 0, 10]],
                    element_energy=ELEMENT_ENERGY, upsample=upsample)


def energies(model: EnergyModel, frames: list[Atoms]) -> np.ndarray:
    """The model's total energies (eV) of `frames`, evaluated as one batch."""
    inputs = (torch.tensor(np.concatenate([a.positions for a in frames])),
              torch.tensor(np.concatenate([a.numbers for a in frames])),
              torch.tensor(np.stack([a.cell.array for a in frames])),
              torch.tensor(np.repeat(np.arange(len(frames)), [len(a) for a in frames])),
              len(frames))
    with torch.no_grad():
        return model(*inputs).numpy()


def reflected(atoms: Atoms, axes: tuple[int, ...]) -> Atoms:
    """`atoms` reflected through the cell's origin along the fractional axes `axes`."""
    out = atoms.copy()
    frac = out.get_scaled_positions(wrap=False)
    frac[:, list(axes)] *= -1
    out.set_scaled_positions(frac)
    return out


def rattled_sheet(seed: int = 0) -> Atoms:
    atoms = build_sheet("heterostructure_vacancy")
    atoms.positions[:, :2] += np.random.default_rng(seed).normal(0, 0.1, (len(atoms), 2))
    return atoms


def sheet_model(upsample: int = 1, symmetrize: bool = True) -> EnergyModel:
    if upsample == 1:
        model = make_model(seed=3)
    else:
        torch.manual_seed(3)
        model = EnergyModel(network2_config((32, 32), dense=8),
                            cell=build_sheet("graphene_pristine").cell.array,
                            element_energy=ELEMENT_ENERGY, image_scale=1 / 7, energy_scale=0.05,
                            upsample=upsample).eval()
    model.symmetrize = symmetrize
    return model.double()


@pytest.mark.parametrize("upsample", [1, 2])
def test_symmetrized_energy_is_mirror_invariant_the_raw_one_is_not(upsample):
    atoms = rattled_sheet()
    orbit = [atoms] + [reflected(atoms, axes) for axes in [(0,), (1,), (0, 1)]]
    symmetric = energies(sheet_model(upsample), orbit)
    np.testing.assert_allclose(symmetric, symmetric[0], rtol=SYMMETRY_RTOL, atol=0)
    raw = energies(sheet_model(upsample, symmetrize=False), orbit)
    assert np.ptp(raw) > 1e3 * SYMMETRY_RTOL * abs(raw[0])  # what the average removes
    np.testing.assert_allclose(symmetric[0], raw.mean(), rtol=SYMMETRY_RTOL, atol=0)


def sheared(atoms: Atoms, tilt: float) -> Atoms:
    """`atoms` in a cell whose second vector leans along x by `tilt` of the first."""
    out = atoms.copy()
    cell = out.cell.array.copy()
    cell[1, 0] = tilt * cell[0, 0]
    out.set_cell(cell, scale_atoms=True)
    return out


def test_an_oblique_training_cell_averages_only_the_half_turn():
    """A mirror does not map an oblique cell onto itself, the half turn s → −s does: a model
    trained on such a cell averages over that alone."""
    frame = sheared(rattled_sheet(seed=1), 0.3)
    torch.manual_seed(4)
    raw = EnergyModel(network2_config((16, 16), dense=8), cell=frame.cell.array,
                      element_energy=ELEMENT_ENERGY, image_scale=1 / 7, energy_scale=0.05).eval()
    raw = raw.double()
    assert raw.reflections == [(), (0, 1)]
    half_turn = reflected(frame, (0, 1))
    expected = energies(raw, [frame, half_turn]).mean()
    raw.symmetrize = True
    np.testing.assert_allclose(energies(raw, [frame, half_turn]), expected, rtol=SYMMETRY_RTOL,
                               atol=0)
    raw.symmetrize = False
    mirrored = energies(raw, [frame, half_turn, reflected(frame, (0,)), reflected(frame, (1,))])
    assert abs(mirrored.mean() - expected) > 1e3 * SYMMETRY_RTOL * abs(expected)


def test_sheared_frames_keep_all_four_images_so_the_energy_stays_smooth():
    """A rectangular training cell averages all four flips whatever the frame's cell, so a
    small shear changes the energy smoothly (the calculator's shear stress relies on it), and
    a batch gives each frame the energy it has alone."""
    model = sheet_model()
    assert model.reflections == [(), (0,), (1,), (0, 1)]
    atoms = rattled_sheet(seed=1)
    e = energies(model, [sheared(atoms, t) for t in (-2e-5, -1e-5, 0.0, 1e-5, 2e-5)])
    steps = np.diff(e)
    np.testing.assert_allclose(steps, steps.mean(), rtol=1e-2, atol=1e-12)  # locally linear
    both = energies(model, [atoms, sheared(atoms, 0.3)])
    np.testing.assert_allclose(both, [energies(model, [atoms])[0],
                                      energies(model, [sheared(atoms, 0.3)])[0]],
                               rtol=SYMMETRY_RTOL, atol=0)


def test_symmetrize_round_trips_through_the_model_file(tmp_path):
    for flag in (True, False):
        save_model(sheet_model(symmetrize=flag), tmp_path / "m.pt")
        assert load_model(tmp_path / "m.pt").symmetrize is flag


def test_large_images_are_averaged_one_reflection_at_a_time():
    """Above the network's band size the reflections run one by one (memory of one image): the
    same energies as the batched pass."""
    frames = [rattled_sheet(seed=2), rattled_sheet(seed=3)]
    model = sheet_model()
    batched = energies(model, frames)
    model.network.band_pixels = 2 * 16 * 16  # two 16² images: below the orbit's 8
    np.testing.assert_allclose(energies(model, frames), batched, rtol=SYMMETRY_RTOL, atol=0)


def sheet_model_and_strain() -> tuple[EnergyModel, list[Atoms], list[float]]:
    """A random any-cell sheet model, hBN in its training cell and strained within the same 64
    pixels a side, and the model's energies of the two."""
    from conftest import make_sheet_model

    model = make_sheet_model()
    sheet = build_sheet("hbn_pristine")
    strained = sheet.copy()
    strained.set_cell(sheet.cell.array * [1.02, 0.99, 1], scale_atoms=True)
    return model, [sheet, strained], [energy_of(model, a) for a in (sheet, strained)]


def test_stretch_inputs_start_from_the_model_and_see_strain(tmp_path):
    """An any-cell model given stretch inputs computes exactly its old energy until its head's
    new weights move (they start at zero), keeps them through its file, and then sees a strain
    that leaves the pixel count unchanged; a fixed-cell model is refused them."""
    model, (sheet, strained), before = sheet_model_and_strain()
    model.use_stretch_inputs()
    assert model.network.config.extra_inputs == 2
    assert [energy_of(model, a) for a in (sheet, strained)] == pytest.approx(before, abs=1e-12)
    with torch.no_grad():
        model.network.head[0].weight[:, -2:] = 1.0
    save_model(model, tmp_path / "stretch.pt")
    loaded = load_model(tmp_path / "stretch.pt").double()
    assert loaded.stretch_inputs
    assert energy_of(loaded, sheet) == pytest.approx(before[0], abs=1e-9)  # no stretch at Δ
    assert abs(energy_of(loaded, strained) - before[1]) > 1e-3
    with pytest.raises(ValueError, match="stretch inputs are for an any-cell model"):
        make_model().use_stretch_inputs()


def test_stretch_response_starts_from_the_model_and_adds_its_first_order_term(tmp_path):
    """An any-cell model given the stretch response computes exactly its old energy until the
    head's new outputs move (they start at zero) and keeps them through its file; then a sheet
    on the model's own pixels keeps its energy, and a strained one moves by a term linear in
    the new outputs (doubling them doubles it); a fixed-cell model is refused it."""
    model, (sheet, strained), before = sheet_model_and_strain()
    model.use_stretch_response()
    assert model.stretch_response and model.network.config.outputs == 3
    assert [energy_of(model, a) for a in (sheet, strained)] == pytest.approx(before, abs=1e-12)
    last = model.network.head[-1]
    with torch.no_grad():
        last.weight[1:] = torch.randn_like(last.weight[1:]) * 0.3
    save_model(model, tmp_path / "response.pt")
    loaded = load_model(tmp_path / "response.pt").double()
    assert loaded.stretch_response
    assert energy_of(loaded, sheet) == pytest.approx(before[0], abs=1e-9)  # no stretch at Δ
    shift = energy_of(loaded, strained) - before[1]
    assert abs(shift) > 1e-3
    with torch.no_grad():
        loaded.network.head[-1].weight[1:] *= 2
    assert energy_of(loaded, strained) - before[1] == pytest.approx(2 * shift, rel=1e-9)
    _, inputs, *_ = next(loaded.groups(torch.tensor(sheet.positions), torch.tensor(sheet.numbers),
                                       torch.tensor(sheet.cell.array)[None],
                                       torch.zeros(len(sheet), dtype=torch.long), 1))
    with pytest.raises(ValueError, match="reads each frame's pixel stretch: call evaluate"):
        loaded.energy(loaded.images(*inputs), *inputs[1:2], *inputs[3:])  # no stretch given
    with pytest.raises(ValueError, match="a stretch response is for an any-cell model"):
        make_model().use_stretch_response()


def energy_of(model: EnergyModel, atoms: Atoms) -> float:
    """The model's energy (eV) of one structure."""
    with torch.no_grad():
        return model(torch.tensor(atoms.positions), torch.tensor(atoms.numbers),
                     torch.tensor(atoms.cell.array)[None],
                     torch.zeros(len(atoms), dtype=torch.long), 1).item()
