"""Quick start: the bundled CNNAS model on a 60-atom graphene–hBN sheet.

Energy and forces, 200 steps of NVE molecular dynamics (0.5 fs, from 300 K, atoms held in the
plane) with the total-energy drift, and, when sevenn is installed, one frame compared with the
reference the model was trained on (SevenNet-0).
"""
import time

import numpy as np
from ase import units
from ase.constraints import FixedPlane
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet

from ase_cnnas import CNNASCalculator
from ase_cnnas.sheets import build_sheet

atoms = build_sheet("heterostructure_pristine")
atoms.set_constraint(FixedPlane(range(len(atoms)), [0, 0, 1]))  # a 2D model: atoms stay in z = 0
atoms.calc = CNNASCalculator()
n = len(atoms)
print(f"{atoms.get_chemical_formula()} sheet, cell {atoms.cell.lengths()[0]:.2f} × "
      f"{atoms.cell.lengths()[1]:.2f} Å, model on {atoms.calc.model.device}")
print(f"energy {atoms.get_potential_energy() / n:.4f} eV/atom, "
      f"largest force {np.abs(atoms.get_forces()).max():.3f} eV/Å")

thermalize_momenta(atoms, 300, rng=np.random.default_rng(0))
Stationary(atoms)
dyn = VelocityVerlet(atoms, timestep=0.5 * units.fs)
e0 = atoms.get_total_energy()
print("\nNVE, 0.5 fs, 200 steps from 300 K\n"
      f"{'step':>5} {'T (K)':>7} {'E_tot (eV/atom)':>16} {'drift (meV/atom)':>17}")


def report() -> None:
    e = atoms.get_total_energy()
    print(f"{dyn.nsteps:5d} {atoms.get_temperature():7.1f} {e / n:16.5f} "
          f"{(e - e0) / n * 1e3:17.3f}")


dyn.attach(report, interval=50)
start = time.perf_counter()
dyn.run(200)
print(f"{(time.perf_counter() - start) / 200 * 1e3:.1f} ms per MD step")

try:
    from training.reference import make_reference
    reference = make_reference("7net-0")
except ImportError:
    print("\nsevenn is not installed: skipping the comparison with SevenNet-0")
else:
    frame = atoms.copy()
    frame.calc = reference
    e_ref, f_ref = frame.get_potential_energy(), frame.get_forces()
    e_cnn, f_cnn = atoms.get_potential_energy(), atoms.get_forces()
    print(f"\nlast frame vs SevenNet-0: energy {e_cnn / n:.4f} vs {e_ref / n:.4f} eV/atom "
          f"(Δ {(e_cnn - e_ref) / n * 1e3:+.2f} meV/atom), "
          f"in-plane force MAE {np.abs(f_cnn - f_ref)[:, :2].mean() * 1e3:.0f} meV/Å")
