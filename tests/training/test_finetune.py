"""The fine-tuning learning curve: runs on disjoint first-N frames, each scored on the held-out
files as `cnnas experiment dft` scores, beside the references; impossible requests refused."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import LJ

from training.experiments import dft, finetune
from training.h5data import read_frames, read_split


def test_learning_curve(lj_data, sheet_model_file, tmp_path):
    out, runs = tmp_path / "ft.md", tmp_path / "runs"
    args = ["--data", str(lj_data), "--validation", str(lj_data), "--init", str(sheet_model_file),
            "--frames", "4", "8", "--select", "4", "--steps", "4", "--batch", "4",
            "--references", LJ, "--runs", str(runs), "--out", str(out)]
    finetune.main(args)
    text = out.read_text()
    exact = re.search(rf"\| {re.escape(LJ)} \| 0 \| ([\d.]+) \| ([\d.]+) \|", text)
    assert float(exact[1]) == 0 and float(exact[2]) == 0
    merged = runs / "train.h5"
    assert len(read_frames(merged)) == 18
    four, eight = read_split(merged, "first_4"), read_split(merged, "first_8")
    assert len(four["train"]) == 4 and len(eight["train"]) == 8
    assert set(four["train"]) < set(eight["train"])  # the curve adds frames, keeps the first
    assert not set(eight["train"]) & set(eight["validation"]) and len(eight["validation"]) == 4
    val = read_frames(lj_data)
    energy, forces, ok = dft.with_model(val, str(runs / "n8/best.pt"))
    expected = dft.scores(val, energy, forces, *dft.errors(val, energy, forces))
    row = re.search(rf"\| fine-tuned `{re.escape(str(runs / 'n8'))}` \| 8 \| ([\d.]+) \| "
                    r"([\d.]+) \|", text)
    assert float(row[1]) == pytest.approx(expected["energy_mae"], abs=0.006)
    assert float(row[2]) == pytest.approx(expected["force_mae"], abs=0.6)
    assert (tmp_path / "ft.png").stat().st_size > 10_000
    stamp = (runs / "n8/best.pt").stat().st_mtime
    finetune.main(args)  # a finished run is only scored again
    assert (runs / "n8/best.pt").stat().st_mtime == stamp
    assert np.isfinite(expected["force_slope"])
    other = args.copy()
    other[1] = str(tmp_path / "other.h5")
    with pytest.raises(SystemExit, match="holds runs on other --data or --forces-only files.*"
                                         "give another --runs"):
        finetune.main(other)


def test_refuses_more_frames_than_the_files_hold(lj_data, sheet_model_file, tmp_path):
    with pytest.raises(SystemExit, match="--frames 16 \\+ --select 4 frames: the training files "
                                         "hold 18"):
        finetune.main(["--data", str(lj_data), "--validation", str(lj_data),
                       "--init", str(sheet_model_file), "--frames", "16", "--select", "4",
                       "--references", "--runs", str(tmp_path / "runs")])


def test_match_pixels_and_loss_weights(lj_data, sheet_model_file, tmp_path):
    """--match-pixels 0.004 --force-weight 0.05 --energy-per-atom: the runs' models repeat cell
    sides until the pixels match within 0.4 %, their loss weights the forces 0.05 and fits
    energies per atom, and the table says all three."""
    from ase_cnnas.modelfile import load_model

    out, runs = tmp_path / "ft.md", tmp_path / "runs"
    finetune.main(["--data", str(lj_data), "--validation", str(lj_data), "--init",
                   str(sheet_model_file), "--frames", "4", "--select", "4", "--steps", "2",
                   "--batch", "4", "--references", "--match-pixels", "0.004", "--force-weight",
                   "0.05", "--energy-per-atom", "--runs", str(runs),
                   "--out", str(out)])
    assert load_model(runs / "n4/best.pt").match_pixels == pytest.approx(0.004)
    settings = json.loads((runs / "n4/settings.json").read_text())
    assert settings["force_weight"] == 0.05 and settings["energy_per_atom"] == 1.0
    assert "cell sides repeated until the pixels match within 0.4 %" in out.read_text()
    assert "forces weighted 0.05 against energies, energies fitted per atom" in out.read_text()


def test_blended_energy_weights_budget_and_device(lj_data, sheet_model_file, tmp_path):
    """--energy-per-atom 0.5 --hours 1 --device cpu: the runs record the power, the time budget
    and the device they trained with, and the table names the blend."""
    out, runs = tmp_path / "ft.md", tmp_path / "runs"
    finetune.main(["--data", str(lj_data), "--validation", str(lj_data), "--init",
                   str(sheet_model_file), "--frames", "4", "--select", "4", "--steps", "2",
                   "--batch", "4", "--references", "--energy-per-atom", "0.5", "--hours", "1",
                   "--device", "cpu", "--runs", str(runs), "--out", str(out)])
    settings = json.loads((runs / "n4/settings.json").read_text())
    assert (settings["energy_per_atom"], settings["hours"], settings["device"]) == (0.5, 1, "cpu")
    assert "energy errors weighted by (mean atoms / atoms)^0.5" in out.read_text()


def test_stress_weight_on_frames_labelled_with_a_stress(lj_data, sheet_model_file, tmp_path):
    """--stress-weight 0.5 --random-repeats --stretch-response on frames relabelled with their
    stress: the runs record them, the model keeps the stretch response, and the table says so."""
    from conftest import LJ

    from ase_cnnas.modelfile import load_model
    from training.cli import main

    stressed = tmp_path / "stressed.h5"
    main(["data", "label", str(lj_data), "-o", str(stressed), "--reference", LJ, "--stress"])
    out, runs = tmp_path / "ft.md", tmp_path / "runs"
    finetune.main(["--data", str(stressed), "--validation", str(lj_data), "--init",
                   str(sheet_model_file), "--frames", "4", "--select", "4", "--steps", "2",
                   "--batch", "4", "--references", "--stress-weight", "0.5", "--match-pixels",
                   "--random-repeats", "--stretch-response", "--runs", str(runs), "--out",
                   str(out)])
    settings = json.loads((runs / "n4/settings.json").read_text())
    assert settings["stress_weight"] == 0.5 and settings["random_repeats"]
    assert settings["stretch_response"] and load_model(runs / "n4/best.pt").stretch_response
    assert ("the head giving the energy change with the pixel stretch, in-plane stresses "
            "weighted 0.5, each frame on one of two matching grids at random") in out.read_text()


def test_train_layers(lj_data, sheet_model_file, tmp_path):
    """--train-layers 2: the runs move only the head's two dense layers, and the table says so."""
    from ase_cnnas.modelfile import load_model

    out, runs = tmp_path / "ft.md", tmp_path / "runs"
    finetune.main(["--data", str(lj_data), "--validation", str(lj_data), "--init",
                   str(sheet_model_file), "--frames", "4", "--select", "4", "--steps", "2",
                   "--batch", "4", "--lr", "1e-3", "--references", "--train-layers", "2",
                   "--runs", str(runs), "--out", str(out)])
    before, after = (load_model(m).network.state_dict() for m in (sheet_model_file,
                                                                    runs / "n4/best.pt"))
    moved = {k for k in before if not (before[k] == after[k]).all()}
    assert moved and all(k.startswith("head.") for k in moved)
    assert "all but its last 2 weight layers frozen" in out.read_text()


