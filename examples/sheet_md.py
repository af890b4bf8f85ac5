"""Shared by md_nve.py and md_nvt.py: a sheet on the CNNAS calculator, held in the plane or (with
--free, for a model that sees heights) free-standing, a log of the run, and its report (Markdown
table and figure)."""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from ase import Atoms, units
from ase.constraints import FixedPlane
from ase.md.nose_hoover_chain import NoseHooverChainNVT
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.neighborlist import neighbor_list
from tqdm import tqdm

from ase_cnnas import CNNASCalculator
from ase_cnnas.sheets import build_sheet, parse_structure
from training.report import command, hardware, save_figure, write_text


def parser(doc: str, temperature: float, ps: float) -> argparse.ArgumentParser:
    """The options every sheet MD script takes."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--structure", default="graphene_pristine", type=_sheet_name,
                    help="a sheet as ase_cnnas.sheets names it, material_defect[@cell], e.g. "
                    "hbn_vacancy or graphene_pristine@hex12")
    ap.add_argument("--free", action="store_true",
                    help="let the atoms leave the plane (implied by a model with height "
                    "channels, such as the default)")
    ap.add_argument("--temperature", type=float, default=temperature, help="K")
    ap.add_argument("--ps", type=float, default=ps, help="length of the run in ps")
    ap.add_argument("--timestep", type=float, default=0.5, help="fs")
    ap.add_argument("--model", default="default", help="a bundled model's name or a model file")
    ap.add_argument("--device", default=None,
                    help="cpu, cuda… (default: the GPU when there is one)")
    ap.add_argument("--every", type=int, default=20, help="log every N steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("results"), help="folder for the report")
    return ap


def _sheet_name(name: str) -> str:
    """argparse type: a sheet name build_sheet takes."""
    try:
        parse_structure(name)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err
    return name


def sheet(args: argparse.Namespace, **calculator) -> Atoms:
    """The sheet on the calculator (`calculator`: CNNASCalculator's options), atoms held in the
    plane unless args.free or the model sees heights (then args.free is set), velocities at the
    temperature."""
    atoms = build_sheet(args.structure)
    atoms.calc = CNNASCalculator(args.model, device=args.device, **calculator)
    args.free = args.free or atoms.calc.model.network.config.heights
    if not args.free:
        atoms.set_constraint(FixedPlane(range(len(atoms)), [0, 0, 1]))  # a 2D model
    thermalize_momenta(atoms, args.temperature, rng=np.random.default_rng(args.seed))
    Stationary(atoms)
    return atoms


def nose_hoover(atoms: Atoms, args: argparse.Namespace) -> NoseHooverChainNVT:
    """ASE's Nosé–Hoover chain at args.temperature, for atoms held in the plane. ASE's chain
    counts 3 degrees of freedom per atom whatever the constraints; an atom held in the plane has
    2, so the chain's target is scaled by the ratio (without it the sheet runs 1.5× too hot)."""
    ratio = atoms.get_number_of_degrees_of_freedom() / (3 * len(atoms))
    dt = args.timestep * units.fs
    return NoseHooverChainNVT(atoms, timestep=dt, temperature_K=args.temperature * ratio,
                              tdamp=100 * dt)


def closest(atoms: Atoms, within: float = 4.0) -> float:
    """The smallest interatomic distance (Å; `within` where no pair is closer), in linear time."""
    return float(neighbor_list("d", atoms, within).min(initial=within))


def run(dyn, args: argparse.Namespace, steps: int | None = None, t0: float = 0.0,
        extra: dict[str, Callable[[], float]] | None = None, bar: tqdm | None = None) -> dict:
    """Run `dyn` for `steps` (args.ps by default) and log, every args.every steps, the time (ps,
    from t0), temperature (K), potential and total energy (eV/atom), the largest force (eV/Å),
    the smallest interatomic distance (Å), the centre of mass's speed (m/s; it starts at rest,
    and stays so when the forces sum to zero) and the `extra` columns."""
    atoms, first, n = dyn.atoms, dyn.nsteps, len(dyn.atoms)
    mass = atoms.get_masses().sum()
    steps = round(args.ps * 1000 / args.timestep) if steps is None else steps
    columns = {"T": atoms.get_temperature,
               "epot": lambda: atoms.get_potential_energy() / n,
               "etot": lambda: atoms.get_total_energy() / n,
               "fmax": lambda: float(np.abs(atoms.get_forces()).max()),
               "dmin": lambda: closest(atoms),
               "vcm": lambda: float(np.linalg.norm(atoms.get_momenta().sum(0)) / mass
                                    * units.fs * 1e5),  # Å per ASE time unit -> m/s
               **({"h_rms": lambda: float(np.std(atoms.positions[:, 2]))} if args.free else {}),
               **(extra or {})}
    log = {"t": [], **{k: [] for k in columns}}

    def record() -> None:
        log["t"].append(t0 + (dyn.nsteps - first) * args.timestep / 1000)
        for key, value in columns.items():
            log[key].append(value())

    own_bar = bar is None
    bar = tqdm(total=steps, desc="MD", unit="step") if own_bar else bar
    bar_start = bar.n
    dyn.observers.clear()
    dyn.attach(record, interval=args.every)  # ASE calls it at step 0 too
    dyn.attach(lambda: bar.update(dyn.nsteps - first - (bar.n - bar_start)), interval=10)
    start = time.perf_counter()
    dyn.run(steps)
    if own_bar:
        bar.close()
    return {**{k: np.array(v) for k, v in log.items()},
            "ms_per_step": (time.perf_counter() - start) / steps * 1e3, "steps": steps}


def report(name: str, title: str, args: argparse.Namespace, log: dict,
           rows: list[tuple[str, str]]) -> None:
    """results/<name>.md (the figures in `rows` and the run's settings) and results/<name>.png."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    e0 = log["etot"][0]
    fig, (a, b) = plt.subplots(2, 1, sharex=True, figsize=(6, 5))
    a.plot(log["t"], (log["etot"] - e0) * 1e3, label="total energy")
    a.plot(log["t"], (log["epot"] - e0) * 1e3, label="potential energy", alpha=0.6)
    a.set_ylabel("E − E_tot(0) (meV/atom)")
    a.legend(fontsize=8)
    a.set_title(f"{title}: {args.structure}, {args.timestep} fs", fontsize=9)
    b.plot(log["t"], log["T"], "C3")
    b.set_ylabel("temperature (K)")
    b.set_xlabel("time (ps)")
    fig.tight_layout()
    png = args.out / f"{name}.png"
    save_figure(fig, png, dpi=110)
    common = [("structure", args.structure), ("model", args.model),
              ("run", f"{args.ps} ps = {log['steps']:,} steps of {args.timestep} fs"),
              ("largest force", f"{log['fmax'].max():.2f} eV/Å"),
              ("smallest interatomic distance", f"{log['dmin'].min():.3f} Å"),
              ("centre of mass", f"at most {log['vcm'].max():.2g} m/s (started at rest)"),
              *([("RMS height (free-standing)", f"{log['h_rms'].mean():.3f} Å on average, "
                  f"{log['h_rms'].max():.3f} Å at most")] if args.free else []),
              ("speed",
               f"{log['ms_per_step']:.1f} ms per step (energy + forces, batch 1, float32)")]
    lines = [f"# {title}", "", f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}", "",
             "| quantity | value |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows + common],
             "", f"Figure: `{png.name}`."]
    write_text(args.out / f"{name}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def drift(log: dict) -> tuple[float, float]:
    """Total-energy drift: the slope of a straight-line fit (meV/atom/ps) and the largest
    excursion from the start (meV/atom)."""
    slope = np.polyfit(log["t"], log["etot"], 1)[0] * 1e3
    return float(slope), float(np.abs(log["etot"] - log["etot"][0]).max() * 1e3)

