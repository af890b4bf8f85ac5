"""CNNASCalculator: a trained CNNAS model as an ASE calculator.

Energy E(r) from the model (eV, on the reference's absolute scale); forces F = −∂E/∂r (eV/Å) and
stress σ = (1/V) ∂E/∂ε (eV/Å³, ε a homogeneous strain of positions and cell) by autograd
through the network and the rasterizer. A 2D model sees only x and y, so its z-forces and the
stress components along z are zero. Gradients are computed only when asked for.
"""
from __future__ import annotations

import itertools
import os
import warnings

import numpy as np
import torch
from ase import Atoms
from ase.calculators.calculator import (Calculator, CalculatorSetupError,
                                        PropertyNotImplementedError, all_changes)
from ase.data import chemical_symbols
from ase.stress import full_3x3_to_voigt_6_stress
from scipy.spatial import cKDTree

from .memory import keep_freed_memory
from .model import EnergyModel, without_net_force
from .modelfile import load_model

CELL_TOLERANCE = 1e-3  # Å, how far a cell may differ from the model's
PLANE_TOLERANCE = 1e-2  # Å, largest spread of z a 2D model accepts
MIN_DISTANCE = 0.1  # Å, atoms closer than this overlap: the input is broken
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


def closest_pair(atoms: Atoms) -> tuple[float, int, int]:
    """The smallest distance between two atoms (Å), periodic images included, and the pair (an
    atom paired with itself: its own image is closest)."""
    cell, pbc = atoms.cell.array, atoms.pbc
    if len(atoms) > 1 and not np.count_nonzero(cell - np.diag(np.diag(cell))):
        return _closest_in_box(atoms.positions, np.diag(cell), pbc)
    pos = atoms.get_positions(wrap=True)
    tree = cKDTree(pos)
    best = (np.inf, -1, -1)
    for shift in itertools.product(*[(-1, 0, 1) if p else (0,) for p in pbc]):
        dist, j = tree.query(pos + np.array(shift) @ cell, k=min(2, len(pos)))
        dist, j = dist.reshape(len(pos), -1), j.reshape(len(pos), -1)
        col = 1 if not any(shift) else 0  # with no shift the nearest is the atom itself
        if col < dist.shape[1]:
            i = int(np.argmin(dist[:, col]))
            best = min(best, (float(dist[i, col]), i, int(j[i, col])))
    return best


def _closest_in_box(positions: np.ndarray, sides: np.ndarray, pbc: np.ndarray
                    ) -> tuple[float, int, int]:
    """closest_pair for an orthogonal cell: one query of a k-d tree on the torus (6× faster
    than a query per image on 15,000 atoms); non-periodic axes get a box far wider than the
    atoms' spread."""
    spread = np.ptp(positions, axis=0)
    box = np.where(pbc, sides, spread + 1e3)
    x = np.where(pbc, positions % np.where(pbc, sides, 1), positions - positions.min(0))
    x[x >= box] = 0.0  # x % L can round to L itself
    workers = -1 if len(x) > 10_000 else 1  # threads cost 7 ms to start: large cells only
    dist, j = cKDTree(x, boxsize=box).query(x, k=2, workers=workers)
    i = int(np.argmin(dist[:, 1]))
    best = (float(dist[i, 1]), i, int(j[i, 1]))
    own = np.min(np.where(pbc, sides, np.inf))  # every atom's own nearest image
    return min(best, (float(own), 0, 0))


def _fmt_cell(cell: np.ndarray, d: int) -> str:
    c = np.round(cell[:d, :d], 4)
    if np.count_nonzero(c - np.diag(np.diag(c))):
        return f"the vectors {c.tolist()} Å (not orthogonal)"
    return " × ".join(f"{x:.4f}" for x in np.diag(c)) + " Å"


