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

import functools
import math

import torch
from torch.utils.checkpoint import checkpoint

SIGMA = 0.2  # Å, the paper's γ
CUTOFF = 5.5  # in units of σ
CHUNK_VALUES = 2**26  # Gaussian values per chunk of atoms (~4 GB of intermediates), for 10⁷ atoms


def window_half_widths(inverse: torch.Tensor, grid: tuple[int, ...], sigma: float, cutoff: float
                       ) -> list[int]:
    """Pixels each side of an atom needed to reach `cutoff`·σ along every cell axis, from the
    cells' inverses [F, D, D].

    The perpendicular height of axis k is 1/|b_k| (b_k the k-th reciprocal column), so a pixel
    step along k moves 1/(n_k |b_k|) Å across it; the widest cell of the batch decides.
    """
    with torch.no_grad():
        recip = inverse.norm(dim=-2).amax(dim=0).tolist()  # [D] max |b_k| over frames
    return [math.ceil(cutoff * sigma * n * b) for n, b in zip(grid, recip)]


@functools.lru_cache(maxsize=64)
def _window(widths: tuple[int, ...], grid: tuple[int, ...], device: torch.device
            ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor]:
    """An atom's window: its pixel offsets [W, D] (W = Π_k (2w_k + 1), the last axis fastest),
    the offsets along each axis, and the grid [D]; made once per shape, not on every call (they
    cost more than the Gaussians on small cells)."""
    ranges = tuple(torch.arange(-w, w + 1, device=device) for w in widths)
    offsets = torch.cartesian_prod(*ranges).reshape(-1, len(grid))
    return offsets, ranges, torch.tensor(grid, device=device)


def rasterize(positions: torch.Tensor, weights: torch.Tensor, cells: torch.Tensor,
              frame: torch.Tensor, n_frames: int, grid: tuple[int, ...],
              sigma: float = SIGMA, cutoff: float = CUTOFF) -> torch.Tensor:
    """Images [F, *grid] of `n_frames` frames, or [F, C, *grid] for weights [A, C] (C channels,
    each atom's Gaussian weighted by its own value in each).

    positions [A, D] Å (D = len(grid): 2 drops z, 3 keeps it), weights [A] (atomic numbers),
    cells [F, D, D] Å with the cell vectors as rows, frame [A] the frame each atom belongs to.
    """
    dim = len(grid)
    if positions.shape[-1] != dim or cells.shape[-2:] != (dim, dim):
        raise ValueError(f"a {dim}D grid needs positions [A, {dim}] and cells [F, {dim}, {dim}], "
                         f"got {tuple(positions.shape)} and {tuple(cells.shape)}")
    if weights.dim() == 1:
        return rasterize(positions, weights[:, None], cells, frame, n_frames, grid, sigma,
                         cutoff)[:, 0]
    inverse = torch.linalg.inv(cells)  # [F, D, D]
    widths = window_half_widths(inverse, grid, sigma, cutoff)
    window = _window(tuple(widths), tuple(grid), positions.device)
    step = max(CHUNK_VALUES // (len(window[0]) * weights.shape[1]), 1)  # atoms per chunk
    if len(positions) <= step:
        return _splat(positions, weights, frame, cells, inverse, window, n_frames, grid, sigma)
    image = 0  # chunk by chunk, each recomputed in the backward pass: memory of one chunk
    for a in range(0, len(positions), step):
        args = (positions[a:a + step], weights[a:a + step], frame[a:a + step], cells, inverse,
                window, n_frames, grid, sigma)
        image = image + (checkpoint(_splat, *args, use_reentrant=False)
                         if torch.is_grad_enabled() else _splat(*args))
    return image


def _splat(positions: torch.Tensor, weights: torch.Tensor, frame: torch.Tensor,
           cells: torch.Tensor, inverse: torch.Tensor,
           window: tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor], n_frames: int,
           grid: tuple[int, ...], sigma: float) -> torch.Tensor:
    """The images [F, C, *grid] of these atoms alone (rasterize's work for one chunk), weights
    [A, C].

    Pixel minus atom, in Å, is (base pixel − atom) + window offset, each through its frame's cell:
    the [A, W, D] work is one add, and the indices wrap per axis ([A, 2w + 1]) before they are
    combined; D ≤ 3, so the small products are written out instead of batched matmuls."""
    offsets, ranges, n = window
    dtype = positions.dtype
    with torch.no_grad():  # the pixel at or below each atom [A, D]
        frac = (positions[:, :, None] * inverse[frame]).sum(1)
        base = torch.floor(frac * n).long()
    atom_cell = cells[frame]  # [A, D, D]
    lead = ((base.to(dtype) / n)[:, :, None] * atom_cell).sum(1) - positions  # [A, D] Å
    steps = ((offsets.to(dtype) / n)[None, :, :, None] * cells[:, None]).sum(2)  # [F, W, D] Å
    dist2 = (lead[:, None, :] + steps[frame]).square().sum(-1)  # [A, W] Å²
    channels, pixels = weights.shape[1], math.prod(grid)
    values = weights.to(dtype)[:, :, None] * torch.exp(dist2 / (-2 * sigma**2))[:, None]
    flat = (frame * channels * pixels).reshape(-1, *[1] * len(grid))  # [A, 1, …]
    for k, r in enumerate(ranges):  # periodic fold, axis by axis
        index = (base[:, k, None] + r) % grid[k] * math.prod(grid[k + 1:])  # [A, 2w_k + 1]
        flat = flat + index.reshape(-1, *[1] * k, len(r), *[1] * (len(grid) - k - 1))
    flat = flat.reshape(len(flat), 1, -1) + pixels * torch.arange(channels, device=flat.device
                                                                  )[:, None]  # [A, C, W]
    image = torch.zeros(n_frames * channels * pixels, device=positions.device, dtype=dtype)
    return image.index_add(0, flat.reshape(-1), values.reshape(-1)).reshape(n_frames, channels,
                                                                            *grid)
