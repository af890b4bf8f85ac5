"""Phonons of graphene and hBN with phonopy: finite displacements in the paper's 60-atom cell
through the bundled CNNAS model, beside the same calculation with SevenNet-0 (its reference).

The 60-atom cell is the 5 × 3 supercell of the 4-atom rectangular honeycomb cell, so phonopy
works on that cell and folds onto the 2-atom primitive cell. A flat 2D model sees only x and y,
so its out-of-plane force constants are zero and only in-plane modes are compared (on a flat
sheet in-plane and out-of-plane modes do not mix). With --free, a model that sees heights and
takes any cell is displaced in all three directions in an n × n supercell of the primitive cell,
each calculator at its own lattice constant, and every mode is compared, the flexural ZA and ZO
branches included, with the exponent of the ZA branch near Γ (2 for a free-standing sheet:
ω ∝ q²) and the lowest frequency along the path (imaginary ones negative).
Frequencies in THz.

    python examples/phonons.py --materials graphene hbn --out results
    python examples/phonons.py --free --model runs/free/best.pt --out results/free_phonons
"""
from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
from ase import Atoms
from phonopy import Phonopy
from phonopy.structure.atoms import PhonopyAtoms
from tqdm import tqdm

from ase_cnnas import CNNASCalculator
from ase_cnnas.sheets import A_LATTICE, REPEAT, VACUUM_Z, build_sheet
from training.reference import make_reference
from training.report import command, hardware, save_figure, write_text

# rectangular (a, √3a) → hexagonal primitive (a, 0), (a/2, √3a/2): columns are the new vectors
PRIMITIVE = np.array([[1, 0.5, 0], [0, 0.5, 0], [0, 0, 1]])
POINTS = {"Γ": (0, 0, 0), "M": (0.5, 0, 0), "K": (2 / 3, 1 / 3, 0)}  # of the primitive cell
PATH = ["Γ", "M", "K", "Γ"]
THZ_TO_CM = 33.35641


def primitive_cell(material: str, a: float) -> PhonopyAtoms:
    """The 2-atom honeycomb cell, vectors (a, 0) and (a/2, √3a/2) (PRIMITIVE of the rectangular
    cell), hBN's boron on the first site."""
    d = a / np.sqrt(3)
    cell = np.array([[a, 0, 0], [a / 2, 1.5 * d, 0], [0, 0, VACUUM_Z]])
    symbols = ["C", "C"] if material == "graphene" else ["B", "N"]
    return PhonopyAtoms(symbols=symbols, cell=cell, positions=[[0, 0, 0], [0, d, 0]])


def rectangular_cell(material: str) -> PhonopyAtoms:
    """The 4-atom rectangular cell (a, √3a) of the paper's 60-atom sheet."""
    sheet = build_sheet(f"{material}_pristine")
    a, b = A_LATTICE, np.sqrt(3) * A_LATTICE
    keep = (sheet.positions[:, 0] < a - 1e-6) & (sheet.positions[:, 1] < b - 1e-6)
    return PhonopyAtoms(symbols=list(np.array(sheet.get_chemical_symbols())[keep]),
                        cell=np.diag([a, b, VACUUM_Z]), positions=sheet.positions[keep])


def supercell_atoms(material: str, n: int, a: float) -> Atoms:
    """The n × n supercell of the 2-atom cell at lattice constant `a`, as ASE atoms."""
    cell = primitive_cell(material, a)
    atoms = Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions,
                  pbc=(True, True, False))
    return atoms.repeat((n, n, 1))


def relaxed_a(material: str, calc, n: int, strain: float = 0.015, points: int = 7) -> float:
    """The lattice constant (Å) where `calc`'s energy of the flat n × n sheet is lowest: a
    parabola through energies at up to ±`strain` around the paper's a."""
    scales = np.linspace(1 - strain, 1 + strain, points)
    energies = []
    for s in scales:
        atoms = supercell_atoms(material, n, A_LATTICE * s)
        atoms.calc = calc
        energies.append(atoms.get_potential_energy())
    c2, c1, _ = np.polyfit(scales, energies, 2)
    return float(A_LATTICE * -c1 / (2 * c2))


