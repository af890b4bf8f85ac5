"""The paper's image of a structure, Eq. (1), in torch:

    V(p) = Σ_i Σ_T Z_i exp(-|p - r_i - T|² / (2σ²)),   σ = 0.2 Å,

summed over the atoms i and the lattice translations T, on a grid spanning the periodic cell:
pixel (i, j[, k]) samples the point (i/n₀, j/n₁[, k/n₂]) in fractional coordinates. 2D images use
the in-plane cell and drop z. Only the pixels within `cutoff`·σ of each atom are touched (the
Gaussian beyond 5.5σ is below 3e-7 of its peak), so the cost is O(atoms), not O(atoms × pixels).
Everything is differentiable with respect to positions and cell, batched over frames of any
atom count, on whatever device and dtype the positions have.
"""
from __future__ import annotations

import itertools
import math

import torch

SIGMA = 0.2  # Å, the paper's γ
CUTOFF = 5.5  # in units of σ


def window_half_widths(cells: torch.Tensor, grid: tuple[int, ...], sigma: float, cutoff: float) -> list[int]:
    """Pixels each side of an atom needed to reach `cutoff`·σ along every cell axis.

    The perpendicular height of axis k is 1/|b_k| (b_k the k-th reciprocal column), so a pixel
    step along k moves 1/(n_k |b_k|) Å across it; the widest cell of the batch decides.
    """
    with torch.no_grad():
        recip = torch.linalg.inv(cells).norm(dim=-2).amax(dim=0)  # [D] max |b_k| over frames
    return [math.ceil(cutoff * sigma * n * float(b)) for n, b in zip(grid, recip)]


def rasterize(positions: torch.Tensor, weights: torch.Tensor, cells: torch.Tensor,
              frame: torch.Tensor, n_frames: int, grid: tuple[int, ...],
              sigma: float = SIGMA, cutoff: float = CUTOFF) -> torch.Tensor:
    """Images [F, *grid] of `n_frames` frames.

    positions [A, D] Å (D = len(grid): 2 drops z, 3 keeps it), weights [A] (atomic numbers),
    cells [F, D, D] Å with the cell vectors as rows, frame [A] the frame each atom belongs to.
    """
    dim = len(grid)
    if positions.shape[-1] != dim or cells.shape[-2:] != (dim, dim):
        raise ValueError(f"a {dim}D grid needs positions [A, {dim}] and cells [F, {dim}, {dim}], "
                         f"got {tuple(positions.shape)} and {tuple(cells.shape)}")
    device, dtype = positions.device, positions.dtype
    n = torch.tensor(grid, device=device)
    atom_cell = cells[frame]  # [A, D, D]
    frac = torch.einsum("ad,ade->ae", positions, torch.linalg.inv(atom_cell))  # [A, D]
    base = torch.floor(frac.detach() * n).long()  # [A, D] pixel at or below each atom
    widths = window_half_widths(cells, grid, sigma, cutoff)
    offsets = torch.tensor(list(itertools.product(*(range(-w, w + 1) for w in widths))),
                           device=device)  # [W, D]
    pixel = base[:, None, :] + offsets[None]  # [A, W, D], unwrapped
    delta = pixel.to(dtype) / n - frac[:, None, :]  # fractional pixel - atom
    dist2 = torch.einsum("awd,ade->awe", delta, atom_cell).square().sum(-1)  # [A, W] Å²
    values = weights.to(dtype)[:, None] * torch.exp(-dist2 / (2 * sigma**2))
    wrapped = pixel % n  # periodic images fold onto the grid
    strides = torch.tensor([math.prod(grid[k + 1:]) for k in range(dim)], device=device)
    flat = frame[:, None] * math.prod(grid) + (wrapped * strides).sum(-1)  # [A, W]
    image = torch.zeros(n_frames * math.prod(grid), device=device, dtype=dtype)
    image = image.index_add(0, flat.reshape(-1), values.reshape(-1))
    return image.reshape(n_frames, *grid)
