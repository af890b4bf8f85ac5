"""Any periodic sheet cell as the (near-)rectangle a model's grid spans: rotated so that its first
vector lies along x, and, when oblique, replaced by a supercell that is orthogonal.

Every 2D lattice whose second vector projects onto the first at a rational fraction p/q of its
length (q ≤ MAX_COPIES) has the orthogonal supercell (a, p·a + q·b) of q cells: a hexagonal cell
(120° or 60°) has (a, a + 2b), with twice the atoms. The supercell's energy is q times the cell's,
and its atoms are q images of each atom, so the cell's energy, forces and stress follow exactly
from it (done in torch, so autograd carries them back). A cell sheared a little off such a
lattice (a stress calculation, MD with a variable cell) keeps the same supercell, a little off
orthogonal: the grid follows the cell's vectors, so the energy stays smooth. A side shorter than
MIN_SIDE is repeated until it is not (a 2-atom cell becomes a 4 × 3 supercell of its rectangle),
exactly so. Units: Å.
"""
from __future__ import annotations

import numpy as np
import torch

MAX_COPIES = 6  # largest supercell tried for an oblique cell
MAX_SHEAR = 0.05  # |cos| of the angle between a and p·a + q·b up to which the pair will do (~3°)
IN_PLANE = 1e-6  # Å: a and b must lie in the xy plane, c along z
MIN_SIDE = 9.0  # Å: shorter sides are repeated up to at least this (the paper's cell: 12.5 Å)
MATCH = 0.01  # a side is repeated further until its pixels are within this of the model's...
MATCH_SIDE = 40.0  # Å: ...while the repeated side stays below this (at MATCH; see match_side)


class CellError(ValueError):
    """A cell that no sheet model can take (not a sheet's cell, or an oblique one with no small
    orthogonal supercell)."""


def supercell_factor(cell: np.ndarray) -> tuple[int, int]:
    """(p, q) such that p·a + q·b is orthogonal to a (within MAX_SHEAR), with the smallest
    q ≤ MAX_COPIES ((0, 1) for a rectangular cell); CellError naming the fix where there is none."""
    a, b = np.asarray(cell, float)[0, :2], np.asarray(cell, float)[1, :2]
    length = np.linalg.norm(a)
    along = a @ b / length  # b's projection onto a, Å
    for q in range(1, MAX_COPIES + 1):
        p = -round(q * along / length)
        second = p * a + q * b
        if abs(a @ second) < MAX_SHEAR * length * np.linalg.norm(second):
            return p, q
    raise CellError(f"the cell's in-plane vectors {np.round(cell[:2, :2], 4).tolist()} Å have no "
                    f"orthogonal supercell of up to {MAX_COPIES} cells: give the sheet in a "
                    "rectangular or hexagonal cell (ase.build.make_supercell can build one)")


def rectangle(cell: np.ndarray) -> np.ndarray:
    """The orthogonal cell [3, 3] that `canonical` makes of `cell`: |a| along x, |p·a + q·b|
    along y (each repeated up to MIN_SIDE), the height along z (what fixes an any-cell model's
    pixel spacing)."""
    cell = np.asarray(cell, float)
    p, q = supercell_factor(cell)
    sides = np.array([np.linalg.norm(cell[0]), np.linalg.norm(p * cell[0] + q * cell[1])])
    sides *= repeats(torch.as_tensor(sides)).numpy()
    return np.diag([*sides, cell[2, 2]])


def check_sheet_cell(cell: np.ndarray, pbc: np.ndarray) -> tuple[int, int]:
    """supercell_factor of a sheet's cell; CellError naming the fix if it is not one: periodic
    along a and b, both in the xy plane, c along z (or absent where z is not periodic)."""
    cell, pbc = np.asarray(cell, float), np.asarray(pbc, bool)
    if not pbc[:2].all():
        raise CellError(f"a sheet model needs a cell periodic along its first two vectors, and "
                        f"these atoms have pbc={tuple(pbc.tolist())}: set atoms.pbc = (True, True, "
                        "False) and give the cell vectors a and b that span the sheet")
    if np.linalg.norm(np.cross(cell[0], cell[1])) < 1e-6:
        raise CellError("the cell's first two vectors are parallel or zero: give the two "
                        "in-plane lattice vectors of the sheet")
    if np.abs(cell[:2, 2]).max() > IN_PLANE or np.abs(cell[2, :2]).max() > IN_PLANE:
        raise CellError(f"a sheet model wants the sheet in the xy plane: cell vectors a and b in "
                        f"it and c along z, not {np.round(cell, 4).tolist()} Å; rotate the "
                        "structure (atoms.rotate) or rebuild the cell so that it is")
    return supercell_factor(cell)


