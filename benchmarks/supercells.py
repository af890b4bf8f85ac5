"""Does an any-cell model give one sheet one energy per atom whatever supercell it is given as?
(A study, not a test.)

A cell laid on pixels of another size than the model's is seen rescaled by the mismatch, and
the side repeats that match the pixels depend on the cell the user gives: the same strained
sheet, given as its primitive cell or as a supercell of it, may be laid on other pixels and get
another energy. This evaluates each sheet, unstrained and strained, as several supercells and
tabulates the spread of the energy per atom and the pixel spacings the supercells were laid on.
Writes a Markdown table.

    python benchmarks/supercells.py --models default --out results/supercells.md
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from ase import Atoms

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
from strain import pixel_spacing, strained  # noqa: E402

from ase_cnnas import CNNASCalculator  # noqa: E402
from ase_cnnas.sheets import build_sheet  # noqa: E402
from training.reference import make_calculator  # noqa: E402
from training.report import command, hardware, write_text  # noqa: E402

REPEATS = ((1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (3, 3))


def spread(calc: CNNASCalculator, atoms: Atoms) -> tuple[np.ndarray, np.ndarray]:
    """Energy per atom (meV) and the y pixel spacing (over the model's) of `atoms` given as
    each supercell of REPEATS."""
    energies, spacings = [], []
    for r in REPEATS:
        cell = atoms.repeat((*r, 1))
        cell.calc = calc
        energies.append(cell.get_potential_energy() / len(cell) * 1e3)
        spacings.append(pixel_spacing(calc, cell)[1])
    return np.array(energies), np.array(spacings)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["default"], help="CNNAS models")
    ap.add_argument("--structures", nargs="+",
                    default=["graphene_pristine@hex1", "graphene_pristine@2x1",
                             "hbn_pristine@hex1"])
    ap.add_argument("--strains", nargs="+", type=float, default=[0.0, 0.02, -0.02],
                    help="strains along y")
    ap.add_argument("--out", type=Path, default=Path("results/supercells.md"))
    args = ap.parse_args()
    rows = []
    for name in args.models:
        calc = make_calculator(name)
        for structure in args.structures:
            for e in args.strains:
                energies, spacings = spread(calc, strained(build_sheet(structure), 0.0, e))
                lo, hi = (spacings.min() - 1) * 100, (spacings.max() - 1) * 100
                rows.append(f"| {structure} | {e:+.0%} | {name} | {np.ptp(energies):.2f} | "
                            f"{lo:+.1f} … {hi:+.1f} | "
                            f"{' / '.join(f'{x - energies[0]:+.1f}' for x in energies[1:])} |")
    lines = ["# One sheet, several supercells", "", f"Regenerate: `{command()}`  ",
             f"Hardware: {hardware()}", "",
             "Each sheet strained along y, then given to the calculator as each supercell "
             f"({', '.join(f'{a} × {b}' for a, b in REPEATS)}). Spread: the largest less the "
             "smallest energy per atom; spacing: the y pixel spacing the supercells were laid "
             "on against the model's (0: lengths seen as they are); last column: each "
             "supercell's energy per atom less the first's, in that order.", "",
             "| structure | strain along y | model | spread (meV/atom) | pixel spacing (%) | "
             "energy per atom against 1 × 1 (meV/atom) |", "|---|---|---|---|---|---|", *rows, ""]
    write_text(args.out, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
