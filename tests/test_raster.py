"""rasterize() against a brute-force sum of Eq. (1) over periodic images, its gradients,
periodicity and batching."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from ase_cnnas import raster
from ase_cnnas.raster import SIGMA, rasterize

BRUTE_RTOL = 1e-6  # of the image maximum: the 5.5σ cutoff drops < 3e-7 Z per atom and pixel
PERIODIC_ATOL = 1e-10  # float64, same atom one lattice vector away
BATCH_RTOL = 1e-6  # of the image maximum: a batch's window is the widest cell's (cutoff tail)
IMAGES = range(-2, 3)

CELL_2D = np.array([[3.0, 0.0], [1.1, 2.7]])  # non-orthogonal, rows are lattice vectors
CELL_3D = np.array([[2.6, 0.0, 0.0], [0.4, 2.4, 0.0], [0.3, -0.2, 2.2]])


def brute_force(positions: np.ndarray, weights: np.ndarray, cell: np.ndarray,
                grid: tuple[int, ...], sigma: float = SIGMA) -> np.ndarray:
    """Eq. (1) straight from its definition: every pixel, atom and image T = m·cell, |m| ≤ 2."""
    frac = np.stack(np.meshgrid(*[np.arange(n) / n for n in grid], indexing="ij"), axis=-1)
    points = frac @ cell  # [*grid, D] Å
    image = np.zeros(grid)
    for m in itertools.product(IMAGES, repeat=len(grid)):
        shift = np.array(m) @ cell
        for r, z in zip(positions, weights):
            d2 = ((points - r - shift) ** 2).sum(-1)
            image += z * np.exp(-d2 / (2 * sigma**2))
    return image


def raster_one(positions, weights, cell, grid, dtype=torch.float64) -> torch.Tensor:
    """One frame through rasterize(), returned as [*grid]."""
    pos = torch.as_tensor(np.asarray(positions), dtype=dtype)
    return rasterize(pos, torch.as_tensor(np.asarray(weights)),
                     torch.as_tensor(cell, dtype=dtype)[None],
                     torch.zeros(len(pos), dtype=torch.long), 1, tuple(grid))[0]


@pytest.mark.parametrize("cell, grid, frac", [
    (CELL_2D, (24, 20), [[0.1, 0.2], [0.55, 0.9], [0.98, 0.02], [-0.2, 1.3]]),
    (CELL_3D, (12, 12, 10), [[0.1, 0.2, 0.3], [0.7, 0.95, 0.5], [1.2, -0.1, 0.02]]),
], ids=["2d-oblique", "3d-triclinic"])
def test_matches_brute_force_sum_over_images(cell, grid, frac):
    positions = np.array(frac) @ cell  # some atoms deliberately outside the cell
    weights = np.array([6, 7, 5, 6][:len(positions)])
    expected = brute_force(positions, weights, cell, grid)
    got = raster_one(positions, weights, cell, grid).numpy()
    assert got.shape == grid
    assert expected.max() > 1.0  # the grid really samples the Gaussians
    np.testing.assert_allclose(got, expected, rtol=0, atol=BRUTE_RTOL * expected.max())


def test_pixel_origin_is_cell_origin():
    """Pixel (0, 0) samples fractional (0, 0): an atom at the origin peaks there with value Z."""
    image = raster_one([[0.0, 0.0]], [7], CELL_2D, (24, 20)).numpy()
    assert np.unravel_index(image.argmax(), image.shape) == (0, 0)
    assert image[0, 0] == pytest.approx(7.0, abs=1e-9)  # the periodic images are > 2.7 Å away


@pytest.mark.parametrize("cell, grid, frac_pixels", [
    (np.array([[1.6, 0.0], [0.3, 1.5]]), (8, 8), [[2.4, 5.6], [6.45, 1.3]]),
    (np.array([[1.4, 0.0, 0.0], [0.2, 1.3, 0.0], [0.0, 0.1, 1.2]]), (6, 6, 6), [[1.3, 4.6, 2.7]]),
], ids=["2d", "3d"])
def test_gradcheck_positions_and_cell(cell, grid, frac_pixels):
    # atoms well inside pixels: the window (and so the cutoff tail) must not move under ±eps
    frac = np.array(frac_pixels) / np.array(grid)
    positions = torch.tensor(frac @ cell, dtype=torch.float64, requires_grad=True)
    cells = torch.tensor(cell, dtype=torch.float64, requires_grad=True)[None]
    weights = torch.tensor([6, 7][:len(positions)])
    frame = torch.zeros(len(positions), dtype=torch.long)

    def f(p, c):
        return rasterize(p, weights, c, frame, 1, grid)

    assert torch.autograd.gradcheck(f, (positions, cells), eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("shift", [(-1, 0), (1, 0), (0, -1), (1, 1), (-2, 3)])
def test_lattice_translation_gives_same_image(shift):
    grid = (24, 20)
    r0 = np.array([0.97, 0.4]) @ CELL_2D  # close to the boundary: the copies sit across it
    moved = r0 + np.array(shift) @ CELL_2D
    a = raster_one([r0], [6], CELL_2D, grid).numpy()
    b = raster_one([moved], [6], CELL_2D, grid).numpy()
    assert a.max() > 1.0
    np.testing.assert_allclose(b, a, rtol=0, atol=PERIODIC_ATOL)


def test_atoms_across_boundary_equal_wrapped_copy():
    """A frame with atoms outside the cell equals the same frame after ase's wrap."""
    from ase import Atoms

    rng = np.random.default_rng(3)
    cell3 = np.eye(3) * 10.0
    cell3[:2, :2] = CELL_2D * 2
    frac = rng.uniform(-1.5, 2.5, (6, 2))
    atoms = Atoms("C6", positions=np.column_stack([frac @ cell3[:2, :2], np.zeros(6)]), cell=cell3,
                  pbc=(True, True, False))
    grid = (20, 16)
    raw = raster_one(atoms.positions[:, :2], atoms.numbers, cell3[:2, :2], grid).numpy()
    atoms.wrap()
    assert (atoms.get_scaled_positions()[:, :2] < 1).all()
    wrapped = raster_one(atoms.positions[:, :2], atoms.numbers, cell3[:2, :2], grid).numpy()
    np.testing.assert_allclose(raw, wrapped, rtol=0, atol=PERIODIC_ATOL)


