"""Long flexural waves frozen into flat sheets: periodic in the cell, no shorter than asked, the
heights scaled as asked, remade exactly from their seed; refusals name the fix."""
from __future__ import annotations

import numpy as np
import pytest

from ase_cnnas.sheets import build_sheet
from training.cli import main
from training.h5data import read_frames
from training.waves import wave_vectors, waves, wavy_sheet


@pytest.mark.parametrize("structure", ["graphene_pristine", "hbn_pristine@hex6"])
def test_waves_fit_the_cell_and_are_no_shorter_than_asked(structure):
    cell = build_sheet(structure).cell.array
    q = wave_vectors(cell, 6.0)
    phases = q @ cell[:2, :2].T / (2 * np.pi)  # q · a_i / 2π: whole numbers for a periodic wave
    assert np.allclose(phases, np.round(phases), atol=1e-9)
    assert (2 * np.pi / np.linalg.norm(q, axis=1) >= 6.0 - 1e-9).all()
    pairs = np.round(np.vstack([q, -q]), 9)  # one of each ±q pair, none twice
    assert len(np.unique(pairs, axis=0)) == 2 * len(q) > 0
    if structure == "graphene_pristine":  # 12.53 × 13.02 Å: (1, 0), (0, 1), (1, ±1), (2, 0), (0, 2)
        assert len(q) == 6


def test_a_wavy_sheet_keeps_its_lattice_and_scales_its_heights():
    flat = build_sheet("graphene_pristine")
    atoms = wavy_sheet("graphene_pristine", np.random.default_rng(3), 0.15, 6.0, 0.02)
    stretch = np.diag(atoms.cell.array)[:2] / np.diag(flat.cell.array)[:2]
    assert np.all(np.abs(stretch - 1) <= 0.02) and not np.allclose(stretch, 1)
    assert np.allclose(atoms.positions[:, :2], flat.positions[:, :2] * stretch)
    h = atoms.positions[:, 2] - flat.positions[:, 2]
    assert abs(h.mean()) < 1e-12 and 0.2 * 0.15 - 1e-12 <= np.sqrt(np.mean(h ** 2)) <= 0.15


def test_cli_writes_unlabelled_frames_remade_exactly(tmp_path):
    paths = [tmp_path / "a.h5", tmp_path / "b.h5"]
    for path in paths:
        assert main(["data", "waves", "-o", str(path), "--structures", "graphene_pristine",
                     "hbn_pristine@10x6", "--frames", "3", "--seed", "5"]) == 0
    a, b = (read_frames(p) for p in paths)
    assert list(a.natoms) == [60] * 3 + [240] * 3 and list(a.trajectory) == [0] * 3 + [1] * 3
    assert np.isnan(a.energy).all() and np.isnan(a.forces).all()
    assert np.array_equal(a.positions, b.positions) and np.array_equal(a.cell, b.cell)
    assert not np.allclose(a.positions[:60], waves(["graphene_pristine"], 1, 0.15, 6.0, 0.02,
                                                   6).positions)


@pytest.mark.parametrize("args, message", [
    (["--frames", "0"], "--frames, --height and --shortest must be positive"),
    (["--strain", "0.7"], r"--strain is a fraction in \[0, 0.5\), not 0.7"),
    (["--shortest", "40"], "no wave of 40.0 Å or longer fits its cell; give a shorter --shortest"),
])
def test_cli_refuses_what_cannot_be_made(tmp_path, args, message):
    with pytest.raises(SystemExit, match=message):
        main(["data", "waves", "-o", str(tmp_path / "w.h5"), "--structures",
              "graphene_pristine", *args])
