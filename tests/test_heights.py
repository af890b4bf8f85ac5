"""Height channels and height slabs: local heights, their invariances, and models that see z
exactly, with forces equal to finite differences of their energy in all three components."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import graphene
from conftest import DENSE, ELEMENT_ENERGY, GRID

from ase_cnnas.cells import rectangle
from ase_cnnas.heights import (
    HEIGHT_SCALE,
    RADIUS,
    height_weights,
    in_plane_pairs,
    local_heights,
)
from ase_cnnas.model import EnergyModel
from ase_cnnas.networks import (
    CNNAS,
    network2_config,
    with_heights,
    with_near_heights,
    with_odd_kernel,
    with_slopes,
)
from ase_cnnas.raster import rasterize
from ase_cnnas.sheets import build_sheet

EXACT = 1e-10  # eV: invariances that hold exactly (float64, up to rounding)
FD_STEP, FD_RTOL = 1e-4, 1e-5  # Å; central differences against autograd


def heights(atoms) -> np.ndarray:
    pos = torch.tensor(atoms.positions)
    cell = torch.tensor(atoms.cell.array)[None]
    frame = torch.zeros(len(atoms), dtype=torch.long)
    pairs = tuple(map(torch.as_tensor, in_plane_pairs(atoms.positions, cell.numpy(),
                                                      frame.numpy())))
    return local_heights(pos, cell, frame, pairs).numpy()


def rippled(structure="hbn_vacancy", amplitude=0.08, seed=1):
    atoms = build_sheet(structure)
    atoms.positions += np.random.default_rng(seed).normal(0, amplitude, atoms.positions.shape)
    return atoms


def test_flat_sheet_has_no_heights():
    assert np.abs(heights(build_sheet("graphene_vacancy"))).max() < 1e-15


def test_one_atom_raised():
    """A raised atom stands its full height above its neighbours (up to ε), and each
    neighbour lies below by its share of that atom's weight."""
    atoms = build_sheet("graphene_pristine")
    atoms.positions[7, 2] = 0.3
    u = heights(atoms)
    assert u[7] == pytest.approx(0.3, rel=1e-3)
    flat = atoms.copy()
    flat.positions[:, 2] = 0
    rho = flat.get_distances(7, range(len(atoms)), mic=True)  # in-plane distances
    far = rho > RADIUS
    assert np.all(u[far] == 0) and np.all(u[~far & (rho > 0)] < 0)


def test_heights_any_cell_and_wrap_along_z():
    """The same sheet in its hexagonal cell and its rectangular supercell gives the same
    heights, and a sheet wrapped across a periodic z boundary gives the unwrapped ones."""
    hexagonal = graphene("BN", a=2.506, size=(4, 4, 1), vacuum=5)
    hexagonal.positions[:, 2] += np.random.default_rng(2).normal(0, 0.1, len(hexagonal))
    u = heights(hexagonal)
    wrapped = hexagonal.copy()
    wrapped.pbc = True
    wrapped.positions[:, 2] -= wrapped.positions[:, 2].mean()
    wrapped.wrap()
    assert np.ptp(wrapped.positions[:, 2]) > 5  # some atoms now sit at the top of the cell
    np.testing.assert_allclose(heights(wrapped), u, atol=1e-12)
    double = hexagonal.repeat((2, 1, 1))
    np.testing.assert_allclose(heights(double), np.tile(u, 2), atol=1e-12)


def test_rasterize_channels_match_one_by_one():
    atoms = rippled()
    pos, frame = torch.tensor(atoms.positions[:, :2]), torch.zeros(len(atoms), dtype=torch.long)
    cell = torch.tensor(atoms.cell.array[:2, :2])[None]
    weights = torch.tensor(np.random.default_rng(3).normal(size=(len(atoms), 3)))
    images = rasterize(pos, weights, cell, frame, 1, GRID)
    assert images.shape == (1, 3, *GRID)
    for c in range(3):
        alone = rasterize(pos, weights[:, c], cell, frame, 1, GRID)
        torch.testing.assert_close(images[:, c], alone)


SLAB = 4  # layers of the slab models tested beside the (Z, Zu, Zu²) channels
RIPPLE = {0: 0.08, SLAB: 0.25}  # Å: a slab's layers are 0.27 Å apart, so it sees larger ripples
SEES_Z = {0: 1e-3, SLAB: 1e-4}  # eV: the least change of a random model's energy as the sheet
# is flattened (a random slab reads z more weakly than u/h₀ of order one); far above EXACT


NEAR = 2.0  # Å: the near heights tested, the first shell's
ODD = 7  # pixels: the wide odd kernel tested (0.8 Å a pixel here: it spans a bond)


