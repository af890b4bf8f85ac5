"""Real PBE from GPAW as a reference: plane waves (``gpaw-pw``) or LCAO (``gpaw-lcao``).

A name selects the mode and, after commas, settings that differ from the defaults:
``gpaw-pw``, ``gpaw-pw,ecut=400,kdensity=3``, ``gpaw-lcao,basis=szp``. The cell is made periodic
along z too (plane waves need it; the sheet's own vacuum separates its images), k-points are a
Γ-centred Monkhorst–Pack grid of `kdensity` points per Å⁻¹ in the plane (12 × 12 for the
2-atom cell, 3 × 2 for the 60-atom one at the default 4) and one along z. One frame is one
serial GPAW run on one core; ``pip install .[dft]`` (``make setup-dft``) installs GPAW.
"""
from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass, fields, replace

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes, kptdensity2monkhorstpack

MODES = ("gpaw-pw", "gpaw-lcao")
PULAY_STEPS = (0.95, 1.05)  # the cutoffs, over the label's, of the Pulay stress's slope
FLAT = 0.01  # Å: a sheet whose heights span less is flat (its Pulay stress is its σ_zz)
INSTALL = "GPAW is not installed: run `make setup-dft` (or `pip install .[dft]`; it needs the " \
          "Debian packages libxc-dev libfftw3-dev libopenblas-dev g++ and CC=g++)"


@dataclass(frozen=True)
class GpawSettings:
    """What a GPAW label depends on; recorded in the provenance of every labelled file."""

    mode: str = "pw"  # "pw" (plane waves) or "lcao" (atomic orbitals)
    ecut: float = 500.0  # eV, plane-wave cutoff
    basis: str = "dzp"  # LCAO basis set
    h: float = 0.2  # Å, LCAO real-space grid spacing
    kdensity: float = 4.0  # k-points per Å⁻¹ along each periodic in-plane axis
    smearing: float = 0.1  # eV, Fermi–Dirac width
    xc: str = "PBE"

    @classmethod
    def parse(cls, name: str) -> "GpawSettings":
        """Settings from a reference name such as ``gpaw-pw,ecut=400``."""
        mode, *options = name.split(",")
        if mode not in MODES:
            raise ValueError(f"unknown GPAW reference {mode!r}: use one of {', '.join(MODES)}")
        types = {f.name: f.type for f in fields(cls)}
        settings = cls(mode=mode.removeprefix("gpaw-"))
        for option in options:
            key, sep, value = option.partition("=")
            if not sep or key not in types or key == "mode":
                raise ValueError(f"{name!r}: {option!r} is not a setting; give key=value with a "
                                 f"key among {', '.join(k for k in types if k != 'mode')}")
            cast = str if types[key] in (str, "str") else float
            try:
                settings = replace(settings, **{key: cast(value)})
            except ValueError as err:
                raise ValueError(f"{name!r}: {key} must be a number, not {value!r}") from err
        return settings

    def kpts(self, atoms: Atoms) -> tuple[int, int, int]:
        """Γ-centred grid for the sheet: `kdensity` per Å⁻¹ in the plane, one point along z."""
        sheet = atoms.copy()
        sheet.pbc = (True, True, False)
        return tuple(int(k) for k in kptdensity2monkhorstpack(sheet, self.kdensity, even=False))


class GpawReference(Calculator):
    """Energy, forces and (plane waves only) stress of a periodic sheet from a serial GPAW run
    with `settings`; the energy is the smeared free energy, whose derivatives the forces and
    stress are (VASP's TOTEN). A new cell
    or new atoms start a fresh GPAW calculation; moved atoms reuse the last one's wave
    functions (MD, finite differences), unless they break a symmetry the last atoms had."""

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, settings: GpawSettings | str = GpawSettings(), **kwargs):
        if importlib.util.find_spec("gpaw") is None:  # now, not in the first worker's frame
            raise ImportError(INSTALL)
        super().__init__(**kwargs)
        self.settings = (GpawSettings.parse(settings) if isinstance(settings, str)
                         else settings)
        self._gpaw, self._key = None, None

    def _calculator(self, atoms: Atoms, ecut: float | None = None):
        from gpaw import GPAW, PW, FermiDirac

        s = self.settings
        mode = PW(ecut or s.ecut) if s.mode == "pw" else "lcao"
        extra = {"basis": s.basis, "h": s.h} if s.mode == "lcao" else {}
        return GPAW(mode=mode, xc=s.xc, kpts={"size": s.kpts(atoms), "gamma": True},
                    occupations=FermiDirac(s.smearing), txt=None, **extra)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        from gpaw.new.symmetry import SymmetryBrokenError

        super().calculate(atoms, properties, system_changes)
        if "stress" in properties and self.settings.mode != "pw":
            raise ValueError("GPAW gives the stress in plane waves only: label with gpaw-pw")
        periodic = self.atoms.copy()
        periodic.pbc = True
        key = (periodic.numbers.tobytes(), np.round(periodic.cell.array, 8).tobytes())
        if key != self._key:
            self._gpaw, self._key = self._calculator(periodic), key
        periodic.calc = self._gpaw
        try:
            energy = periodic.get_potential_energy(force_consistent=True)
        except SymmetryBrokenError:  # the last atoms were more symmetric (a phonon's undisplaced
            self._gpaw = periodic.calc = self._calculator(periodic)  # cell): its k-points and
            energy = periodic.get_potential_energy(force_consistent=True)  # waves do not serve
        self.results = {"energy": energy, "forces": periodic.get_forces()}
        if "stress" in properties:
            self.results["stress"] = self._stress(periodic, energy)

    def _stress(self, periodic: Atoms, energy: float) -> np.ndarray:
        """GPAW's stress (Voigt, over the whole cell, vacuum included, as the models' stress)
        less the Pulay stress, so that it is the strain derivative of the energies at this
        cutoff. GPAW's is the derivative at a fixed set of plane waves; at a fixed cutoff a cell
        that grows by dV/V gains plane waves as the cutoff would by (2/3) dV/V, which adds
        P = (2/3V) ∂E/∂ln E_cut to each diagonal component (on hBN at 500 eV about 1 eV/atom in
        σV/N). A flat sheet's true σ_zz is zero (stretching z moves it rigidly), so GPAW's is
        −P; for any other, ∂E/∂ln E_cut comes from two more energies, at PULAY_STEPS of the
        cutoff."""
        stress = periodic.get_stress()
        if np.ptp(periodic.positions[:, 2]) < FLAT:
            stress[:3] -= stress[2]
            return stress
        energies = []
        for step in PULAY_STEPS:
            other = periodic.copy()
            other.calc = self._calculator(other, self.settings.ecut * step)
            energies.append(other.get_potential_energy(force_consistent=True))
        slope = (energies[1] - energies[0]) / np.log(PULAY_STEPS[1] / PULAY_STEPS[0])
        stress[:3] += 2 * slope / (3 * periodic.get_volume())
        return stress


def describe(name: str) -> dict:
    """The settings a GPAW reference name stands for, with the GPAW version: for provenance."""
    import gpaw

    return {**asdict(GpawSettings.parse(name)), "gpaw": gpaw.__version__}