@pytest.mark.parametrize("axes, said", [("xyz", "forces"), ("z", "out-of-plane forces")])
def test_forces_only_frames_join_every_run_without_their_energies(lj_data, sheet_model_file,
                                                                  tmp_path, axes, said):
    """--forces-only with --forces-only-frames 3 --forces-only-weight 0.3: the merged file holds
    the other teacher's frames without energies or stresses (with --forces-only-axes z, without
    their in-plane forces too); each run trains on its N DFT frames plus the same 3 of them, at
    that weight, and picks its epoch on DFT frames alone."""
    out, runs = tmp_path / "ft.md", tmp_path / "runs"
    finetune.main(["--data", str(lj_data), "--validation", str(lj_data), "--init",
                   str(sheet_model_file), "--frames", "2", "4", "--select", "4", "--steps", "2",
                   "--batch", "4", "--references", "--forces-only", str(lj_data),
                   "--forces-only-frames", "3", "--forces-only-weight", "0.3",
                   "--forces-only-axes", axes, "--runs", str(runs), "--out", str(out)])
    merged = read_frames(runs / "train.h5")
    teacher = np.flatnonzero(np.isnan(merged.energy))
    assert len(merged) == 36 and len(teacher) == 18 and np.isnan(merged.stress[teacher]).all()
    atoms = np.repeat(np.isnan(merged.energy), merged.natoms)
    source = read_frames(lj_data).forces
    np.testing.assert_array_equal(merged.forces[atoms][:, 2], source[:, 2])
    assert np.isnan(merged.forces[atoms][:, :2]).all() == (axes == "z")
    assert np.isfinite(merged.forces[~atoms]).all()
    two, four = read_split(runs / "train.h5", "first_2"), read_split(runs / "train.h5", "first_4")
    assert len(two["train"]) == 5 and len(four["train"]) == 7
    assert set(two["train"]) & set(teacher) == set(four["train"]) & set(teacher)
    assert len(set(four["train"]) & set(teacher)) == 3
    assert np.isfinite(merged.energy[four["validation"]]).all()
    assert json.loads((runs / "n4/settings.json").read_text())["energyless_weight"] == 0.3
    assert f"with the {said} alone of 3 frames of `{lj_data}` weighted 0.3" in out.read_text()
    other = "z" if axes == "xyz" else "xyz"
    with pytest.raises(SystemExit, match="holds runs on other --data or --forces-only files"):
        finetune.main(["--data", str(lj_data), "--validation", str(lj_data), "--init",
                       str(sheet_model_file), "--frames", "2", "--references", "--forces-only",
                       str(lj_data), "--forces-only-axes", other, "--runs", str(runs)])
    with pytest.raises(SystemExit, match="--forces-only-frames 30: the --forces-only files hold "
                                         "18"):
        finetune.main(["--data", str(lj_data), "--validation", str(lj_data), "--init",
                       str(sheet_model_file), "--frames", "2", "--references", "--forces-only",
                       str(lj_data), "--forces-only-frames", "30", "--forces-only-axes", axes,
                       "--runs", str(runs)])
