"""Quick start: the bundled default CNNAS model on a free-standing hexagonal hBN sheet.

The sheet as ASE builds it (a 6 × 6 hexagonal cell, 72 atoms, vacuum along z), its energy and
forces, 200 steps of NVE molecular dynamics (0.5 fs, from 300 K, atoms free to leave the plane)
with the total-energy drift and the sheet's height spread, and then one frame the model never
saw compared with its GPAW PBE label (datasets/pbe_val_1000K.h5, when h5py is installed).
"""
import time
from pathlib import Path

import numpy as np
from ase import units
from ase.build import graphene
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet

from ase_cnnas import CNNASCalculator

atoms = graphene(formula="BN", a=2.51, size=(6, 6, 1), vacuum=5.0)
atoms.positions[:, 2] += np.random.default_rng(1).normal(0, 0.05, len(atoms))  # a slight ripple
atoms.calc = CNNASCalculator()
n = len(atoms)
a, b, _ = atoms.cell.lengths()
print(f"{atoms.get_chemical_formula()} sheet, hexagonal cell {a:.2f} × {b:.2f} Å at "
      f"{atoms.cell.angles()[2]:.0f}°, model on {atoms.calc.model.device}")
print(f"energy {atoms.get_potential_energy() / n:.4f} eV/atom, "
      f"largest force {np.abs(atoms.get_forces()).max():.3f} eV/Å")

thermalize_momenta(atoms, 300, rng=np.random.default_rng(0))
Stationary(atoms)
dyn = VelocityVerlet(atoms, timestep=0.5 * units.fs)
e0 = atoms.get_total_energy()
print("\nNVE, 0.5 fs, 200 steps from 300 K, free-standing\n"
      f"{'step':>5} {'T (K)':>7} {'E_tot (eV/atom)':>16} {'drift (meV/atom)':>17} "
      f"{'height spread (Å)':>18}")


def report() -> None:
    e = atoms.get_total_energy()
    print(f"{dyn.nsteps:5d} {atoms.get_temperature():7.1f} {e / n:16.5f} "
          f"{(e - e0) / n * 1e3:17.3f} {atoms.positions[:, 2].std():18.3f}")


dyn.attach(report, interval=50)
start = time.perf_counter()
dyn.run(200)
print(f"{(time.perf_counter() - start) / 200 * 1e3:.1f} ms per MD step")

try:
    from training.h5data import read_frames
except ImportError:
    print("\nh5py is not installed: skipping the comparison with GPAW PBE")
else:
    held_out = read_frames(Path(__file__).resolve().parents[1] / "datasets" / "pbe_val_1000K.h5")
    frame = held_out.atoms(0)
    e_pbe, f_pbe = frame.get_potential_energy(), frame.get_forces()
    frame.calc = CNNASCalculator()
    e_cnn, f_cnn = frame.get_potential_energy(), frame.get_forces()
    m = len(frame)
    print(f"\nA held-out 1000 K frame ({frame.get_chemical_formula()}, {m} atoms) vs GPAW PBE: "
          f"energy {e_cnn / m:.4f} vs {e_pbe / m:.4f} eV/atom "
          f"(Δ {(e_cnn - e_pbe) / m * 1e3:+.1f} meV/atom), "
          f"force MAE {np.abs(f_cnn - f_pbe).mean() * 1e3:.0f} meV/Å (x, y and z)")
