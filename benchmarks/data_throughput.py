r"""Data throughput: labelled sheet frames per second for each reference, and frames per second
the loader feeds (HDF5 → batches → device → images). Writes a Markdown table.

References run the sheet generator (`cnnas data sheets`) with one chain per worker; each is
first warmed up (process start, model load, relaxation), then timed while it continues the same
chains, so the figure is the steady rate of MD steps that are each labelled (stride 1). The
loader reads a file of Lennard-Jones-labelled sheets (the labels do not matter to it).

    python benchmarks/data_throughput.py --paper-scale
    python benchmarks/data_throughput.py --device cuda --references 7net-0@cuda \
        --out results/data_throughput_gpu.md
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ase_cnnas.raster import rasterize
from ase_cnnas.sheets import STRUCTURE_TYPES
from training.batches import to_device
from training.generate import Protocol, generate
from training.h5data import frame_count
from training.loader import make_loader
from training.report import command, hardware, write_text

LJ = "ase.calculators.lj:LennardJones"
TIMED_FRAMES = {"tersoff": 4000, LJ: 4000}  # per chain; others (SevenNet-0) 60


def reference_rate(reference: str, workers: int, folder: Path) -> float:
    """Labelled frames per second, steady state, `workers` processes."""
    path, structures = folder / f"{reference.replace(':', '_')}.h5", list(STRUCTURE_TYPES[:workers])
    protocol = Protocol(steps=20, stride=1, timestep=0.5, reference=reference)
    generate(path, structures, 20, 1, protocol, workers)
    timed = TIMED_FRAMES.get(reference, 60)
    start = time.perf_counter()
    generate(path, structures, 20 + timed, 1, protocol, workers, flush_seconds=600)
    return timed * workers / (time.perf_counter() - start)


def paper_scale(folder: Path, workers: int) -> tuple[int, float]:
    """The paper's whole sheet set with Tersoff (NOTES §2): frames and seconds."""
    path = folder / "paper_tersoff.h5"
    protocol = Protocol(steps=550, stride=1, timestep=0.2733, reference="tersoff")
    start = time.perf_counter()
    generate(path, list(STRUCTURE_TYPES), 29891, 1, protocol, workers)
    return frame_count(path), time.perf_counter() - start


def loader_rate(path: Path, batch: int, workers: int, device: str, grid: int | None,
                seconds: float) -> float:
    """Frames per second through the loader, to `device`, rasterized on a grid² image if `grid`;
    timed over whole epochs' worth of chunk reads for about `seconds`."""
    index = np.arange(frame_count(path))
    done, start = 0, None
    batches = (b for epoch in range(1000) for b in make_loader(path, index, batch, workers, device,
                                                                seed=epoch))
    for i, b in enumerate(batches):
        if i == 2:  # after warm-up (workers started, first chunks read)
            sync(device)
            start, done = time.perf_counter(), 0
        b = to_device(b, device)
        if grid:
            dtype = torch.float32
            rasterize(b["positions"][:, :2].to(dtype), b["numbers"],
                      b["cells"][:, :2, :2].to(dtype), b["frame"], b["n_frames"], (grid, grid))
        done += b["n_frames"]
        if start and time.perf_counter() - start > seconds:
            break
    sync(device)
    return done / (time.perf_counter() - start)


def train_step_rate(path: Path, batch: int, device: str, grid: int, seconds: float) -> float:
    """Frames per second of a Network 2 training step (energy loss, Adam, float32) on a batch
    already on `device`: what the loader has to keep up with."""
    from training.batches import model_inputs
    from training.h5data import read_frames
    from training.modelbuild import build_model

    frames = read_frames(path, 0, batch)
    model = build_model(frames, np.arange(batch), (grid, grid)).to(device)
    b = to_device(next(iter(make_loader(path, np.arange(batch), batch))), device)
    opt = torch.optim.Adam(model.network.parameters(), lr=1e-4)
    done, start = 0, None
    while start is None or time.perf_counter() - start < seconds:
        if done == 2 * batch:  # after two warm-up steps
            sync(device)
            start = time.perf_counter()
        loss = (model(*model_inputs(b)) - b["energy"]).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        done += batch
    sync(device)
    return (done - 2 * batch) / (time.perf_counter() - start)


def sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--references", nargs="*", default=["tersoff", "7net-0", LJ])
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--device", default="cpu", help="where the loader's batches are rasterized")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=20, help="timed per loader row")
    ap.add_argument("--loader-frames", type=int, default=2000, help="per structure, 9 structures")
    ap.add_argument("--paper-scale", action="store_true",
                    help="also time the paper's 269,000-frame Tersoff set")
    ap.add_argument("--out", type=Path, default=Path("results/data_throughput.md"))
    args = ap.parse_args()
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lines += ["## Labelling: sheet MD frames, each labelled (60 atoms, stride 1, Langevin, "
                  "in-plane)", "", "| reference | worker processes | frames/s |", "|---|---|---|"]
        for ref in args.references:
            try:
                rate = reference_rate(ref, args.workers, folder)
            except ImportError as err:
                print(f"skipping {ref}: {err}")
                continue
            lines.append(f"| `{ref}` | {args.workers} | {rate:,.1f} |")
            print(lines[-1], flush=True)
        if args.paper_scale:
            n, seconds = paper_scale(folder, args.workers)
            lines += ["", f"Paper-scale set (NOTES §2: 9 structures × 29,891 frames, 550-step "
                      f"segments at 0.2733 fs, 1000 K) with Tersoff: **{n:,} frames in "
                      f"{seconds:.0f} s** with {args.workers} worker processes, HDF5 file "
                      "included."]
            print(lines[-1], flush=True)
        data = folder / "loader.h5"
        generate(data, list(STRUCTURE_TYPES), args.loader_frames, 1,
                 Protocol(steps=100, stride=1, timestep=0.5, reference=LJ), args.workers)
        lines += ["", f"## Loader: frames fed per second ({frame_count(data):,} 60-atom frames in "
                  f"HDF5, batch {args.batch}, chunks of 2048 frames, float32 images)", "",
                  "| DataLoader workers | device | rasterized on device | frames/s |",
                  "|---|---|---|---|"]
        for grid in (None, 64, 256):
            for workers in (0, args.workers):
                rate = loader_rate(data, args.batch, workers, args.device, grid, args.seconds)
                lines.append(f"| {workers} | {args.device} | {f'{grid}²' if grid else 'no'} | "
                             f"{rate:,.0f} |")
                print(lines[-1], flush=True)
        lines += ["", "What the loader has to keep up with: one training step of the paper's "
                  "Network 2 (flatten head, 4 shifted copies, energy loss, Adam, float32"
                  + (", TF32 convolutions" if args.device.startswith("cuda")
                     and torch.backends.cudnn.allow_tf32 else "")
                  + ") on a batch already on the device:", "",
                  "| device | grid | frames/s |", "|---|---|---|"]
        for grid in (64, 256):
            rate = train_step_rate(data, args.batch, args.device, grid, args.seconds)
            lines.append(f"| {args.device} | {grid}² | {rate:,.0f} |")
            print(lines[-1], flush=True)
    head = ["# Data throughput", "", f"Regenerate: `{command()}`  ", f"Hardware: {hardware()}", ""]
    write_text(args.out, "\n".join(head + lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
