"""Train a CNNAS energy model (Network 2 by default) on an HDF5 frames file, resumably.

Adam on the MSE of the scaled energy (plus, with --force-weight, of the scaled forces), the
paper's seeded 70/30 split with 10 % of train for validation (or a split stored in the file),
cosine learning-rate decay, optionally a random in-plane translation and mirroring of every
training frame; each of these ingredients can be switched off for an ablation.
Batches stream from the HDF5 file (training/loader.py) and are rasterized on the device.
Each epoch ends with an atomic checkpoint (a rerun resumes from it) and, when validation
improves, the best model written as a model file. Every setting is a field of TrainConfig
(training/trainconfig.py); the model comes from training/modelbuild.py.

    cnnas train --data datasets/sheets_30k_1000K.h5 --split trajectory --out runs/mine
    python -m training.train --data datasets/sheets_30k_1000K.h5 --out runs/mine  (the same)
"""
from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ase_cnnas.files import replace_atomically
from ase_cnnas.memory import keep_freed_memory
from ase_cnnas.model import EnergyModel
from ase_cnnas.modelfile import save_model
from ase_cnnas.networks import NetworkConfig, widened

from . import distributed
from .batches import model_inputs, to_device, to_tensors
from .cli import add_dataclass_arguments
from .distribution import distribution
from .evaluate import predict
from .h5data import Frames, read_frames
from .loader import make_loader
from .modelbuild import (
    adapted,
    build_model,
    fine_tuned,
    refit_elements,
    scale_to_data,
    target_values,
)
from .report import hardware, setting_changes, write_text
from .splits import stored_or_random
from .trainconfig import TrainConfig


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """`cnnas train`'s options: a `--field-name` per TrainConfig field, typed, explained and
    limited to its choices by the field; booleans as --flag/--no-flag."""
    add_dataclass_arguments(ap, TrainConfig)
    ap.set_defaults(device="cuda" if torch.cuda.is_available() else "cpu")  # a GPU when there is


def run(args: argparse.Namespace) -> None:
    """Train with the parsed options (add_arguments), then name the best model file."""
    config = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    print(f"best model: {train(config)}")


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


def split_frames(config: TrainConfig, frames: Frames) -> dict[str, np.ndarray]:
    """The train, validation and test frames: the file's stored split, or the seeded random one."""
    parts = stored_or_random(config.data, config.split, len(frames), config.seed)
    if len(parts["validation"]) == 0:
        raise ValueError(f"{config.data} holds {len(frames)} frames, too few for a validation "
                         "set; generate or import more (at least 10)")
    return parts


def labelled(config: TrainConfig, frames: Frames, parts: dict[str, np.ndarray],
             part: str) -> np.ndarray:
    """The frames of `part` that have a target: those without one (NaN) train on their forces
    alone, so they neither set the energy zero nor score a validation."""
    index = parts[part]
    index = index[np.isfinite(target_values(frames, config.target)[index])]
    if len(index) == 0:
        raise SystemExit(f"{config.data}: no {part} frame has a label {config.target!r}; give "
                         "frames labelled with one (frames without train on their forces alone)")
    return index


def initial_model(config: TrainConfig, frames: Frames, train_idx: np.ndarray,
                  device: str) -> EnergyModel:
    """The model training starts from: a fresh network fitted to the training frames and scaled
    to them (build_model, scale_to_data), or the --init file's, widened to --filters."""
    dim = 3 if frames.pbc[0].all() else 2  # periodic in z too: a 3D image
    if config.init is not None:  # fine-tune the file's network
        model = fine_tuned(config.init, frames, dim, config.target, device)
        if config.filters is not None and config.filters != model.network.config.filters:
            model.network = widened(model.network, config.filters)
        model = adapted(model, config.heights, config.any_cell, config.seed,
                        config.pixel_tolerance, config.height_layers, config.stretch_inputs,
                        config.stretch_response, config.near_heights, config.odd_kernel,
                        config.slopes)
        if config.refit_elements:
            refit_elements(model, frames, train_idx, np.random.default_rng([config.seed, 998]))
        return model
    options = {"activation": config.activation, "head": config.head, "padding": config.padding,
               "counts": config.counts, "upsample": config.upsample, "heights": config.heights,
               "height_layers": config.height_layers, "near_heights": config.near_heights,
               "odd_kernel": config.odd_kernel, "slopes": config.slopes,
               "any_cell": config.any_cell, "match_pixels": config.pixel_tolerance,
               "stretch_inputs": config.stretch_inputs,
               "stretch_response": config.stretch_response,
               "filters": NetworkConfig.filters if config.filters is None else config.filters}
    if config.network == "network2":
        options.update(reductions=config.reductions, periodic_copies=config.copies)
    model = build_model(frames, train_idx, (config.grid,) * dim, config.target, config.network,
                        config.reference, config.scale_target, **options).to(device)
    rng = np.random.default_rng([config.seed, 999])
    scale_to_data(model, to_tensors(frames, rng.choice(train_idx, min(64, len(train_idx))),
                                    device, translate=rng if config.translate else None))
    return model


