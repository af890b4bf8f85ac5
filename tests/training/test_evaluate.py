"""The model report: its test split and unseen trajectories scored against numbers recomputed here,
the split named, the learning curves drawn, and the metrics bundled with the model."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ase_cnnas.modelfile import load_model
from training.evaluate import main, predict
from training.h5data import read_frames
from training.splits import split_of
from training.train import train
from training.trainconfig import TrainConfig

MAE_RTOL = 1e-4  # meV/atom, the report's figure against the one recomputed here (float32 model)
CUDA_RTOL = 1e-5  # the same scores on the GPU, TF32 off: float32 summed in another order


def test_report_scores_split_and_unseen_and_bundles(lj_data, tmp_path):
    best = train(TrainConfig(lj_data, tmp_path / "run", grid=16, epochs=2, batch=4,
                             split="random"))
    out, bundle = tmp_path / "report.md", tmp_path / "bundled.pt"
    main(["--model", str(best), "--data", str(lj_data), "--unseen", str(lj_data),
          "--out", str(out), "--bundle", str(bundle)])
    text = out.read_text()
    model, frames = load_model(best), read_frames(lj_data)
    parts = split_of(model.metadata, lj_data, len(frames))
    assert (f"split 'random', seed 0: train {len(parts['train'])}, validation "
            f"{len(parts['validation'])}, test {len(parts['test'])}") in text
    test = parts["test"]
    energy_mae = np.abs((predict(model, frames, test)[0] - frames.energy[test])
                        / frames.natoms[test]).mean() * 1e3
    metrics = load_model(bundle).metadata["metrics"]
    assert metrics["test split"]["frames"] == len(test)
    assert np.isclose(metrics["test split"]["energy_mae"], energy_mae, rtol=MAE_RTOL)
    assert f"| test split | {len(test)} | {energy_mae:.2f} |" in text
    for name, part in (("training", "train"), ("validation", "validation")):
        assert metrics[f"{name} split"]["frames"] == len(parts[part])
        assert f"| {name} split | {len(parts[part])} |" in text
    label = lj_data.parent.name  # a file named frames.h5 is known by its folder
    assert metrics[f"unseen {label}"]["frames"] == len(frames)
    assert (tmp_path / "report_training.png").stat().st_size > 10_000
    assert (tmp_path / f"report_{label}.png").stat().st_size > 10_000
    assert "Learning curves: `report_training.png`." in text


def test_report_breaks_errors_down_by_structure(lj_data, tmp_path):
    best = train(TrainConfig(lj_data, tmp_path / "run", grid=16, epochs=1, batch=4,
                             split="random"))
    out, bundle = tmp_path / "report.md", tmp_path / "bundled.pt"
    main(["--model", str(best), "--data", str(lj_data), "--out", str(out), "--bundle", str(bundle)])
    model, frames = load_model(best), read_frames(lj_data)
    test = split_of(model.metadata, lj_data, len(frames))["test"]
    per_atom_err = (np.abs(predict(model, frames, test)[0] - frames.energy[test])
                    / frames.natoms[test])
    by_structure = load_model(bundle).metadata["metrics"]["test split"]["by_structure"]
    kinds = sorted(set(frames.structure[test]))
    assert list(by_structure) == kinds and len(kinds) > 1
    assert sum(r["frames"] for r in by_structure.values()) == len(test)
    for kind in kinds:
        mae = per_atom_err[frames.structure[test] == kind].mean() * 1e3
        assert np.isclose(by_structure[kind]["energy_mae"], mae, rtol=MAE_RTOL)
        row = f"| test split | {kind} | {by_structure[kind]['frames']} | {mae:.2f} |"
        assert row in out.read_text()


def test_symmetrize_is_scored_and_bundled(lj_data, tmp_path):
    best = train(TrainConfig(lj_data, tmp_path / "run", grid=16, epochs=1, batch=4,
                             split="random"))
    out, bundle = tmp_path / "report.md", tmp_path / "bundled.pt"
    main(["--model", str(best), "--data", str(lj_data), "--out", str(out), "--bundle", str(bundle),
          "--symmetrize"])
    model, frames = load_model(bundle), read_frames(lj_data)
    assert model.symmetrize and not load_model(best).symmetrize
    test = split_of(model.metadata, lj_data, len(frames))["test"]
    mae = {}
    for flag in (True, False):
        model.symmetrize = flag
        mae[flag] = np.abs((predict(model, frames, test)[0] - frames.energy[test])
                           / frames.natoms[test]).mean() * 1e3
    assert np.isclose(model.metadata["metrics"]["test split"]["energy_mae"], mae[True],
                      rtol=MAE_RTOL)
    assert not np.isclose(mae[True], mae[False], rtol=1e-3)
    assert "(averaged over the cell reflections)" in out.read_text().splitlines()[0]


@pytest.fixture(scope="module")
def one_epoch(lj_data, tmp_path_factory):
    return train(TrainConfig(lj_data, tmp_path_factory.mktemp("run") / "run", grid=16, epochs=1,
                             batch=4, split="random"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_evaluate_on_cuda_matches_cpu(lj_data, one_epoch, tmp_path, monkeypatch):
    """--device cuda scores what the CPU scores, to float32 rounding with TF32 off (with it on,
    an H200 moved this barely trained model's 36 meV/atom by 0.008)."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    metrics = {}
    for device in ("cpu", "cuda"):
        main(["--model", str(one_epoch), "--data", str(lj_data), "--device", device,
              "--out", str(tmp_path / f"{device}.md"), "--bundle", str(tmp_path / f"{device}.pt")])
        metrics[device] = load_model(tmp_path / f"{device}.pt").metadata["metrics"]["test split"]
    for key in ("energy_mae", "force_mae"):
        assert metrics["cuda"][key] == pytest.approx(metrics["cpu"][key], rel=CUDA_RTOL), key


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_evaluate_on_cuda_without_gpu_is_a_clear_error(lj_data, one_epoch, tmp_path, capsys):
    from training.cli import main as cnnas

    assert cnnas(["evaluate", "--model", str(one_epoch), "--data", str(lj_data),
                  "--device", "cuda", "--out", str(tmp_path / "r.md")]) == 2
    err = capsys.readouterr().err
    assert "no CUDA GPU" in err and "Traceback" not in err
    assert not (tmp_path / "r.md").exists()


def test_frame_interval_survives_an_import(lj_data, tmp_path):
    """The time between frames comes from the generator's settings, also once `cnnas data
    import` has copied the file (its provenance nests the generator's)."""
    from training.cli import main
    from training.evaluate import frame_interval
    from training.h5data import read_frames

    copy = tmp_path / "copy.h5"
    assert main(["data", "import", str(lj_data), "-o", str(copy)]) == 0
    assert frame_interval(read_frames(lj_data)) == frame_interval(read_frames(copy)) == 2.0
