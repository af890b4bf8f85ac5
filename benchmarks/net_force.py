"""The net force and the centre of mass in NVE (a benchmark, not a test): one sheet run twice
from the same start, with the calculator's forces (−∇E less its mean, the default) and with −∇E
as it is (`remove_net_force=False`). A grid is invariant only to whole-pixel shifts, so E varies a
little as the whole sheet moves by a fraction of a pixel and −∇E sums to a net force, which
pushes the centre of mass about. Writes results/net_force.md and .png.

    python benchmarks/net_force.py --ps 5 --temperature 1000
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from ase import units
from ase.md.verlet import VelocityVerlet

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "examples")]
from sheet_md import drift, parser, run, sheet  # noqa: E402

from training.report import command, hardware, save_figure, write_text  # noqa: E402

RUNS = {"−∇E less its mean (default)": True, "−∇E as it is": False}


def nve(args, remove: bool) -> dict:
    """The NVE run's log, with the in-plane net force |ΣF| (eV/Å) and the centre of mass's
    kinetic energy as a share of the kinetic energy."""
    atoms = sheet(args, remove_net_force=remove)
    mass = atoms.get_masses().sum()
    extra = {"net": lambda: float(np.linalg.norm(atoms.get_forces().sum(0))),
             "share": lambda: float((atoms.get_momenta().sum(0) ** 2).sum() / (2 * mass)
                                    / atoms.get_kinetic_energy())}
    return run(VelocityVerlet(atoms, timestep=args.timestep * units.fs), args, extra=extra)


def main() -> None:
    args = parser(__doc__, temperature=1000, ps=5).parse_args()
    logs = {name: nve(args, remove) for name, remove in RUNS.items()}
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, log in logs.items():
        ax.plot(log["t"], log["vcm"], label=name, lw=0.8)
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("centre-of-mass speed (m/s)")
    ax.set_title(f"NVE from {args.temperature:.0f} K, {args.structure}, {args.timestep} fs, "
                 f"started at rest", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    png = args.out / "net_force.png"
    save_figure(fig, png, dpi=110)
    rows = []
    for name, log in logs.items():
        slope, excursion = drift(log)
        rows.append(f"| {name} | {np.sqrt(np.mean(log['net'] ** 2)):.2g} | {log['vcm'][-1]:.2g} | "
                    f"{log['vcm'].max():.2g} | {100 * log['share'].max():.2g} | {slope:+.3f} | "
                    f"{excursion:.3f} | {log['ms_per_step']:.1f} |")
    lines = ["# The net force and the centre of mass in NVE", "",
             f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}", "",
             f"{args.structure}, model `{args.model}`, {args.ps:g} ps of NVE at {args.timestep} fs "
             f"from {args.temperature:.0f} K, atoms in the plane, the centre of mass at rest at "
             "the start; the same start for both runs.", "",
             "| forces | net force, rms (eV/Å) | centre-of-mass speed at the end (m/s) | "
             "at most (m/s) | its kinetic energy, at most (% of the kinetic energy) | "
             "total-energy drift (meV/atom/ps) | largest excursion (meV/atom) | ms per step |",
             "|---|---|---|---|---|---|---|---|", *rows, "", f"Figure: `{png.name}`."]
    write_text(args.out / "net_force.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