def provenance(config: TrainConfig, frames: Frames, parts: dict[str, np.ndarray],
               model: EnergyModel) -> dict:
    """The model file's metadata but for the epoch's score: the settings, the data and its split,
    and the training distribution the calculator warns by."""
    labelled = np.isfinite(target_values(frames, config.target))  # the others: forces alone
    data = {"file": str(config.data), "frames": len(frames),
            "reference": ", ".join(sorted(set(frames.method[labelled]))),
            **({"forces_only_reference": ", ".join(sorted(set(frames.method[~labelled])))}
               if not labelled.all() else {}),
            "split": {"name": config.split, "seed": config.seed, "train": len(parts["train"]),
                      "validation": len(parts["validation"]), "test": len(parts["test"])},
            **{k: str(v) for k, v in frames.attrs.items()}}
    seen = distribution(model, frames, parts["train"], energy=config.target == "energy")
    return {"training": {"settings": config.settings(), "target": config.target,
                         "val_mae_unit": "meV/atom" if config.target == "energy" else "label"},
            "data": data, "distribution": seen}


class LossUnits(NamedTuple):
    """What the loss measures errors in: forces in `force` eV/Å (the RMS of the file's forces
    over its frames with a target, so that force-only frames of small forces do not reweight the
    others),
    in-plane virials per atom in `virial` eV/atom (their RMS over the training frames that have
    a stress), and, with --energy-per-atom, energies per atom of a frame of `atoms` atoms (the
    training mean)."""
    force: float
    atoms: float
    virial: float = 1.0


IN_PLANE = [0, 1, 5]  # Voigt xx, yy, xy: a sheet's stress; along z it is the vacuum's


def virials(stress: torch.Tensor | np.ndarray, cells: torch.Tensor | np.ndarray,
            natoms: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """In-plane virial per atom, σ V / N (eV/atom) [F, 3], of Voigt stresses [F, 6] (eV/Å³)."""
    volume = abs(np.linalg.det(cells)) if isinstance(cells, np.ndarray) else cells.det().abs()
    return stress[:, IN_PLANE] * (volume / natoms)[:, None]


def loss_units(model: EnergyModel, frames: Frames, train: np.ndarray,
               target: str = "energy") -> LossUnits:
    """LossUnits from the training frames `train` (those with a target)."""
    sub = frames.subset(train)
    known = np.isfinite(sub.stress[:, IN_PLANE]).all(axis=1)
    virial = virials(sub.stress[known], sub.cell[known], sub.natoms[known])
    with_target = np.repeat(np.isfinite(target_values(frames, target)), frames.natoms)
    forces = frames.forces[with_target, :model.force_components]
    forces = forces[np.isfinite(forces)]
    return LossUnits(force=float(np.sqrt((forces ** 2).mean())) if len(forces) else 1.0,
                     atoms=float(sub.natoms.mean()),
                     virial=float(np.sqrt((virial ** 2).mean())) if known.any() else 1.0)


WEIGHT_LAYERS = (torch.nn.Conv2d, torch.nn.Conv3d, torch.nn.Linear)  # what --train-layers counts


@dataclass
class Optimisation:
    """The trained weights and what moves them: Adam, the learning-rate schedule and, with --ema,
    the moving average that is validated and saved; what a checkpoint holds beside progress."""

    model: EnergyModel
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    averaged: torch.optim.swa_utils.AveragedModel | None

    @classmethod
    def start(cls, model: EnergyModel, config: TrainConfig) -> Optimisation:
        """Fresh Adam at --lr on the layers --train-layers leaves trainable, its --schedule over
        --epochs, and the --ema average if asked."""
        layers = [m for m in model.network.modules() if isinstance(m, WEIGHT_LAYERS)]
        for layer in layers[:-config.train_layers] if config.train_layers else ():
            layer.requires_grad_(False)
        opt = torch.optim.Adam([p for p in model.network.parameters() if p.requires_grad],
                               lr=config.lr)
        sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs,
                                                            eta_min=config.lr / 100)
                 if config.schedule == "cosine"
                 else torch.optim.lr_scheduler.ConstantLR(opt, 1.0, 0))
        averaged = (torch.optim.swa_utils.AveragedModel(
            model, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(config.ema))
            if config.ema else None)
        return cls(model, opt, sched, averaged)

    @property
    def scored(self) -> EnergyModel:
        """The weights validated and saved: the average with --ema, else the trained ones."""
        return self.averaged.module if self.averaged else self.model

    def plan(self, epochs: int) -> None:
        """End a cosine decay at lr/100 on epoch `epochs` (a rerun may extend the run, --hours
        shorten it)."""
        if isinstance(self.sched, torch.optim.lr_scheduler.CosineAnnealingLR):
            self.sched.T_max = epochs

    def step(self, loss: torch.Tensor, step: int, config: TrainConfig) -> torch.Tensor:
        """One optimiser step on `loss`, the gradient clipped to --clip (one outlier batch must
        not throw the weights off), the rate warmed up, the average updated; returns the
        gradient norm before clipping."""
        self.opt.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.model.network.parameters(),
                                              config.clip or float("inf")).detach()
        with warmed_up(self.opt, step, config.warmup):
            self.opt.step()
        if self.averaged:
            self.averaged.update_parameters(self.model)
        return norm

    def state_dict(self) -> dict:
        """The weights, Adam's moments, the schedule and the average, for the checkpoint."""
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
                "scheduler": self.sched.state_dict(),
                **({"ema": self.averaged.state_dict()} if self.averaged else {})}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a checkpoint's `state` (state_dict)."""
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        if self.averaged and "ema" in state:  # else the average starts from the resumed weights
            self.averaged.load_state_dict(state["ema"])


