"""Build the model a run trains: a fresh network fitted and scaled to the data, or a file's."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ase_cnnas.cells import rectangle
from ase_cnnas.model import EnergyModel
from ase_cnnas.modelfile import load_model
from ase_cnnas.networks import (
    REDUCING,
    network1_config,
    network2_config,
    with_heights,
    with_near_heights,
    with_odd_kernel,
    with_slopes,
)

from .batches import fit_element_energies, model_inputs, reference_sums
from .h5data import Frames

NETWORKS = {"network1": network1_config, "network2": network2_config}
REFERENCES = ("elements", "mean")  # per-element energies fitted, or one mean energy per atom


def target_values(frames: Frames, target: str) -> np.ndarray:
    """What a model learns per frame: the energy (eV) or a label such as a dimer's distance."""
    if target == "energy":
        return frames.energy
    if target not in frames.labels:
        raise ValueError(f"the data has no {target!r} to learn; it has energy"
                         + "".join(f", {k}" for k in frames.labels) + "; choose one with --target")
    return frames.labels[target]


def build_model(frames, train_idx: np.ndarray, grid: tuple[int, ...], target: str = "energy",
                network: str = "network2", reference: str = "elements", scale_target: bool = True,
                **options) -> EnergyModel:
    """A fresh Network 1 or 2 (`options` as in NetworkConfig; `counts=True` feeds the element
    counts to the head) whose references and scale are fitted on `train_idx`: per-element
    energies for an energy (or, with reference="mean", the mean energy per atom for every
    element), a plain mean for any other target; the spread of the rest is the network's output
    unit unless `scale_target` is off (then eV, or the label's unit)."""
    counts = options.pop("counts", False)
    upsample = options.pop("upsample", 1)
    any_cell = options.pop("any_cell", False)
    match_pixels = options.pop("match_pixels", 0.0)
    stretch = options.pop("stretch_inputs", False)
    response = options.pop("stretch_response", False)
    if reference not in REFERENCES:
        raise ValueError(f"reference {reference!r}: use one of {REFERENCES}")
    y = target_values(frames, target)
    elements = [int(z) for z in np.unique(frames.numbers)]
    if target != "energy":
        eps = dict.fromkeys(elements, 0.0)
    elif reference == "elements":
        eps = fit_element_energies(frames, train_idx)
    else:
        eps = dict.fromkeys(elements, float(y[train_idx].sum() / frames.natoms[train_idx].sum()))
    rest = y[train_idx] - reference_sums(frames, train_idx, eps)
    config = NETWORKS[network](grid, extra_inputs=len(eps) if counts else 2 if stretch else 0,
                               outputs=3 if response else 1, **options)
    cell = frames.cell[train_idx[0]]  # the pixel spacing is that of the first frame's cell
    return EnergyModel(config, cell=rectangle(cell) if any_cell else cell, element_energy=eps,
                       energy_mean=float(rest.mean()),
                       energy_scale=float(rest.std()) if scale_target else 1.0,
                       image_scale=1.0 / max(eps),  # peak of the heaviest element → 1
                       count_scale=1.0 / float(frames.natoms[train_idx].mean()),
                       upsample=upsample, any_cell=any_cell, match_pixels=match_pixels,
                       stretch_inputs=stretch)


def scale_to_data(model: EnergyModel, batch: dict) -> None:
    """Data-dependent initialisation (LSUV, Mishkin & Matas 2016): scale the image to unit
    spread, then each layer's weights so that its output has unit spread on `batch`. Without it
    the signal fades by 10× through the deep trunk and training barely moves."""
    with torch.no_grad():
        _, inputs, _, _ = next(model.groups(*model_inputs(batch)))  # frames of one grid
        images = model.images(*inputs)
        model.image_scale /= float(images.std())
        layers = [m for m in model.network.modules()
                  if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.Linear))][:-1]
        for layer in layers:  # every layer but the last, in order
            seen = []
            hook = layer.register_forward_hook(
                lambda mod, inp, out, seen=seen: seen.append(out.std()))
            model(*model_inputs(batch))
            hook.remove()
            layer.weight /= seen[0]


def fine_tuned(init: str | Path, frames, dim: int, target: str, device: str) -> EnergyModel:
    """The model file `init` (a path or a bundled name), to train further on `frames`: its
    network, references and scales are kept, so the frames must hold only its elements."""
    model = load_model(init, device=device)
    learnt = model.metadata.get("training", {}).get("target", "energy")
    missing = sorted({int(z) for z in np.unique(frames.numbers)} - set(model.elements))
    if missing:
        raise ValueError(f"--init {init}: the model knows elements {model.elements}, the data "
                         f"also holds {missing}; train a new model (leave out --init)")
    if model.dim != dim or learnt != target:
        raise ValueError(f"--init {init}: a {model.dim}D model of {learnt!r}, the data asks for a "
                         f"{dim}D model of {target!r}; train a new model (leave out --init)")
    model.symmetrize = False  # trained raw, taught the symmetry by --mirror; averaged at use
    return model.train()


def refit_elements(model: EnergyModel, frames, train_idx: np.ndarray, rng: np.random.Generator,
                   sample: int = 512) -> dict[int, float]:
    """Shift `model`'s per-element energies by a least-squares fit of E − E_model over (up to
    `sample` of) the training frames: a model fine-tuned on data with another energy zero starts
    from its own errors, not from an offset of electronvolts per atom. Returns the shifts (eV)."""
    from .evaluate import predict

    index = np.sort(rng.choice(train_idx, min(sample, len(train_idx)), replace=False))
    predicted, _ = predict(model, frames, index)
    residual = frames.subset(index)
    residual.energy = frames.energy[index] - predicted
    shifts = fit_element_energies(residual, np.arange(len(index)))
    unknown = sorted(set(shifts) - set(model.elements))
    if unknown:
        raise ValueError(f"--refit-elements: the data holds elements {unknown} the model lacks")
    with torch.no_grad():
        for z, delta in shifts.items():
            model.element_energy[z] += delta
    return shifts


def adapted(model: EnergyModel, heights: bool, any_cell: bool, seed: int,
            match_pixels: float = 0.0, height_layers: int = 0,
            stretch_inputs: bool = False, stretch_response: bool = False,
            near_heights: float = 0.0, odd_kernel: int = 0, slopes: bool = False
            ) -> EnergyModel:
    """`model` given height channels (or a slab of `height_layers`; networks.with_heights) and
    made an any-cell model (with pixels matched within `match_pixels`, stretch inputs and the
    stretch response) and given near heights (networks.with_near_heights) and a wider odd kernel
    (networks.with_odd_kernel) and the slope channel (networks.with_slopes) where asked and not
    yet so: a flat fixed-cell model's weights
    start a free-standing any-cell one."""
    if heights and not model.network.config.heights:
        model.network = with_heights(model.network, seed, height_layers).train()
    if near_heights and not model.network.config.near_heights:
        model.network = with_near_heights(model.network, near_heights, seed).train()
    if odd_kernel and odd_kernel != (model.network.config.odd_kernel or REDUCING[1]):
        model.network = with_odd_kernel(model.network, odd_kernel).train()
    if slopes and not model.network.config.slopes:
        model.network = with_slopes(model.network).train()
    if any_cell:
        model.use_any_cell()
    if match_pixels:
        model.match_pixels = match_pixels
    if stretch_inputs:
        model.use_stretch_inputs()
    if stretch_response:
        model.use_stretch_response()
    return model