def height_model(layers: int = 0, near: float = 0.0, odd: int = 0,
                 slopes: bool = False) -> EnergyModel:
    """A tiny float64 model whose height weights are far from zero, so that z matters."""
    torch.manual_seed(4)
    config = network2_config(GRID, dense=DENSE, activation="silu", padding="circular",
                             head="pixel", heights=True, height_layers=layers, near_heights=near,
                             odd_kernel=odd, slopes=slopes)
    model = EnergyModel(config, cell=build_sheet("graphene_pristine").cell.array,
                        element_energy=ELEMENT_ENERGY, energy_scale=0.05, image_scale=1 / 7)
    torch.nn.init.normal_(model.network.head[-1].weight, std=0.3)  # not the zero start
    return model.double().eval()


def energy_forces(model, atoms, forces=False):
    pos = torch.tensor(atoms.positions, requires_grad=forces)
    energy = model(pos, torch.tensor(atoms.numbers), torch.tensor(atoms.cell.array)[None],
                   torch.zeros(len(atoms), dtype=torch.long), 1)
    if not forces:
        return energy.item()
    return energy.item(), -torch.autograd.grad(energy.sum(), pos)[0].numpy()


# (layers, near, odd, slopes): channels, a slab, near heights, a wide odd kernel, slopes
VARIANTS = [(0, 0.0, 0, False), (SLAB, 0.0, 0, False), (0, NEAR, 0, False), (0, 0.0, ODD, False),
            (0, 0.0, ODD, True)]


@pytest.mark.parametrize("layers, near, odd, slopes", VARIANTS)
def test_model_invariant_to_z_shift_mirror_and_whole_pixel_shift(layers, near, odd, slopes):
    model, atoms = height_model(layers, near, odd, slopes), rippled(amplitude=RIPPLE[layers])
    e0 = energy_forces(model, atoms)
    moved = [atoms.copy() for _ in range(3)]
    moved[0].positions[:, 2] += 3.7
    moved[1].positions[:, 2] *= -1
    moved[2].positions[:, :2] += atoms.cell.array[0, :2] * 2 / GRID[0]  # whole output pixel
    for other in moved:
        assert energy_forces(model, other) == pytest.approx(e0, abs=EXACT)
    flat = atoms.copy()
    flat.positions[:, 2] = 0
    assert abs(energy_forces(model, flat) - e0) > SEES_Z[layers]  # and it does see z


