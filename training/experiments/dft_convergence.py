"""Which GPAW settings label PBE well enough for their cost: errors against tighter settings.

Each setting labels the same few frames; the table gives its time per frame (one core) and its
force and energy differences from the reference setting (plane waves, higher cutoff, denser
k-points). Energies are compared after removing one offset per element and setting (an absolute
energy shifts with the cutoff, which a fitted per-element reference absorbs): what is left is
the frame-to-frame inconsistency a model would learn. Results are cached per (setting, frame) in a
JSON beside the table, so a rerun continues.

    python -m training.experiments.dft_convergence data/pbe/small_7net_1000K.h5 \
        --frames 12 14 16 18
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from ..cli import run_module
from ..h5data import read_frames
from ..label import label_frame
from ..report import command, hardware, write_text

REFERENCE = "gpaw-pw,ecut=700,kdensity=6"
SETTINGS = ("gpaw-pw,ecut=350", "gpaw-pw,ecut=400", "gpaw-pw", "gpaw-pw,kdensity=2",
            "gpaw-pw,kdensity=3", "gpaw-pw,ecut=400,kdensity=3", "gpaw-lcao")


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("data", type=Path, help="HDF5 frames file holding the test frames")
    ap.add_argument("--frames", type=int, nargs="+", default=[0], help="which frames")
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), help="GPAW references")
    ap.add_argument("--reference", default=REFERENCE, help="the tight setting compared against")
    ap.add_argument("--out", type=Path, default=Path("results/dft_convergence.md"),
                    help="Markdown table to write (the cache of results beside it, as JSON)")


def run(args: argparse.Namespace) -> None:
    frames = read_frames(args.data)
    cache_path = args.out.with_suffix(".json")
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    for name in [args.reference, *args.settings]:
        for i in args.frames:
            key = f"{name}|{args.data}|{i}"
            if key not in cache:
                frame, seconds = label_frame(frames.subset(np.array([i])), name)
                cache[key] = {"energy": float(frame.energy[0]), "forces": frame.forces.tolist(),
                              "seconds": seconds}
                write_text(cache_path, json.dumps(cache))
                print(f"{name} frame {i}: {cache[key]['seconds']:.0f} s", flush=True)

    def results(name):
        return [cache[f"{name}|{args.data}|{i}"] for i in args.frames]

    ref = results(args.reference)
    counts = np.array([[np.sum(frames.numbers[frames.offsets[i]:frames.offsets[i + 1]] == z)
                        for z in (5, 6, 7)] for i in args.frames], dtype=float)
    rows = []
    for name in [args.reference, *args.settings]:
        mine = results(name)
        df = np.concatenate([np.subtract(m["forces"], r["forces"]).ravel()
                             for m, r in zip(mine, ref)])
        force = np.concatenate([np.ravel(r["forces"]) for r in ref])
        de = np.array([m["energy"] - r["energy"] for m, r in zip(mine, ref)])
        offsets, *_ = np.linalg.lstsq(counts, de, rcond=None)  # one per element
        de = (de - counts @ offsets) / counts.sum(axis=1)
        slope = float(np.dot(force, force + df) / np.dot(force, force))
        rows.append(f"| `{name}` | {np.mean([m['seconds'] for m in mine]):.0f} | "
                    f"{1000 * np.abs(df).mean():.1f} | {1000 * np.abs(df).max():.1f} | "
                    f"{slope:.3f} | {1000 * np.abs(de).mean():.2f} |")
    described = ", ".join(f"{i} ({frames.structure[i] or '?'}, {frames.natoms[i]} atoms)"
                          for i in args.frames)
    write_text(args.out, f"""# GPAW settings: accuracy against cost

Frames {described} of `{args.data}`, each labelled by every setting and by `{args.reference}`.
Time: one frame on one core, mean over the frames. Force differences over all components;
slope: least-squares factor of the setting's forces on the reference's (1 = as stiff);
energy: MAE per atom of the energy difference after one offset per element and setting (it
needs more frames than compositions to say anything: frames of one composition in several
strained cells).

| setting | s per frame | force MAE (meV/Å) | force max (meV/Å) | slope | energy (meV/atom) |
|---|---|---|---|---|---|
{chr(10).join(rows)}

Defaults of `gpaw-pw`: plane waves at 500 eV, 4 k-points per Å⁻¹, Fermi–Dirac 0.1 eV, PBE
(`training/dft.py`).

Command: `{command()}`

Hardware: {hardware()}
""")
    print(f"wrote {args.out}")


def main(argv: list[str] | None = None) -> int:
    """`python -m training.experiments.dft_convergence`: the same as `cnnas experiment
    dft_convergence`."""
    return run_module(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
