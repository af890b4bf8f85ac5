"""Free-standing sheet MD, CNNAS beside SevenNet-0: NVE energy drift, whether the sheet stays
intact, its height fluctuation ⟨h²⟩ and radial distribution function.

`run` starts a sheet at the temperature (velocities at 2T after a short relaxation, so that
equipartition brings it near T), runs NVE (velocity Verlet) and saves the log, the RDF and ⟨h²⟩
to a JSON (checkpointed as it goes: the same command resumes a killed run); `report` puts the
runs of one folder side by side in a table and a figure.

    python examples/md_free.py run --structure graphene_pristine --temperature 1000 --ps 10 \
        --model results/models/free/best.pt --out results/md_free
    python examples/md_free.py run --calculator 7net-0 --structure graphene_pristine ... (same)
    python examples/md_free.py run --structure graphene_pristine@20x13 --ps 10 ...  (1,040 atoms)
    python examples/md_free.py report --out results/md_free
    python examples/md_free.py ensemble --out results/md_ensemble  # benchmarks/md_ensemble.sh
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from ase import units
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet
from ase.neighborlist import neighbor_list
from ase.optimize import FIRE
from sheet_md import drift, run
from tqdm import tqdm

from ase_cnnas import CNNASCalculator
from ase_cnnas.sheets import build_sheet
from training.reference import make_reference
from training.report import command, hardware, save_figure, write_text

RDF_RANGE = 5.0  # Å
RDF_BINS = 100
BOND = 1.8  # Å: a B/C/N bond is 1.40–1.50 Å; beyond this it is broken
CHUNK = 200  # steps between checkpoints
RUN_SETTINGS = ("structure", "calculator", "model", "temperature", "ps", "timestep",
                "equilibrate", "every", "seed", "friction")
HEADER = ("| structure | atoms | calculator | T start (mean) K | run | drift (meV/atom) | largest "
          "excursion (meV/atom) | bond changes, most (end) | closest pair (Å) | ⟨h²⟩ (Å²) | "
          "ms/step |\n"
          + "|---" * 11 + "|")


def bonds(atoms) -> np.ndarray:
    """Neighbours within BOND of each atom."""
    i = neighbor_list("i", atoms, BOND)
    return np.bincount(i, minlength=len(atoms))


def rdf(atoms) -> np.ndarray:
    """Pair counts in RDF_BINS shells up to RDF_RANGE, normalised per atom and per shell area (a
    sheet's 2D density of pairs), so that runs of different lengths and sizes compare."""
    d = neighbor_list("d", atoms, RDF_RANGE)
    counts, edges = np.histogram(d, bins=RDF_BINS, range=(0, RDF_RANGE))
    area = np.pi * (edges[1:] ** 2 - edges[:-1] ** 2)
    return counts / len(atoms) / area


def checkpoint_path(args: argparse.Namespace) -> Path:
    """Where a run keeps its state between chunks (removed when it ends)."""
    return args.out / f"{args.structure}_{args.temperature:.0f}K_{args.calculator}.part.json"


def settings(args: argparse.Namespace) -> dict:
    """What fixes a run's trajectory: a checkpoint resumes only a run with the same."""
    return {k: getattr(args, k) for k in RUN_SETTINGS}


def start(atoms, args: argparse.Namespace) -> dict:
    """A fresh run's state: relaxed, nudged off the flat saddle, velocities at twice T (NVE:
    equipartition halves it) or at T (Langevin)."""
    FIRE(atoms, logfile=None).run(fmax=0.05, steps=200)
    rng = np.random.default_rng(args.seed)
    atoms.positions[:, 2] += rng.normal(0, 0.01, len(atoms))  # leave the flat saddle
    thermalize_momenta(atoms, (1 if args.friction else 2) * args.temperature, rng=rng)
    Stationary(atoms)  # no ZeroRotation: a periodic sheet has no angular momentum to conserve,
    # and removing it would take kinetic energy from the longest flexural waves
    return {"settings": settings(args), "steps": 0, "seconds": 0.0, "rng": None,
            "start_bonds": bonds(atoms).tolist(), "log": {},
            "sums": {"rdf": [0.0] * RDF_BINS, "h2": [], "broken": 0, "samples": 0}}


def resume(atoms, args: argparse.Namespace) -> dict:
    """The state of the run: from its checkpoint (atoms set to where it stopped), or fresh."""
    path = checkpoint_path(args)
    if not path.exists():
        return start(atoms, args)
    state = json.loads(path.read_text())
    changes = [f"--{k} {v!r} -> {settings(args)[k]!r}" for k, v in state["settings"].items()
               if settings(args)[k] != v]
    if changes:
        raise SystemExit(f"{path} holds a run with other settings ({', '.join(changes)}): give "
                         "the same settings to resume it, or remove the file to start afresh")
    atoms.positions = np.array(state["positions"])
    atoms.set_momenta(np.array(state["momenta"]))
    print(f"resuming {path.name} at step {state['steps']}")
    return state


def simulate(args: argparse.Namespace) -> None:
    """One run, checkpointed every CHUNK steps: a killed run resumes where it stopped, on the
    same trajectory (velocity Verlet from the saved positions and momenta)."""
    atoms = build_sheet(args.structure)
    if args.calculator == "cnnas":
        calc, label = CNNASCalculator(args.model, device=args.device), f"CNNAS ({args.model})"
    else:
        calc, label = make_reference(args.calculator), args.calculator
    atoms.calc = calc
    state = resume(atoms, args)
    sums, start_bonds = state["sums"], np.array(state["start_bonds"])
    if args.friction:  # the thermostat's noise continues where a checkpoint left it
        noise = np.random.default_rng(args.seed + 1)
        if state.get("rng"):
            noise.bit_generator.state = state["rng"]
        atoms.set_constraint(FixCom())  # the centre of mass stays, as ASE advises over fixcm
        dyn = Langevin(atoms, args.timestep * units.fs, temperature_K=args.temperature,
                       friction=args.friction / units.fs, fixcm=False, rng=noise)
    else:
        dyn = VelocityVerlet(atoms, timestep=args.timestep * units.fs)
    dyn.nsteps = state["steps"]
    equilibrate = round(args.equilibrate * 1000 / args.timestep)
    total = round(args.ps * 1000 / args.timestep)

    def sample() -> float:
        if dyn.nsteps >= equilibrate:
            sums["rdf"] = (np.array(sums["rdf"]) + rdf(atoms)).tolist()
            sums["h2"].append(float(np.var(atoms.positions[:, 2])))
            sums["broken"] = max(sums["broken"], int(np.abs(bonds(atoms) - start_bonds).sum()))
            sums["samples"] += 1
        return float(np.var(atoms.positions[:, 2]))

    with tqdm(total=total, initial=state["steps"], desc="MD", unit="step") as bar:
        while state["steps"] < total:
            steps = min(CHUNK, total - state["steps"])
            part = run(dyn, args, steps=steps, t0=state["steps"] * args.timestep / 1000,
                       extra={"h2": sample}, bar=bar)
            for key in part.keys() - {"ms_per_step", "steps"}:
                state["log"][key] = state["log"].get(key, []) + part[key].tolist()
            state.update(steps=state["steps"] + steps,
                         seconds=state["seconds"] + part["ms_per_step"] * steps / 1000,
                         rng=dyn.rng.bit_generator.state if args.friction else None,
                         positions=atoms.positions.tolist(), momenta=atoms.get_momenta().tolist())
            write_text(checkpoint_path(args), json.dumps(state))
    log = {k: np.array(v) for k, v in state["log"].items()}
    ms_per_step = state["seconds"] / total * 1000
    slope, excursion = drift(log)
    after = log["t"] >= args.equilibrate
    result = {"structure": args.structure, "atoms": len(atoms), "calculator": label,
              "temperature_start": args.temperature, "ps": args.ps, "timestep": args.timestep,
              "friction": args.friction,
              "equilibrate_ps": args.equilibrate, "mean_T": float(log["T"][after].mean()),
              "drift_mev_per_atom_ps": slope, "drift_mev_per_atom": slope * args.ps,
              "excursion_mev_per_atom": excursion, "h2": float(np.mean(sums["h2"])),
              "bond_changes": sums["broken"],
              "bond_changes_end": int(np.abs(bonds(atoms) - start_bonds).sum()),
              "dmin": float(log["dmin"].min()),
              "rdf": (np.array(sums["rdf"]) / max(sums["samples"], 1)).tolist(),
              "ms_per_step": ms_per_step, "t": log["t"].tolist(),
              "etot": log["etot"].tolist(), "T": log["T"].tolist(), "h2_t": log["h2"].tolist(),
              "command": command(), "hardware": hardware()}
    name = f"{args.structure}_{args.temperature:.0f}K_{args.calculator}.json"
    write_text(args.out / name, json.dumps(result))
    checkpoint_path(args).unlink()
    moved = (f"Langevin {args.friction:g}/fs" if args.friction else
             f"drift {slope * args.ps:+.3f} meV/atom")
    print(f"{label}, {args.structure} ({len(atoms)} atoms), {args.temperature:.0f} K, {moved} "
          f"over {args.ps} ps: ⟨h²⟩ {result['h2']:.4f} Å², mean T {result['mean_T']:.0f} K, bond "
          f"changes {sums['broken']}, {ms_per_step:.1f} ms/step")


def report(args: argparse.Namespace) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [json.loads(p.read_text()) for p in sorted(args.out.glob("*.json"))]
    rows, pairs = [], {}
    for r in runs:
        rows.append(f"| {r['structure']} | {r['atoms']} | {r['calculator']} | "
                    f"{r['temperature_start']:.0f} ({r['mean_T']:.0f}) | {r['ps']} × "
                    f"{r['timestep']} fs{dynamics(r)} | "
                    f"{'— | —' if r.get('friction') else energy_columns(r)} | {r['bond_changes']} "
                    f"({r.get('bond_changes_end', '?')}) | {r['dmin']:.2f} | "
                    f"{r['h2']:.4f} | {r['ms_per_step']:.0f} |")
        pairs.setdefault((r["structure"], r["temperature_start"], r.get("friction", 0.0)),
                         []).append(r)
    compare = []
    edges = np.linspace(0, RDF_RANGE, RDF_BINS + 1)
    centres = (edges[1:] + edges[:-1]) / 2
    both = {k: v for k, v in pairs.items() if len(v) >= 2}
    if both:
        fig, axes = plt.subplots(len(both), 2, figsize=(9, 3 * len(both)), squeeze=False)
        for (key, rs), (a, b) in zip(both.items(), axes):
            ref = next((r for r in rs if not r["calculator"].startswith("CNNAS")), rs[0])
            for r in rs:
                a.plot(centres, r["rdf"], label=r["calculator"], lw=1)
                b.plot(r["t"], r["h2_t"], label=r["calculator"], lw=1)
                if r is not ref:
                    g, g0 = np.array(r["rdf"]), np.array(ref["rdf"])
                    compare.append(
                        f"| {key[0]} | {key[1]:.0f} | {r['calculator']} | "
                        f"{(r['h2'] - ref['h2']) / ref['h2'] * 100:+.1f} % | "
                        f"{np.abs(g - g0).sum() / g0.sum() * 100:.1f} % | "
                        f"{(centres[np.argmax(g)] - centres[np.argmax(g0)]):+.3f} Å |")
            a.set_title(f"{key[0]}, {key[1]:.0f} K: radial distribution", fontsize=9)
            a.set_xlabel("r (Å)")
            b.set_title("height variance", fontsize=9)
            b.set_xlabel("t (ps)")
            b.set_ylabel("⟨h²⟩ (Å²)")
            a.legend(fontsize=7)
        fig.tight_layout()
        save_figure(fig, args.out / "md_free.png", dpi=110)
    text = f"""# Free-standing sheet MD: CNNAS beside SevenNet-0

NVE (velocity Verlet) from a relaxed sheet with velocities at twice the start temperature, or
NVT (Langevin, its friction named; no drift nor excursion then) from velocities at the
temperature (mean temperature after equilibration in brackets); ⟨h²⟩ is the variance of the
atoms' heights, and the radial distribution function is accumulated after the first
{runs[0]['equilibrate_ps'] if runs else '?'} ps. Bond changes: the largest number of changed
neighbour counts within {BOND} Å against the start, and at the end in brackets (0: the sheet
stays intact; ? where the run did not record it). The commands of
each run are in its JSON beside this file; the report: `{command()}`.
Hardware: {hardware()}

{HEADER}
{chr(10).join(rows)}

Against the reference on the same sheet and temperature (goal: ⟨h²⟩ and RDF within 20 %):

| structure | T (K) | calculator | ⟨h²⟩ difference | RDF difference (Σ|Δg| / Σg) | peak shift |
|---|---|---|---|---|---|
{chr(10).join(compare)}

Figure: `md_free.png` (RDF and ⟨h²⟩ over time).
"""
    write_text(args.out / "md_free.md", text)
    print(text)


ENSEMBLE_HEADER = ("| structure | T start (mean) K | calculator | runs | ⟨h²⟩/T̄ (10⁻⁶ Å²/K) | "
                   "range over runs | largest drift (meV/atom) | bond changes, most |\n"
                   + "|---" * 8 + "|")
BLOCKS = 5  # a single run's standard error: from the means of this many stretches of it


def energy_columns(run: dict) -> str:
    """An NVE run's drift and largest excursion of the total energy (meV/atom), table cells."""
    return f"{run['drift_mev_per_atom']:+.3f} | {run['excursion_mev_per_atom']:.3f}"


def dynamics(run: dict) -> str:
    """How a run moved, for its table cell: nothing for NVE, the friction for Langevin."""
    return f", Langevin {run['friction']:g}/fs" if run.get("friction") else ""


def h2_per_t(runs: list[dict]) -> tuple[float, float, float, float]:
    """⟨h²⟩/T̄ (10⁻⁶ Å²/K) over `runs`: mean, standard error (over the runs, or over BLOCKS
    stretches of a single run), smallest and largest run."""
    x = np.array([r["h2"] / r["mean_T"] for r in runs]) * 1e6
    if len(x) > 1:
        return x.mean(), x.std(ddof=1) / np.sqrt(len(x)), x.min(), x.max()
    r = runs[0]
    h2 = np.array(r["h2_t"])[np.array(r["t"]) >= r["equilibrate_ps"]]
    blocks = np.array([b.mean() for b in np.array_split(h2, BLOCKS)]) / r["mean_T"] * 1e6
    return x[0], blocks.std(ddof=1) / np.sqrt(BLOCKS), x[0], x[0]


def ensemble(args: argparse.Namespace) -> None:
    """Mean ⟨h²⟩/T̄ of each calculator over the runs from several seeds in --out's subfolders
    (benchmarks/md_ensemble.sh), with its standard error, against the reference's on the same
    sheet, temperature and dynamics."""
    groups: dict[tuple, list[dict]] = {}
    for path in sorted(args.out.glob("*/*.json")):
        if path.name.endswith(".part.json"):  # a run under way
            continue
        r = json.loads(path.read_text())
        key = (r["structure"], r["temperature_start"], r.get("friction", 0.0), r["calculator"])
        groups.setdefault(key, []).append(r)
    if not groups:
        raise SystemExit(f"{args.out}: no runs in its subfolders (benchmarks/md_ensemble.sh)")
    stats = {key: h2_per_t(rs) for key, rs in groups.items()}
    rows, compare = [], []
    for key, (mean, sem, lo, hi) in stats.items():
        structure, t, _, calc = key
        rs = groups[key]
        drift = ("—" if rs[0].get("friction") else
                 f"{max(abs(r['drift_mev_per_atom']) for r in rs):.3f}")
        rows.append(f"| {structure} | {t:.0f} ({np.mean([r['mean_T'] for r in rs]):.0f}) | "
                    f"{calc} | {len(rs)} × {rs[0]['ps']} ps{dynamics(rs[0])} | {mean:.2f} ± "
                    f"{sem:.2f} | {lo:.2f}–{hi:.2f} | {drift} | "
                    f"{max(r['bond_changes'] for r in rs)} |")
        ref = next((k for k in stats if k[:3] == key[:3] and not k[3].startswith("CNNAS")), None)
        if ref and ref != key:
            m0, s0 = stats[ref][:2]
            err = abs(mean / m0) * np.hypot(sem / mean, s0 / m0) * 100
            compare.append(f"| {structure} | {t:.0f}{dynamics(rs[0])} | {calc} | {ref[3]} | "
                           f"{(mean / m0 - 1) * 100:+.1f} ± {err:.1f} % |")
    text = f"""# Free-standing sheet MD over an ensemble of starts

Runs of examples/md_free.py from several seeds (benchmarks/md_ensemble.sh; each run's command in
its JSON): NVE after a start at twice the temperature, or Langevin NVT (its friction named).
⟨h²⟩/T̄ is each run's height variance over its mean temperature (in brackets, the mean over the
runs), averaged over the runs with its standard error (for a single run, from the means of
{BLOCKS} stretches of it). The report: `{command()}`.
Hardware: {hardware()}

{ENSEMBLE_HEADER}
{chr(10).join(rows)}

Against the reference on the same sheet, temperature and dynamics (goal: within 20 %; the error
combines both standard errors):

| structure | T (K) | calculator | reference | ⟨h²⟩/T̄ difference |
|---|---|---|---|---|
{chr(10).join(compare)}
"""
    write_text(args.out / "md_ensemble.md", text)
    print(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    r = sub.add_parser("run", help="one MD run, saved as JSON in --out")
    r.add_argument("--structure", default="graphene_pristine")
    r.add_argument("--calculator", default="cnnas", help="cnnas, or a reference (7net-0, …)")
    r.add_argument("--model", default="default", help="a bundled model's name or a model file")
    r.add_argument("--device", default=None)
    r.add_argument("--temperature", type=float, default=300.0, help="K")
    r.add_argument("--ps", type=float, default=10.0, help="length in ps")
    r.add_argument("--timestep", type=float, default=0.5, help="fs")
    r.add_argument("--equilibrate", type=float, default=1.0, help="ps before sampling")
    r.add_argument("--every", type=int, default=20, help="sample every N steps")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--friction", type=float, default=0.0,
                   help="Langevin friction per fs (NVT at --temperature; 0: NVE)")
    r.add_argument("--out", type=Path, default=Path("results/md_free"))
    p = sub.add_parser("report", help="table and figure of the runs in --out")
    p.add_argument("--out", type=Path, default=Path("results/md_free"))
    e = sub.add_parser("ensemble", help="⟨h²⟩ over runs from several seeds in --out/*/")
    e.add_argument("--out", type=Path, default=Path("results/md_ensemble"))
    args = ap.parse_args()
    args.free = True  # sheet_md.run logs the RMS height
    {"run": simulate, "report": report, "ensemble": ensemble}[args.what](args)


if __name__ == "__main__":
    main()
