"""Time per ASE calculator call (energy + forces) on a 60-atom sheet: CNNAS vs SevenNet-0.

Both run in this process on the same machine, one frame per call (batch 1), median of
`--repeats` calls after two warm-up calls; each call sees slightly moved atoms so that nothing
is served from a cache. Writes results/speed.md.

    python benchmarks/calculator_speed.py --repeats 20
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from ase_cnnas import CNNASCalculator
from training.report import command, hardware, write_text
from training.structures import build_sheet


def time_calls(calc, repeats: int, forces: bool, atoms=None) -> float:
    """Median seconds per call on `atoms` (a graphene–hBN sheet by default), rattled anew for
    every call."""
    atoms = build_sheet("heterostructure_pristine") if atoms is None else atoms.copy()
    atoms.calc = calc
    rng = np.random.default_rng(0)
    times = []
    for i in range(repeats + 2):
        atoms.positions[:, :2] += rng.normal(0, 0.01, (len(atoms), 2))
        start = time.perf_counter()
        atoms.get_forces() if forces else atoms.get_potential_energy()
        if i >= 2:
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--out", default="results/speed.md")
    args = ap.parse_args()
    cnn = CNNASCalculator()
    grid = "×".join(map(str, cnn.model.network.config.grid))
    dtype = str(next(cnn.model.network.parameters()).dtype).removeprefix("torch.")
    rows = [(f"CNNAS default (Network 2, {grid} grid, {dtype}, {cnn.model.device})", cnn)]
    try:
        from training.reference import make_reference
        rows.append(("SevenNet-0 (`sevenn==0.13.0`, `7net-0`, float32, cpu)", make_reference()))
    except ImportError:
        print("sevenn not installed: timing CNNAS only")
    lines = ["# Time per calculator call, 60-atom graphene–hBN sheet", "",
             f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}  ",
             f"One frame per call (batch 1), median of {args.repeats} calls after 2 warm-up calls.",
             "", "| calculator | energy + forces (ms) | energy only (ms) |", "|---|---|---|"]
    for name, calc in rows:
        ef, e = time_calls(calc, args.repeats, True), time_calls(calc, args.repeats, False)
        lines.append(f"| {name} | {ef * 1e3:.1f} | {e * 1e3:.1f} |")
    write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
