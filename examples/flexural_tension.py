"""Long flexural waves of a stretched sheet: does the calculator feel the sheet's tension?

A wave of heights h = A cos(q x) in a sheet held at a fixed in-plane cell stretches its bonds, so
under a tension σ (eV/Å², positive: stretched) it costs σ ΔArea on top of the bending energy:
the stiffness per atom K(q) = −h·F_z/|h|² = σ a q² + κ a q⁴ (a the area per atom). So K/q² tends to
σ a as q → 0 for every calculator whose energy is invariant to rotations, with σ its own stress
of the flat sheet, and to zero for one that sees only the curvature. The sheet is graphene at the
MD cell's lattice constant (stretched for every calculator here) in a 100 × 13 Å cell of 480 atoms;
waves along x of wavelength 100, 50, 25 and 12.5 Å at 0.05 Å amplitude. Energies in eV, lengths
in Å.

    python examples/flexural_tension.py --calculators 7net-0 default --out results/flexural_tension
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from ase import Atoms
from flexural import AMPLITUDE, tension

from ase_cnnas.sheets import build_sheet
from training.reference import make_calculator
from training.report import command, hardware, save_figure, write_text

STRUCTURE = "graphene_pristine@40x3"  # 100.2 × 13.0 Å, 480 atoms, at a = A_LATTICE
WAVES = (1, 2, 4, 8)  # whole waves along x


def stiffness_over_q2(atoms: Atoms, calc, waves: tuple[int, ...] = WAVES,
                      amplitude: float = AMPLITUDE) -> list[tuple[float, float]]:
    """(q in Å⁻¹, K/q² in eV per atom) of frozen waves of `waves` whole wavelengths along x."""
    out = []
    for n in waves:
        q = 2 * np.pi * n / atoms.cell[0, 0]
        h = amplitude * np.cos(q * atoms.positions[:, 0])
        wave = atoms.copy()
        wave.calc = calc
        wave.positions[:, 2] += h
        k = -np.asarray(wave.get_forces()[:, 2], float) @ h / (h @ h)
        out.append((float(q), float(k / q ** 2)))
    return out


def plot(rows: dict[str, dict], path: Path) -> None:
    """K/q² against q, each calculator beside its own σ a (dashed), the limit at q → 0."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (name, row) in enumerate(rows.items()):
        q, ratio = np.array(row["waves"]).T
        ax.plot(q, ratio, "o-", color=f"C{i}", label=name[:40])
        if row["sigma_a"] is not None:
            ax.axhline(row["sigma_a"], ls="--", color=f"C{i}", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("q (1/Å)")
    ax.set_ylabel("K / q² (eV per atom)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    ax.set_title("dashed: σ a, each calculator's own limit at q → 0", fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calculators", nargs="+", default=["7net-0", "default"],
                    help="CNNAS models (names or files) or references (names)")
    ap.add_argument("--out", type=Path, default=Path("results/flexural_tension"))
    args = ap.parse_args()
    atoms = build_sheet(STRUCTURE)
    area = abs(np.linalg.det(atoms.cell.array[:2, :2])) / len(atoms)
    rows = {}
    for name in args.calculators:
        calc = make_calculator(name)
        sigma = tension(calc)
        rows[name] = {"waves": stiffness_over_q2(atoms, calc),
                      "sigma_a": None if sigma is None else sigma * area}
        print(name, rows[name], flush=True)
    q = [f"{x:.3f}" for x, _ in rows[args.calculators[0]]["waves"]]
    lines = [f"# Long flexural waves of stretched graphene ({len(atoms)} atoms, "
             f"{atoms.cell[0, 0]:.1f} × {atoms.cell[1, 1]:.1f} Å)", "",
             f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}", "",
             f"K/q² (eV per atom) of frozen waves along x at {AMPLITUDE} Å, K = −h·F_z/|h|². A "
             "calculator invariant to rotations tends to σ a as q → 0 (σ its own tension of the "
             "flat sheet at this lattice constant, a the area per atom); one that sees only the "
             "curvature, to zero. Figure: `tension.png`.", "",
             "| calculator | " + " | ".join(f"q = {x} Å⁻¹" for x in q) + " | σ a (eV) |",
             "|---" * (len(q) + 2) + "|"]
    for name, row in rows.items():
        cells = [f"{r:.3f}" for _, r in row["waves"]]
        cells.append("—" if row["sigma_a"] is None else f"{row['sigma_a']:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    args.out.mkdir(parents=True, exist_ok=True)
    plot(rows, args.out / "tension.png")
    write_text(args.out / "tension.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
