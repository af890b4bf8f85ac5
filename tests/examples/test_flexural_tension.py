"""examples/flexural_tension.py: under tension the longest flexural waves' K/q² tends to the
sheet's own σ a for a calculator invariant to rotations (a pair potential)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
from conftest import LJ  # noqa: E402
from flexural import tension  # noqa: E402
from flexural_tension import STRUCTURE, stiffness_over_q2  # noqa: E402

from ase_cnnas.sheets import build_sheet  # noqa: E402
from training.reference import make_calculator  # noqa: E402


def test_a_pair_potential_feels_its_own_tension_in_the_longest_waves():
    """Lennard-Jones on the stretched 480-atom sheet: K/q² of the 100 Å wave is σ a to 0.1 %,
    and falls with q (the bending term of the shorter waves is of the other sign here)."""
    atoms = build_sheet(STRUCTURE)
    calc = make_calculator(LJ)
    sigma_a = tension(calc) * abs(np.linalg.det(atoms.cell.array[:2, :2])) / len(atoms)
    (q, longest), *rest = stiffness_over_q2(atoms, calc, waves=(1, 4))
    assert sigma_a > 0.5 and abs(longest / sigma_a - 1) < 1e-3
    assert rest[0][1] < longest and rest[0][0] == pytest.approx(4 * q)
