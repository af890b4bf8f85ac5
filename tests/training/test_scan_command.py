"""`cnnas scan`: a file in, the same frames with the model's energies and forces out."""
from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.calculator import PropertyNotImplementedError
from ase.io import read

from ase_cnnas.scan import scan
from training.cli import main

HBN = "tests/data/hbn_unseen_1000K_5frames.extxyz"


def test_scan_writes_predictions(tmp_path, capsys):
    out = tmp_path / "scanned.extxyz"
    assert main(["scan", HBN, "-o", str(out), "--forces", "--batch", "2", "--device", "cpu"]) == 0
    written = read(out, ":")
    energies, forces = scan(read(HBN, ":"), forces=True, progress=False)
    assert len(written) == 5
    np.testing.assert_allclose([a.get_potential_energy() for a in written], energies, atol=1e-6)
    np.testing.assert_allclose(written[3].get_forces(), forces[3], atol=1e-6)
    assert "5 frames, energies and forces" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("flag", [True, False])
def test_symmetrize_flag_reaches_the_model(tmp_path, flag):
    out = tmp_path / "scanned.extxyz"
    assert main(["scan", HBN, "-o", str(out), "--index", ":2",
                 "--symmetrize" if flag else "--no-symmetrize"]) == 0
    expected, _ = scan(read(HBN, ":2"), symmetrize=flag, progress=False)
    other, _ = scan(read(HBN, ":2"), symmetrize=not flag, progress=False)
    written = [a.get_potential_energy() for a in read(out, ":")]
    np.testing.assert_allclose(written, expected, atol=1e-6)
    assert np.abs(np.subtract(written, other)).max() > 1e-4


def test_precision_flag_reaches_the_model(tmp_path, capsys):
    out = tmp_path / "scanned.extxyz"
    assert main(["scan", HBN, "-o", str(out), "--index", ":2", "--precision", "bfloat16"]) == 0
    expected, _ = scan(read(HBN, ":2"), precision="bfloat16", progress=False)
    full, _ = scan(read(HBN, ":2"), progress=False)
    written = [a.get_potential_energy() for a in read(out, ":")]
    np.testing.assert_allclose(written, expected, atol=1e-6)
    assert np.abs(np.subtract(written, full)).max() > 1e-4
    assert "batch 64, bfloat16" in capsys.readouterr().out


def test_every_other_frame_energies_only(tmp_path):
    out = tmp_path / "some.extxyz"
    assert main(["scan", HBN, "-o", str(out), "--index", "::2"]) == 0
    written = read(out, ":")
    assert len(written) == 3
    with pytest.raises(PropertyNotImplementedError):
        written[0].get_forces()


@pytest.mark.parametrize("argv, message", [
    (["nothing.extxyz"], "no such file"),
    (["tests/data/OUTCAR.h2o.md.10"], "frame 0: the model knows only B, C, N"),
    ([HBN, "--batch", "0"], "give at least 1 frame per batch"),
])
def test_errors(tmp_path, capsys, argv, message):
    assert main(["scan", *argv, "-o", str(tmp_path / "x.extxyz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnnas: error:") and message in err
