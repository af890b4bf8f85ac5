"""`pip install .` without extras, in a fresh virtual environment: the calculator, `cnnas --help`,
`cnnas scan` and `cnnas compare` work, and no package of the extras (h5py, sevenn…) is there.

About a minute: a venv, torch==2.13.0 (the CPU build, from the local wheel cache where there is
one), the package with its dependencies, then the commands. Skipped, with the reason, where pip
cannot install torch (no index reachable).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "ase_cnnas", "training")
TRAJECTORY = REPO / "tests/data/hbn_unseen_1000K_5frames.extxyz"
EXTRAS_ONLY = ("h5py", "sevenn", "sklearn", "phonopy")  # what only the extras install
CALCULATOR = """
import numpy as np, ase_cnnas
from ase_cnnas import CNNASCalculator
from ase_cnnas.sheets import build_sheet
atoms = build_sheet("hbn_pristine")
atoms.calc = CNNASCalculator(device="cpu")
energy, forces = atoms.get_potential_energy(), atoms.get_forces()
assert np.isfinite(energy) and forces.shape == (len(atoms), 3), (energy, forces.shape)
print(ase_cnnas.__file__)
"""


def sh(*cmd: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    """Run `cmd` outside the repository (so that it imports what is installed, not the source)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"{result.args}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.slow
def test_install_without_extras(tmp_path):
    src = tmp_path / "src"  # a copy: building in the repository would leave build/ in it
    src.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(REPO / name, src / name)
    ok(sh(sys.executable, "-m", "venv", tmp_path / "venv", cwd=tmp_path))
    python, cnnas = tmp_path / "venv/bin/python", tmp_path / "venv/bin/cnnas"
    torch = sh(python, "-m", "pip", "install", "-q", "torch==2.13.0", cwd=tmp_path)
    if torch.returncode:
        pytest.skip("pip cannot install torch==2.13.0 (no package index reachable?): "
                    + (torch.stderr.strip().splitlines() or ["no output"])[-1])
    ok(sh(python, "-m", "pip", "install", "-q", src, cwd=tmp_path))

    installed = ok(sh(python, "-c", CALCULATOR, cwd=tmp_path))
    assert installed.startswith(str(tmp_path / "venv")), installed
    missing = "import importlib.util as u; print([m for m in {!r} if u.find_spec(m)])"
    assert ok(sh(python, "-c", missing.format(EXTRAS_ONLY), cwd=tmp_path)).strip() == "[]"
    for command in ([], ["scan"], ["compare"]):
        assert "usage: cnnas" in ok(sh(cnnas, *command, "--help", cwd=tmp_path))
    scanned = tmp_path / "scanned.extxyz"
    ok(sh(cnnas, "scan", TRAJECTORY, "-o", scanned, "--device", "cpu", cwd=tmp_path))
    assert scanned.stat().st_size > 0
    out = ok(sh(cnnas, "compare", TRAJECTORY, "--out", tmp_path / "compare", "--device", "cpu",
                cwd=tmp_path))
    assert "| 5 (every 1) |" in out