@dataclass
class Progress:
    """How far a run has come: one history entry per epoch done, the best validation MAE so far
    and the epochs it plans (--epochs, or fewer under --hours)."""

    epochs: int
    history: list[dict] = field(default_factory=list)
    best: float = float("inf")

    @property
    def done(self) -> int:
        """Epochs trained so far, resumes included."""
        return len(self.history)


def resume(config: TrainConfig, state: Optimisation, device: str) -> Progress:
    """The run folder's progress, its checkpoint's weights, Adam, schedule and average loaded
    into `state`; a fresh start where there is no checkpoint."""
    path = config.out / "checkpoint.pt"
    if not path.is_file():
        return Progress(config.epochs)
    ckpt = torch.load(path, map_location=device, weights_only=True)
    state.load_state_dict(ckpt)
    progress = Progress(fitted(config.epochs, config.hours, ckpt["history"]), ckpt["history"],
                        ckpt["best"])
    state.plan(progress.epochs)
    print(f"resuming {config.out} at epoch {ckpt['epoch']}")
    return progress


def record_settings(out: Path, settings: dict, world: int) -> None:
    """Write the run's settings.json: its settings, ranks and the machines it trained on, in
    order (a run may resume elsewhere)."""
    machines = trained_on(out)
    machines += [hardware()] if machines[-1:] != [hardware()] else []
    write_text(out / "settings.json",
               json.dumps({**settings, "ranks": world, "hardware": machines}, indent=1))