def phonons(material: str, calc, flat: bool, a: float = A_LATTICE, n: int | None = None
            ) -> Phonopy:
    """Force constants of `material` from finite displacements (0.01 Å), less the residual
    forces of the undisplaced supercell: in the paper's 60-atom cell (n None), or in the n × n
    supercell of the primitive cell at lattice constant `a` (a model that takes any cell). `flat`
    puts displaced atoms back in the plane, what a 2D model sees anyway."""
    with warnings.catch_warnings():  # the 60-atom cell is orthorhombic, the primitive hexagonal
        warnings.filterwarnings("ignore", message="Warning: Point group symmetries")
        if n is None:
            ph = Phonopy(rectangular_cell(material), supercell_matrix=np.diag([*REPEAT, 1]),
                         primitive_matrix=PRIMITIVE)
        else:
            ph = Phonopy(primitive_cell(material, a), supercell_matrix=np.diag([n, n, 1]),
                         primitive_matrix="P")
    ph.generate_displacements(distance=0.01)

    def forces_on(sc) -> np.ndarray:
        atoms = Atoms(sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions,
                      pbc=(True, True, False))
        if flat:
            atoms.positions[:, 2] = 0.0
        atoms.calc = calc
        return atoms.get_forces()

    # the residual forces of the undisplaced supercell (zero by symmetry for an exact
    # calculator, not for a grid) are subtracted, as DFT phonon codes do
    rest = forces_on(ph.supercell)
    ph.forces = np.array([forces_on(sc) - rest for sc in
                          tqdm(ph.supercells_with_displacements,
                               desc=f"{material} displacements", leave=False)])
    ph.produce_force_constants()
    ph.symmetrize_force_constants()
    return ph


def modes(ph: Phonopy, q, every: bool = False) -> np.ndarray:
    """The in-plane (or, with `every`, all) mode frequencies at q (THz), ascending; imaginary
    ones negative, as phonopy gives them."""
    result = ph.run_qpoints([q], with_eigenvectors=True)
    freqs, vecs = result.frequencies[0], result.eigenvectors[0]
    z_weight = (np.abs(vecs[2::3, :]) ** 2).sum(axis=0)
    return np.sort(freqs if every else freqs[z_weight < 0.5])


def za_exponent(ph: Phonopy, lo: float = 0.04, hi: float = 0.12) -> tuple[float, float]:
    """The exponent b of ω ∝ |q|^b of the lowest branch from Γ towards M for |q| between lo and
    hi (fractions of Γ–M), and its lowest frequency there (THz; below zero: imaginary)."""
    fractions = np.linspace(lo, hi, 9)
    lowest = np.array([modes(ph, (f * 0.5, 0, 0), every=True)[0] for f in fractions])
    if (lowest <= 0).any():
        return float("nan"), float(lowest.min())
    return float(np.polyfit(np.log(fractions), np.log(lowest), 1)[0]), float(lowest.min())


def path_q(n: int = 40) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """q-points along Γ-M-K-Γ, their distance along the path (1/Å) and the ticks."""
    ph_lattice = np.diag([A_LATTICE, np.sqrt(3) * A_LATTICE, VACUUM_Z]) @ PRIMITIVE
    recip = np.linalg.inv(ph_lattice)  # rows: reciprocal vectors (no 2π), in 1/Å
    qs, xs, ticks, x = [], [], [0.0], 0.0
    for start, end in zip(PATH, PATH[1:]):
        p, r = np.array(POINTS[start]), np.array(POINTS[end])
        step = np.linalg.norm((r - p) @ recip) / n
        for i in range(n + 1):
            qs.append(p + (r - p) * i / n)
            xs.append(x + i * step)
        x = xs[-1]
        ticks.append(x)
    return np.array(qs), np.array(xs), ticks


def mode_dos(ph: Phonopy, grid: np.ndarray, every: bool = False, mesh: int = 24,
             width: float = 0.5) -> np.ndarray:
    """Density of in-plane (or all) modes on `grid` (THz), Gaussian-broadened, per primitive
    cell."""
    ph.run_mesh([mesh, mesh, 1], with_eigenvectors=True, is_mesh_symmetry=False)
    weight = (np.ones(ph.mesh.frequencies.shape) if every else
              1 - (np.abs(ph.mesh.eigenvectors[:, 2::3, :]) ** 2).sum(axis=1))  # [nq, bands]
    f = ph.mesh.frequencies
    g = np.exp(-0.5 * ((grid[:, None, None] - f[None]) / width) ** 2) / (width * np.sqrt(2 * np.pi))
    return (g * weight[None]).sum(axis=(1, 2)) / len(f)


STYLES = ("k-", "C3--", "C0:", "C2-.", "C1--", "C4:")