@pytest.mark.parametrize("layers, near, odd, slopes", VARIANTS)
def test_forces_equal_finite_differences_in_all_three_components(layers, near, odd, slopes):
    model, atoms = height_model(layers, near, odd, slopes), rippled(amplitude=RIPPLE[layers])
    _, forces = energy_forces(model, atoms, forces=True)
    assert np.abs(forces[:, 2]).max() > 10 * SEES_Z[layers]
    for i, k in [(3, 2), (10, 0), (20, 2), (41, 1), (55, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[i, k] += FD_STEP
        minus.positions[i, k] -= FD_STEP
        numeric = -(energy_forces(model, plus) - energy_forces(model, minus)) / (2 * FD_STEP)
        assert forces[i, k] == pytest.approx(numeric, rel=FD_RTOL, abs=1e-7)


@pytest.mark.parametrize("layers, tolerance", [(0, EXACT), (SLAB, 1e-3)])
def test_with_heights_starts_from_the_flat_network(layers, tolerance):
    """A flat network given height channels computes its old energy on flat sheets (exactly;
    a slab within its small starting noise) and nearly so on rippled ones, and is exactly
    mirror-invariant from the start."""
    torch.manual_seed(5)
    cell = build_sheet("graphene_pristine").cell.array
    flat = EnergyModel(network2_config(GRID, dense=DENSE, activation="silu"), cell=cell,
                       element_energy=ELEMENT_ENERGY, energy_scale=0.05).double().eval()
    deep = EnergyModel(network2_config(GRID, dense=DENSE, activation="silu", heights=True,
                                       height_layers=layers),
                       cell=cell, element_energy=ELEMENT_ENERGY, energy_scale=0.05).double()
    deep.network = with_heights(flat.network, layers=layers)
    sheet, bumpy = build_sheet("hbn_vacancy"), rippled()
    e_flat = energy_forces(flat, sheet)
    assert energy_forces(deep, sheet) == pytest.approx(e_flat, abs=tolerance)
    assert energy_forces(deep, sheet) != pytest.approx(e_flat, abs=EXACT) or not layers
    assert energy_forces(deep, bumpy) == pytest.approx(energy_forces(flat, bumpy),
                                                       abs=max(tolerance, 1e-5))
    mirrored = bumpy.copy()
    mirrored.positions[:, 2] *= -1
    assert energy_forces(deep, mirrored) == pytest.approx(energy_forces(deep, bumpy), abs=EXACT)
    with pytest.raises(ValueError, match="height channels already"):
        with_heights(deep.network)


def test_near_heights_weigh_the_first_shell_apart_and_start_from_the_network():
    """u within 2 Å is an atom's height above its three nearest neighbours alone, so the ZO
    pattern (the sublattices opposite, ±h) gives u = 2h where u within 3 Å gives less; a network
    given near heights starts within its small odd weights of its energy, mirror-invariant."""
    atoms = graphene("CC", a=2.506, size=(3, 3, 1), vacuum=5)  # the 2-atom cell repeated
    site_a = np.arange(len(atoms)) % 2 == 0
    zo = atoms.copy()
    zo.positions[:, 2] = np.where(site_a, 0.01, -0.01)
    weights = height_weights(torch.tensor(zo.positions), torch.tensor(zo.numbers),
                             torch.tensor(zo.cell.array)[None],
                             torch.zeros(len(zo), dtype=torch.long), near=NEAR)
    u_far, u_near = (weights[:, k] / weights[:, 0] * HEIGHT_SCALE for k in (1, 3))
    assert weights.shape == (len(zo), 5)
    np.testing.assert_allclose(u_near, np.where(site_a, 0.02, -0.02), rtol=2e-3)  # ε of 0.68
    assert (u_far.abs() < 0.016).all() and (u_far.abs() > 0.013).all()
    np.testing.assert_allclose(weights[:, 4], weights[:, 3].square() / weights[:, 0], rtol=1e-12)
    model, bumpy = height_model(), rippled()
    near = height_model(near=NEAR)
    near.network = with_near_heights(model.network, NEAR)
    e0 = energy_forces(model, bumpy)
    assert energy_forces(near, bumpy) == pytest.approx(e0, abs=1e-3 * abs(e0) + 1e-4)
    assert energy_forces(near, bumpy) != pytest.approx(e0, abs=EXACT)  # the new odd weights
    mirrored = bumpy.copy()
    mirrored.positions[:, 2] *= -1
    assert energy_forces(near, mirrored) == pytest.approx(energy_forces(near, bumpy), abs=EXACT)
    with pytest.raises(ValueError, match="no near heights yet"):
        with_near_heights(near.network, NEAR)


def two_heights(sign: float) -> torch.Tensor:
    """Image channels (V, u, u²) [1, 3, *GRID] of two one-pixel atoms 4 pixels apart in a row,
    at heights u = 1 and `sign`."""
    image = torch.zeros(1, 3, *GRID, dtype=torch.float64)
    for column, u in ((4, 1.0), (8, sign)):
        image[0, :, 6, column] = torch.tensor([1.0, u, u * u])
    return image


def test_a_wide_odd_kernel_sees_the_relative_sign_of_neighbouring_heights():
    """The stem is even in the u of what one odd window sees: with the 3-pixel kernel no window
    holds both atoms, so heights (1, 1) and (1, −1) give the same energy, exactly; a kernel that
    spans both tells them apart. with_odd_kernel keeps the network's function."""
    narrow, wide = (height_model(odd=odd).network.eval() for odd in (0, ODD))
    for network, same in ((narrow, True), (wide, False)):
        with torch.no_grad():
            alike, opposite = (network(two_heights(sign)).item() for sign in (1.0, -1.0))
        assert (alike == pytest.approx(opposite, abs=EXACT)) is same
    widened = with_odd_kernel(narrow, ODD).eval()
    assert isinstance(widened, CNNAS) and widened.config.odd_kernel == ODD
    assert widened.receptive_field[0] == narrow.receptive_field[0] + ODD - 3
    with torch.no_grad():
        for sign in (1.0, -1.0):
            assert widened(two_heights(sign)).item() == pytest.approx(
                narrow(two_heights(sign)).item(), abs=EXACT)
    with pytest.raises(ValueError, match="wider than its present odd kernel"):
        with_odd_kernel(widened, ODD)


def test_the_slope_channel_is_the_mean_squared_height_difference_and_starts_at_zero():
    """In the ZO pattern (sublattices at ±δ) every neighbour that differs does so by 2δ, so the
    slope s = Σ w (z_i − z_j)² / Σ w is 2δ times u (the same weights on 2δ); s is even under
    the mirror and blind to a shift. A network given the channel computes what it did, exactly,
    and a second one is refused."""
    atoms = graphene("CC", a=2.506, size=(3, 3, 1), vacuum=5)
    site_a = np.arange(len(atoms)) % 2 == 0
    delta = 0.01

    def weights(z):
        return height_weights(torch.tensor(np.c_[atoms.positions[:, :2], z]),
                              torch.tensor(atoms.numbers), torch.tensor(atoms.cell.array)[None],
                              torch.zeros(len(atoms), dtype=torch.long), slopes=True)

    zo = weights(np.where(site_a, delta, -delta))
    u, s = zo[:, 1] / zo[:, 0] * HEIGHT_SCALE, zo[:, 3] / zo[:, 0] * HEIGHT_SCALE**2
    assert zo.shape == (len(atoms), 4)
    np.testing.assert_allclose(s, 2 * delta * u.abs(), rtol=1e-12)
    np.testing.assert_allclose(weights(np.where(site_a, 2.3 - delta, 2.3 + delta))[:, 3],
                               zo[:, 3], rtol=1e-12)
    model, bumpy = height_model(odd=ODD), rippled()
    sloped = height_model(odd=ODD, slopes=True)
    sloped.network = with_slopes(model.network).eval()
    assert sloped.network.config.slopes
    assert energy_forces(sloped, bumpy) == pytest.approx(energy_forces(model, bumpy), abs=EXACT)
    with pytest.raises(ValueError, match="no slope channel yet"):
        with_slopes(sloped.network)


def test_summary_of_a_sheet_model_is_what_it_saw():
    """evaluate(describe=True) reports from the images it scored what summary() finds anew: the
    largest height is the largest |u|, the spacing that of the cell's own grid."""
    from conftest import make_sheet_model

    model, atoms = make_sheet_model(), rippled("hbn_vacancy@hex4")
    inputs = (torch.tensor(atoms.positions), torch.tensor(atoms.numbers),
              torch.tensor(atoms.cell.array)[None], torch.zeros(len(atoms), dtype=torch.long), 1)
    energy, seen = model.evaluate(*inputs, describe=True)
    assert energy.item() == pytest.approx(model(*inputs).item(), abs=EXACT)
    again = model.summary(*inputs)
    assert seen.keys() == again.keys() == {"image_peak", "height", "spacing_min", "spacing_max"}
    for key in seen:
        np.testing.assert_allclose(seen[key], again[key], rtol=1e-12)
    assert seen["height"][0] == pytest.approx(np.abs(heights(atoms)).max(), rel=1e-9)
    sides = rectangle(atoms.cell.array).diagonal()[:2]  # the grid spans this rectangle
    pixels = sorted(sides / np.array([seen["spacing_max"][0], seen["spacing_min"][0]]))
    for n in pixels:  # whole pixels, in whole blocks of the network's reduction
        assert n == pytest.approx(round(n), abs=1e-9) and round(n) % model.multiple == 0
    assert abs(seen["spacing_min"][0] / model.spacing.min() - 1) < 0.5


def test_a_slab_adds_up_to_the_flat_image_and_the_mirror_reverses_it():
    """A slab's layer weights sum to Z, the mirror z → −z reverses the layers, and the summary
    of a slab model reports the largest |u| as the channel model does."""
    from conftest import make_sheet_model

    atoms = rippled("hbn_vacancy@hex4", amplitude=0.15)
    mirrored = atoms.copy()
    mirrored.positions[:, 2] *= -1

    def weights(a):
        return height_weights(torch.tensor(a.positions), torch.tensor(a.numbers),
                              torch.tensor(a.cell.array)[None],
                              torch.zeros(len(a), dtype=torch.long), layers=5)
    w = weights(atoms)
    torch.testing.assert_close(w.sum(1), torch.tensor(atoms.numbers, dtype=w.dtype))
    torch.testing.assert_close(weights(mirrored), w.flip(1))
    assert (w.amax(1) / w.sum(1)).min() < 0.9  # the atoms spread over the layers
    model = make_sheet_model(height_layers=SLAB)
    seen = model.summary(torch.tensor(atoms.positions), torch.tensor(atoms.numbers),
                         torch.tensor(atoms.cell.array)[None],
                         torch.zeros(len(atoms), dtype=torch.long), 1)
    assert seen["height"][0] == pytest.approx(np.abs(heights(atoms)).max(), rel=1e-9)
    assert seen["image_peak"][0] == pytest.approx(
        make_sheet_model().summary(torch.tensor(atoms.positions), torch.tensor(atoms.numbers),
                                   torch.tensor(atoms.cell.array)[None],
                                   torch.zeros(len(atoms), dtype=torch.long), 1)["image_peak"][0],
        rel=1e-9)
