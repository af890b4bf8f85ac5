"""Long MD with the bundled model (a benchmark, not a test): 100 ps of NVT at 1500 K on a 60-atom
sheet, with a stretch of NVE after every NVT segment to measure energy drift. Reports whether
the sheet stays intact (no atom changes its number of neighbours within 1.85 Å; at the end, and
how often and how long on the way), the largest
force, the closest approach of two atoms, the drift of each NVE stretch, and how many steps the
calculator flagged as outside its training distribution. Writes results/long_md.md and .png.
Resumable: the state after each segment goes to a file, and a rerun (with a larger --ps to
extend) continues from it; each segment starts its thermostat afresh, so a resumed run is the
same run as one straight through.

    python benchmarks/long_md.py --ps 100 --temperature 1500
"""
from __future__ import annotations

import hashlib
import json
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

from ase_cnnas.files import replace_atomically  # noqa: E402
from ase_cnnas.modelfile import resolve  # noqa: E402
from training.experiments.force_sites import BOND  # noqa: E402
from training.report import command, hardware, save_figure, setting_changes, write_text  # noqa: E402

LOGGED = ("t", "T", "fmax", "dmin", "vcm", "changed")
STATE_FORMAT = 2  # 2: forces without net force, centre-of-mass speed logged
KEPT = ("structure", "temperature", "timestep", "seed", "every", "segment_ps",
        "nve_ps")  # what a resumed run must share with the saved one (--ps may grow)


def coordination(atoms) -> np.ndarray:
    """Neighbours of each atom within BOND."""
    return np.bincount(neighbor_list("i", atoms, BOND), minlength=len(atoms))


def intactness(changed: np.ndarray, every_fs: float) -> str:
    """Whether the sheet stayed intact, from the count of atoms whose number of neighbours
    within BOND differs from the start, logged every `every_fs`: at the end, and how often and
    how long it differed on the way (a bond stretched past BOND for an instant breaks nothing)."""
    hits = np.flatnonzero(changed)
    if not len(hits):
        return f"yes: no atom changed its number of neighbours within {BOND} Å"
    longest = max(len(r) for r in np.split(hits, np.flatnonzero(np.diff(hits) > 1) + 1))
    end = (f"no: {changed[-1]} atoms end with another number of neighbours" if changed[-1]
           else "yes at the end")
    return (f"{end}; on the way, in {len(hits)} of {len(changed):,} samples ({every_fs:g} fs "
            f"apart, at most {longest} in a row), up to {changed.max()} atoms had another "
            f"number of neighbours within {BOND} Å")


def run_settings(args) -> dict:
    """What a resumed run must share with the saved one: the options in KEPT and the model
    file's content (a rebundled default keeps its name)."""
    digest = hashlib.sha256(resolve(args.model).read_bytes()).hexdigest()[:16]
    return {**{key: vars(args)[key] for key in KEPT}, "model file sha256": digest,
            "state format": STATE_FORMAT}


def resumed(path: Path, now: dict) -> dict:
    """The state an earlier run with the settings `now` saved at `path` (a fresh one when there is
    none): segments done, atoms' positions and momenta, the log so far, the NVE stretches, the
    calculator's flag count, seconds spent. Another run's state is refused."""
    if not path.is_file():
        return {"settings": json.dumps(now), "segments": 0, "outside": 0, "seconds": 0.0,
                "stretches": np.zeros((0, 3)),
                **{k: np.zeros(0, int if k == "changed" else float) for k in LOGGED}}
    with np.load(path) as saved:
        state = {k: saved[k] for k in saved.files}
    had = json.loads(str(state["settings"]))
    changed = setting_changes({**dict.fromkeys(now), **had}, now)  # a key it lacks changed too
    if changed:
        raise SystemExit(f"{path} holds a run with other settings ({', '.join(changed)}): "
                         "rerun with its settings to resume it, or give another --state")
    return state


def save(path: Path, state: dict) -> None:
    """Write the state atomically (a kill mid-write leaves the last one whole)."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file handle: np.savez would append .npz to the name
            np.savez(fh, **state)
    replace_atomically(path, write)


def main() -> None:
    ap = parser(__doc__, temperature=1500, ps=100)
    ap.add_argument("--segment-ps", type=float, default=10.0, help="NVT between NVE stretches")
    ap.add_argument("--nve-ps", type=float, default=1.0, help="length of each NVE stretch")
    ap.add_argument("--state", type=Path, default=None,
                    help="the run's state after each segment, which a rerun resumes (default: "
                    "runs/long_md/HASH.npz, named by the settings and the model file)")
    args = ap.parse_args()
    atoms = sheet(args)
    start_cn = coordination(atoms)
    changed = {"changed": lambda: int((coordination(atoms) != start_cn).sum())}
    n_nvt, n_nve = (round(ps * 1000 / args.timestep) for ps in (args.segment_ps, args.nve_ps))
    segments, per_segment = max(1, round(args.ps / args.segment_ps)), n_nvt + n_nve
    now = run_settings(args)
    path = args.state or Path("runs", "long_md",  # named by the settings: another run, another file
                              hashlib.sha256(json.dumps(now).encode()).hexdigest()[:16] + ".npz")
    state = resumed(path, now)
    done = int(state["segments"])
    if done > segments:
        raise SystemExit(f"{path} holds {done} segments, more than --ps {args.ps:g} asks: "
                         "give a --ps that long or longer, or another --state")
    if done:
        atoms.positions = state["positions"]
        atoms.set_momenta(state["momenta"])
        atoms.calc.outside = int(state["outside"])
        print(f"resuming {path} after segment {done}")
    bar = tqdm(total=segments * per_segment, initial=done * per_segment,
               desc="MD", unit="step")
    for segment in range(done + 1, segments + 1):
        clock, t = time.perf_counter(), (segment - 1) * (args.segment_ps + args.nve_ps)
        parts = []
        for dyn, steps in ((nose_hoover(atoms, args), n_nvt),
                           (VelocityVerlet(atoms, timestep=args.timestep * units.fs), n_nve)):
            parts.append(run(dyn, args, steps, t, changed, bar))
            t += steps * args.timestep / 1000
        state.update({k: np.concatenate([state[k], *(p[k] for p in parts)]) for k in LOGGED})
        state.update(segments=segment, positions=atoms.get_positions(), momenta=atoms.get_momenta(),
                     outside=atoms.calc.outside, stretches=np.vstack(
                         [state["stretches"], [segment, *drift(parts[-1])]]),
                     seconds=float(state["seconds"]) + time.perf_counter() - clock)
        save(path, state)
    bar.close()
    steps = segments * per_segment
    report(args, {k: state[k] for k in LOGGED},
           [(int(s), slope, exc) for s, slope, exc in state["stretches"]],
           int(state["outside"]), steps, float(state["seconds"]) / steps * 1e3)


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
    rows = [("run", f"{args.ps:g} ps NVT (Nosé–Hoover chain, {args.temperature:.0f} K) in "
                    f"{len(stretches)} segments, each followed by {args.nve_ps:g} ps NVE; "
                    f"{args.timestep} fs"),
            ("sheet intact", intactness(log["changed"], args.every * args.timestep)),
            ("largest force", f"{log['fmax'].max():.2f} eV/Å"),
            ("closest approach of two atoms", f"{log['dmin'].min():.3f} Å"),
            ("centre of mass", f"at most {log['vcm'].max():.2g} m/s (started at rest)"),
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
