"""CNNASCalculator: a trained CNNAS model as an ASE calculator.

Energy E(r) from the model (eV, on the reference's absolute scale); forces F = −∂E/∂r (eV/Å) and
stress σ = (1/V) ∂E/∂ε (eV/Å³, ε a homogeneous strain of positions and cell) by autograd
through the network and the rasterizer. A flat 2D model sees only x and y, so its z-forces and
the stress components along z are zero; a model with height channels sees z as well (free-standing
sheets), and an any-cell model takes any sheet cell. Gradients are computed only when asked for.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import (
    Calculator,
    CalculatorSetupError,
    PropertyNotImplementedError,
    all_changes,
)
from ase.stress import full_3x3_to_voigt_6_stress

from . import memory
from .checks import check_atoms
from .model import without_net_force
from .modelfile import BUNDLED, file_sha256, load_model

MARGIN = 0.05  # beyond the training range by more than this fraction of it: warn
# Only closer than in training is new ground: a sheet whose closest pair is longer than every
# thermal training frame's closest pair is a colder one (e.g. the ideal sheet), not a new regime.
LOWER_BOUND_ONLY = {"closest_distance"}


class OutOfDistributionWarning(UserWarning):
    """A structure outside what the model was trained on: its result is an extrapolation."""


def resolve_device(device: str | torch.device | None) -> torch.device:
    """`device`, or the GPU when there is one for None; a clear error for CUDA without a GPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CalculatorSetupError(f"device={str(device)!r} but torch sees no CUDA GPU; "
                                   "use device='cpu' or device=None (picks what is there)")
    return device


def check_hashes(names: list[str], hashes: list[str], expected: list[str]) -> None:
    """Refuse model files whose sha256 is not the one expected (one per file, in order)."""
    if len(expected) != len(names):
        raise CalculatorSetupError(
            f"model_sha256 gives {len(expected)} hashes for {len(names)} model files; give one "
            "per file, in the same order (as calc.todict() records them)")
    for name, want, have in zip(names, expected, hashes):
        if want != have:
            bundled = [b for b in BUNDLED if b != "default" and file_sha256(b) == want]
            fix = (f"that is the bundled model {bundled[0]!r} now: use model={bundled[0]!r}"
                   if bundled else "use the file that made those results, or drop model_sha256")
            raise CalculatorSetupError(
                f"model {name}: its file's sha256 is {have}, not the {want} asked for; the file "
                f"changed since (retrained, re-exported, or a newer bundled model); {fix}")


