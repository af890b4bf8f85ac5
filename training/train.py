"""Train a CNNAS energy model (Network 2 by default) on an HDF5 frames file, resumably.

Adam on the MSE of the scaled energy (plus, with --force-weight, of the scaled forces), the
paper's seeded 70/30 split with 10 % of train for validation (or a split stored in the file),
cosine learning-rate decay, optionally a random in-plane translation and mirroring of every
training frame; each of these ingredients can be switched off for an ablation.
Batches stream from the HDF5 file (training/loader.py) and are rasterized on the device.
Each epoch ends with an atomic checkpoint (a rerun resumes from it) and, when validation
improves, the best model written as a model file.

    python -m training.train --data datasets/sheets_30k_1000K.h5 --split trajectory --out runs/mine
"""
from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ase_cnnas.files import replace_atomically
from ase_cnnas.memory import keep_freed_memory
from ase_cnnas.model import EnergyModel
from ase_cnnas.modelfile import load_model, save_model
from ase_cnnas.networks import HEADS, NetworkConfig, network1_config, network2_config, widened

from .batches import fit_element_energies, model_inputs, reference_sums, to_device, to_tensors
from . import distributed
from .distribution import distribution
from .evaluate import predict
from .h5data import read_frames
from .loader import make_loader
from .report import hardware, setting_changes, write_text
from .splits import stored_or_random


NETWORKS = {"network1": network1_config, "network2": network2_config}


def target_values(frames, target: str) -> np.ndarray:
    """What a model learns per frame: the energy (eV) or a label such as a dimer's distance."""
    if target == "energy":
        return frames.energy
    if target not in frames.labels:
        raise ValueError(f"the data has no {target!r} to learn; it has energy"
                         + "".join(f", {k}" for k in frames.labels) + "; choose one with --target")
    return frames.labels[target]


REFERENCES = ("elements", "mean")  # per-element energies fitted, or one mean energy per atom
SCHEDULES = ("cosine", "constant")


def build_model(frames, train_idx: np.ndarray, grid: tuple[int, ...], target: str = "energy",
                network: str = "network2", reference: str = "elements", scale_target: bool = True,
                **options) -> EnergyModel:
    """A fresh Network 1 or 2 (`options` as in NetworkConfig; `counts=True` feeds the element
    counts to the head) whose references and scale are fitted on `train_idx`: per-element
    energies for an energy (or, with reference="mean", the mean energy per atom for every
    element), a plain mean for any other target; the spread of the rest is the network's output
    unit unless `scale_target` is off (then eV, or the label's unit)."""
    counts = options.pop("counts", False)
    upsample = options.pop("upsample", 1)
    if reference not in REFERENCES:
        raise ValueError(f"reference {reference!r}: use one of {REFERENCES}")
    y = target_values(frames, target)
    elements = [int(z) for z in np.unique(frames.numbers)]
    if target != "energy":
        eps = dict.fromkeys(elements, 0.0)
    elif reference == "elements":
        eps = fit_element_energies(frames, train_idx)
    else:
        eps = dict.fromkeys(elements, float(y[train_idx].sum() / frames.natoms[train_idx].sum()))
    rest = y[train_idx] - reference_sums(frames, train_idx, eps)
    config = NETWORKS[network](grid, extra_inputs=len(eps) if counts else 0, **options)
    return EnergyModel(config, cell=frames.cell[train_idx[0]], element_energy=eps,
                       energy_mean=float(rest.mean()),
                       energy_scale=float(rest.std()) if scale_target else 1.0,
                       image_scale=1.0 / max(eps),  # peak of the heaviest element → 1
                       count_scale=1.0 / float(frames.natoms[train_idx].mean()),
                       upsample=upsample)


def scale_to_data(model: EnergyModel, batch: dict) -> None:
    """Data-dependent initialisation (LSUV, Mishkin & Matas 2016): scale the image to unit
    spread, then each layer's weights so that its output has unit spread on `batch`. Without it
    the signal fades by 10× through the deep trunk and training barely moves."""
    with torch.no_grad():
        images = model.images(*model_inputs(batch))
        model.image_scale /= float(images.std())
        layers = [m for m in model.network.modules()
                  if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.Linear))][:-1]
        for layer in layers:  # every layer but the last, in order
            seen = []
            hook = layer.register_forward_hook(lambda mod, inp, out: seen.append(out.std()))
            model(*model_inputs(batch))
            hook.remove()
            layer.weight /= seen[0]


