"""Harmonic height fluctuations of the free-standing MD sheet, from its out-of-plane force
constants: ⟨h²⟩ = kT tr(K⁺)/N for the variance of the heights about their mean (the quantity
examples/md_free.py samples), with K the zz block of the Hessian of the flat sheet in its cell.

It tells apart what an MD comparison of ⟨h²⟩ mixes: a calculator's flexural stiffness and
in-plane tension in the cell (the 60-atom cell is built at a = 2.506 Å, stretched for every
calculator here, so its ZA modes carry tension), from the sampling noise of one trajectory. One
displaced atom gives K on a lattice whose sites all map onto it by a translation or by a
rotation by π about z (pristine graphene), so a slow reference (GPAW plane waves) costs one
calculation; the mirror z → −z makes that one displacement a central difference. Heights in Å,
temperatures in K, frequencies in THz.

    python examples/flexural.py --calculators 7net-0 default \
        results/models/free_pbe_p05fw02/best.pt gpaw-pw --out results/flexural
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.build import graphene
from tqdm import tqdm

from ase_cnnas.sheets import A_LATTICE, VACUUM_Z, build_sheet
from training.reference import is_model, make_calculator
from training.report import command, hardware, write_text

STEP = 0.05  # Å, along z: the quartic term stiffens ⟨h²⟩ by ~0.4 % (SevenNet-0); a smaller step
# lets a DFT code's force noise in (its size shows in the rows' sum before the sum rule)
AMPLITUDE = 0.05  # Å, of the frozen flexural waves (their stiffness grows ~0.4 % over zero)
TOL = 1e-3  # Å, how close a mapped site must fall on an atom
STRUCTURE = "graphene_pristine"  # the MD sheet of examples/md_free.py, at a = A_LATTICE


def site_maps(atoms: Atoms) -> np.ndarray:
    """maps[i, j]: the atom that atom j becomes under a symmetry of the flat sheet (a translation,
    or a rotation by π about z) taking atom i onto atom 0; refused where none does."""
    cell = atoms.cell.array[:2, :2]
    xy = atoms.positions[:, :2]
    frac = np.linalg.solve(cell.T, xy.T).T

    def find(points: np.ndarray) -> np.ndarray | None:
        f = np.linalg.solve(cell.T, points.T).T
        d = (f[:, None, :] - frac[None, :, :] + 0.5) % 1.0 - 0.5
        dist = np.linalg.norm(d @ cell, axis=2)
        j = dist.argmin(axis=1)
        same = atoms.numbers[j] == atoms.numbers
        ok = np.all(dist[np.arange(len(j)), j] < TOL) and same.all()
        return j if ok and len(set(j)) == len(j) else None

    maps = []
    for i in range(len(atoms)):
        m = find(xy - xy[i] + xy[0])
        m = find(xy[0] - (xy - xy[i])) if m is None else m
        if m is None:
            raise ValueError(f"atom {i} does not map onto atom 0 by a translation or a rotation by "
                             "π about z: this construction needs a lattice of equivalent sites "
                             "(pristine graphene)")
        maps.append(m)
    return np.array(maps)


def zz_constants(atoms: Atoms, calc, symmetric: bool, step: float = STEP
                 ) -> tuple[np.ndarray, float]:
    """The zz force constants (eV/Å²) of the flat sheet with the acoustic sum rule imposed (a
    rigid shift costs nothing), from one displaced atom mapped onto the others where `symmetric`
    (a calculator whose energy has the lattice's symmetries exactly), else from every atom; and
    the largest row sum before the rule was imposed (eV/Å², zero for an exact calculator)."""
    def column(i: int) -> np.ndarray:
        moved = atoms.copy()
        moved.calc = calc
        moved.positions[i, 2] += step
        return -np.asarray(moved.get_forces()[:, 2], float) / step

    k = column(0)[site_maps(atoms)] if symmetric else np.array(
        [column(i) for i in tqdm(range(len(atoms)), desc="displacements", leave=False)])
    project = np.eye(len(k)) - 1 / len(k)
    return project @ ((k + k.T) / 2) @ project, float(np.abs(k.sum(1)).max())


def fluctuations(k: np.ndarray, longest: int = 4) -> dict:
    """⟨h²⟩/T (Å²/K) of force constants `k` whose only zero mode is the rigid shift, and the
    share of it in the `longest` softest modes (classical: the masses do not enter)."""
    stiffness, modes = np.linalg.eigh(k)
    shift = np.argmax(np.abs(modes.sum(0)))  # the rigid shift: ⟨h²⟩ = kT Σ 1/λ / N over the rest
    inverse = np.sort(1 / np.delete(stiffness, shift))[::-1]
    return {"h2_per_K": float(units.kB * inverse.sum() / len(k)),
            "share_longest": float(inverse[:longest].sum() / inverse.sum())}


def wave_frequencies(atoms: Atoms, calc, amplitude: float = AMPLITUDE) -> list[float]:
    """Frequencies (THz) of the longest flexural waves along x and along y, frozen in: heights
    amplitude·cos(2π x / L), all atoms in phase (ZA, near enough: the Rayleigh quotient is off
    at second order), the stiffness −u·F/|u|² from one calculation each."""
    out = []
    for axis in (0, 1):
        u = amplitude * np.cos(2 * np.pi * atoms.positions[:, axis] / atoms.cell[axis, axis])
        wave = atoms.copy()
        wave.calc = calc
        wave.positions[:, 2] += u
        stiffness = -u @ np.asarray(wave.get_forces()[:, 2], float) / (u @ u)  # eV/Å²
        out.append(float(np.sqrt(stiffness / atoms.get_masses().mean() * units._e / units._amu)
                         * 1e10 / (2 * np.pi) / 1e12))
    return out


def tension(calc) -> float | None:
    """In-plane tension (eV/Å² of sheet, positive: stretched) of the flat sheet at the MD cell's
    lattice constant, from its 2-atom cell: σ × cell height, the stress being over the cell."""
    if "stress" not in calc.implemented_properties:
        return None
    cell = graphene(formula="C2", a=A_LATTICE, vacuum=VACUUM_Z / 2)
    cell.pbc = (True, True, False)
    cell.calc = calc
    return float(cell.get_stress()[:2].mean() * cell.cell[2, 2])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calculators", nargs="+", default=["7net-0", "default"],
                    help="CNNAS models (names or files) or references (names); the first is the "
                         "one the others are compared with")
    ap.add_argument("--waves-only", nargs="*", default=[],
                    help="slow references (gpaw-pw): only the frozen waves and the tension")
    ap.add_argument("--out", type=Path, default=Path("results/flexural"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    atoms = build_sheet(STRUCTURE)
    rows = {}
    for name in [*args.calculators, *args.waves_only]:
        cache = args.out / f"{STRUCTURE}_{name.replace('/', '_')}.json"
        row = json.loads(cache.read_text()) if cache.exists() else {}  # each part computed once
        calc = None
        if "waves_thz" not in row:
            calc = make_calculator(name)
            row.update(waves_thz=wave_frequencies(atoms, calc), tension=tension(calc))
        if name in args.calculators and (row.get("step") != STEP or "share_longest" not in row):
            calc = calc or make_calculator(name)
            k, row["sum_rule"] = zz_constants(atoms, calc, symmetric=not is_model(name))
            row.update(fluctuations(k), step=STEP)
        write_text(cache, json.dumps(row))
        rows[name] = row
    first = rows[args.calculators[0]]["h2_per_K"]
    lines = [f"# Harmonic height fluctuations of {STRUCTURE} ({len(atoms)} atoms, "
             f"{atoms.cell[0, 0]:.2f} × {atoms.cell[1, 1]:.2f} Å)", "",
             f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}", "",
             "⟨h²⟩ = kT tr(K⁺)/N from the flat sheet's zz force constants K: every atom displaced "
             f"{STEP} Å for a model, one atom mapped by symmetry for a reference. Row sum: the "
             "largest sum of a row of K before the acoustic sum rule was imposed (zero for an "
             "exact calculator; else a DFT code's force noise). Waves: the frequencies of the "
             f"longest flexural waves along x and y, frozen in at {AMPLITUDE} Å. Tension: of the "
             "flat sheet at the cell's lattice constant (σ × cell height, positive: stretched). "
             "Differences against the first calculator; the share of ⟨h²⟩ in the 4 softest "
             f"of the {len(atoms) - 1} flexural modes. The MD to set beside it: "
             "`python examples/md_free.py ensemble`.", "",
             "| calculator | ⟨h²⟩/T harmonic (10⁻⁶ Å²/K) | difference | in the 4 softest modes | "
             "row sum (eV/Å²) | longest waves x, y (THz) | tension (eV/Å²) |", "|---" * 7 + "|"]
    for name, row in rows.items():
        h2 = row.get("h2_per_K")
        cells = ["—"] * 4 if h2 is None else [f"{h2 * 1e6:.2f}", f"{100 * (h2 / first - 1):+.1f} %",
                                              f"{100 * row['share_longest']:.0f} %",
                                              f"{row['sum_rule']:.3f}"]
        cells += [", ".join(f"{f:.2f}" for f in row["waves_thz"]),
                  "—" if row["tension"] is None else f"{row['tension']:.3f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    write_text(args.out / "flexural.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