class CNNASCalculator(Calculator):
    """ASE calculator for a CNNAS model: ``atoms.calc = CNNASCalculator()``.

    model: ``"default"`` (= ``"pbe"``: free-standing graphene/hBN sheets in any periodic cell,
    fine-tuned to GPAW PBE), ``"free"`` (the same on SevenNet-0 labels), ``"flat"`` (the
    paper's 2D model: atoms in the plane of its fixed 12.53 × 13.02 Å cell, SevenNet-0 labels),
    ``"fast"`` (its narrower predecessor), ``"extensive"`` (``"flat"`` for supercells of its
    cell), the path of a model file, or a list of them: an ensemble, whose mean is the result
    and whose spread (standard deviation over the members) is the property ``"energy_std"``
    (eV), and on request ``"forces_std"`` ([N, 3] eV/Å, one gradient per member).
    device: ``"cpu"``, ``"cuda"``…; None picks the GPU when there is one.
    symmetrize: average the energy over the cell's mirror images (exact mirror symmetry, ~20 %
    smaller errors on ``"flat"``; 4 images through the network, 1.6× the time of a 60-atom MD
    step on a 2-core CPU, up to 4× on large cells); None keeps what the model file says (on
    for the fixed-cell models, off for the any-cell ones).
    remove_net_force: forces are −∇E less its mean (default), so they sum to zero and MD keeps
    the centre of mass at rest; the grid makes E vary a little as the whole structure moves by
    a fraction of a pixel, and −∇E as it is (False) carries that net force.
    keep_freed_memory: make glibc's malloc keep freed memory for the whole process (up to 3×
    faster CPU calls on large cells, see ase_cnnas.memory); off by default, as it is process-wide.
    model_sha256: the sha256 of each model file, checked; None takes the file as it is.

    ``calc.todict()`` (and so a trajectory's header) records all of these, with the model
    files' sha256 and the device and symmetrize in effect: ``CNNASCalculator(**params)``
    rebuilds the calculator, and refuses a model file that has changed since.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]
    ensemble_properties = ["energy_std", "forces_std"]  # implemented for a list of models only
    default_parameters = {"model": "default", "device": None, "symmetrize": None,
                          "remove_net_force": True, "keep_freed_memory": False,
                          "model_sha256": None}
    settable = frozenset({"remove_net_force"})  # the others choose and load the models

    def __init__(self, model: str | os.PathLike | list = "default",
                 device: str | torch.device | None = None, symmetrize: bool | None = None,
                 remove_net_force: bool = True, keep_freed_memory: bool = False,
                 model_sha256: str | list[str] | None = None, **kwargs):
        super().__init__(**kwargs)  # ASE's own: label, directory, atoms
        single = not isinstance(model, (list, tuple))
        names = [os.fspath(m) for m in ([model] if single else model)]
        if not names:
            raise CalculatorSetupError("an empty list of models; give at least one")
        self.models = [load_model(m, resolve_device(device), symmetrize) for m in names]
        self.model = self.models[0]  # its checks and training ranges stand for the ensemble
        for name, other in zip(names[1:], self.models[1:]):
            if (other.elements != self.model.elements or other.extensive != self.model.extensive
                    or not np.allclose(other.cell, self.model.cell)):
                raise CalculatorSetupError(
                    f"ensemble member {name} knows other elements or another cell than "
                    f"{names[0]}; an ensemble needs models trained on the same kind of data")
        hashes = [file_sha256(m) for m in names]
        if model_sha256 is not None:
            check_hashes(names, hashes, [model_sha256] if isinstance(model_sha256, str)
                         else list(model_sha256))
        if len(self.models) > 1:
            self.implemented_properties = [*self.implemented_properties,
                                           *self.ensemble_properties]
        effective = {m.symmetrize for m in self.models}  # None: members differ, each as its file
        self.parameters.update(
            model=names[0] if single else names, model_sha256=hashes[0] if single else hashes,
            device=str(self.model.device), remove_net_force=remove_net_force,
            symmetrize=effective.pop() if len(effective) == 1 else None,
            keep_freed_memory=keep_freed_memory)
        if keep_freed_memory:
            memory.keep_freed_memory()
        self.seen = self.model.metadata.get("distribution", {})  # training ranges, if recorded
        self.outside = 0  # calculations outside the training distribution so far

    def set(self, **kwargs) -> dict:
        """Change `remove_net_force` (clears the results); the other parameters choose and load
        the models, so changing them takes a new calculator."""
        unknown = sorted(set(kwargs) - set(self.default_parameters))
        if unknown:
            raise CalculatorSetupError(
                f"CNNASCalculator has no parameter {', '.join(unknown)}; it takes "
                f"{', '.join(self.default_parameters)} (and ASE's label, directory, atoms)")
        fixed = sorted(set(kwargs) - self.settable)
        if fixed:
            raise CalculatorSetupError(
                f"{', '.join(fixed)} chose the models this calculator loaded: build a new "
                f"CNNASCalculator({fixed[0]}=...) instead of calc.set({fixed[0]}=...)")
        changed = super().set(**kwargs)
        if changed:
            self.reset()
        return changed

    def todict(self, skip_default: bool = False) -> dict:
        """The parameters, defaults included (ASE's default leaves them out): a trajectory then
        names the model and its sha256 even for model="default", whose file changes with
        versions."""
        return super().todict(skip_default=skip_default)

    def _check_distribution(self, values: dict[str, float]) -> None:
        """Warn (once per calculator) when a value lies beyond the training range."""
        units = {"energy_per_atom": "eV/atom above the element references",
                 "closest_distance": "Å", "image_peak": "(image units)",
                 "height": "Å above the neighbours", "spacing_min": "Å per pixel",
                 "spacing_max": "Å per pixel"}
        for key, value in values.items():
            if key not in self.seen:
                continue
            lo, hi = self.seen[key]
            pad = MARGIN * (hi - lo)
            if lo - pad <= value and (value <= hi + pad or key in LOWER_BOUND_ONLY):
                continue
            if not self.outside:
                warnings.warn(OutOfDistributionWarning(
                    f"{key.replace('_', ' ')} {value:.4g} {units[key]} lies outside the training "
                    f"range {lo:.4g}…{hi:.4g}: the model extrapolates here; check such frames "
                    "against the reference (cnnas compare) or add them to the training data "
                    "(warned once; calc.outside counts them)"), stacklevel=4)
            self.outside += 1
            return

    def get_property(self, name: str, atoms: Atoms | None = None, allow_calculation: bool = True):
        if name in self.ensemble_properties and name not in self.implemented_properties:
            raise PropertyNotImplementedError(
                f"{name!r} is the spread of an ensemble's members, and this calculator holds one "
                "model: give it a list of model files, e.g. CNNASCalculator(['member0.pt', "
                "'member1.pt', 'member2.pt']) (train them with different seeds: cnnas train)")
        if name not in self.implemented_properties:
            raise PropertyNotImplementedError(
                f"CNNASCalculator computes {', '.join(self.implemented_properties)}, not {name!r}: "
                "a CNNAS model knows energies of nuclear positions only (no charges, spins or "
                f"fields); use another calculator (e.g. SevenNet-0) where you need {name!r}")
        return super().get_property(name, atoms, allow_calculation)

    def calculate(self, atoms: Atoms | None = None, properties=("energy",),
                  system_changes=all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        closest = check_atoms(self.model, self.atoms)
        dev = self.model.device
        spread = "forces_std" in properties  # a gradient per member, not one of their mean
        want_forces, want_stress = spread or "forces" in properties, "stress" in properties
        positions = torch.tensor(self.atoms.positions, dtype=torch.float64, device=dev,
                                 requires_grad=want_forces)
        strain = torch.zeros(3, 3, dtype=torch.float64, device=dev, requires_grad=want_stress)
        numbers = torch.tensor(self.atoms.numbers, device=dev)
        cell = torch.tensor(self.atoms.cell.array, dtype=torch.float64, device=dev)
        frame = torch.zeros(len(self.atoms), dtype=torch.long, device=dev)
        with torch.set_grad_enabled(want_forces or want_stress):
            deform = torch.eye(3, dtype=torch.float64, device=dev) + (strain + strain.T) / 2
            inputs = (positions @ deform, numbers, (cell @ deform)[None], frame, 1)
            # the first model also says what it saw, from the same images
            first, seen = self.model.evaluate(*inputs, describe=True)
            energies = torch.cat([first, *(model(*inputs) for model in self.models[1:])])  # [M]
            energy = energies.mean()
            wrt = [t for t, want in ((positions, want_forces), (strain, want_stress)) if want]
            outputs = energies if spread else energy[None]  # [M] or [1]
            # per tensor in wrt: its gradients stacked over outputs, [M or 1, ...]
            grads = [torch.stack(g) for g in zip(*(
                torch.autograd.grad(e, wrt, retain_graph=k + 1 < len(outputs))
                for k, e in enumerate(outputs)))] if wrt else []
            if want_forces:
                forces = -grads.pop(0)  # [M or 1, N, 3]
                if self.parameters.remove_net_force:
                    forces = torch.stack([without_net_force(f, frame, 1) for f in forces])
                self.results["forces"] = forces.mean(0).cpu().numpy()
                if spread:
                    self.results["forces_std"] = forces.std(0, correction=0).cpu().numpy()
            if want_stress:
                self.results["stress"] = full_3x3_to_voigt_6_stress(
                    grads.pop(0).mean(0).cpu().numpy() / self.atoms.get_volume())
        self.results["energy"] = self.results["free_energy"] = float(energy.detach())
        if len(self.models) > 1:
            self.results["energy_std"] = float(energies.detach().std(correction=0))
        reference = float(self.model.element_energy[numbers].sum())
        self._check_distribution({
            "energy_per_atom": (self.results["energy"] - reference) / len(self.atoms),
            "closest_distance": closest, **{k: float(v[0]) for k, v in seen.items()}})