def check_cell(model: EnergyModel, cell: np.ndarray) -> None:
    """A fixed-cell model takes its training cell; an extensive model any orthogonal cell whose
    sides are whole multiples of `multiple` pixels of its spacing."""
    d = model.dim
    if not model.extensive:
        if np.abs(cell[:d, :d] - model.cell[:d, :d]).max() > CELL_TOLERANCE:
            raise CalculatorSetupError(
                f"the model was trained for the cell {_fmt_cell(model.cell, d)} and works only on "
                f"that cell; these atoms have {_fmt_cell(cell, d)}: build the structure in that "
                "cell, use model='extensive' for larger cells, or train a model on yours")
        return
    step = model.spacing * model.multiple  # Å: the sides must be whole multiples of this
    sides = np.diag(cell)[:d]
    off_diagonal = np.abs(cell[:d, :d] - np.diag(sides)).max()
    whole = np.round(sides / step)
    if off_diagonal > CELL_TOLERANCE or (whole < 1).any() or \
            np.abs(sides - whole * step).max() > CELL_TOLERANCE:
        raise CalculatorSetupError(
            f"this extensive model takes orthogonal cells whose sides are whole multiples of "
            f"{' × '.join(f'{x:.4f}' for x in step)} Å (its training cell "
            f"{_fmt_cell(model.cell, d)} and its supercells, e.g. atoms.repeat((2, 2, 1))); these "
            f"atoms have {_fmt_cell(cell, d)}: build an orthogonal supercell of such a size "
            "(ase.build.make_supercell)")


def check_atoms(model: EnergyModel, atoms: Atoms) -> float:
    """Raise CalculatorSetupError, naming the fix, for atoms this model cannot describe; return
    the closest distance between two atoms (Å, inf for one atom)."""
    if len(atoms) == 0:
        raise CalculatorSetupError("the Atoms object holds no atoms; give the calculator a "
                                   "structure, e.g. training.structures.build_sheet('hbn_pristine')")
    bad = np.flatnonzero(~np.isfinite(atoms.positions).all(axis=1))
    if len(bad):
        raise CalculatorSetupError(
            f"atom {bad[0]} has a non-finite position {atoms.positions[bad[0]].tolist()} "
            f"({len(bad)} such atoms): the input is broken or an MD run blew up; restart from the "
            "last good frame, with a smaller time step")
    unknown = sorted(set(atoms.numbers.tolist()) - set(model.elements))
    if unknown:
        known = ", ".join(chemical_symbols[z] for z in model.elements)
        raise CalculatorSetupError(
            f"the model knows only {known}; these atoms hold "
            f"{', '.join(chemical_symbols[z] for z in unknown)}: train a model on data that holds them")
    d, axes = model.dim, "xyz"[:model.dim]
    if not all(atoms.pbc[:d]):
        raise CalculatorSetupError(
            f"the model needs periodic boundaries along {', '.join(axes)}; set "
            f"atoms.pbc = {tuple([True] * d + [False] * (3 - d))} and a cell that spans the sheet")
    check_cell(model, atoms.cell.array)
    if d == 2:
        spread = np.ptp(atoms.positions[:, 2])
        if spread > PLANE_TOLERANCE:
            raise CalculatorSetupError(
                f"2D model: all atoms must lie in one plane z = const, but z spreads over {spread:.3f} Å; "
                "keep them there with atoms.set_constraint(ase.constraints.FixedPlane("
                "range(len(atoms)), [0, 0, 1]))")
    dist, i, j = closest_pair(atoms)
    if dist < MIN_DISTANCE:
        raise CalculatorSetupError(
            f"atoms {i} and {j} overlap ({dist:.3f} Å apart, closer than {MIN_DISTANCE} Å): the "
            "structure is broken; check for duplicated atoms or an MD run that blew up")
    return dist


