"""The energy-error study: the decomposition the readout refit relies on, the refit, the
translated copies, the report."""
from __future__ import annotations

import numpy as np
import pytest

from ase_cnnas.modelfile import load_model, save_model
from training.batches import reference_sums
from training.evaluate import predict
from training.experiments.energy_error import (
    features,
    main,
    readout,
    refit,
    shifted,
    translation_rows,
)
from training.h5data import read_frames
from training.splits import split_of
from training.train import train
from training.trainconfig import TrainConfig


@pytest.fixture(scope="module")
def pixel_model(lj_data, tmp_path_factory):
    """A pixel-head model trained one epoch on the LJ set."""
    out = tmp_path_factory.mktemp("readout")
    return train(TrainConfig(lj_data, out / "run", grid=16, epochs=1, batch=4, head="pixel",
                             padding="circular", copies=False, reductions=2, activation="silu"))


@pytest.mark.parametrize("symmetrize", [False, True])
def test_the_energy_is_linear_in_the_summed_hidden_layer(pixel_model, lj_data, symmetrize):
    model = load_model(pixel_model, symmetrize=symmetrize)
    frames = read_frames(lj_data)
    index = np.arange(len(frames))
    h, energy = features(model, frames, index, batch=5)
    w, c = readout(model)
    readout_term = model.energy_scale * (h @ w + c)
    assert np.ptp(readout_term) > 1e-3  # eV: the part the network adds varies from frame to frame
    offset = reference_sums(frames, index, model.element_energies) + model.energy_mean
    assert energy - readout_term == pytest.approx(offset, abs=1e-5)
    assert energy == pytest.approx(predict(model, frames, index)[0], abs=1e-6)


def test_refit_recovers_a_linear_target_and_a_large_ridge_keeps_the_weights():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(200, 8))
    w_true, c_true = rng.normal(size=8), 0.7
    target = h @ w_true + c_true
    w, c = refit(h, target, np.zeros(8), 0.0, 1e-12)
    assert w == pytest.approx(w_true, abs=1e-8) and c == pytest.approx(c_true, abs=1e-8)
    w0 = rng.normal(size=8)
    w, c = refit(h, target, w0, 0.0, 1e9)
    assert w == pytest.approx(w0, abs=1e-6)
    assert c == pytest.approx(np.mean(target - h @ w0), abs=1e-6)  # the bias is never pulled


def test_report_scores_the_trained_readout_as_evaluate_does(pixel_model, lj_data, tmp_path):
    out = tmp_path / "readout.md"
    main(["--model", str(pixel_model), "--data", str(lj_data), "--out", str(out)])
    rows = [line.split(" | ") for line in out.read_text().split("Translations:")[0].splitlines()
            if line.startswith("| ")]
    assert rows[0][0] == "| readout" and len(rows) == 1 + 1 + 6  # header, as trained, one per ridge
    trained = rows[1]
    assert trained[0] == "| as trained" and float(trained[1]) == 0
    model, frames = load_model(pixel_model), read_frames(lj_data)
    for part, value in zip(("train", "validation", "test"), trained[2:]):
        index = split_of(model.metadata, lj_data, len(frames))[part]
        err = np.abs(predict(model, frames, index)[0] - frames.energy[index]) / frames.natoms[index]
        assert float(value.strip(" |")) == pytest.approx(err.mean() * 1e3, abs=1.5e-3)
    loosest = rows[-1]
    assert float(loosest[1]) > 0 and float(loosest[2]) < float(trained[2])


def test_models_it_does_not_describe_are_refused(model_file, lj_data, tmp_path):
    with pytest.raises(SystemExit, match="pixel-head"):
        main(["--model", str(model_file), "--data", str(lj_data), "--out", str(tmp_path / "r.md")])
    with pytest.raises(SystemExit):
        main(["--model", str(model_file), "--data", str(lj_data), "--every", "0"])
    assert not (tmp_path / "r.md").exists()


@pytest.mark.parametrize("how", ["saved so", "--symmetrize"])
def test_a_symmetrized_model_is_studied_with_its_reflections(pixel_model, lj_data, tmp_path, how):
    path = pixel_model
    if how == "saved so":
        path = tmp_path / "sym.pt"
        save_model(load_model(pixel_model, symmetrize=True), path)
    main(["--model", str(path), "--data", str(lj_data), "--out", str(tmp_path / "r.md")]
         + ["--symmetrize"] * (how == "--symmetrize"))
    assert "averaged over the reflections" in (tmp_path / "r.md").read_text()


def test_a_whole_period_shift_changes_nothing_and_half_a_pixel_does(pixel_model, lj_data):
    """The circular pixel-head network is invariant to shifts by whole periods of its output grid
    (4 pixels: 2 reductions) only."""
    model, frames = load_model(pixel_model), read_frames(lj_data)
    index = np.arange(6)
    e0, f0 = shifted(model, frames, index, (0.0, 0.0))
    assert e0 == pytest.approx(predict(model, frames, index)[0], abs=1e-9)
    e1, f1 = shifted(model, frames, index, (1.0, -2.0))
    assert e1 == pytest.approx(e0, abs=1e-4) and f1 == pytest.approx(f0, abs=1e-3)
    e_half, _ = shifted(model, frames, index, (0.125, 0.0))  # half a pixel
    assert np.abs(e_half - e0).max() > 1e-4


def test_translation_rows_by_hand(pixel_model, lj_data):
    model, frames = load_model(pixel_model), read_frames(lj_data)
    index = np.arange(4)
    shifts = ((0.0, 0.0), (0.5, 0.5))
    rows = translation_rows(model, frames, index, shifts)
    assert [r[0] for r in rows][:3] == ["shifted by (0, 0) pixels", "shifted by (2, 2) pixels",
                                        "average of the 2"]
    sub = frames.subset(index)
    runs = [shifted(model, frames, index, s) for s in shifts]
    per_atom = [e / sub.natoms for e, _ in runs]
    average = np.abs((per_atom[0] + per_atom[1]) / 2 - sub.energy / sub.natoms).mean() * 1e3
    assert rows[2][1] == pytest.approx(average)
    assert rows[0][2] == pytest.approx(np.abs(runs[0][1] - sub.forces)[:, :2].mean() * 1e3)
    assert rows[3][1] == pytest.approx(np.abs(per_atom[0] - per_atom[1]).mean() / 2 * 1e3)