def plot(material: str, results: dict[str, Phonopy], path: Path, every: bool = False,
         note: str = "") -> None:
    """Bands along Γ-M-K-Γ and the mode density of each calculator (the first in black), with
    `note` under the title."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    qs, xs, ticks = path_q()
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 4.5), sharey=True, width_ratios=(3, 1))
    grid = np.linspace(-2, 55, 400)
    for (name, ph), style in zip(results.items(), STYLES):
        bands = np.array([modes(ph, q, every)[:6 if every else 4] for q in qs])
        a.plot(xs, bands, style, lw=1)
        a.plot([], [], style, label=name)
        b.plot(mode_dos(ph, grid, every), grid, style, lw=1, label=name)
    a.set_xticks(ticks, PATH)
    a.set_xlim(xs[0], xs[-1])
    for t in ticks:
        a.axvline(t, color="gray", lw=0.5)
    a.set_ylabel("frequency (THz)")
    kind = "all" if every else "in-plane"
    a.set_title(f"{material}: {kind} phonons" + ("" if every else " in the paper's cell")
                + (f"\n{note}" if note else ""), fontsize=9)
    a.legend(fontsize=8)
    b.set_xlabel(f"{kind} DOS")
    b.set_xticks([])
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--materials", nargs="+", default=["graphene", "hbn"],
                    choices=["graphene", "hbn"])
    ap.add_argument("--model", default="default", help="a bundled model's name or a model file")
    ap.add_argument("--reference", default="7net-0", help="calculator to compare with")
    ap.add_argument("--out", type=Path, default=Path("results"))
    ap.add_argument("--free", action="store_true",
                    help="a model that sees heights and takes any cell: displace in 3D in an "
                    "n × n supercell of the primitive cell, each calculator at its own lattice "
                    "constant, and compare every mode (implied by such a model, e.g. the "
                    "default)")
    ap.add_argument("--supercell", type=int, default=8,
                    help="n of the n × n supercell with --free (the flexural ZA branch near Γ "
                    "needs long-range force constants)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cnn, ref = CNNASCalculator(args.model, device="cpu"), make_reference(args.reference)
    args.free = args.free or cnn.model.network.config.heights
    lines = [f"# Phonons: CNNAS ({args.model}) against {args.reference}", "",
             f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}", "",
             (f"Finite displacements of 0.01 Å in the {args.supercell} × {args.supercell} "
              "supercell of the primitive cell, each calculator at the lattice constant where "
              "its energy is lowest, every mode." if args.free else
              "Finite displacements of 0.01 Å in the paper's 60-atom cell (a = 2.506 Å for both "
              "materials, the cell the model knows), in-plane modes only."), "",
             "| material | point | mode | reference (THz) | CNNAS (THz) | difference |",
             "|---|---|---|---|---|---|"]
    worst, za, lattice, floor = {}, {}, {}, {}
    for material in args.materials:
        if args.free:
            n = args.supercell
            lattice[material] = {name: relaxed_a(material, calc, n)
                                 for name, calc in ((args.reference, ref), ("CNNAS", cnn))}
            results = {args.reference: phonons(material, ref, False,
                                               lattice[material][args.reference], n),
                       f"CNNAS ({args.model})": phonons(material, cnn, False,
                                                        lattice[material]["CNNAS"], n)}
            qs = path_q()[0]
            for name, ph in results.items():
                floor[(material, name)] = min(modes(ph, q, True)[0] for q in qs)
        else:
            results = {args.reference: phonons(material, ref, flat=False),
                       f"CNNAS ({args.model})": phonons(material, cnn, flat=True)}
        plot(material, results, args.out / f"phonons_{material}.png", args.free)
        ref_ph, cnn_ph = results.values()
        if args.free:
            for name, ph in results.items():
                exponent, lowest = za_exponent(ph)
                za[(material, name)] = (exponent, lowest)
        for point, q in POINTS.items():
            f_ref, f_cnn = modes(ref_ph, q, args.free), modes(cnn_ph, q, args.free)
            for i, (r, c) in enumerate(zip(f_ref, f_cnn)):
                if abs(r) < 0.5:  # the acoustic modes at Γ
                    continue
                diff = (c - r) / r * 100
                worst[material] = max(worst.get(material, 0.0), abs(diff))
                lines.append(f"| {material} | {point} | {i + 1} | "
                             f"{r:.2f} ({r * THZ_TO_CM:.0f} cm⁻¹) | {c:.2f} | {diff:+.1f} % |")
    lines += ["", *[f"- {m}: largest difference {w:.1f} % (the goal: within 5 %)"
                    for m, w in worst.items()],
              *[f"- {m}, {name}: ZA ω ∝ q^{b:.2f} over 4–12 % of Γ–M, lowest frequency there "
                f"{low:.3f} THz" for (m, name), (b, low) in za.items()],
              *[f"- {m}, {name}: lowest frequency on Γ–M–K–Γ {low:.3f} THz "
                "(negative: imaginary)" for (m, name), low in floor.items()],
              *[f"- {m}: lattice constant {', '.join(f'{k} {v:.4f} Å' for k, v in a.items())}"
                for m, a in lattice.items()],
              "", "Figures: " + ", ".join(f"`phonons_{m}.png`" for m in args.materials)
              + f" (band structure along Γ–M–K–Γ and {'the' if args.free else 'in-plane'} DOS)."]
    write_text(args.out / "phonons.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
