"""Frames → the tensors EnergyModel takes, batch by batch, and per-element reference energies."""
from __future__ import annotations

import numpy as np
import torch

from .h5data import Frames


def batch_tensors(frames: Frames) -> dict[str, torch.Tensor]:
    """The tensors EnergyModel and the losses need, on the CPU: positions, numbers, cells, frame,
    n_frames, energy, forces, stress (Voigt, NaN where unknown), natoms."""
    return {"positions": torch.as_tensor(frames.positions, dtype=torch.float64),
            "numbers": torch.as_tensor(frames.numbers, dtype=torch.long),
            "cells": torch.as_tensor(frames.cell, dtype=torch.float64),
            "frame": torch.as_tensor(np.repeat(np.arange(len(frames)), frames.natoms)),
            "n_frames": len(frames),
            "energy": torch.as_tensor(frames.energy, dtype=torch.float64),
            "forces": torch.as_tensor(frames.forces, dtype=torch.float64),
            "stress": torch.as_tensor(frames.stress, dtype=torch.float64),
            "natoms": torch.as_tensor(frames.natoms),
            **{f"label_{k}": torch.as_tensor(v, dtype=torch.float64)
               for k, v in frames.labels.items()}}


def to_device(batch: dict, device: torch.device | str) -> dict:
    """`batch` with its tensors on `device` (non-blocking from pinned memory)."""
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v
            for k, v in batch.items()}


def to_tensors(frames: Frames, index: np.ndarray, device: torch.device | str,
               translate: np.random.Generator | None = None) -> dict[str, torch.Tensor]:
    """batch_tensors of the frames at `index` on `device`; with `translate`, each frame is
    shifted by a random in-plane lattice fraction (augmentation)."""
    sub = frames.subset(np.asarray(index))
    return to_device(batch_tensors(sub.translated(translate) if translate is not None else sub),
                     device)


def model_inputs(batch: dict) -> tuple:
    """The positional arguments of EnergyModel.forward."""
    return batch["positions"], batch["numbers"], batch["cells"], batch["frame"], batch["n_frames"]


def reference_sums(frames: Frames, index: np.ndarray,
                   element_energy: dict[int, float]) -> np.ndarray:
    """Σ_i ε(Z_i) over the atoms of each frame at `index` (eV)."""
    off = frames.offsets
    return np.array([sum(element_energy[int(z)] for z in frames.numbers[off[i]:off[i + 1]])
                     for i in index])


def fit_element_energies(frames: Frames, index: np.ndarray) -> dict[int, float]:
    """Least-squares per-element energies ε_Z with E ≈ Σ_i ε(Z_i) over the frames at `index`."""
    elements = np.unique(frames.numbers)
    off = frames.offsets
    counts = np.array([[np.sum(frames.numbers[off[i]:off[i + 1]] == z) for z in elements]
                       for i in index], dtype=float)
    eps, *_ = np.linalg.lstsq(counts, frames.energy[index], rcond=None)
    return {int(z): float(e) for z, e in zip(elements, eps)}
