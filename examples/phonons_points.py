"""Phonon frequencies of graphene and hBN at Γ, M and K, every mode, against a reference that
is too slow for a full band structure (GPAW plane-wave PBE): each point from finite
displacements in the smallest n × n supercell of the primitive cell where it is exact (M: 2,
Γ and K: 3), each calculator at its own lattice constant. A calculator is a CNNAS model (a
bundled name or a file) or a reference by name; the references' force constants are kept in
--cache (default: --out), so a rerun (another model) does not recompute them. Frequencies in
THz.

    python examples/phonons_points.py --reference gpaw-pw \
        --calculators 7net-0 results/models/free_stage2/best.pt --out results/phonons_pbe
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import phonopy
from phonons import POINTS, THZ_TO_CM, modes, phonons, relaxed_a

from training.reference import is_model, make_calculator
from training.report import command, hardware, write_text

SUPERCELL = {"Γ": 3, "M": 2, "K": 3}  # the smallest n × n supercell in which the point is exact
GOAL = 3.0  # %


def frequencies(material: str, name: str, folder: Path, cache: bool) -> tuple[float, dict]:
    """The calculator's lattice constant (Å) and every mode's frequency at each point (THz); with
    `cache`, force constants are read from and saved to `folder`."""
    stem = folder / f"{material}_{name.replace('/', '_')}"
    saved = Path(f"{stem}_a.txt")
    calc = None if cache and saved.exists() else make_calculator(name)  # loaded only when needed
    a = float(saved.read_text()) if calc is None else relaxed_a(material, calc, 1)
    if cache:
        write_text(saved, f"{a!r}\n")
    result = {}
    for n in sorted(set(SUPERCELL.values())):
        path = Path(f"{stem}_n{n}.yaml")
        if cache and path.exists():
            ph = phonopy.load(path, produce_fc=True, log_level=0)
        else:
            calc = calc or make_calculator(name)
            ph = phonons(material, calc, False, a, n)
            if cache:
                ph.save(path, settings={"force_constants": True})
        result.update({p: modes(ph, POINTS[p], every=True) for p, m in SUPERCELL.items()
                       if m == n})
    return a, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--materials", nargs="+", default=["graphene", "hbn"],
                    choices=["graphene", "hbn"])
    ap.add_argument("--reference", default="gpaw-pw", help="the reference calculator, by name")
    ap.add_argument("--calculators", nargs="+", default=["7net-0", "default"],
                    help="CNNAS models (names or files) or references (names) to compare")
    ap.add_argument("--out", type=Path, default=Path("results/phonons_pbe"))
    ap.add_argument("--cache", type=Path, default=None,
                    help="folder of the references' force constants (default: --out), e.g. "
                         "another table's, to compare more models without recomputing them")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cache = args.cache or args.out
    names = [args.reference, *args.calculators]
    lines = [f"# Phonons at Γ, M and K against {args.reference}", "",
             f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}", "",
             "Finite displacements of 0.01 Å, each point in the smallest supercell of the "
             "primitive cell where it is exact (" + ", ".join(f"{p}: {n} × {n}" for p, n in
                                                        SUPERCELL.items())
             + "), each calculator at the lattice constant where its energy is lowest; every "
             "mode, ascending. Differences against the reference; acoustic modes at Γ left out.",
             "", "| material | point | mode | " + " | ".join(f"{n} (THz)" for n in names) + " |",
             "|---" * (3 + len(names)) + "|"]
    diffs, lattice = {}, {}
    for material in args.materials:
        got = {name: frequencies(material, name, cache, not is_model(name)) for name in names}
        lattice[material] = {name: a for name, (a, _) in got.items()}
        ref = got[args.reference][1]
        for point in POINTS:
            for i, r in enumerate(ref[point]):
                if abs(r) < 0.5:
                    continue
                cells = [f"{r:.2f} ({r * THZ_TO_CM:.0f} cm⁻¹)"]
                for name in args.calculators:
                    c = got[name][1][point][i]
                    diff = (c - r) / r * 100
                    diffs.setdefault((material, name), []).append(abs(diff))
                    cells.append(f"{c:.2f} ({diff:+.1f} %)")
                lines.append(f"| {material} | {point} | {i + 1} | " + " | ".join(cells) + " |")
    lines += ["", *[f"- {m}, {name}: largest difference {max(d):.1f} %, mean {np.mean(d):.1f} %, "
                    f"{sum(x <= GOAL for x in d)} of {len(d)} within {GOAL:.0f} % (the goal: all)"
                    for (m, name), d in diffs.items()],
              *[f"- {m}: lattice constant " + ", ".join(f"{k} {v:.4f} Å" for k, v in a.items())
                for m, a in lattice.items()]]
    write_text(args.out / "phonons.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