MODEL_OPTIONS = ("grid", "activation", "reductions", "head", "padding", "copies", "counts",
                 "network", "upsample", "reference", "scale_target")  # what --init replaces


def fine_tuned(init: str | Path, frames, dim: int, target: str, device: str) -> EnergyModel:
    """The model file `init` (a path or a bundled name), to train further on `frames`: its
    network, references and scales are kept, so the frames must hold only its elements."""
    model = load_model(init, device=device)
    learnt = model.metadata.get("training", {}).get("target", "energy")
    missing = sorted(set(int(z) for z in np.unique(frames.numbers)) - set(model.elements))
    if missing:
        raise ValueError(f"--init {init}: the model knows elements {model.elements}, the data "
                         f"also holds {missing}; train a new model (leave out --init)")
    if model.dim != dim or learnt != target:
        raise ValueError(f"--init {init}: a {model.dim}D model of {learnt!r}, the data asks for a "
                         f"{dim}D model of {target!r}; train a new model (leave out --init)")
    model.symmetrize = False  # trained raw, taught the symmetry by --mirror; averaged at use
    return model.train()


@contextmanager
def warmed_up(opt: torch.optim.Optimizer, step: int, warmup: int):
    """Scale the learning rate by (step + 1) / warmup for one step. Adam's first steps move every
    weight by about the learning rate whatever its gradient, which throws a fine-tuned model's
    energies off by several meV/atom for its first epochs; a linear warm-up avoids that."""
    rates = [group["lr"] for group in opt.param_groups]
    factor = min(1.0, (step + 1) / warmup) if warmup else 1.0
    for group, rate in zip(opt.param_groups, rates):
        group["lr"] = rate * factor
    try:
        yield
    finally:  # the schedule keeps its own rate
        for group, rate in zip(opt.param_groups, rates):
            group["lr"] = rate


def fitted(epochs: int, hours: float | None, history: list[dict]) -> int:
    """The epochs of a run that fit in `hours`, timed on its first epoch (all when no budget)."""
    if not hours or not history:
        return epochs
    return max(1, min(epochs, int(hours * 3600 / history[0]["seconds"])))


def trained_on(out: Path) -> list[str]:
    """The machines (report.hardware) a run folder has trained on so far, oldest first."""
    path = out / "settings.json"
    return json.loads(path.read_text()).get("hardware", []) if path.is_file() else []


RESUME_MAY_CHANGE = ("out", "data", "epochs", "hours", "max_hours", "patience", "device")


def refuse_other_settings(out: Path, settings: dict) -> None:
    """A run folder resumes only with the settings it was trained with (budgets and the device
    aside): another grid, seed or network would otherwise silently continue the old run."""
    path = out / "settings.json"
    if not (out / "checkpoint.pt").is_file() or not path.is_file():
        return
    had, now = json.loads(path.read_text()), json.loads(json.dumps(settings))
    changed = setting_changes(had, now, RESUME_MAY_CHANGE)
    if changed:
        free = ", ".join("--" + key.replace("_", "-") for key in RESUME_MAY_CHANGE if key != "out")
        raise ValueError(f"{out} holds a run trained with other settings ({', '.join(changed)}); "
                         f"a rerun resumes it, so only {free} may change: give its settings, or "
                         "another run folder")


