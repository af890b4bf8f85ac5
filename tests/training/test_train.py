"""Training on a tiny LJ data set: files written, resumption, the split, element references."""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ase_cnnas.modelfile import load_model
from ase_cnnas.sheets import build_sheet
from training.batches import fit_element_energies, to_tensors
from training.evaluate import predict
from training.h5data import Frames, read_frames, write_frames
from training.report import hardware
from training.splits import random_split
from training.train import LossUnits, add_arguments, batch_loss, loss_units, train, trained_on
from training.trainconfig import TrainConfig

GRID, BATCH = 16, 4
VAL_MAE_RTOL = 1e-6  # recomputed from best.pt vs the value stored at save time
RESUME_RTOL = 1e-6  # interrupted + resumed run vs the same run straight through
ELEMENT_ATOL = 1e-9  # eV, exact synthetic energies


@pytest.fixture(scope="module")
def trained(lj_data, tmp_path_factory):
    """Two epochs, then extended to three by a second call (which resumes)."""
    out = tmp_path_factory.mktemp("train") / "run"
    best = train(TrainConfig(lj_data, out, grid=GRID, epochs=2, batch=BATCH))
    first = json.loads((out / "history.json").read_text())
    return out, best, first


def test_writes_model_and_checkpoint(trained, lj_data):
    out, best, history = trained
    assert best == out / "best.pt" and best.is_file()
    assert (out / "checkpoint.pt").is_file()
    assert not list(out.glob("*.tmp"))
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(np.isfinite(h["train_mse"]) and h["val_mae"] > 0 for h in history)
    model = load_model(best)
    frames = read_frames(lj_data)
    train_idx, val_idx, test_idx = random_split(len(frames), 0).values()
    meta = model.metadata
    assert meta["data"]["reference"] == frames.method[0] and len(set(frames.method)) == 1
    assert meta["data"]["split"] == {"name": "random", "seed": 0, "train": len(train_idx),
                                     "validation": len(val_idx), "test": len(test_idx)}
    assert meta["data"]["frames"] == len(frames) == 18
    assert model.network.config.grid == (GRID, GRID) and model.network.config.activation == "silu"
    # the stored validation error is the one best.pt really has
    energy, _ = predict(model, frames, val_idx)
    mae = float(np.mean(np.abs(energy - frames.energy[val_idx]) / frames.natoms[val_idx]) * 1e3)
    assert mae == pytest.approx(meta["training"]["val_mae"], rel=VAL_MAE_RTOL)
    assert meta["training"]["val_mae"] == pytest.approx(min(h["val_mae"] for h in history))
    # the training distribution the calculator warns by, over the training frames
    seen = meta["distribution"]
    assert seen["frames"] == len(train_idx)
    per_atom = [(frames.energy[i] - sum(float(model.element_energy[z])
                                        for z in frames.atoms(i).numbers)) / frames.natoms[i]
                for i in train_idx]
    assert seen["energy_per_atom"] == pytest.approx([min(per_atom), max(per_atom)])
    assert 0.5 < seen["closest_distance"][0] <= seen["closest_distance"][1] < 3
    # element references fitted on the training frames only
    eps = fit_element_energies(frames, train_idx)
    assert model.elements == sorted(eps)
    for z, e in eps.items():
        assert float(model.element_energy[z]) == pytest.approx(e, abs=1e-12)
    np.testing.assert_allclose(model.cell, frames.cell[0])


@pytest.fixture(scope="module")
def extended(trained, lj_data, tmp_path_factory):
    """A copy of the two-epoch run, extended to three epochs by calling train again."""
    out = tmp_path_factory.mktemp("extended") / "run"
    shutil.copytree(trained[0], out)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        train(TrainConfig(lj_data, out, grid=GRID, epochs=3, batch=BATCH))
    return out, printed.getvalue(), json.loads((out / "history.json").read_text())


def test_more_epochs_resumes(trained, extended):
    out, printed, history = extended
    assert "resuming" in printed and "at epoch 2" in printed
    assert len(history) == 3
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[:2] == trained[2]  # the earlier epochs are kept, not redone
    ckpt = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ckpt["epoch"] == 3
    load_model(out / "best.pt")


def test_more_epochs_keeps_lr_decaying(extended):
    lrs = [h["lr"] for h in extended[2]]
    assert lrs[2] <= lrs[1]
    assert lrs[2] == pytest.approx(3e-4 / 100)  # the end of the 3-epoch schedule: eta_min


def test_settings_list_each_machine_the_run_trained_on(trained, extended, lj_data, tmp_path):
    assert json.loads((trained[0] / "settings.json").read_text())["hardware"] == [hardware()]
    assert trained_on(extended[0]) == [hardware()]  # resumed on the same machine: listed once
    out = tmp_path / "run"
    shutil.copytree(extended[0], out)
    settings = json.loads((out / "settings.json").read_text())
    (out / "settings.json").write_text(json.dumps({**settings, "hardware": ["another machine"]}))
    train(TrainConfig(lj_data, out, grid=GRID, epochs=3, batch=BATCH))
    assert trained_on(out) == ["another machine", hardware()]


@pytest.mark.parametrize("changed", [{"grid": 2 * GRID}, {"seed": 1}, {"filters": 8},
                                     {"head": "pixel"}, {"force_weight": 0.1}])
