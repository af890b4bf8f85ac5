"""Many frames per forward pass: energies, and forces if asked, of a list of structures, in
batches on the model's device, with a progress bar. The Python API behind `cnnas scan`.

    import ase.io
    from ase_cnnas.scan import scan
    energies, forces = scan(ase.io.read("md.extxyz", ":"), forces=True)
"""
from __future__ import annotations

import copy
import os
from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import CalculatorSetupError
from tqdm import tqdm

from .calculator import resolve_device
from .checks import MIN_DISTANCE, PLANE_TOLERANCE, STACKED, check_atoms, check_cell
from .model import EnergyModel, without_net_force
from .modelfile import load_model

PAIRWISE_ATOMS = 256  # frames up to this size are screened all pairs at once; larger: k-d tree
PRECISIONS = ("float32", "bfloat16")  # of the network's convolutions


def predict_arrays(model: EnergyModel, positions: np.ndarray, numbers: np.ndarray,
                   cells: np.ndarray, natoms: np.ndarray, batch: int = 64, forces: bool = False,
                   progress: bool = False, precision: str = "float32"
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """Total energies [F] (eV) and, with `forces`, forces [A, 3] (eV/Å; −∇E less each frame's
    mean, as the calculator gives them) of F frames given as concatenated positions [A, 3] (Å)
    and numbers [A], cells [F, 3, 3] (Å), atoms per frame [F]. `precision` "bfloat16" runs the
    convolutions in bfloat16 (about 1.8× as fast on CPUs with AMX; docs/benchmarks.md gives
    what it costs in accuracy), the rasterizer, the dense head and the sums staying full."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    off = np.concatenate([[0], np.cumsum(natoms)])
    dev = model.device
    energies, grads = [], []
    for start in tqdm(range(0, len(natoms), batch), desc="frames", unit="batch",
                      disable=not progress):
        stop = min(start + batch, len(natoms))
        a, b = off[start], off[stop]
        pos = torch.tensor(positions[a:b], dtype=torch.float64, device=dev, requires_grad=forces)
        frame = torch.repeat_interleave(torch.arange(stop - start, device=dev),
                                        torch.as_tensor(natoms[start:stop], device=dev))
        with torch.set_grad_enabled(forces), torch.autocast(
                dev.type, dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            e = model(pos, torch.as_tensor(numbers[a:b], dtype=torch.long, device=dev),
                      torch.as_tensor(cells[start:stop], dtype=torch.float64, device=dev),
                      frame, stop - start)
            if forces:
                force = -torch.autograd.grad(e.sum(), pos)[0]
                grads.append(without_net_force(force, frame, stop - start).cpu().numpy())
        energies.append(e.detach().cpu().numpy())
    return np.concatenate(energies), (np.concatenate(grads) if forces else None)


def _closest(positions: torch.Tensor, cells: torch.Tensor, pbc: tuple[bool, ...]) -> torch.Tensor:
    """Closest distance between two atoms per frame [B] (Å) of positions [B, N, 3], cells
    [B, 3, 3], all pairs at once by the minimum image: exact where it is below half the cell's
    smallest periodic height (a shorter vector has all its fractional coordinates below 1/2)."""
    inverse = torch.linalg.inv(cells)
    frac = positions @ inverse
    diff = frac[:, :, None] - frac[:, None]  # [B, N, N, 3]
    periodic = torch.tensor(pbc, device=positions.device)
    diff = torch.where(periodic, diff - torch.round(diff), diff)
    r2 = torch.einsum("bijk,bke->bije", diff, cells).square().sum(-1)
    r2.diagonal(dim1=1, dim2=2).fill_(torch.inf)
    return r2.flatten(1).amin(1).sqrt()


def _suspects(model: EnergyModel, frames: Sequence[Atoms]) -> np.ndarray:
    """The frames that may fail check_atoms, found by whole-array tests over all frames at once;
    the rest pass it for sure. check_atoms costs ~0.5 ms a frame, mostly its k-d tree, more than
    the network on a GPU; this screen costs a fraction of that."""
    n = np.array([len(a) for a in frames])
    frame = np.repeat(np.arange(len(frames)), n)
    pos = np.concatenate([a.positions for a in frames])
    numbers = np.concatenate([a.numbers for a in frames])
    cells = np.array([a.cell.array for a in frames])
    pbc = np.array([a.pbc for a in frames])
    d = model.dim
    bad = (n < 2) | (n > PAIRWISE_ATOMS) | ~pbc[:, :d].all(1)  # 0 or 1 atom, large: check_atoms
    bad |= np.bincount(frame, ~np.isfinite(pos).all(1), len(frames)) > 0
    bad |= np.bincount(frame, ~np.isin(numbers, model.elements), len(frames)) > 0
    unique, inverse = np.unique(cells, axis=0, return_inverse=True)  # few: test each once
    bad |= np.array([not _cell_ok(model, c) for c in unique])[inverse.ravel()]
    heights = model.network.config.heights  # free-standing: no plane, but one layer
    if d == 2 and not heights:
        start = np.concatenate([[0], np.cumsum(n)[:-1]])[n > 0]
        spread = np.zeros(len(frames))
        spread[n > 0] = (np.maximum.reduceat(pos[:, 2], start)
                         - np.minimum.reduceat(pos[:, 2], start))
        bad |= spread > PLANE_TOLERANCE
    off = np.concatenate([[0], np.cumsum(n)])
    for key in {(k, tuple(p)) for k, p in zip(n, pbc.tolist())}:
        index = np.flatnonzero((n == key[0]) & (pbc == key[1]).all(1) & ~bad)
        chunks = -(-len(index) * key[0] ** 2 // 2**22)
        for part in np.array_split(index, chunks) if len(index) else ():
            xyz = torch.tensor(np.stack([pos[off[i]:off[i + 1]] for i in part]),
                               device=model.device,
                               dtype=torch.float32)  # a screen: 2e-6 Å on these small cells
            cell = torch.tensor(cells[part], device=model.device, dtype=torch.float32)
            height = 1 / torch.linalg.inv(cell).norm(dim=-2)[:, list(key[1])].amin(1)
            closest = _closest(xyz, cell, key[1])
            bad[part] = ((closest < MIN_DISTANCE) | (closest >= height / 2)).cpu().numpy()
            if heights:  # atoms above one another: checks.check_single_sheet says which
                flat = xyz.clone()
                flat[..., 2] = 0
                bad[part] |= (_closest(flat, cell, key[1]) < STACKED).cpu().numpy()
    return np.flatnonzero(bad)


def _cell_ok(model: EnergyModel, cell: np.ndarray) -> bool:
    try:
        check_cell(model, cell)
        return True
    except CalculatorSetupError:
        return False


def check_frames(model: EnergyModel, frames: Sequence[Atoms]) -> None:
    """check_atoms' verdict on every frame, the error naming the first frame the model cannot
    take; screened as a whole first, so that only suspects go through check_atoms."""
    for i in _suspects(model, frames) if len(frames) else ():
        try:
            check_atoms(model, frames[i])
        except CalculatorSetupError as err:
            raise CalculatorSetupError(f"frame {i}: {err}") from err


def scan(frames: Sequence[Atoms], model: str | os.PathLike | EnergyModel = "default",
         forces: bool = False, batch: int = 64, device: str | torch.device | None = None,
         progress: bool = True, symmetrize: bool | None = None, precision: str = "float32"
         ) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """Energies [F] (eV) of `frames` and, with `forces`, a forces array [N_i, 3] (eV/Å) per frame.
    Every frame is checked first; one the model cannot describe raises CalculatorSetupError
    naming the frame. `symmetrize` overrides the model's choice (see CNNASCalculator), for this
    call only when `model` is an EnergyModel; `precision` as in predict_arrays."""
    if batch < 1:
        raise ValueError(f"batch {batch}: give at least 1 frame per batch")
    if not isinstance(model, EnergyModel):
        model = load_model(model, resolve_device(device), symmetrize)
    elif symmetrize is not None and symmetrize != model.symmetrize:
        model = copy.copy(model)  # shares the weights; the caller's model keeps its setting
        model.symmetrize = symmetrize
    if len(frames) == 0:
        return np.zeros(0), ([] if forces else None)
    check_frames(model, frames)
    natoms = np.array([len(a) for a in frames])
    energies, f = predict_arrays(model, np.concatenate([a.positions for a in frames]),
                                 np.concatenate([a.numbers for a in frames]),
                                 np.array([a.cell.array for a in frames]), natoms, batch, forces,
                                 progress, precision)
    return energies, (np.split(f, np.cumsum(natoms)[:-1]) if forces else None)
