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
import torch
from phonons import (
    POINTS,
    STYLES,
    THZ_TO_CM,
    modes,
    phonons,
    plot,
    primitive_cell,
    relaxed_a,
    supercell_atoms,
)

from ase_cnnas.heights import atom_heights
from training.reference import is_model, make_calculator
from training.report import command, hardware, write_text

SUPERCELL = {"Γ": 3, "M": 2, "K": 3}  # the smallest n × n supercell in which the point is exact
BANDS = max(SUPERCELL.values())  # the supercell whose force constants draw the bands
GOAL = 3.0  # %


def frequencies(material: str, name: str, folder: Path, cache: bool
                ) -> tuple[float, dict, phonopy.Phonopy]:
    """The calculator's lattice constant (Å), every mode's frequency at each point (THz) and its
    force constants in the largest supercell (for bands); with `cache`, force constants are read
    from and saved to `folder`."""
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
    return a, result, ph


def zo_ratio(points: dict) -> float:
    """Graphene's ω(ZO at Γ) / ω(ZA = ZO at K) from every mode at each point (mode 4 at Γ, the
    lowest at K): how the out-of-plane optical branch disperses."""
    return float(points["Γ"][3] / points["K"][0])


def local_height_ratio(a: float) -> float:
    """The zo_ratio that an out-of-plane energy k Σ_i u_i² of each atom's height above its
    neighbours alone gives (u of ase_cnnas/heights.py; any k): √ of the ratio of Σu²/Σz² for
    the ZO pattern at Γ (the sublattices opposite) and a K pattern (one sublattice, cos K·R)."""
    atoms = supercell_atoms("graphene", 3, a)
    site_a = np.arange(len(atoms)) % 2 == 0  # the 2-atom cell repeated: its sites alternate
    lattice = np.floor(atoms.positions @ np.linalg.inv(primitive_cell("graphene", a).cell)
                       + 1e-6)[:, :2]  # each atom's primitive cell
    k = np.cos(2 * np.pi * lattice @ np.array(POINTS["K"][:2]))
    cell, frame = torch.tensor(atoms.cell.array[None]), torch.zeros(len(atoms), dtype=torch.long)

    def stiffness(z: np.ndarray) -> float:
        z = 1e-3 * z  # Å: small, u is linear in z
        u = atom_heights(torch.tensor(atoms.positions + np.outer(z, [0, 0, 1])), cell, frame)
        return float(u.square().sum()) / float(np.square(z).sum())

    return float(np.sqrt(stiffness(np.where(site_a, 1.0, -1.0)) /
                         stiffness(np.where(site_a, k, 0.0))))


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
             "mode, ascending. Differences against the reference; acoustic modes at Γ left out. "
             f"Bands: bands_MATERIAL.png, interpolated from the {BANDS} × {BANDS} supercell "
             f"(exact at Γ and K, near elsewhere), of the reference and the first "
             f"{len(STYLES) - 1} calculators.",
             "", "| material | point | mode | " + " | ".join(f"{n} (THz)" for n in names) + " |",
             "|---" * (3 + len(names)) + "|"]
    diffs, lattice, ratios = {}, {}, {}
    for material in args.materials:
        got = {name: frequencies(material, name, cache, not is_model(name)) for name in names}
        lattice[material] = {name: a for name, (a, _, _) in got.items()}
        if material == "graphene":
            ratios = {name: zo_ratio(points) for name, (_, points, _) in got.items()}
        plot(material, {name: ph for name, (_, _, ph) in list(got.items())[:len(STYLES)]},
             args.out / f"bands_{material}.png", every=True,
             note=f"bands from {BANDS} × {BANDS} supercell force constants: exact at Γ and K")
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
    local = local_height_ratio(lattice["graphene"][args.reference]) if ratios else None
    lines += ["", *[f"- {m}, {name}: largest difference {max(d):.1f} %, mean {np.mean(d):.1f} %, "
                    f"{sum(x <= GOAL for x in d)} of {len(d)} within {GOAL:.0f} % (the goal: all)"
                    for (m, name), d in diffs.items()],
              *[f"- {m}: lattice constant " + ", ".join(f"{k} {v:.4f} Å" for k, v in a.items())
                for m, a in lattice.items()],
              *(["- graphene: ω(ZO at Γ) / ω(ZA = ZO at K) "
                 + ", ".join(f"{name} {r:.3f}" for name, r in ratios.items())
                 + "; an energy k Σ u² of each atom's height above its neighbours alone "
                 f"(ase_cnnas/heights.py) gives {local:.3f}, whatever k"] if ratios else [])]
    write_text(args.out / "phonons.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
