"""`cnnas compare`: the bundled model against a labelled trajectory, scored frame by frame the
same way the calculator would, with its report and figures; clear errors for files it cannot
score."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from ase.io import read, write

from ase_cnnas.calculator import CNNASCalculator
from training.cli import main
from training.compare import vasp_interval

DATA = "tests/data"
HBN = f"{DATA}/hbn_unseen_1000K_5frames.extxyz"


def rippled_copy(tmp_path: Path) -> str:
    """HBN's frames with every atom moved up to 0.1 Å along z, their labels kept: a file on which
    a model that sees heights has z forces to get wrong."""
    from ase.calculators.singlepoint import SinglePointCalculator

    rng, out = np.random.default_rng(3), []
    for atoms in read(HBN, ":"):
        labels = atoms.get_potential_energy(), atoms.get_forces()
        atoms.positions[:, 2] += rng.uniform(-0.1, 0.1, len(atoms))
        atoms.calc = SinglePointCalculator(atoms, energy=labels[0], forces=labels[1])
        out.append(atoms)
    tmp_path.mkdir()
    path = tmp_path / "hbn_unseen_1000K_5frames.extxyz"
    write(path, out)
    return str(path)


@pytest.mark.parametrize("model, components", [("flat", 2), ("default", 3)])
def test_compare_matches_the_calculator_frame_by_frame(tmp_path, capsys, model, components):
    """The report's figures are the calculator's, frame by frame: in-plane forces for a flat
    model; all three components, and z alone, for one that sees heights."""
    path = HBN if components == 2 else rippled_copy(tmp_path / "in")
    assert main(["compare", path, "--out", str(tmp_path), "--method", "SevenNet-0",
                 "--model", model, "--batch", "2"]) == 0
    frames = read(path, ":")
    calc = CNNASCalculator(model, device="cpu")
    e_err, f_err = [], []
    for atoms in frames:
        e_true, f_true = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = calc
        e_err.append(abs(atoms.get_potential_energy() - e_true) / len(atoms) * 1e3)
        f_err.append(np.abs(atoms.get_forces() - f_true)[:, :components] * 1e3)
    f_err = np.concatenate(f_err)
    report = (tmp_path / "hbn_unseen_1000K_5frames.extxyz.md").read_text()
    row = re.search(r"\| 5 \(every 1\) \| ([\d.]+) \| ([\d.]+) \(frame (\d)\) \| ([\d.]+) \| "
                    r"([\d.]+) meV/Å \(largest error \d+ meV/Å(; z alone ([\d.]+))?\)", report)
    assert row, report
    assert float(row[1]) == pytest.approx(np.mean(e_err), abs=0.006)
    assert float(row[2]) == pytest.approx(np.max(e_err), abs=0.006)
    assert int(row[3]) == int(np.argmax(e_err))
    assert float(row[5]) == pytest.approx(f_err.mean(), abs=0.06)
    if components == 3:
        assert f_err[:, 2].mean() > 10  # meV/Å: the ripples' z forces, which the labels lack
        assert float(row[7]) == pytest.approx(f_err[:, 2].mean(), abs=0.06)
    else:
        assert row[6] is None
    true = np.array([a.get_potential_energy() / len(a) for a in read(path, ":")]) * 1e3
    assert float(row[4]) == pytest.approx(np.abs(true - true.mean()).mean(), abs=0.006)
    for fig in ("energy", "parity"):
        assert (tmp_path / f"hbn_unseen_1000K_5frames.extxyz_{fig}.png").stat().st_size > 10_000
    assert "energy MAE" in capsys.readouterr().out


def test_every_nth_frame(tmp_path):
    assert main(["compare", HBN, "--out", str(tmp_path), "--every", "2"]) == 0
    assert "| 3 (every 2) |" in (tmp_path / "hbn_unseen_1000K_5frames.extxyz.md").read_text()


def test_vasp_time_step_from_the_file():
    assert vasp_interval(Path(f"{DATA}/OUTCAR.h2o.md.10")) == 1.0
    assert vasp_interval(Path(f"{DATA}/vasprun.h2o.md.10.xml")) == 1.0


@pytest.mark.parametrize("case, message", [
    ("water", "the model knows only B, C, N; these atoms hold H, O"),
    ("cell", "frame 1: the model was trained for the cell"),
    ("no energy", "frame 0 has no energy"),
    ("missing", "no such file"),
    ("every", "--every and --batch must be at least 1"),
])
def test_clear_errors(tmp_path, capsys, case, message):
    path, extra = tmp_path / "traj.extxyz", []
    if case == "water":
        path = shutil.copy(f"{DATA}/OUTCAR.h2o.md.10", tmp_path / "OUTCAR")
    elif case == "cell":
        frames = read(HBN, ":2")
        frames[1].set_cell(frames[1].cell.array * 1.1, scale_atoms=True)
        write(path, frames)
        extra = ["--model", "flat"]  # the fixed-cell model; the default takes any cell
    elif case == "no energy":
        frames = read(HBN, ":2")
        for a in frames:
            a.calc = None
        write(path, frames)
    elif case == "every":
        path, extra = HBN, ["--every", "0"]
    assert main(["compare", str(path), "--out", str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnnas: error:") and message in err and "Traceback" not in err