class CNNASCalculator(Calculator):
    """ASE calculator for a CNNAS model: ``atoms.calc = CNNASCalculator()``.

    model: ``"default"`` (the bundled graphene/hBN sheet model), ``"fast"`` (its narrower
    predecessor: about half the time per MD step, 14–32 % larger errors), ``"extensive"`` (the
    default for supercells of its cell), the path of a model file, or a list of them: an
    ensemble, whose mean is the result and whose spread of energies (eV) is
    ``calc.results["energy_std"]``.
    device: ``"cpu"``, ``"cuda"``…; None picks the GPU when there is one.
    symmetrize: average the energy over the cell's mirror images (exact mirror symmetry, ~20 %
    smaller errors on the bundled model; 4 images through the network, 1.6× the time of a
    60-atom MD step on a 2-core CPU, up to 4× on large cells); None keeps what the model file
    says (on for the bundled models).
    remove_net_force: forces are −∇E less its mean (default), so they sum to zero and MD keeps
    the centre of mass at rest; the grid makes E vary a little as the whole structure moves by
    a fraction of a pixel, and −∇E as it is (False) carries that net force.
    """

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, model: str | os.PathLike | list = "default",
                 device: str | torch.device | None = None, symmetrize: bool | None = None,
                 remove_net_force: bool = True, **kwargs):
        super().__init__(**kwargs)
        names = model if isinstance(model, (list, tuple)) else [model]
        if not names:
            raise CalculatorSetupError("an empty list of models; give at least one")
        self.models = [load_model(m, resolve_device(device), symmetrize) for m in names]
        self.remove_net_force = remove_net_force
        self.model = self.models[0]  # its checks and training ranges stand for the ensemble
        if self.model.device.type == "cpu":
            keep_freed_memory()  # large cells: activations reused, not faulted in every call
        for name, other in zip(names[1:], self.models[1:]):
            if (other.elements != self.model.elements or other.extensive != self.model.extensive
                    or not np.allclose(other.cell, self.model.cell)):
                raise CalculatorSetupError(
                    f"ensemble member {name} knows other elements or another cell than "
                    f"{names[0]}; an ensemble needs models trained on the same kind of data")
        self.seen = self.model.metadata.get("distribution", {})  # training ranges, if recorded
        self.outside = 0  # calculations outside the training distribution so far

    def _check_distribution(self, values: dict[str, float]) -> None:
        """Warn (once per calculator) when a value lies beyond the training range."""
        units = {"energy_per_atom": "eV/atom above the element references",
                 "closest_distance": "Å", "image_peak": "(image units)"}
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
        want_forces, want_stress = "forces" in properties, "stress" in properties
        positions = torch.tensor(self.atoms.positions, dtype=torch.float64, device=dev,
                                 requires_grad=want_forces)
        strain = torch.zeros(3, 3, dtype=torch.float64, device=dev, requires_grad=want_stress)
        numbers = torch.tensor(self.atoms.numbers, device=dev)
        cell = torch.tensor(self.atoms.cell.array, dtype=torch.float64, device=dev)
        frame = torch.zeros(len(self.atoms), dtype=torch.long, device=dev)
        with torch.set_grad_enabled(want_forces or want_stress):
            deform = torch.eye(3, dtype=torch.float64, device=dev) + (strain + strain.T) / 2
            energies = []
            for model in self.models:
                images = model.images(positions @ deform, numbers, (cell @ deform)[None], frame, 1)
                energies.append(model.energy(images, numbers, frame, 1)[0])
                if model is self.model:
                    peak = float(images.detach().max())
            energies = torch.stack(energies)
            energy = energies.mean()
            wrt = [t for t, want in ((positions, want_forces), (strain, want_stress)) if want]
            grads = list(torch.autograd.grad(energy, wrt)) if wrt else []
            if want_forces:
                forces = -grads.pop(0)
                if self.remove_net_force:
                    forces = without_net_force(forces, frame, 1)
                self.results["forces"] = forces.cpu().numpy()
            if want_stress:
                self.results["stress"] = full_3x3_to_voigt_6_stress(
                    grads.pop(0).cpu().numpy() / self.atoms.get_volume())
        self.results["energy"] = self.results["free_energy"] = float(energy.detach())
        if len(self.models) > 1:
            self.results["energy_std"] = float(energies.detach().std(unbiased=False))
        reference = float(self.model.element_energy[numbers].sum())
        self._check_distribution({
            "energy_per_atom": (self.results["energy"] - reference) / len(self.atoms),
            "closest_distance": closest, "image_peak": peak})
