"""Does an any-cell model see strain? (A study, not a test.)

An any-cell model lays each cell side L on n pixels, n the whole multiple of the network's period
(8 pixels) nearest L/Δ, so the pixel spacing L/n is Δ only where L is a whole multiple of 8Δ
(1.6 Å). The network sees positions in pixels: a strain that leaves n unchanged stretches the
pixels with the lattice and leaves the image almost as it was (only the Gaussians narrow), while
a cell whose n is rounded sees its lattice compressed or stretched. This scans uniaxial and
biaxial strains of pristine sheets in several cells and compares each cell's strain energy (per
atom, against the same cell unstrained) with a reference calculator's, and measures how much of
each step in energy between neighbouring strains the calculator's own stress does not account
for (a jump where the grid changes; near zero for a smooth calculator). Writes a Markdown table
and a figure.

    python benchmarks/strain.py --models free --reference 7net-0 --out results/free_stage2/strain.md
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ase_cnnas import CNNASCalculator  # noqa: E402
from ase_cnnas.cells import MATCH  # noqa: E402
from ase_cnnas.sheets import build_sheet  # noqa: E402
from training.reference import make_calculator, make_reference  # noqa: E402
from training.report import command, hardware, save_figure, write_text  # noqa: E402

DIRECTIONS = {"x": (1, 0), "y": (0, 1), "biaxial": (1, 1)}


def strained(atoms: Atoms, ex: float, ey: float) -> Atoms:
    """`atoms` with its cell and positions stretched by 1 + ex along x and 1 + ey along y."""
    out = atoms.copy()
    out.set_cell(atoms.cell.array @ np.diag([1 + ex, 1 + ey, 1]), scale_atoms=True)
    return out


def unexplained(energies: np.ndarray, virials: np.ndarray, strains: np.ndarray) -> np.ndarray:
    """Per step between neighbouring strains: the energy change (meV/atom) less the trapezoid
    integral of the virial per atom along the strain (σ V / N summed over the strained axes,
    eV/atom), i.e. what the stress does not explain."""
    return np.diff(energies) - 1e3 * np.diff(strains) * (virials[1:] + virials[:-1]) / 2


def pixel_spacing(calc: CNNASCalculator, atoms: Atoms) -> np.ndarray:
    """The pixel spacing (Å, along the canonical cell's two sides) the model lays `atoms` on,
    over its training spacing: 1 where the network sees lengths as they are."""
    model = calc.models[0]
    positions = torch.tensor(atoms.positions, dtype=torch.float64)
    cells = torch.tensor(atoms.cell.array, dtype=torch.float64)[None]
    frame = torch.zeros(len(atoms), dtype=torch.long)
    _, inputs, _, _ = next(model.groups(positions, torch.tensor(atoms.numbers), cells, frame, 1))
    return model.pixel_spacing(inputs[2])[0].numpy() / model.spacing


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["free"],
                    help="CNNAS models (names or files; the first lays the pixels the table "
                         "reports) or other references (names) to compare with --reference")
    ap.add_argument("--reference", default="7net-0")
    ap.add_argument("--structures", nargs="+", default=[
        "graphene_pristine", "graphene_pristine@2x1", "graphene_pristine@hex6",
        "hbn_pristine", "hbn_pristine@2x1", "hbn_pristine@hex6"])
    ap.add_argument("--largest", type=float, default=0.05, help="largest strain")
    ap.add_argument("--points", type=int, default=11, help="strains from -largest to +largest")
    ap.add_argument("--match-pixels", type=float, nargs="?", const=MATCH, default=None,
                    metavar="TOLERANCE", help="repeat cell sides until the pixels match within "
                    "TOLERANCE, whatever the model files say")
    ap.add_argument("--out", type=Path, default=Path("results/strain.md"))
    args = ap.parse_args()
    calcs = {name: make_calculator(name) for name in args.models}
    calcs["reference"] = make_reference(args.reference)
    model = calcs[args.models[0]]
    cnnas = [c for c in calcs.values() if isinstance(c, CNNASCalculator)]
    for member in (m for c in cnnas for m in c.models) if args.match_pixels is not None else ():
        member.match_pixels = args.match_pixels
    strains = np.linspace(-args.largest, args.largest, args.points)
    curves, rows = {}, []
    jobs = [(s, d) for s in args.structures for d in DIRECTIONS]
    for structure, direction in tqdm(jobs, desc="strain scans", unit="scan"):
        base = build_sheet(structure)
        energies = {name: [] for name in calcs}
        virials = {name: [] for name in calcs}
        spacings, axes = [], np.array(DIRECTIONS[direction])
        for e in strains:
            atoms = strained(base, *(e * axes))
            spacings.append(pixel_spacing(model, atoms))
            for name, calc in calcs.items():
                atoms.calc = calc
                energies[name].append(atoms.get_potential_energy() / len(atoms) * 1e3)
                virials[name].append(atoms.get_stress()[:2] @ axes * atoms.get_volume()
                                     / len(atoms))
        zero = int(np.argmin(np.abs(strains)))
        curve = {k: np.array(e) - e[zero] for k, e in energies.items()}
        curves[structure, direction] = curve
        spacings, ref = np.array(spacings) - 1, curve["reference"]
        virials = {k: np.array(v) for k, v in virials.items()}
        jumps = {k: np.abs(unexplained(curve[k], virials[k], strains)) for k in calcs}
        rows += [f"| {structure} | {len(base)} | {direction} | {name} | "
                 f"{spacings.min() * 100:+.1f} … {spacings.max() * 100:+.1f} | "
                 f"{np.abs(curve[name] - ref).mean():.1f} | "
                 f"{np.abs(curve[name] - ref).max():.1f} | {ref.max():.1f} | "
                 f"{np.abs(virials[name] - virials['reference']).mean():.2f} | "
                 f"{jumps[name].max():.1f} | {jumps[name].sum():.1f} |"
                 for name in [*args.models, "reference"]]
    figure = args.out.with_suffix(".png")
    plot(curves, strains, args, figure)
    lines = ["# Strain energy of an any-cell model beside its reference", "",
             f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}", "",
             f"Models {', '.join(f'`{m}`' for m in args.models)}"
             f"{' (pixels matched)' if model.models[0].match_pixels else ''}, "
             f"reference `{args.reference}`. Pristine sheets strained "
             f"from {-args.largest:+.0%} to {args.largest:+.0%} along x, y or both (the "
             "positions with the cell); energies per atom against the same cell unstrained. "
             "Pixel spacing: the spacing the model lays the canonical cell on, against its "
             "training spacing, over the scan (0: lengths seen as they are). Unexplained: "
             "between neighbouring strains, the energy change less the trapezoid integral of "
             "the calculator's own stress (as virial per atom along the strain, σV/N summed over "
             "the strained axes), largest step and summed over the scan: jumps where the grid "
             "changes, near zero for a smooth calculator.", "",
             "| structure | atoms | strain | calculator | pixel spacing (%) | strain energy "
             "error, mean (meV/atom) | largest | reference's largest strain energy (meV/atom) "
             "| virial error, mean (eV/atom) | unexplained by the stress, largest step "
             "(meV/atom) | summed |",
             "|---|---|---|---|---|---|---|---|---|---|---|", *rows, "",
             f"Figure: `{figure.name}`.", ""]
    write_text(args.out, "\n".join(lines))
    print("\n".join(lines))


def plot(curves: dict, strains: np.ndarray, args: argparse.Namespace, path: Path) -> None:
    """Strain energy against strain, one panel per material and direction, a line per cell."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    materials = sorted({s.split("_")[0] for s, _ in curves})
    fig, axes = plt.subplots(len(materials), len(DIRECTIONS), squeeze=False,
                             figsize=(4 * len(DIRECTIONS), 3.2 * len(materials)), sharey="row")
    for row, material in zip(axes, materials):
        for ax, direction in zip(row, DIRECTIONS):
            for k, structure in enumerate(s for s in args.structures
                                          if s.startswith(material)):
                curve = curves[structure, direction]
                for i, name in enumerate(args.models):
                    ax.plot(strains * 100, curve[name], ("o-", "s:", "^-.", "v-")[i % 4],
                            color=f"C{k}", ms=3,
                            label=f"{structure}, {name}"[:48])
                ax.plot(strains * 100, curve["reference"], "--", color=f"C{k}", lw=1)
            ax.set_title(f"{material}, strain along {direction}", fontsize=9)
            ax.set_xlabel("strain (%)")
        row[0].set_ylabel("energy − unstrained (meV/atom)")
        row[0].legend(fontsize=6, title=f"dashed: {args.reference}", title_fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


if __name__ == "__main__":
    main()
