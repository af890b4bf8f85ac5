"""examples/flexural.py: the harmonic ⟨h²⟩ of a flat sheet from its zz force constants, the
one-atom construction by symmetry, and the frozen flexural waves."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase import units

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
from conftest import LJ  # noqa: E402
from flexural import fluctuations, site_maps, wave_frequencies, zz_constants  # noqa: E402

from ase_cnnas.sheets import build_sheet  # noqa: E402
from training.reference import make_calculator  # noqa: E402


@pytest.fixture(scope="module")
def sheet():
    return build_sheet("graphene_pristine")


def test_one_displaced_atom_gives_every_atoms_constants(sheet):
    """On a pair potential (exactly symmetric) the constants mapped from atom 0 are those from
    displacing every atom; rows sum to zero (a rigid shift costs nothing)."""
    calc = make_calculator(LJ)
    (one, one_sum), (every, every_sum) = (zz_constants(sheet, calc, symmetric=s)
                                          for s in (True, False))
    assert np.abs(one).max() > 0.1
    np.testing.assert_allclose(one, every, atol=1e-6 * np.abs(one).max())
    np.testing.assert_allclose(one.sum(1), 0, atol=1e-9)
    assert one_sum < 1e-9 and every_sum < 1e-9  # an exact calculator obeys the sum rule


def test_fluctuations_are_the_mode_sum():
    """⟨h²⟩/T = k_B Σ 1/λ / N over the modes but the rigid shift; the softest modes' share."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(8, 8))
    project = np.eye(8) - 1 / 8
    k = project @ (a @ a.T + np.eye(8)) @ project
    lam = np.linalg.eigvalsh(k)[1:]
    got = fluctuations(k)
    assert got["h2_per_K"] == pytest.approx(units.kB * np.sum(1 / lam) / 8, rel=1e-10)
    assert got["share_longest"] == pytest.approx(np.sum(1 / lam[:4]) / np.sum(1 / lam), rel=1e-10)


def test_frozen_waves_are_the_longest_flexural_modes(sheet):
    calc = make_calculator(LJ)
    modes = np.linalg.eigvalsh(zz_constants(sheet, calc, symmetric=True)[0])
    thz = np.sqrt(modes[1:] / 12.011 * units._e / units._amu) * 1e10 / (2 * np.pi) / 1e12
    for f in wave_frequencies(sheet, calc, amplitude=0.01):
        assert np.abs(thz - f).min() / f < 0.01


def test_a_sheet_without_equivalent_sites_is_refused():
    with pytest.raises(ValueError, match="atom 0 by a translation or a rotation"):
        site_maps(build_sheet("graphene_vacancy"))


def test_the_table(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "examples" / "flexural.py"), "--calculators", LJ,
                    "--waves-only", "ase.calculators.emt:EMT", "--out", str(tmp_path)],
                   check=True, capture_output=True, cwd=ROOT)
    text = (tmp_path / "flexural.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith(f"| {LJ} |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    saved = json.loads(next(tmp_path.glob("*lj*.json")).read_text())
    assert float(cells[1]) == pytest.approx(saved["h2_per_K"] * 1e6, abs=0.01)
    assert cells[2] == "+0.0 %" and cells[6] != "—"  # the first is the reference; LJ has stress
    assert cells[3] == f"{100 * saved['share_longest']:.0f} %"
    assert float(cells[4]) < 1e-3  # LJ obeys the sum rule
    assert "| ase.calculators.emt:EMT | — | — | — | — |" in text  # waves only
