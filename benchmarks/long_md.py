"""Long MD with the bundled model (a benchmark, not a test): 100 ps of NVT at 1500 K on a 60-atom
sheet, with a stretch of NVE after every NVT segment to measure energy drift. Reports whether
the sheet stays intact (no atom changes its number of neighbours within 1.85 Å), the largest
force, the closest approach of two atoms, the drift of each NVE stretch, and how many steps the
calculator flagged as outside its training distribution. Writes results/long_md.md and .png.

    python benchmarks/long_md.py --ps 100 --temperature 1500
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from ase import units
from ase.md.verlet import VelocityVerlet
from ase.neighborlist import neighbor_list
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "examples")]
from sheet_md import drift, nose_hoover, parser, run, sheet  # noqa: E402

from training.report import command, hardware, save_figure, write_text  # noqa: E402

BOND = 1.85  # Å, neighbours closer than this are bonded (C–C 1.42, B–N 1.45)


def coordination(atoms) -> np.ndarray:
    """Neighbours of each atom within BOND."""
    return np.bincount(neighbor_list("i", atoms, BOND), minlength=len(atoms))


def main() -> None:
    ap = parser(__doc__, temperature=1500, ps=100)
    ap.add_argument("--segment-ps", type=float, default=10.0, help="NVT between NVE stretches")
    ap.add_argument("--nve-ps", type=float, default=1.0, help="length of each NVE stretch")
    args = ap.parse_args()
    atoms = sheet(args)
    start_cn = coordination(atoms)
    changed = {"changed": lambda: int((coordination(atoms) != start_cn).sum())}
    nvt, nve = nose_hoover(atoms, args), VelocityVerlet(atoms, timestep=args.timestep * units.fs)
    n_nvt, n_nve = (round(ps * 1000 / args.timestep) for ps in (args.segment_ps, args.nve_ps))
    segments = max(1, round(args.ps / args.segment_ps))
    parts, stretches, t = [], [], 0.0
    bar = tqdm(total=segments * (n_nvt + n_nve), desc="MD", unit="step")
    clock = time.perf_counter()
    for segment in range(1, segments + 1):
        for dyn, steps in ((nvt, n_nvt), (nve, n_nve)):
            parts.append(run(dyn, args, steps, t, changed, bar))
            t += steps * args.timestep / 1000
        stretches.append((segment, *drift(parts[-1])))
    bar.close()
    ms = (time.perf_counter() - clock) / (segments * (n_nvt + n_nve)) * 1e3
    log = {k: np.concatenate([p[k] for p in parts]) for k in ("t", "T", "fmax", "dmin", "changed")}
    report(args, log, stretches, atoms.calc.outside, segments * (n_nvt + n_nve), ms)


def report(args, log: dict, stretches: list, outside: int, steps: int, ms: float) -> None:
    """results/long_md.md and long_md.png."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, sharex=True, figsize=(6.5, 6))
    axes[0].plot(log["t"], log["T"], lw=0.5)
    axes[0].set_ylabel("T (K)")
    axes[1].plot(log["t"], log["fmax"], lw=0.5, color="C1")
    axes[1].set_ylabel("largest force (eV/Å)")
    axes[2].plot(log["t"], log["dmin"], lw=0.5, color="C2")
    axes[2].set_ylabel("closest pair (Å)")
    axes[2].set_xlabel("time (ps)")
    axes[0].set_title(f"{args.structure}, NVT at {args.temperature:.0f} K with NVE stretches",
                      fontsize=9)
    fig.tight_layout()
    save_figure(fig, args.out / "long_md.png", dpi=110)
    intact = log["changed"].max() == 0
    rows = [("run", f"{args.ps:g} ps NVT (Nosé–Hoover chain, {args.temperature:.0f} K) in "
                    f"{len(stretches)} segments, each followed by {args.nve_ps:g} ps NVE; "
                    f"{args.timestep} fs"),
            ("sheet intact", f"{'yes' if intact else 'no'}: at most {log['changed'].max()} atoms "
                             f"changed their number of neighbours within {BOND} Å"),
            ("largest force", f"{log['fmax'].max():.2f} eV/Å"),
            ("closest approach of two atoms", f"{log['dmin'].min():.3f} Å"),
            ("mean temperature", f"{log['T'].mean():.0f} K"),
            ("steps outside the training distribution", f"{outside} of {steps:,} (the "
                                                         "calculator's warning)"),
            ("speed", f"{ms:.1f} ms per step (energy + forces, batch 1, float32)")]
    lines = ["# Long MD", "", f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}", "",
             "| quantity | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows], "",
             "| NVE stretch after segment | drift (meV/atom/ps) | largest excursion (meV/atom) |",
             "|---|---|---|",
             *[f"| {s} | {slope:+.3f} | {exc:.3f} |" for s, slope, exc in stretches],
             "", "Figure: `long_md.png`."]
    write_text(args.out / "long_md.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
