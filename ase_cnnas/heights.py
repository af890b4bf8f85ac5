"""Each atom's height above its in-plane neighbours: what a 2D image needs to see a free-standing
sheet's ripples and buckling.

    u_i = Σ_j w(ρ_ij) (z_i − z_j) / (ε + Σ_j w(ρ_ij)),   w(ρ) = (1 − ρ²/ρ_c²)² for ρ < ρ_c,

ρ_ij the in-plane distance to neighbour j (periodic images included) and z_i − z_j the height
difference (the minimum image along the cell's third vector). Built from differences alone, u is
exactly invariant to a shift of the sheet along z, changes sign under the mirror z → −z, and is
smooth in the positions and the cell, so forces and stress through it are exact gradients.
Units: Å.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

RADIUS = 3.0  # Å: the first three neighbour shells of a honeycomb sheet (1.45, 2.51, 2.90 Å)
EPSILON = 1e-3  # keeps u of an atom without neighbours at 0


def _pairs_in_cell(xy: np.ndarray, cell: np.ndarray, radius: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, shift) of in_plane_pairs for one frame: in-plane positions [N, 2], the in-plane
    cell [2, 2] (rows). A k-d tree of the wrapped atoms queried against their periodic images
    within `radius` of the cell (as many as the cell's widths need: small cells see an atom's
    image several times)."""
    inverse = np.linalg.inv(cell)
    whole = np.floor(xy @ inverse)
    wrapped = xy - whole @ cell
    widths = abs(np.linalg.det(cell)) / np.linalg.norm(cell[::-1], axis=1)  # between opposite sides
    reach = np.ceil(radius / widths).astype(int)
    images = np.array([(a, b) for a in range(-reach[0], reach[0] + 1)
                       for b in range(-reach[1], reach[1] + 1)])
    tiled = (wrapped[None] + (images @ cell)[:, None]).reshape(-1, 2)
    found = cKDTree(wrapped).sparse_distance_matrix(cKDTree(tiled), radius,
                                                    output_type="ndarray")
    n = len(xy)
    i, k = found["i"].astype(np.int64), found["j"].astype(np.int64)
    j, image = k % n, images[k // n]
    keep = (i != j) | image.any(axis=1)
    i, j, image = i[keep], j[keep], image[keep]
    return i, j, (image + whole[i] - whole[j]).astype(np.int64)


def in_plane_pairs(positions: np.ndarray, cells: np.ndarray, frame: np.ndarray,
                   radius: float = RADIUS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (i, j) of atoms closer than `radius` in the plane, over the frames of a batch, and
    the in-plane lattice translation [P, 2] (whole cell vectors) that brings j next to i.

    positions [A, 3] Å, cells [F, 3, 3] Å, frame [A] the frame of each atom (sorted)."""
    pairs = []
    starts = np.searchsorted(frame, np.arange(len(cells) + 1))
    for f, cell in enumerate(cells):
        lo, hi = starts[f], starts[f + 1]
        i, j, shift = _pairs_in_cell(positions[lo:hi, :2], cell[:2, :2], radius)
        pairs.append((i + lo, j + lo, shift))
    i, j, shift = (np.concatenate(p) for p in zip(*pairs)) if pairs else ([],) * 3
    return (np.asarray(i, np.int64), np.asarray(j, np.int64),
            np.asarray(shift, np.int64).reshape(-1, 2))


def local_heights(positions: torch.Tensor, cells: torch.Tensor, frame: torch.Tensor,
                  pairs: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                  radius: float = RADIUS, power: int = 1) -> torch.Tensor:
    """u [A] (Å) for positions [A, 3] and cells [F, 3, 3] whose first two vectors lie in the
    plane, with `pairs` from in_plane_pairs (as tensors on the positions' device); with `power`
    2 the slope s [A] (Å²), the same weighted mean of (z_i − z_j)²: even under the mirror, and
    what a tilt changes where u, a curvature, stays zero."""
    i, j, shift = pairs
    cell = cells[frame[i]]  # [P, 3, 3]
    lattice = (shift.to(positions.dtype)[:, :, None] * cell[:, :2]).sum(1)  # [P, 3] Å
    delta = positions[j] + lattice - positions[i]  # [P, 3], from i to j's image
    rho2 = delta[:, :2].square().sum(-1)
    weight = (1 - rho2 / radius**2).clamp(min=0).square()
    period = cell[:, 2, 2]
    dz = -delta[:, 2]  # z_i − z_j
    dz = torch.where(period > 0, dz - period * torch.round(dz / period.clamp(min=1e-12)), dz)
    numerator = torch.zeros(len(positions), dtype=positions.dtype, device=positions.device)
    denominator = torch.full_like(numerator, EPSILON)
    return numerator.index_add(0, i, weight * dz**power) / denominator.index_add(0, i, weight)


HEIGHT_SCALE = 0.1  # Å: u in these units in the image, so its channels are of order one
SLAB_HALF = 0.4  # Å: a slab's outer layers sit at u = ±SLAB_HALF (an atom beyond is in them)


def atom_heights(positions: torch.Tensor, cells: torch.Tensor, frame: torch.Tensor,
                 radii: tuple[float, ...] = (RADIUS,), slopes: bool = False) -> torch.Tensor:
    """u [A] (Å) of positions [A, 3] Å in cells [F, 3, 3] Å (rows; the first two in the plane),
    its neighbour pairs found here; with several `radii` (at most RADIUS), u within each [A, R];
    with `slopes`, the slope s within RADIUS (Å²) as one more column."""
    i, j, shift = in_plane_pairs(positions.detach().cpu().numpy(), cells.detach().cpu().numpy(),
                                 frame.cpu().numpy(), max(radii))
    pairs = tuple(torch.as_tensor(a, device=positions.device) for a in (i, j, shift))
    cells = cells.to(positions.dtype)
    u = [local_heights(positions, cells, frame, pairs, r) for r in radii]
    u += [local_heights(positions, cells, frame, pairs, RADIUS, power=2)] if slopes else []
    return u[0] if len(u) == 1 else torch.stack(u, dim=1)


def height_weights(positions: torch.Tensor, numbers: torch.Tensor, cells: torch.Tensor,
                   frame: torch.Tensor, layers: int = 0, near: float = 0.0,
                   slopes: bool = False) -> torch.Tensor:
    """Per-atom weights of the image channels, for positions [A, 3] Å and cells [F, 3, 3] Å:
    Z · (1, u/h₀, (u/h₀)²) [A, 3], with `near` R > 0 also Z · (u_R/h₀, (u_R/h₀)²) [A, 5] of the
    height above the neighbours within R alone (a per-atom energy in u weighs the neighbour
    shells in fixed proportions; u_R lets it weigh the nearest apart); or, with `layers` K > 0,
    a thin slab of K layers of u, Z · φ_k(u) [A, K], φ_k soft bins centred at K heights evenly
    spread over ±SLAB_HALF that sum to one (the layers of a flat sheet add up to its flat image;
    the mirror reverses them). With `slopes`, Z · s/h₀² of the slope s last."""
    z = numbers.to(positions.dtype)
    if not layers:
        radii = (RADIUS, near) if near else (RADIUS,)
        u = atom_heights(positions, cells, frame, radii, slopes).reshape(len(z), -1)
        heights, slope = (u[:, :-1], u[:, -1:]) if slopes else (u, u[:, :0])
        heights = heights / HEIGHT_SCALE
        return torch.cat([z[:, None], *[z[:, None] * torch.stack([v, v.square()], dim=1)
                                        for v in heights.unbind(1)],
                          z[:, None] * slope / HEIGHT_SCALE**2], dim=1)
    u = atom_heights(positions, cells, frame)
    centres = torch.linspace(-SLAB_HALF, SLAB_HALF, layers, dtype=u.dtype, device=u.device)
    width = 2 * SLAB_HALF / max(layers - 1, 1)
    return z[:, None] * torch.softmax(-((u[:, None] - centres) / width).square() / 2, dim=1)