def batch_loss(net: torch.nn.Module, model: EnergyModel, b: dict, config: TrainConfig,
               units: LossUnits) -> torch.Tensor:
    """The MSE of the scaled target on batch `b` (over its frames that have one), plus
    --force-weight times that of the forces in units of `units.force` (eV/Å), taken as −dE/dr
    through network and rasterizer (those of frames without a target weighted
    --energyless-weight; components without a label, NaN, not fitted), plus
    --stress-weight times that of the in-plane virials per atom in units of `units.virial` over
    the frames that have a stress, taken as ∂E/∂ε of a strain ε of positions and cell. With
    --energy-per-atom P each frame's energy error is weighted by (`units.atoms` over its atom
    count)^P: at P = 1 per-atom errors, in the units of a frame of the training frames' mean
    size."""
    inputs = list(model_inputs(b))
    b["positions"].requires_grad_(config.force_weight > 0)
    strain = None
    if config.stress_weight > 0:
        strain = torch.zeros(b["n_frames"], 3, 3, dtype=b["cells"].dtype,
                             device=b["cells"].device, requires_grad=True)
        deform = torch.eye(3, dtype=strain.dtype, device=strain.device) + (
            strain + strain.transpose(1, 2)) / 2
        inputs[0] = torch.einsum("ai,aij->aj", b["positions"], deform[b["frame"]])
        inputs[2] = b["cells"] @ deform
    pred = net(*inputs)
    truth = b["energy"] if config.target == "energy" else b[f"label_{config.target}"]
    known = truth.isfinite()  # frames without a label train on their forces alone
    error = (pred - torch.where(known, truth, pred.detach())) / model.energy_scale
    if config.energy_per_atom:
        error = error * (units.atoms / b["natoms"]) ** config.energy_per_atom
    loss = error.square().sum() / known.sum().clamp(min=1)
    wrt = [t for t, weight in ((b["positions"], config.force_weight),
                               (strain, config.stress_weight)) if weight > 0]
    grads = list(torch.autograd.grad(pred.sum(), wrt, create_graph=True)) if wrt else []
    if config.force_weight > 0:
        forces = -grads.pop(0)
        weight = torch.where(known, 1.0, config.energyless_weight)[b["frame"]]
        target = b["forces"]  # unknown (NaN) components are not fitted
        target = torch.where(target.isfinite(), target, forces.detach())
        loss = loss + config.force_weight * (weight[:, None] * (
            (forces - target)[:, :model.force_components] / units.force).square()).mean()
    if config.stress_weight > 0:
        virial = grads.pop(0)[:, [0, 1, 0], [0, 1, 1]] / b["natoms"][:, None]  # ∂E/∂ε per atom
        error = (virial - virials(b["stress"], b["cells"], b["natoms"])) / units.virial
        known = error.isfinite().all(dim=1)
        if known.any():
            loss = loss + config.stress_weight * error[known].square().mean()
    return loss


def train_epoch(net: torch.nn.Module, state: Optimisation, loader: DataLoader, epoch: int,
                config: TrainConfig, units: LossUnits, show: bool) -> dict:
    """One pass over this rank's training frames, then the schedule's step: the epoch's mean
    loss and its gradient norms before clipping (median, largest, share clipped)."""
    state.model.train()
    if config.random_repeats:  # seeded per epoch, so that a resumed run draws the same
        state.model.repeat_rng = np.random.default_rng([config.seed, epoch])
    loader.dataset.set_epoch(epoch)
    losses, norms = [], []
    batches = tqdm(loader, desc=f"epoch {epoch + 1}", unit="batch", leave=False,
                   disable=not show)  # an epoch of a wide network takes minutes on a CPU
    device = state.model.device
    for step, b in enumerate(batches, epoch * len(loader)):
        loss = batch_loss(net, state.model, to_device(b, device), config, units)
        norms.append(state.step(loss, step, config))
        losses.append(loss.detach())
    # read once per epoch: a read per step would stall a GPU's queue of work every step
    losses, norms = torch.stack(losses).cpu().numpy(), torch.stack(norms).cpu().numpy()
    state.sched.step()
    return {"train_mse": float(np.mean(losses)), "grad_norm_median": float(np.median(norms)),
            "grad_norm_max": float(np.max(norms)),
            "clipped": float(np.mean(norms > config.clip)) if config.clip else 0.0}


def validate(model: EnergyModel, frames: Frames, val_idx: np.ndarray,
             config: TrainConfig) -> dict:
    """The validation MAE (per atom in meV for an energy, in the label's unit otherwise) and MSE."""
    model.eval()
    truth = target_values(frames, config.target)[val_idx]
    err = predict(model, frames, val_idx, 4 * config.batch)[0] - truth
    unit = 1e3 / frames.natoms[val_idx] if config.target == "energy" else 1.0
    return {"val_mae": float(np.abs(err * unit).mean()), "val_mse": float(np.mean(err ** 2))}


def save_best(model: EnergyModel, path: Path, about: dict, epoch: int, val_mae: float) -> None:
    """Write `model` as the run's best model file, with the run's provenance and this score."""
    model.metadata = {**about, "training": {**about["training"], "epoch": epoch,
                                            "val_mae": val_mae}}
    save_model(model, path)


def save_checkpoint(path: Path, state: Optimisation, progress: Progress) -> None:
    """Write the checkpoint a rerun resumes from, atomically (a kill leaves the last whole one)."""
    replace_atomically(path, partial(torch.save, {
        **state.state_dict(), "history": progress.history, "epoch": progress.done,
        "best": progress.best}))