def train(data: Path, out: Path, grid: int = 64, epochs: int = 200, batch: int = 32,
          lr: float = 3e-4, activation: str = "silu", reductions: int | None = None,
          head: str = "flatten", padding: str = "zeros", copies: bool = True, counts: bool = False,
          translate: bool = False, mirror: bool = False, force_weight: float = 0.0, seed: int = 0, split: str = "random",
          network: str = "network2", target: str = "energy", upsample: int = 1,
          device: str = "cpu", max_hours: float | None = None, patience: int | None = None,
          reference: str = "elements", scale_target: bool = True, schedule: str = "cosine",
          clip: float | None = None, init: str | Path | None = None,
          ema: float | None = None, filters: int | None = None,
          hours: float | None = None, warmup: int = 0) -> Path:
    """Train (or resume) into `out`; returns the path of the best model file. Under torchrun,
    each rank trains on its shard of the frames (training/distributed.py). With `ema`, the
    weights validated and saved are an exponential moving average of the trained ones (decay
    per step), which smooths the step-to-step jitter of the energy a noisy optimiser leaves.
    `filters` sets the non-reducing layers' width (16 when None); with `init`, it widens the
    file's network to that many, keeping what it computes (networks.widened). With `hours`, the
    run shortens itself to the epochs that fit in that time, as timed on its first epoch, and
    decays the learning rate over those: a budget of time rather than of epochs. `warmup` ramps
    the learning rate up over that many first steps (see warmed_up)."""
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in locals().items()}
    if init is not None:  # the file's network, references and scales: these options are unused
        for key in MODEL_OPTIONS:
            settings.pop(key)
    refuse_other_settings(out, settings)
    rank, world, device = distributed.setup(device)
    if torch.device(device).type == "cpu":
        keep_freed_memory()
    writer = rank == 0  # rank 0 alone writes files
    out.mkdir(parents=True, exist_ok=True)
    frames = read_frames(data)
    parts = stored_or_random(data, split, len(frames), seed)
    train_idx, val_idx, test_idx = parts["train"], parts["validation"], parts["test"]
    if len(val_idx) == 0:
        raise ValueError(f"{data} holds {len(frames)} frames, too few for a validation set; "
                         "generate or import more (at least 10)")
    torch.manual_seed(seed)
    if patience is not None and patience < 1:
        raise ValueError(f"--patience {patience}: give at least 1 epoch")
    if clip is not None and not clip > 0:
        raise ValueError(f"--clip {clip}: give a positive gradient norm, or leave it out")
    if ema is not None and not 0 < ema < 1:
        raise ValueError(f"--ema {ema}: give a decay per step between 0 and 1 (e.g. 0.999)")
    if warmup < 0:
        raise ValueError(f"--warmup {warmup}: give a number of steps, 0 or more")
    if hours is not None and not hours > 0:
        raise ValueError(f"--hours {hours}: give a positive time budget, or leave it out")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule {schedule!r}: use one of {SCHEDULES}")
    if target != "energy" and force_weight > 0:
        raise ValueError(f"force matching needs an energy target, not {target!r}; drop --force-weight")
    dim = 3 if frames.pbc[0].all() else 2  # periodic in z too: a 3D image
    if init is None:
        options = {"activation": activation, "head": head, "padding": padding, "counts": counts,
                   "upsample": upsample,
                   "filters": NetworkConfig.filters if filters is None else filters}
        if network == "network2":
            options.update(reductions=reductions, periodic_copies=copies)
        model = build_model(frames, train_idx, (grid,) * dim, target, network, reference,
                            scale_target, **options).to(device)
        init_rng = np.random.default_rng([seed, 999])
        scale_to_data(model, to_tensors(frames, init_rng.choice(train_idx, min(64, len(train_idx))),
                                        device, translate=init_rng if translate else None))
    else:  # fine-tune the file's network
        model = fine_tuned(init, frames, dim, target, device)
        if filters is not None and filters != model.network.config.filters:
            model.network = widened(model.network, filters)
    y = target_values(frames, target)
    # validation error per atom in meV for energies, in the label's own unit otherwise
    val_unit = 1e3 / frames.natoms[val_idx] if target == "energy" else 1.0
    seen = distribution(model, frames, train_idx, energy=target == "energy")
    data_meta = {"file": str(data), "frames": len(frames),
                 "reference": ", ".join(sorted(set(frames.method))),
                 "split": {"name": split, "seed": seed, "train": len(train_idx),
                           "validation": len(val_idx), "test": len(test_idx)},
                 **{k: str(v) for k, v in frames.attrs.items()}}
    dim = model.dim
    force_scale = float(np.sqrt((frames.forces[:, :dim] ** 2).mean()))  # eV/Å
    opt = torch.optim.Adam(model.network.parameters(), lr=lr)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=lr / 100)
             if schedule == "cosine" else torch.optim.lr_scheduler.ConstantLR(opt, 1.0, 0))
    averaged = (torch.optim.swa_utils.AveragedModel(
        model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(ema)) if ema else None)
    scored = averaged.module if averaged else model  # the weights validated and saved
    ckpt_path, best_path = out / "checkpoint.pt", out / "best.pt"
    history, start_epoch, best = [], 0, float("inf")
    if ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        if averaged and "ema" in ckpt:  # else the average starts from the resumed weights
            averaged.load_state_dict(ckpt["ema"])
        history, start_epoch, best = ckpt["history"], ckpt["epoch"], ckpt["best"]
        epochs = fitted(epochs, hours, history)
        if schedule == "cosine":
            sched.T_max = epochs  # a rerun may extend (or --hours shorten) the run
        print(f"resuming {out} at epoch {start_epoch}")
    if writer:  # the machines the run trained on, in order (a run may resume elsewhere)
        machines = trained_on(out)
        machines += [hardware()] if machines[-1:] != [hardware()] else []
        write_text(out / "settings.json",
                   json.dumps({**settings, "ranks": world, "hardware": machines}, indent=1))
    t0 = time.time() - (history[-1]["seconds"] if history else 0.0)  # training time, resumes summed
    bar = tqdm(range(start_epoch, epochs), desc="epochs", initial=start_epoch, total=epochs,
               disable=not writer)
    augment = tuple(name for name, on in (("translate", translate), ("mirror", mirror)) if on)
    loader = make_loader(data, distributed.shard(train_idx, rank, world), batch, device=device,
                         seed=seed, augment=augment)
    net = distributed.wrap(model)  # DDP under torchrun: gradients averaged over the ranks
    for epoch in bar:
        model.train()
        loader.dataset.set_epoch(epoch)
        losses, norms = [], []
        batches = tqdm(loader, desc=f"epoch {epoch + 1}", unit="batch", leave=False,
                       disable=not writer)  # an epoch of a wide network takes minutes on a CPU
        for step, b in enumerate(batches, epoch * len(loader)):
            b = to_device(b, device)
            b["positions"].requires_grad_(force_weight > 0)
            pred = net(*model_inputs(b))
            truth = b["energy"] if target == "energy" else b[f"label_{target}"]
            loss = ((pred - truth) / model.energy_scale).square().mean()
            if force_weight > 0:  # force matching: −dE/dr through network and rasterizer
                forces = -torch.autograd.grad(pred.sum(), b["positions"], create_graph=True)[0]
                loss = loss + force_weight * (
                    (forces - b["forces"])[:, :dim] / force_scale).square().mean()
            opt.zero_grad()
            loss.backward()
            # the norm before clipping: one outlier batch must not throw the weights off
            norms.append(torch.nn.utils.clip_grad_norm_(model.network.parameters(),
                                                        clip or float("inf")).detach())
            with warmed_up(opt, step, warmup):
                opt.step()
            if averaged:
                averaged.update_parameters(model)
            losses.append(loss.detach())
        # read once per epoch: a read per step would stall a GPU's queue of work every step
        losses, norms = torch.stack(losses).cpu().numpy(), torch.stack(norms).cpu().numpy()
        sched.step()
        scored.eval()
        err = predict(scored, frames, val_idx, 4 * batch)[0] - y[val_idx]
        val_mae = float(np.abs(err * val_unit).mean())
        history.append({"epoch": epoch + 1, "train_mse": float(np.mean(losses)),
                        "grad_norm_median": float(np.median(norms)),
                        "grad_norm_max": float(np.max(norms)),
                        "clipped": float(np.mean(norms > clip)) if clip else 0.0,
                        "val_mae": val_mae, "val_mse": float(np.mean(err ** 2)),
                        "lr": sched.get_last_lr()[0], "seconds": time.time() - t0})
        if val_mae < best:
            best = val_mae
            scored.metadata = {"training": {"settings": settings, "epoch": epoch + 1,
                                            "target": target,
                                            "val_mae": val_mae, "val_mae_unit": (
                                                "meV/atom" if target == "energy" else "label")},
                               "data": data_meta, "distribution": seen}
            if writer:
                save_model(scored, best_path)
        if writer:
            state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                     "scheduler": sched.state_dict(), "history": history, "epoch": epoch + 1,
                     "best": best, **({"ema": averaged.state_dict()} if averaged else {})}
            replace_atomically(ckpt_path, partial(torch.save, state))
        bar.set_postfix(loss=f"{history[-1]['train_mse']:.3g}", val=f"{val_mae:.3g}",
                        best=f"{best:.2f}")
        fit = distributed.from_rank0(fitted(epochs, hours, history)) if hours else epochs
        if fit < epochs:  # decided once, on the first epoch's time (rank 0's clock)
            print(f"--hours {hours}: {fit} of {epochs} epochs fit, at "
                  f"{history[0]['seconds']:.0f} s for the first")
            epochs = bar.total = fit
            if schedule == "cosine":
                sched.T_max = epochs  # from here the decay ends at lr/100 on the last epoch
        if distributed.from_rank0(bool(max_hours) and time.time() - t0 > max_hours * 3600):
            print(f"stopping after {max_hours} h at epoch {epoch + 1}; rerun to resume")
            break
        since_best = len(history) - 1 - int(np.argmin([h["val_mae"] for h in history]))
        if patience and since_best >= patience:
            print(f"early stop at epoch {epoch + 1}: no better validation for {patience} epochs")
            break
        if epoch + 1 >= epochs:  # --hours shortened the run
            break
    if writer:
        write_text(out / "history.json", json.dumps(history, indent=1))
    distributed.finish(model)
    return best_path


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="HDF5 frames file")
    ap.add_argument("--out", type=Path, required=True, help="run folder (checkpoint, best.pt)")
    ap.add_argument("--grid", type=int, default=64, help="pixels per side")
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--activation", default="silu", choices=("relu", "silu", "softplus"))
    ap.add_argument("--reductions", type=int, default=None, help="reducing layers kept")
    ap.add_argument("--head", default="flatten", choices=HEADS,
                    help="flatten: the paper's dense head on all pixels; pool: on their mean; "
                    "pixel: an energy per pixel, summed")
    ap.add_argument("--padding", default="zeros", choices=("zeros", "circular"))
    ap.add_argument("--no-copies", dest="copies", action="store_false",
                    help="one image instead of the four shifted copies")
    ap.add_argument("--counts", action="store_true", help="feed element counts to the head")
    ap.add_argument("--force-weight", type=float, default=0.0,
                    help="weight of the force loss beside the energy loss (0: energies only, "
                    "as in the paper)")
    ap.add_argument("--mirror", action="store_true",
                    help="reflect every training frame at random through x, y or both (rectangular "
                    "cells: the reflections that map the cell onto itself)")
    ap.add_argument("--translate", action="store_true",
                    help="shift every training frame by a random in-plane translation")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="random",
                    help="split stored in the data file (`cnnas data split`); 'random' falls back "
                    "to the paper's seeded 70/30 split")
    ap.add_argument("--network", default="network2", choices=sorted(NETWORKS),
                    help="network1: the paper's dimer network; network2: its sheet network")
    ap.add_argument("--target", default="energy",
                    help="what to learn: energy, or a label stored in the file (e.g. distance)")
    ap.add_argument("--upsample", type=int, default=1,
                    help="rasterize at grid/UPSAMPLE and replicate each pixel (the paper's test)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--max-hours", type=float, default=None, help="stop (resumably) after this")
    ap.add_argument("--clip", type=float, default=None,
                    help="clip the gradient norm to this (the history records each epoch's "
                    "median and largest norm, and the share of clipped steps)")
    ap.add_argument("--patience", type=int, default=None,
                    help="stop when validation has not improved for this many epochs")
    ap.add_argument("--reference", default="elements", choices=REFERENCES,
                    help="subtract fitted per-element energies (elements) or one mean energy "
                    "per atom (mean)")
    ap.add_argument("--no-target-scaling", dest="scale_target", action="store_false",
                    help="learn the energy in eV instead of in units of its spread")
    ap.add_argument("--init", default=None,
                    help="fine-tune: start from this model file (or 'default', the bundled "
                    "model); its network, grid, references and scales replace the options above")
    ap.add_argument("--ema", type=float, default=None,
                    help="validate and save an exponential moving average of the weights, with "
                    "this decay per step (e.g. 0.999: an average over about the last 1,000 steps)")
    ap.add_argument("--filters", type=int, default=None,
                    help="filters of each non-reducing layer (default: the paper's 16): more "
                    "capacity, at about twice the time per step for 32; with --init, widens the "
                    "file's network to this many, starting from exactly what it computes")
    ap.add_argument("--warmup", type=int, default=0,
                    help="ramp the learning rate up linearly over this many first steps (for "
                    "--init: fresh Adam steps otherwise throw the model's energies off at first)")
    ap.add_argument("--hours", type=float, default=None,
                    help="time budget: after the first epoch, keep only the epochs that fit in "
                    "this many hours (--epochs at most) and decay the learning rate over them")
    ap.add_argument("--schedule", default="cosine", choices=SCHEDULES,
                    help="learning rate: cosine decay to lr/100, or constant")
    args = ap.parse_args(argv)
    path = train(**{k.replace("-", "_"): v for k, v in vars(args).items()})
    print(f"best model: {path}")


if __name__ == "__main__":
    main()