@pytest.mark.parametrize("interleave", [False, True], ids=["contiguous", "interleaved"])
def test_batch_equals_frames_alone(interleave):
    grid = (16, 16)
    rng = np.random.default_rng(0)
    cell_a, cell_b = CELL_2D, np.array([[4.2, 0.0], [-0.8, 3.6]])
    pos_a, z_a = rng.uniform(0, 1, (3, 2)) @ cell_a, np.array([6, 7, 5])
    pos_b, z_b = rng.uniform(0, 1, (5, 2)) @ cell_b, np.array([5, 5, 6, 7, 7])
    positions = np.concatenate([pos_a, pos_b])
    numbers = np.concatenate([z_a, z_b])
    frame = np.array([0] * 3 + [1] * 5)
    if interleave:  # atoms of both frames mixed: only `frame` says who is where
        order = rng.permutation(len(frame))
        positions, numbers, frame = positions[order], numbers[order], frame[order]
    batch = rasterize(torch.tensor(positions), torch.tensor(numbers),
                      torch.tensor(np.stack([cell_a, cell_b])), torch.tensor(frame), 2,
                      grid).numpy()
    alone = [raster_one(pos_a, z_a, cell_a, grid).numpy(),
             raster_one(pos_b, z_b, cell_b, grid).numpy()]
    assert batch.shape == (2, *grid)
    for got, expected in zip(batch, alone):
        assert expected.max() > 1.0
        np.testing.assert_allclose(got, expected, rtol=0, atol=BATCH_RTOL * expected.max())
    assert not np.allclose(batch[0], batch[1])


def test_dtype_follows_positions():
    image = raster_one([[1.0, 1.0]], [6], CELL_2D, (8, 8), dtype=torch.float32)
    assert image.dtype == torch.float32
    ref = raster_one([[1.0, 1.0]], [6], CELL_2D, (8, 8), dtype=torch.float64)
    np.testing.assert_allclose(image.double().numpy(), ref.numpy(), atol=1e-5)


def test_empty_frame_is_zero():
    """A frame with no atoms in a batch stays all zeros."""
    image = rasterize(torch.tensor([[1.0, 1.0]], dtype=torch.float64), torch.tensor([6]),
                      torch.tensor(np.stack([CELL_2D, CELL_2D])), torch.tensor([1]), 2, (8, 8))
    assert image[0].abs().max() == 0
    assert image[1].max() > 1.0


@pytest.mark.parametrize("pos_dim, cell_shape, grid", [
    (3, (1, 3, 3), (8, 8)),  # 3D positions and cell on a 2D grid
    (2, (1, 3, 3), (8, 8)),  # 2D positions with a 3D cell
    (3, (1, 2, 2), (8, 8)),  # 3D positions with a 2D cell
    (2, (1, 2, 2), (8, 8, 8)),  # 2D inputs on a 3D grid
])
def test_wrong_shapes_raise(pos_dim, cell_shape, grid):
    positions = torch.zeros(2, pos_dim, dtype=torch.float64)
    cells = torch.eye(cell_shape[-1], dtype=torch.float64).expand(cell_shape) * 3
    with pytest.raises(ValueError, match=f"{len(grid)}D grid needs positions"):
        rasterize(positions, torch.tensor([6, 6]), cells, torch.zeros(2, dtype=torch.long), 1, grid)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(5)
    pos = torch.as_tensor(rng.uniform(0, 3, (7, 2)))
    weights, cell = torch.tensor([5, 6, 7, 6, 5, 7, 6]), torch.as_tensor(CELL_2D)[None]
    frame = torch.zeros(7, dtype=torch.long)
    cpu = rasterize(pos, weights, cell, frame, 1, (24, 24))
    gpu = rasterize(pos.cuda(), weights.cuda(), cell.cuda(), frame.cuda(), 1, (24, 24))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=1e-12)


def test_chunks_of_atoms_give_the_whole_image_and_gradient(monkeypatch):
    """Rasterized in chunks of a few atoms (each recomputed in the backward pass), a batch of two
    frames gives the same images and the same gradients in positions and cells."""
    rng = np.random.default_rng(4)
    cells = torch.tensor([[[6.0, 0.0], [1.0, 5.0]], [[5.0, 0.0], [0.0, 7.0]]],
                         dtype=torch.float64, requires_grad=True)
    positions = torch.tensor(rng.uniform(0, 5, (30, 2)), requires_grad=True)
    weights = torch.tensor(rng.choice([5, 6, 7], 30))
    frame = torch.tensor([0] * 13 + [1] * 17)
    probe = torch.tensor(rng.normal(size=(2, 24, 20)))

    def run():
        image = rasterize(positions, weights, cells, frame, 2, (24, 20))
        return (image,) + torch.autograd.grad((image * probe).sum(), (positions, cells))

    whole = run()
    monkeypatch.setattr(raster, "CHUNK_VALUES", 1000)  # a few atoms per chunk (W ≥ 121 here)
    chunked = run()
    for a, b in zip(chunked, whole):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12)
