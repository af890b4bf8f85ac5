"""Frames → the tensors EnergyModel takes, batch by batch, and per-element reference energies."""
from __future__ import annotations

import numpy as np
import torch

from .h5data import Frames


def to_tensors(frames: Frames, index: np.ndarray, device: torch.device | str,
               translate: np.random.Generator | None = None) -> dict[str, torch.Tensor]:
    """positions, numbers, cells, frame, n_frames, energy, forces for the frames at `index`;
    with `translate`, each frame is shifted by a random in-plane lattice fraction (augmentation)."""
    sub = frames.subset(np.asarray(index))
    if translate is not None:
        sub = sub.translated(translate)
    frame = np.repeat(np.arange(len(sub)), sub.natoms)

    def t(x, dtype=torch.float64):
        return torch.as_tensor(x, dtype=dtype, device=device)

    return {"positions": t(sub.positions), "numbers": t(sub.numbers, torch.long),
            "cells": t(sub.cell), "frame": t(frame, torch.long), "n_frames": len(sub),
            "energy": t(sub.energy), "forces": t(sub.forces), "natoms": t(sub.natoms)}


def model_inputs(batch: dict) -> tuple:
    """The positional arguments of EnergyModel.forward."""
    return batch["positions"], batch["numbers"], batch["cells"], batch["frame"], batch["n_frames"]


def fit_element_energies(frames: Frames, index: np.ndarray) -> dict[int, float]:
    """Least-squares per-element energies ε_Z with E ≈ Σ_i ε(Z_i) over the frames at `index`."""
    elements = np.unique(frames.numbers)
    off = frames.offsets
    counts = np.array([[np.sum(frames.numbers[off[i]:off[i + 1]] == z) for z in elements]
                       for i in index], dtype=float)
    eps, *_ = np.linalg.lstsq(counts, frames.energy[index], rcond=None)
    return {int(z): float(e) for z, e in zip(elements, eps)}