def fit_to_hours(progress: Progress, config: TrainConfig, state: Optimisation) -> None:
    """--hours: keep only the epochs that fit, as timed on the first (rank 0's clock decides),
    and decay the learning rate over them."""
    if not config.hours:
        return
    fit = distributed.from_rank0(fitted(progress.epochs, config.hours, progress.history))
    if fit < progress.epochs:
        print(f"--hours {config.hours}: {fit} of {progress.epochs} epochs fit, at "
              f"{progress.history[0]['seconds']:.0f} s for the first")
        progress.epochs = fit
        state.plan(fit)


def stop_reason(progress: Progress, config: TrainConfig, t0: float) -> str | None:
    """Why training stops before its planned epochs, if it does: --max-hours spent (rank 0's
    clock decides), or no better validation for --patience epochs."""
    epoch, hours = progress.done, config.max_hours
    if distributed.from_rank0(bool(hours) and time.time() - t0 > hours * 3600):
        return f"stopping after {hours} h at epoch {epoch}; rerun to resume"
    since_best = epoch - 1 - int(np.argmin([h["val_mae"] for h in progress.history]))
    if config.patience and since_best >= config.patience:
        return f"early stop at epoch {epoch}: no better validation for {config.patience} epochs"
    return None


def train(config: TrainConfig) -> Path:
    """Train (or resume) into `config.out`; returns the path of the best model file. Under
    torchrun, each rank trains on its shard of the frames (training/distributed.py) and rank 0
    alone writes files."""
    settings = config.settings()
    refuse_other_settings(config.out, settings)
    rank, world, device = distributed.setup(config.device)
    if torch.device(device).type == "cpu":
        keep_freed_memory()
    writer = rank == 0
    config.out.mkdir(parents=True, exist_ok=True)
    frames = read_frames(config.data)
    parts = split_frames(config, frames)
    torch.manual_seed(config.seed)
    fitted_on, scored_on = (labelled(config, frames, parts, part)
                            for part in ("train", "validation"))
    model = initial_model(config, frames, fitted_on, device)
    about = provenance(config, frames, parts, model)
    units = loss_units(model, frames, fitted_on, config.target)
    if config.stress_weight > 0 and not np.isfinite(frames.stress[parts["train"]]).any():
        raise SystemExit(f"--stress-weight {config.stress_weight}: no training frame of "
                         f"{config.data} has a stress; label some with `cnnas data label "
                         "--stress`, or drop the option")
    state = Optimisation.start(model, config)
    progress = resume(config, state, device)
    if writer:
        record_settings(config.out, settings, world)
    t0 = time.time() - (progress.history[-1]["seconds"] if progress.done else 0.0)  # resumes summed
    bar = tqdm(desc="epochs", initial=progress.done, total=progress.epochs, disable=not writer)
    augment = tuple(name for name in ("translate", "mirror") if getattr(config, name))
    loader = make_loader(config.data, distributed.shard(parts["train"], rank, world),
                         config.batch, device=device, seed=config.seed, augment=augment)
    net = distributed.wrap(model)  # DDP under torchrun: gradients averaged over the ranks
    while progress.done < progress.epochs:
        epoch = progress.done
        trained = train_epoch(net, state, loader, epoch, config, units, writer)
        scores = validate(state.scored, frames, scored_on, config)
        progress.history.append({"epoch": epoch + 1, **trained, **scores,
                                 "lr": state.sched.get_last_lr()[0], "seconds": time.time() - t0})
        if scores["val_mae"] < progress.best:
            progress.best = scores["val_mae"]
            if writer:
                save_best(state.scored, config.out / "best.pt", about, epoch + 1, progress.best)
        if writer:
            save_checkpoint(config.out / "checkpoint.pt", state, progress)
        bar.update()
        bar.set_postfix(loss=f"{trained['train_mse']:.3g}", val=f"{scores['val_mae']:.3g}",
                        best=f"{progress.best:.2f}")
        fit_to_hours(progress, config, state)
        bar.total = progress.epochs
        reason = stop_reason(progress, config, t0)
        if reason:
            print(reason)
            break
    bar.close()
    if writer:
        write_text(config.out / "history.json", json.dumps(progress.history, indent=1))
    distributed.finish(model)
    return config.out / "best.pt"


def main(argv: list[str] | None = None) -> None:
    """`python -m training.train` (and torchrun): the options of `cnnas train`."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(ap)
    run(ap.parse_args(argv))


if __name__ == "__main__":
    main()
