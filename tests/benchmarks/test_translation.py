"""The translation study: its premise (a grid model with `reductions` is invariant to shifts by
its period in pixels, not to single pixels or fractions of one) and its table, on the
random-weight sheet model."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from translation import averaged_forces, shift_sets  # noqa: E402

from ase_cnnas import CNNASCalculator  # noqa: E402
from ase_cnnas.sheets import build_sheet  # noqa: E402


def test_only_whole_periods_leave_forces_unchanged(sheet_model_file):
    calc = CNNASCalculator(str(sheet_model_file), device="cpu")
    period = calc.models[0].multiple
    atoms = build_sheet("graphene_pristine")
    atoms.rattle(0.05, seed=1)
    start = np.array([0.03, 0.07])
    base = averaged_forces(calc, atoms, [(0, 0)], start)
    assert period > 1
    assert np.allclose(averaged_forces(calc, atoms, [(period, 0)], start), base, atol=1e-6)
    for shift in (1, 0.5):
        assert np.abs(averaged_forces(calc, atoms, [(shift, 0)], start) - base).max() > 1e-4
    half = averaged_forces(calc, atoms, [(0.5, 0.5)], start)
    both = averaged_forces(calc, atoms, [(0, 0), (0.5, 0.5)], start)
    assert np.allclose(both, (base + half) / 2, atol=1e-10)


def test_shift_sets():
    sets = shift_sets(8)
    assert [len(s) for s in sets.values()] == [1, 4, 9, 4, 16, 64]
    assert (7.0, 7.0) in sets["1 pixel"] and (4.0, 4.0) in sets["4 pixels"]
    assert list(shift_sets(1)) == ["none", "½ pixel", "⅓ pixel"]


def test_translation_table(tmp_path, sheet_model_file, lj_data):
    out = tmp_path / "translation.md"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "translation.py"), "--model",
                    str(sheet_model_file), "--lattices", "graphene_pristine", "--frames",
                    str(lj_data), "--per-file", "1", "--starts", "1", "--out", str(out)],
                   check=True, capture_output=True, cwd=tmp_path)
    rows = [line.split(" | ") for line in out.read_text().splitlines()
            if line.startswith("| ") and line.split(" | ")[1].isdigit()]
    period = CNNASCalculator(str(sheet_model_file), device="cpu").models[0].multiple
    assert [int(r[1]) for r in rows] == [len(s) for s in shift_sets(period).values()]
    assert len(rows) >= 4
    force, mae = np.array([[float(r[2]), float(r[3])] for r in rows]).T
    assert (force > 0).all() and (mae > 0).all() and np.isfinite(mae).all()
    assert len(set(force.round(6))) > 1  # the averages differ: the study measures something