def test_resuming_with_other_settings_is_refused(trained, lj_data, tmp_path, changed):
    """A rerun into a run folder resumes it; with another grid, seed or network it would
    silently continue the old run, so it is refused, naming the setting, and nothing is touched."""
    out = tmp_path / "run"
    shutil.copytree(trained[0], out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (key, value), = changed.items()
    refused = rf"other settings \(--{key.replace('_', '-')} .* -> {value!r}\).*another run folder"
    with pytest.raises(ValueError, match=refused):
        train(TrainConfig(lj_data, out, **{"grid": GRID, "epochs": 3, "batch": BATCH, **changed}))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_init_fine_tunes_the_given_model(trained, lj_data, tmp_path):
    """--init starts from the model file (its network, references, scales; not --grid): at a
    vanishing learning rate the first epoch scores what the file scored."""
    start = load_model(trained[1])
    best = train(TrainConfig(lj_data, tmp_path / "tuned", grid=8, epochs=1, batch=BATCH,
                             lr=1e-12, init=trained[1]))
    tuned = load_model(best)
    assert tuned.network.config == start.network.config
    assert tuned.network.config.grid == (GRID, GRID)
    assert tuned.energy_scale == start.energy_scale
    settings = tuned.metadata["training"]["settings"]  # no unused --grid etc. on record
    assert settings["init"] == str(trained[1]) and "grid" not in settings and "head" not in settings
    val = json.loads((tmp_path / "tuned/history.json").read_text())[0]["val_mae"]
    assert val == pytest.approx(min(h["val_mae"] for h in trained[2]), rel=1e-5)


def test_init_with_more_filters_widens_and_starts_where_the_file_stood(lj_data, tmp_path):
    """--init with --filters widens the file's (pixel-head) network: a model with more
    parameters whose first epoch, at a vanishing learning rate, scores what the file scored."""
    start = train(TrainConfig(lj_data, tmp_path / "narrow", grid=GRID, epochs=1, batch=BATCH,
                              head="pixel", padding="circular", copies=False, reductions=2))
    best = train(TrainConfig(lj_data, tmp_path / "wide", epochs=1, batch=BATCH, lr=1e-12,
                             init=start, filters=24))
    narrow, wide = load_model(start), load_model(best)
    assert (narrow.network.config.filters, wide.network.config.filters) == (16, 24)
    assert wide.metadata["training"]["settings"]["filters"] == 24
    params = [sum(p.numel() for p in m.network.parameters()) for m in (narrow, wide)]
    assert params[1] > params[0]
    vals = [json.loads((tmp_path / run / "history.json").read_text())[0]["val_mae"]
            for run in ("narrow", "wide")]
    assert vals[1] == pytest.approx(vals[0], rel=1e-5)


def test_train_layers_moves_only_the_last_layers(trained, lj_data, tmp_path):
    """--train-layers 2 fine-tunes the head's two dense layers: every convolution keeps the
    file's weights exactly, the head moves; 0 is refused."""
    best = train(TrainConfig(lj_data, tmp_path / "head", epochs=1, batch=BATCH, lr=1e-3,
                             init=trained[1], train_layers=2))
    before, after = (_parameters(load_model(m).state_dict()) for m in (trained[1], best))
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    assert moved and all(k.startswith("network.head.") for k in moved)
    assert any(k.startswith("network.trunk.") for k in before)
    with pytest.raises(ValueError, match="--train-layers 0"):
        TrainConfig(lj_data, tmp_path / "none", train_layers=0)


def test_refit_elements_absorbs_another_energy_zero(trained, lj_data, tmp_path):
    """Data whose energies sit 2.5 eV per B, 0.5 per C and −1 per N from the model's zero:
    --refit-elements shifts the file's per-element energies by that, so the first epoch at a
    vanishing learning rate scores at least as well as the file on the unshifted data."""
    frames = read_frames(lj_data)
    shift = {5: 2.5, 6: 0.5, 7: -1.0}
    off = frames.offsets
    frames.energy = frames.energy + np.array([sum(shift[int(z)] for z in
                                                  frames.numbers[off[i]:off[i + 1]])
                                              for i in range(len(frames))])
    frames.hash = None
    frames.__post_init__()
    data = tmp_path / "shifted.h5"
    write_frames(data, frames)
    start = load_model(trained[1])
    runs = {}
    for refit in (False, True):
        out = tmp_path / f"refit_{refit}"
        best = train(TrainConfig(data, out, epochs=1, batch=BATCH, lr=1e-12, init=trained[1],
                                 refit_elements=refit))
        runs[refit] = json.loads((out / "history.json").read_text())[0]["val_mae"]
    tuned = load_model(best)
    moved = {z: tuned.element_energies[z] - start.element_energies[z] for z in shift}
    assert moved[6] == pytest.approx(0.5, abs=0.02)  # B and N come in pairs: their sum is fitted
    assert moved[5] + moved[7] == pytest.approx(shift[5] + shift[7], abs=0.02)
    assert runs[True] <= 1.2 * min(h["val_mae"] for h in trained[2])  # (its own offsets go too)
    assert runs[False] > 10 * runs[True]


@pytest.mark.parametrize("per_atom, expected", [(0.0, 1.0), (1.0, (2.0**2 + (4 / 6)**2) / 2),
                                               (0.5, (2.0 + 4 / 6) / 2)])
def test_energy_per_atom_weights_each_frame_by_its_size(lj_data, per_atom, expected):
    """Frames of 2 and 6 atoms, each off by one energy scale: the total-energy loss weighs them
    alike (1); per atom, in units of a frame of the mean 4 atoms, the 2-atom frame's error
    counts 4/2 and the 6-atom frame's 4/6; at power 0.5, by the square roots of those."""
    model = argparse.Namespace(energy_scale=3.0)
    batch = {"positions": torch.zeros(8, 3), "energy": torch.tensor([1.0, -2.0]),
             "natoms": torch.tensor([2, 6]), "numbers": None, "cells": None, "frame": None,
             "n_frames": 2}
    config = TrainConfig(lj_data, Path("unused"), energy_per_atom=per_atom)
    loss = batch_loss(lambda *_: batch["energy"] + 3.0, model, batch, config,
                      LossUnits(force=1.0, atoms=4.0))
    assert float(loss) == pytest.approx(expected)


@pytest.mark.parametrize("weight", [1.0, 0.5, 0.0])
@pytest.mark.parametrize("known", [3, 1])
def test_a_frame_without_an_energy_trains_on_its_forces_alone(lj_data, weight, known):
    """Two 2-atom frames, the second without an energy: the energy term is the first frame's
    alone (off by 2: 4), and the second's force errors (each −2: 4 per component) count
    --energyless-weight against the first's: 4 + (6 · 4 + 6 · 4 · weight) / 12. With its
    in-plane forces unknown (NaN) only its 2 z components count:
    4 + (6 · 4 + 2 · 4 · weight) / 12."""
    model = argparse.Namespace(energy_scale=1.0, force_components=3)
    forces = torch.ones(4, 3, dtype=torch.float64)
    forces[2:, :3 - known] = np.nan
    batch = {"positions": torch.zeros(4, 3, dtype=torch.float64),
             "energy": torch.tensor([1.0, np.nan], dtype=torch.float64),
             "forces": forces, "natoms": torch.tensor([2, 2]),
             "frame": torch.tensor([0, 0, 1, 1]), "numbers": None, "cells": None, "n_frames": 2}

    def net(positions, *_):  # E = 3 and 5 plus the frames' coordinate sums: forces of −1
        return torch.stack([3.0 + positions[:2].sum(), 5.0 + positions[2:].sum()])

    config = TrainConfig(lj_data, Path("unused"), force_weight=1.0, energyless_weight=weight)
    batch["positions"].requires_grad_(True)
    loss = batch_loss(net, model, batch, config, LossUnits(force=1.0, atoms=2.0))
    assert float(loss.detach()) == pytest.approx(4 + 2 + 2 * weight * known / 3)
    grad, = torch.autograd.grad(loss, batch["positions"])
    assert grad.isfinite().all()  # the unknown components pass no NaN into the gradient
    with pytest.raises(ValueError, match="--energyless-weight -1.0: give 0 or more"):
        TrainConfig(lj_data, Path("unused"), energyless_weight=-1.0)


def test_frames_without_energies_neither_set_the_zero_nor_validate(lj_data, trained, tmp_path):
    """Half the training frames' energies dropped (NaN) and their forces shrunk: the loss's force
    unit is the RMS of the other frames' forces alone; a fine-tune refits the element energies
    on the rest, validates on the rest (a finite score), and refuses a file with no energy."""
    frames = read_frames(lj_data)
    train_idx = random_split(len(frames), seed=0)["train"]  # the split `train` draws
    frames.energy[train_idx[::2]] = np.nan
    without = np.repeat(np.isnan(frames.energy), frames.natoms)
    frames.forces[without] *= 0.01
    units = loss_units(argparse.Namespace(force_components=3), frames, train_idx[1::2])
    assert units.force == pytest.approx(np.sqrt(np.mean(frames.forces[~without] ** 2)))
    data = tmp_path / "half.h5"
    write_frames(data, frames)
    out = tmp_path / "run"
    train(TrainConfig(data, out, epochs=1, batch=BATCH, init=trained[1], refit_elements=True,
                      force_weight=1.0))
    history = json.loads((out / "history.json").read_text())[0]
    assert np.isfinite(history["val_mae"]) and np.isfinite(history["train_mse"])
    about = load_model(out / "best.pt").metadata["data"]  # the energies' labeller, and theirs
    assert about["forces_only_reference"] == about["reference"] == frames.method[0]
    assert "forces_only_reference" not in load_model(trained[1]).metadata["data"]
    frames.energy[:] = np.nan
    write_frames(data, frames)
    with pytest.raises(SystemExit, match="no train frame has a label .energy.; give frames"):
        train(TrainConfig(data, tmp_path / "none", epochs=1, batch=BATCH, init=trained[1]))


@pytest.mark.parametrize("given, power", [([], 0.0), (["--energy-per-atom"], 1.0),
                                         (["--energy-per-atom", "0.5"], 0.5)])
def test_energy_per_atom_flag_alone_means_per_atom(given, power):
    """`--energy-per-atom` alone is the power 1 (per atom); a number blends toward totals."""
    from training.cli import add_dataclass_arguments

    ap = argparse.ArgumentParser()
    add_dataclass_arguments(ap, TrainConfig)
    assert ap.parse_args(["--data", "d.h5", "--out", "run", *given]).energy_per_atom == power
    with pytest.raises(ValueError, match="--energy-per-atom 2.0: give a power between 0"):
        TrainConfig("d.h5", "run", energy_per_atom=2.0)


def test_init_refuses_data_with_other_elements(trained, tmp_path):
    data = tmp_path / "si.h5"
    write_frames(data, synthetic_frames({14: -4.0, 6: -7.0}, n_frames=20))
    with pytest.raises(ValueError, match=r"knows elements \[5, 6, 7\].*\[14\]"):
        train(TrainConfig(data, tmp_path / "run", grid=GRID, epochs=1, batch=BATCH,
                          init=trained[1]))


def test_cli_names_the_bad_option_without_a_traceback(lj_data, tmp_path, capsys):
    from training.cli import main

    assert main(["train", "--data", str(lj_data), "--out", str(tmp_path / "r"), "--init",
                 str(tmp_path / "none.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnnas: error:") and "no such model file" in err
    assert "Traceback" not in err


def test_interrupted_run_resumes_exactly(lj_data, tmp_path, capsys):
    """Stopped after epoch 1 (max_hours) and rerun, training ends where a straight run does."""
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    train(TrainConfig(lj_data, straight, grid=GRID, epochs=2, batch=BATCH))
    train(TrainConfig(lj_data, broken, grid=GRID, epochs=2, batch=BATCH, max_hours=1e-12))
    assert "stopping after" in capsys.readouterr().out
    assert len(json.loads((broken / "history.json").read_text())) == 1
    train(TrainConfig(lj_data, broken, grid=GRID, epochs=2, batch=BATCH))
    assert "resuming" in capsys.readouterr().out
    a = torch.load(straight / "checkpoint.pt", weights_only=False)
    b = torch.load(broken / "checkpoint.pt", weights_only=False)
    for key in ("train_mse", "val_mae", "lr"):
        assert [h[key] for h in b["history"]] == pytest.approx([h[key] for h in a["history"]],
                                                               rel=RESUME_RTOL), key
    for k, v in a["model"].items():
        torch.testing.assert_close(b["model"][k], v, rtol=RESUME_RTOL, atol=1e-9, equal_nan=True,
                                   msg=k)


class _Clock:
    """A clock that moves 1 s each time it is read: the first epoch then takes 1 s."""
    def __init__(self):
        self.now = 0.0

    def time(self) -> float:
        self.now += 1.0
        return self.now


def test_hours_fits_the_schedule_into_the_budget(lj_data, tmp_path, monkeypatch, capsys):
    """--hours: a first epoch of 1 s under a budget of 2 s leaves 2 of 5 epochs, and the cosine
    decay ends on the second at lr/100; a rerun resumes to the same end, not to epoch 5."""
    import training.train as train_module

    monkeypatch.setattr(train_module, "time", _Clock())
    out = tmp_path / "run"
    train(TrainConfig(lj_data, out, grid=GRID, epochs=5, batch=BATCH, lr=1e-3, hours=2 / 3600))
    assert "2 of 5 epochs fit" in capsys.readouterr().out
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert history[-1]["lr"] == pytest.approx(1e-5, rel=1e-9)
    train(TrainConfig(lj_data, out, grid=GRID, epochs=5, batch=BATCH, lr=1e-3, hours=2 / 3600))
    assert len(json.loads((out / "history.json").read_text())) == 2


@pytest.mark.parametrize("warmup, moved", [(0, True), (10 ** 9, False)])
def test_warmup_ramps_the_first_steps(lj_data, trained, tmp_path, warmup, moved):
    """--warmup: over a warm-up of 10⁹ steps a fine-tune's first epoch barely moves the weights
    (its rate is 10⁻⁹ of the schedule's); without one, Adam's first steps move each by ~lr."""
    _, best, _ = trained
    out = tmp_path / "run"
    train(TrainConfig(lj_data, out, grid=GRID, epochs=1, batch=BATCH, lr=1e-3, init=best,
                      warmup=warmup))
    start = _parameters(load_model(best).state_dict())
    after = _parameters(torch.load(out / "checkpoint.pt", weights_only=False)["model"])
    shift = max(float((after[k] - v).abs().max()) for k, v in start.items())
    assert shift > 1e-4 if moved else shift < 1e-8


def test_hours_refuses_a_budget_of_nothing(lj_data, tmp_path):
    with pytest.raises(ValueError, match="--hours 0"):
        train(TrainConfig(lj_data, tmp_path / "r", grid=GRID, epochs=1, batch=BATCH, hours=0))


def _parameters(state: dict, prefix: str = "") -> dict:
    """A state dict's network parameters, keyed without `prefix`."""
    return {k[len(prefix):]: v for k, v in state.items()
            if k.startswith(prefix + "network.")}


@pytest.mark.parametrize("decay", [1e-12, 0.5])
def test_ema_validates_and_saves_the_average(lj_data, tmp_path, decay):
    """--ema: best.pt holds the averaged weights the checkpoint keeps; a vanishing decay
    leaves the last trained weights, a decay of 0.5 an average that differs from them."""
    out = tmp_path / "run"
    best = train(TrainConfig(lj_data, out, grid=GRID, epochs=1, batch=BATCH, ema=decay))
    ckpt = torch.load(out / "checkpoint.pt", weights_only=False)
    trained_weights, average = _parameters(ckpt["model"]), _parameters(ckpt["ema"], "module.")
    saved = _parameters(load_model(best).state_dict())
    assert saved.keys() == average.keys() == trained_weights.keys()
    for k, v in saved.items():
        torch.testing.assert_close(v, average[k], msg=k)
    gap = max(float((average[k] - v).abs().max()) for k, v in trained_weights.items())
    assert gap < 1e-6 if decay < 1e-6 else gap > 1e-4
    frames = read_frames(lj_data)
    val_idx = random_split(len(frames), 0)["validation"]
    energy, _ = predict(load_model(best), frames, val_idx)
    mae = float(np.mean(np.abs(energy - frames.energy[val_idx]) / frames.natoms[val_idx]) * 1e3)
    assert mae == pytest.approx(json.loads((out / "history.json").read_text())[0]["val_mae"],
                                rel=VAL_MAE_RTOL)


def test_ema_resumes_exactly(lj_data, tmp_path):
    """The average is checkpointed: an interrupted run with --ema ends where a straight one does."""
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    train(TrainConfig(lj_data, straight, grid=GRID, epochs=2, batch=BATCH, ema=0.9))
    train(TrainConfig(lj_data, broken, grid=GRID, epochs=2, batch=BATCH, ema=0.9, max_hours=1e-12))
    train(TrainConfig(lj_data, broken, grid=GRID, epochs=2, batch=BATCH, ema=0.9))
    a = torch.load(straight / "checkpoint.pt", weights_only=False)
    b = torch.load(broken / "checkpoint.pt", weights_only=False)
    assert [h["val_mae"] for h in b["history"]] == pytest.approx(
        [h["val_mae"] for h in a["history"]], rel=RESUME_RTOL)
    for k, v in a["ema"].items():
        torch.testing.assert_close(b["ema"][k], v, rtol=RESUME_RTOL, atol=1e-9, equal_nan=True,
                                   msg=k)


def test_cli_refuses_an_ema_decay_outside_0_1(lj_data, tmp_path, capsys):
    from training.cli import main

    assert main(["train", "--data", str(lj_data), "--out", str(tmp_path / "r"), "--ema", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnnas: error:") and "--ema 1.0" in err and "Traceback" not in err


def _parsed(command: str) -> TrainConfig:
    """The TrainConfig `cnnas train COMMAND` runs with."""
    ap = argparse.ArgumentParser()
    add_arguments(ap)
    args = ap.parse_args(command.split())
    return TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})


def test_cli_keeps_the_commands_results_quote():
    """Old option names and meanings still work: store_true flags, --no-copies,
    --no-target-scaling; each option lands in its TrainConfig field, the rest at the defaults."""
    config = _parsed("--data datasets/sheets_30k_1000K.h5 --split trajectory --init X "
                     "--force-weight 1 --batch 16 --lr 4e-5 --warmup 200 --hours 1.2 --epochs 200 "
                     "--clip 20 --translate --mirror --ema 0.999 --seed 18 --out runs/cpu_r7 "
                     "--filters 32 --no-copies --no-target-scaling --device cpu")
    assert config == TrainConfig(Path("datasets/sheets_30k_1000K.h5"), Path("runs/cpu_r7"),
                                 split="trajectory", init="X", force_weight=1.0, batch=16, lr=4e-5,
                                 warmup=200, hours=1.2, epochs=200, clip=20.0, translate=True,
                                 mirror=True, ema=0.999, seed=18, filters=32, copies=False,
                                 scale_target=False, device="cpu")
    plain = _parsed("--data d.h5 --out r --device cpu")
    assert plain == TrainConfig(Path("d.h5"), Path("r"))
    assert _parsed("--data d.h5 --out r --no-scale-target --counts").scale_target is False


def test_every_setting_and_option_is_explained():
    ap = argparse.ArgumentParser()
    add_arguments(ap)
    assert all(f.metadata["help"] for f in dataclasses.fields(TrainConfig))
    assert all(action.help for action in ap._actions)
    with pytest.raises(SystemExit):
        ap.parse_args(["--data", "d.h5", "--out", "r", "--head", "dense"])  # not in HEADS


def test_settings_file_is_the_resolved_config(trained):
    """settings.json holds every TrainConfig field as resolved, plus the ranks and machines."""
    out = trained[0]
    saved = json.loads((out / "settings.json").read_text())
    config = TrainConfig(**{f.name: saved[f.name] for f in dataclasses.fields(TrainConfig)})
    assert config.settings() == {k: v for k, v in saved.items() if k not in ("ranks", "hardware")}
    assert (config.grid, config.epochs, config.batch, saved["ranks"]) == (GRID, 2, BATCH, 1)


def test_kill_9_mid_training_then_rerun(lj_data, tmp_path):
    """kill -9 training after a few epochs: checkpoint and best model stay readable, the rerun
    loses at most the epoch that was running and ends with every epoch once."""
    out, epochs = tmp_path / "run", 400
    cmd = [sys.executable, "-m", "training.cli", "train", "--data", str(lj_data), "--out", str(out),
           "--grid", str(GRID), "--batch", str(BATCH), "--epochs", str(epochs)]
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(cmd, cwd=root, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    ckpt, deadline = out / "checkpoint.pt", time.time() + 120

    def done() -> int:
        with contextlib.suppress(FileNotFoundError, RuntimeError, EOFError):
            return torch.load(ckpt, weights_only=True)["epoch"]
        return 0

    while done() < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = torch.load(ckpt, weights_only=True)  # readable: written to a temporary file, renamed
    assert 3 <= saved["epoch"] < epochs, "training ended before the kill; make it longer"
    assert len(saved["history"]) == saved["epoch"]
    load_model(out / "best.pt")
    shorter = [*cmd[:-1], str(saved["epoch"] + 2)]  # two more epochs after the kill
    result = subprocess.run(shorter, cwd=root, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resuming {out} at epoch {saved['epoch']}" in result.stdout
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == list(range(1, saved["epoch"] + 3))
    seconds = [h["seconds"] for h in history]  # training time runs on across the resume
    assert seconds == sorted(seconds) and seconds[saved["epoch"]] > seconds[saved["epoch"] - 1]


@pytest.mark.parametrize("n", [10, 100, 1001])
def test_split_proportions(n):
    train_idx, val_idx, test_idx = random_split(n, seed=7).values()
    together = np.concatenate([train_idx, val_idx, test_idx])
    assert sorted(together) == list(range(n))  # disjoint and complete
    assert len(test_idx) == round(0.3 * n)
    assert len(val_idx) == round(0.1 * (n - len(test_idx)))
    for idx in (train_idx, val_idx, test_idx):
        assert (np.diff(idx) > 0).all()


def test_split_seeded():
    a, b = list(random_split(200, seed=1).values()), list(random_split(200, seed=1).values())
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = list(random_split(200, seed=2).values())
    assert not np.array_equal(a[2], c[2])
    assert [len(x) for x in a] == [126, 14, 60]


def synthetic_frames(eps: dict[int, float], n_frames=12, seed=0) -> Frames:
    rng = np.random.default_rng(seed)
    natoms = rng.integers(3, 9, n_frames)
    numbers = rng.choice(sorted(eps), natoms.sum())
    off = np.concatenate([[0], np.cumsum(natoms)])
    energy = np.array([sum(eps[z] for z in numbers[off[i]:off[i + 1]]) for i in range(n_frames)])
    n = natoms.sum()
    return Frames(numbers=numbers, positions=rng.normal(size=(n, 3)), forces=np.zeros((n, 3)),
                  natoms=natoms, energy=energy, cell=np.tile(np.eye(3) * 5, (n_frames, 1, 1)),
                  pbc=np.tile([True, True, False], (n_frames, 1)),
                  structure=np.array(["x"] * n_frames),
                  trajectory=np.zeros(n_frames, int))


def test_fit_element_energies_exact():
    eps = {1: -3.4, 6: -9.2, 8: -4.9}
    frames = synthetic_frames(eps)
    fitted = fit_element_energies(frames, np.arange(len(frames)))
    assert sorted(fitted) == [1, 6, 8]
    for z, e in eps.items():
        assert fitted[z] == pytest.approx(e, abs=ELEMENT_ATOL)


def test_fit_element_energies_uses_only_index():
    """Frames outside `index` (here with wrong energies) do not enter the fit."""
    eps = {5: -7.0, 7: -8.1}
    frames = synthetic_frames(eps, n_frames=10)
    frames.energy[7:] += 100.0
    fitted = fit_element_energies(frames, np.arange(7))
    for z, e in eps.items():
        assert fitted[z] == pytest.approx(e, abs=ELEMENT_ATOL)


def test_to_tensors_translation_is_in_plane_and_per_frame():
    frames = synthetic_frames({6: -9.0}, n_frames=4)
    index = np.array([3, 1])
    plain = to_tensors(frames, index, "cpu")
    moved = to_tensors(frames, index, "cpu", translate=np.random.default_rng(0))
    assert plain["n_frames"] == 2 and plain["positions"].dtype == torch.float64
    assert plain["frame"].tolist() == [0] * frames.natoms[3] + [1] * frames.natoms[1]
    shift = (moved["positions"] - plain["positions"]).numpy()
    assert np.all(shift[:, 2] == 0)
    for f in range(2):
        s = shift[plain["frame"].numpy() == f]
        np.testing.assert_allclose(s, np.broadcast_to(s[0], s.shape), atol=1e-12)  # rigid shift
        assert (s[0, :2] >= 0).all() and (s[0, :2] <= 5).all()  # a fraction of the 5 Å cell
    torch.testing.assert_close(plain["energy"], torch.tensor(frames.energy[index]))


def test_scale_to_data_gives_unit_spread(lj_data):
    from training.batches import model_inputs
    from training.modelbuild import build_model, scale_to_data

    frames = read_frames(lj_data)
    idx = np.arange(len(frames))
    model = build_model(frames, idx, (GRID, GRID), head="pixel", padding="circular",
                        periodic_copies=False)
    batch = to_tensors(frames, idx, "cpu")
    scale_to_data(model, batch)
    with torch.no_grad():
        images = model.images(*model_inputs(batch))
        first = model.network.trunk[0](images[:, None])
    assert abs(float(images.std()) - 1) < 1e-4
    assert abs(float(first.std()) - 1) < 1e-4


def test_force_matching_lowers_the_force_error(lj_data, tmp_path):
    """Twenty epochs with the force loss fit the LJ forces better than the same run without it."""
    frames = read_frames(lj_data)
    errors = {}
    for weight in (0.0, 1.0):
        best = train(TrainConfig(lj_data, tmp_path / f"w{weight}", grid=GRID, epochs=20,
                                 batch=BATCH, lr=3e-3, head="pixel", padding="circular",
                                 copies=False, activation="silu", force_weight=weight))
        _, forces = predict(load_model(best), frames, np.arange(len(frames)), forces=True)
        errors[weight] = np.abs(forces - frames.forces)[:, :2].mean()
    assert errors[1.0] < 0.8 * errors[0.0]


@pytest.fixture(scope="module")
def dimer_data(tmp_path_factory):
    from training.dimers import make_dimers
    from training.h5data import write_frames

    path = tmp_path_factory.mktemp("dimers") / "dimers.h5"
    write_frames(path, make_dimers(60, 2, [(1.0, 2.0)], seed=1))
    return path


def test_network1_learns_a_label(dimer_data, tmp_path):
    """A dimer's distance as the target: Network 1, MAE in Å, no element references."""
    from ase_cnnas.modelfile import load_model

    best = train(TrainConfig(dimer_data, tmp_path / "run", grid=16, epochs=2, batch=8, lr=1e-3,
                             network="network1", target="distance"))
    model = load_model(best)
    meta = model.metadata["training"]
    assert meta["target"] == "distance" and meta["val_mae_unit"] == "label"
    assert 0 < meta["val_mae"] < 1.0  # Å, for distances in 1…2 Å
    assert model.network.config.reductions is None and not model.network.config.periodic_copies
    assert model.elements == [1] and model.element_energy[1].item() == 0.0


def test_unknown_target_and_forces_without_energy(dimer_data, tmp_path):
    with pytest.raises(ValueError, match="no 'angle' to learn; it has energy, distance"):
        train(TrainConfig(dimer_data, tmp_path / "a", grid=16, epochs=1, network="network1",
                          target="angle"))
    with pytest.raises(ValueError, match="force matching needs an energy target"):
        train(TrainConfig(dimer_data, tmp_path / "b", grid=16, epochs=1, network="network1",
                          target="distance", force_weight=1.0))
    with pytest.raises(ValueError, match="--energy-per-atom needs an energy target"):
        TrainConfig(dimer_data, tmp_path / "c", target="distance", energy_per_atom=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_trains_on_cuda(lj_data, dimer_data, tmp_path):
    """Batches stream from pinned host memory to the GPU; both kinds of target train there."""
    from ase_cnnas.modelfile import load_model

    for data, options in ((lj_data, {"force_weight": 1.0, "translate": True}),
                          (dimer_data, {"network": "network1", "target": "distance"})):
        best = train(TrainConfig(data, tmp_path / data.stem, grid=16, epochs=2, batch=8,
                                 device="cuda", **options))
        assert np.isfinite(load_model(best).metadata["training"]["val_mae"])


def test_trains_with_both_augmentations(lj_data, tmp_path):
    best = train(TrainConfig(lj_data, tmp_path / "aug", grid=GRID, epochs=1, batch=BATCH,
                             translate=True, mirror=True))
    settings = load_model(best).metadata["training"]["settings"]
    assert settings["translate"] and settings["mirror"]
    assert np.isfinite(load_model(best).metadata["training"]["val_mae"])


def test_early_stopping(lj_data, tmp_path, capsys):
    """With patience 1, training stops at the first epoch that does not improve validation."""
    out = tmp_path / "patient"
    with pytest.raises(ValueError, match="at least 1 epoch"):
        train(TrainConfig(lj_data, out, grid=GRID, epochs=30, batch=BATCH, patience=0))
    train(TrainConfig(lj_data, out, grid=GRID, epochs=30, batch=BATCH, lr=3e-2, patience=1))
    history = json.loads((out / "history.json").read_text())
    maes = [h["val_mae"] for h in history]
    assert len(history) < 30 and maes[-1] >= min(maes[:-1])
    assert all(b < a for a, b in itertools.pairwise(maes[:-1]))  # improved every epoch until then
    assert f"early stop at epoch {len(history)}" in capsys.readouterr().out


def test_ablation_switches_reference_scaling_and_schedule(lj_data, tmp_path):
    """The ingredients an ablation switches off: one mean energy per atom for every element
    instead of fitted per-element energies, eV instead of the energy spread as the output unit,
    a constant learning rate instead of cosine decay; each recorded, each with its effect."""
    frames = read_frames(lj_data)
    plain = load_model(train(TrainConfig(lj_data, tmp_path / "plain", grid=GRID, epochs=2,
                                         batch=BATCH)))
    best = train(TrainConfig(lj_data, tmp_path / "ablated", grid=GRID, epochs=2, batch=BATCH,
                             reference="mean", scale_target=False, schedule="constant"))
    model = load_model(best)
    idx = random_split(len(frames), 0)["train"]
    per_atom = frames.energy[idx].sum() / frames.natoms[idx].sum()
    eps = [float(model.element_energy[z]) for z in model.elements]
    assert eps == pytest.approx([per_atom] * len(eps), abs=ELEMENT_ATOL)
    assert len({float(plain.element_energy[z]) for z in plain.elements}) == len(eps) > 1
    assert model.energy_scale == 1.0 and plain.energy_scale != 1.0
    lrs = [h["lr"] for h in json.loads((tmp_path / "ablated" / "history.json").read_text())]
    assert lrs == [3e-4, 3e-4]
    settings = model.metadata["training"]["settings"]
    assert (settings["reference"], settings["scale_target"], settings["schedule"]) == (
        "mean", False, "constant")
    for bad, match in (({"reference": "zero"}, "reference 'zero'"),
                       ({"schedule": "step"}, "schedule 'step'")):
        with pytest.raises(ValueError, match=match):
            train(TrainConfig(lj_data, tmp_path / "bad", grid=GRID, epochs=1, batch=BATCH, **bad))


def test_gradient_clipping_recorded(lj_data, tmp_path):
    """Each epoch records the gradient norm before clipping (median, largest) and the share of
    steps clipped; a bound below every norm clips every step."""
    free = json.loads(train(TrainConfig(lj_data, tmp_path / "free", grid=GRID, epochs=1,
                                        batch=BATCH)).with_name("history.json").read_text())[0]
    assert free["grad_norm_max"] >= free["grad_norm_median"] > 0 and free["clipped"] == 0.0
    tight = train(TrainConfig(lj_data, tmp_path / "tight", grid=GRID, epochs=1, batch=BATCH,
                              clip=1e-6))
    assert json.loads(tight.with_name("history.json").read_text())[0]["clipped"] == 1.0
    assert load_model(tight).metadata["training"]["settings"]["clip"] == 1e-6
    with pytest.raises(ValueError, match="--clip 0: give a positive gradient norm"):
        train(TrainConfig(lj_data, tmp_path / "bad", grid=GRID, epochs=1, batch=BATCH, clip=0))


def test_free_standing_any_cell_model_trains_on_mixed_cells(lj_data, tmp_path):
    """--heights --any-cell, fresh and from a flat model file of the 60-atom cell (with
    --match-pixels within 0.4 per cent, stretch inputs and the stretch response, which the file
    keeps; and as a slab
    of height layers):
    free-standing frames of a hexagonal and a rectangular cell in one run, all three force
    components fitted."""
    from conftest import LJ

    from training.cli import main

    data = tmp_path / "free.h5"
    assert main(["data", "sheets", "-o", str(data), "--structures", "graphene_pristine@hex3",
                 "hbn_vacancy@4x2", "--frames", "6", "--steps", "4", "--stride", "2", "--free",
                 "--strain", "0.03", "--reference", LJ, "--workers", "1"]) == 0
    free = dict(head="pixel", padding="circular", copies=False, heights=True, any_cell=True,
                force_weight=1.0)
    fresh = train(TrainConfig(data, tmp_path / "fresh", grid=GRID, epochs=1, batch=BATCH, **free))
    flat = train(TrainConfig(lj_data, tmp_path / "flat", grid=GRID, epochs=1, batch=BATCH,
                             head="pixel", padding="circular", copies=False, force_weight=1.0))
    tuned = train(TrainConfig(data, tmp_path / "tuned", epochs=1, batch=BATCH, init=flat,
                              heights=True, any_cell=True, force_weight=1.0, match_pixels=True,
                              match_tolerance=0.004, stretch_inputs=True,
                              stretch_response=True, near_heights=2.0, odd_kernel=7,
                              slopes=True))
    slab = train(TrainConfig(data, tmp_path / "slab", epochs=1, batch=BATCH, init=flat,
                             heights=True, height_layers=3, any_cell=True, force_weight=1.0))
    with pytest.raises(ValueError, match="--height-layers 3: give 2 or more, with --heights"):
        TrainConfig(data, tmp_path / "bad", height_layers=3)
    with pytest.raises(ValueError, match="--match-tolerance 0: give a fraction between 0 and"):
        TrainConfig(data, tmp_path / "bad", match_pixels=True, match_tolerance=0)
    with pytest.raises(ValueError, match="--stretch-inputs is for an any-cell model: add --any"):
        TrainConfig(data, tmp_path / "bad", stretch_inputs=True)
    with pytest.raises(ValueError, match="--stretch-response is for an any-cell model: add --an"):
        TrainConfig(data, tmp_path / "bad", stretch_response=True)
    with pytest.raises(ValueError, match="--near-heights 2.0: give a positive radius .Å., with "
                                         "--heights and without --height-layers"):
        TrainConfig(data, tmp_path / "bad", near_heights=2.0)
    with pytest.raises(ValueError, match="--odd-kernel 7: give 3 pixels or more, with --heights"):
        TrainConfig(data, tmp_path / "bad", odd_kernel=7)
    with pytest.raises(ValueError, match="--slopes: with --heights and without --height-layers"):
        TrainConfig(data, tmp_path / "bad", slopes=True)
    frames = read_frames(data)
    for best, matched, layers in ((fresh, 0.0, 0), (tuned, 0.004, 0), (slab, 0.0, 3)):
        model = load_model(best)
        assert model.match_pixels == pytest.approx(matched)
        assert model.stretch_inputs == model.stretch_response == (best == tuned)
        assert model.network.config.height_layers == layers
        assert model.network.config.near_heights == (2.0 if best == tuned else 0.0)
        assert model.network.config.odd_kernel == (7 if best == tuned else 0)
        assert model.network.config.slopes == (best == tuned)
        assert model.any_cell and model.network.config.heights and model.force_components == 3
        cell = model.cell[:2, :2]
        assert np.count_nonzero(cell - np.diag(np.diag(cell))) == 0  # spacing of a rectangle
        energy, forces = predict(model, frames, np.arange(len(frames)), forces=True)
        assert np.isfinite(energy).all() and np.abs(forces[:, 2]).max() > 0
        assert {"height", "spacing_min", "spacing_max"} <= set(model.metadata["distribution"])


def test_stress_loss_is_zero_on_the_models_own_strain_derivative():
    """Frames labelled with a model's own energies and with stresses from central differences
    of its energy under strain: with --stress-weight the loss is zero; a stress off by δ on one
    frame adds the weight times (δ V / N over units.virial)² over the labelled frames' three
    in-plane components; a frame without a stress adds nothing."""
    from conftest import make_sheet_model

    from training.train import virials

    model = make_sheet_model(seed=3, stretch=True, response=True)
    sheets = [build_sheet("graphene_pristine@hex1"), build_sheet("hbn_pristine@2x1"),
              build_sheet("graphene_pristine@2x1")]
    for k, atoms in enumerate(sheets):
        strain = np.diag([1.02, 0.99 - 0.01 * k, 1.0])
        strain[0, 1] = 0.02  # sheared too, so that σ_xy counts
        atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
        atoms.rattle(0.05, seed=k)

    def energy(atoms, strain=0.0):
        deform = np.eye(3) + strain
        with torch.no_grad():
            return float(model(torch.tensor(atoms.positions @ deform),
                               torch.tensor(atoms.numbers),
                               torch.tensor(atoms.cell.array @ deform)[None],
                               torch.zeros(len(atoms), dtype=torch.long), 1))

    stress, h = np.full((3, 6), np.nan), 1e-5
    for k, atoms in enumerate(sheets[:2]):  # the third frame has no stress
        for voigt, (i, j) in zip((0, 1, 5), ((0, 0), (1, 1), (0, 1))):
            e = np.zeros((3, 3))
            e[i, j] = e[j, i] = h / (1 if i == j else 2)
            step = (energy(atoms, e) - energy(atoms, -e)) / (2 * h)
            stress[k, voigt] = step / atoms.get_volume()
    frames = Frames(numbers=np.concatenate([a.numbers for a in sheets]),
                    positions=np.concatenate([a.positions for a in sheets]),
                    natoms=np.array([len(a) for a in sheets]),
                    energy=np.array([energy(a) for a in sheets]),
                    cell=np.array([a.cell.array for a in sheets]),
                    pbc=np.ones((3, 3), bool), stress=stress)
    config = TrainConfig(Path("unused"), Path("unused"), stress_weight=2.0)
    units = LossUnits(force=1.0, atoms=4.0, virial=0.5)
    batch = to_tensors(frames, np.arange(3), "cpu")
    assert np.abs(stress[:2, [0, 1, 5]]).min() > 1e-5  # a stress that a sign error would show
    assert float(batch_loss(model, model, batch, config, units).detach()) < 1e-12
    delta = 1e-4
    frames.stress[1, 1] += delta
    batch = to_tensors(frames, np.arange(3), "cpu")
    expected = 2.0 * (delta * sheets[1].get_volume() / len(sheets[1]) / 0.5) ** 2 / 6
    loss = float(batch_loss(model, model, batch, config, units).detach())
    assert loss == pytest.approx(expected, rel=1e-3)
    assert virials(frames.stress[:2], frames.cell[:2], frames.natoms[:2]).shape == (2, 3)


def test_random_repeats_need_matched_pixels(lj_data, tmp_path):
    with pytest.raises(ValueError, match="--random-repeats draws among repeats whose pixels "
                       "match: add --match-pixels"):
        TrainConfig(lj_data, tmp_path / "r", random_repeats=True)


def test_stress_weight_without_stresses_names_the_fix(lj_data, tmp_path):
    with pytest.raises(SystemExit, match="no training frame of .* has a stress; label some "
                       "with `cnnas data label --stress`"):
        train(TrainConfig(lj_data, tmp_path / "s", grid=GRID, epochs=1, batch=BATCH,
                          stress_weight=1.0))
