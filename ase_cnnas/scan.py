"""Many frames per forward pass: energies, and forces if asked, of a list of structures, in
batches on the model's device, with a progress bar. The Python API behind `cnnas scan`.

    import ase.io
    from ase_cnnas.scan import scan
    energies, forces = scan(ase.io.read("md.extxyz", ":"), forces=True)
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import CalculatorSetupError
from tqdm import tqdm

from .calculator import check_atoms, resolve_device
from .memory import keep_freed_memory
from .model import EnergyModel
from .modelfile import load_model


def predict_arrays(model: EnergyModel, positions: np.ndarray, numbers: np.ndarray,
                   cells: np.ndarray, natoms: np.ndarray, batch: int = 64, forces: bool = False,
                   progress: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Total energies [F] (eV) and, with `forces`, forces [A, 3] (eV/Å) of F frames given as
    concatenated positions [A, 3] (Å) and numbers [A], cells [F, 3, 3] (Å), atoms per frame [F]."""
    off = np.concatenate([[0], np.cumsum(natoms)])
    dev = model.device
    if dev.type == "cpu":
        keep_freed_memory()
    energies, grads = [], []
    for start in tqdm(range(0, len(natoms), batch), desc="frames", unit="batch", disable=not progress):
        stop = min(start + batch, len(natoms))
        a, b = off[start], off[stop]
        pos = torch.tensor(positions[a:b], dtype=torch.float64, device=dev, requires_grad=forces)
        frame = torch.repeat_interleave(torch.arange(stop - start, device=dev),
                                        torch.as_tensor(natoms[start:stop], device=dev))
        with torch.set_grad_enabled(forces):
            e = model(pos, torch.as_tensor(numbers[a:b], dtype=torch.long, device=dev),
                      torch.as_tensor(cells[start:stop], dtype=torch.float64, device=dev),
                      frame, stop - start)
            if forces:
                grads.append(-torch.autograd.grad(e.sum(), pos)[0].cpu().numpy())
        energies.append(e.detach().cpu().numpy())
    return np.concatenate(energies), (np.concatenate(grads) if forces else None)


def check_frames(model: EnergyModel, frames: Iterable[Atoms]) -> None:
    """check_atoms on every frame; the error names the first frame the model cannot take."""
    for i, atoms in enumerate(frames):
        try:
            check_atoms(model, atoms)
        except CalculatorSetupError as err:
            raise CalculatorSetupError(f"frame {i}: {err}") from err


def scan(frames: Sequence[Atoms], model: str | os.PathLike | EnergyModel = "default",
         forces: bool = False, batch: int = 64, device: str | torch.device | None = None,
         progress: bool = True) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """Energies [F] (eV) of `frames` and, with `forces`, a forces array [N_i, 3] (eV/Å) per frame.
    Every frame is checked first; one the model cannot describe raises CalculatorSetupError
    naming the frame."""
    if batch < 1:
        raise ValueError(f"batch {batch}: give at least 1 frame per batch")
    if not isinstance(model, EnergyModel):
        model = load_model(model, resolve_device(device))
    if len(frames) == 0:
        return np.zeros(0), ([] if forces else None)
    check_frames(model, frames)
    natoms = np.array([len(a) for a in frames])
    energies, f = predict_arrays(model, np.concatenate([a.positions for a in frames]),
                                 np.concatenate([a.numbers for a in frames]),
                                 np.array([a.cell.array for a in frames]), natoms, batch, forces,
                                 progress)
    return energies, (np.split(f, np.cumsum(natoms)[:-1]) if forces else None)
