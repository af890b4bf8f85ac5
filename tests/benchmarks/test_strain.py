"""The strain study: its premise (an any-cell model stretches its pixels with a strain that
leaves the grid unchanged, and lays a cell that is not a whole number of periods on pixels of
another size) and its table, on the random-weight sheet model."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests")]
from conftest import LJ  # noqa: E402
from strain import pixel_spacing, strained, unexplained  # noqa: E402

from ase_cnnas import CNNASCalculator  # noqa: E402
from ase_cnnas.sheets import build_sheet  # noqa: E402


def test_pixel_spacing(sheet_model_file):
    calc = CNNASCalculator(str(sheet_model_file), device="cpu")
    sheet = build_sheet("graphene_pristine")  # the model's own cell
    assert np.allclose(pixel_spacing(calc, sheet), 1)
    assert np.allclose(pixel_spacing(calc, strained(sheet, 0.0, 0.05)), [1, 1.05])
    small = pixel_spacing(calc, build_sheet("graphene_pristine@2x1"))
    assert np.abs(small - 1).max() > 0.01  # rounded to whole periods: lengths seen rescaled


def test_strain_table(tmp_path, sheet_model_file):
    """A row per structure, strain and calculator: the model and a second reference beside
    --reference (here the reference itself, so its strain-energy error is zero)."""
    out = tmp_path / "strain.md"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "strain.py"), "--models",
                    str(sheet_model_file), LJ, "--reference", LJ, "--structures",
                    "graphene_pristine", "--points", "3", "--out", str(out)],
                   check=True, capture_output=True, cwd=tmp_path)
    rows = [line.strip("| ").split(" | ") for line in out.read_text().splitlines()
            if line.startswith("| graphene_pristine |")]
    assert [(r[2], r[3]) for r in rows] == [(s, c) for s in ("x", "y", "biaxial")
                                            for c in (str(sheet_model_file), LJ, "reference")]
    assert {r[4] for r in rows} == {"-5.0 … +5.0"}  # the grid stays: pixels stretch with it
    model, itself = rows[0::3], rows[1::3]
    assert all(float(r[5]) > 0 and float(r[7]) > 0 for r in model)
    assert all(float(r[5]) == 0 and float(r[6]) == 0 for r in itself)
    # one grid over the scan, so the model is smooth too; the steps are 5 % wide, so the
    # trapezoid leaves a little of LJ's curvature, far below its strain energy
    assert all(float(r[9]) < 0.1 * float(r[7]) for r in rows)
    assert all(float(r[8]) > 0 for r in model) and all(float(r[8]) == 0 for r in itself)
    assert out.with_suffix(".png").stat().st_size > 10_000


def test_unexplained_is_zero_for_a_smooth_curve_and_the_jump_for_a_step():
    strains = np.linspace(-0.05, 0.05, 11)
    energy, virial = 1e3 * 4.0 * strains ** 2, 8.0 * strains  # meV/atom, eV/atom
    assert np.abs(unexplained(energy, virial, strains)).max() < 1e-9
    energy[6:] += 7.0
    assert unexplained(energy, virial, strains) == pytest.approx([0] * 5 + [7] + [0] * 4,
                                                                 abs=1e-9)