def canonical(positions: torch.Tensor, numbers: torch.Tensor, cells: torch.Tensor,
              frame: torch.Tensor, factors: list[tuple[int, int]],
              steps: tuple[float, float] | None = None, tolerance: float = MATCH,
              rng: np.random.Generator | None = None
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Frames rotated about z so that a lies along x and made rectangular (and at least MIN_SIDE
    a side; with `steps`, repeated as `repeats` says, with `rng` as it draws): positions [A', 3],
    numbers [A'], cells [F, 3, 3] (a along x, the second vector along y up to the cell's shear),
    frame [A'] and copies [F] (the supercell's size in cells: divide its energy by it).
    `factors` [F] from supercell_factor."""
    a = cells[:, 0, :2]
    length = a.norm(dim=-1)
    cos, sin = a[:, 0] / length, a[:, 1] / length
    zero, one = torch.zeros_like(cos), torch.ones_like(cos)
    rotation = torch.stack([torch.stack([cos, -sin, zero], -1), torch.stack([sin, cos, zero], -1),
                            torch.stack([zero, zero, one], -1)], -2)  # [F, 3, 3]: r @ R has a ∥ x
    cells = cells @ rotation
    positions = (positions[:, None, :] @ rotation[frame])[:, 0]
    p, q = (torch.tensor(column, dtype=cells.dtype, device=cells.device)
            for column in zip(*factors))
    a, b = cells[:, 0], cells[:, 1]
    second = p[:, None] * a + q[:, None] * b
    second = second * torch.sign(second[:, 1:2])  # a right-handed rectangle
    along_a, along_b = (repeats(side, None if steps is None else step, tolerance, rng)
                        for side, step in
                        zip((a.detach().norm(dim=-1), second.detach().norm(dim=-1)),
                            steps or (None, None)))
    cells = torch.stack([along_a[:, None] * a, along_b[:, None] * second, cells[:, 2]], 1)
    copies = (q * along_a * along_b).long()
    if bool((copies == 1).all()):
        return positions, numbers, cells, frame, copies.to(cells.dtype)
    # images of each atom: moved by i·a + j·b, i < along_a, j < q·along_b (distinct in the
    # supercell, which is along_a·along_b·q cells)
    per_atom = copies[frame]
    index = torch.repeat_interleave(torch.arange(len(frame), device=frame.device), per_atom)
    first = torch.cumsum(per_atom, 0) - per_atom
    k = torch.arange(len(index), device=frame.device) - first[index]
    rows = (q * along_b).long()[frame[index]]
    i, j = k // rows, k % rows
    shift = (i.to(cells.dtype)[:, None] * a[frame[index]]
             + j.to(cells.dtype)[:, None] * b[frame[index]])
    return positions[index] + shift, numbers[index], cells, frame[index], copies.to(cells.dtype)


def whole_steps(length: np.ndarray | float, step: float) -> np.ndarray:
    """How many whole steps of `step` Å a length (Å) is laid on: the nearest number, at least
    one. An any-cell model's grid and the side repeats that match its pixels both count so."""
    return np.maximum(np.round(np.asarray(length) / step), 1)


def match_side(tolerance: float) -> float:
    """The longest repeated side (Å) searched for pixels within `tolerance`: MATCH_SIDE at
    MATCH, longer as √(MATCH/tolerance) for a tighter match (more candidates to choose from)."""
    return MATCH_SIDE * (MATCH / tolerance) ** 0.5


def repeats(side: torch.Tensor, step: float | None = None, tolerance: float = MATCH,
            rng: np.random.Generator | None = None) -> torch.Tensor:
    """How many times sides [F] of `side` Å are repeated so that the grid spans at least
    MIN_SIDE: a small cell becomes its supercell (exact for a periodic crystal), so that the
    image is as fine and as large as those the model learnt from, not a few distorted pixels.
    With `step`, the Å that one network period (a whole number of pixels) spans, a side is
    repeated further, up to match_side(tolerance), until a whole number of steps spans it
    within `tolerance`: the model lays a side on whole steps, so a side between them is seen
    rescaled (strained, to the network, by the mismatch). With `rng`, at random the fewest
    repeats within `tolerance` or the fewest of those that are no multiple of it (training: the
    same sheet on two grids, its lengths seen rescaled by two mismatches, must give one
    energy)."""
    least = torch.ceil(MIN_SIDE / side).clamp(min=1)
    if step is None:
        return least
    best = least.clone()
    for f, (length, k) in enumerate(zip(side.tolist(), least.tolist())):
        candidates = range(int(k), max(int(k), int(match_side(tolerance) // length)) + 1)
        mismatch = [abs(c * length / (whole_steps(c * length, step) * step) - 1)
                    for c in candidates]
        good = [c for c, m in zip(candidates, mismatch) if m <= tolerance]
        if not good:
            best[f] = candidates[int(np.argmin(mismatch))]
        else:
            # the other: the fewest that is no multiple of the first (a multiple has its pixels)
            other = [c for c in good if c % good[0]][:1]
            best[f] = good[0] if rng is None else [good[0], *other][rng.integers(1 + len(other))]
    return best
