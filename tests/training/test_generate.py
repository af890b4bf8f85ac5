"""Labelled MD generation with a fast reference (Lennard-Jones): counts, labels, resumption."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from ase import Atoms
from ase.calculators.lj import LennardJones

from conftest import LJ
from training.generate import main
from training.h5data import read_frames
from training.structures import STRUCTURE_TYPES

STRUCTURES = ("graphene_pristine", "hbn_vacancy")
NATOMS = {"graphene_pristine": 60, "hbn_vacancy": 59}
STEPS, STRIDE, RUNS = 4, 2, 2
PER_SEGMENT = STEPS // STRIDE + 1  # frames at steps 0, 2, 4
LABEL_ATOL = 1e-10  # eV, eV/Å: stored labels against a fresh LJ evaluation
RESUME_ATOL = 1e-8  # Å: a regenerated segment against the one that was lost


def generate(out, runs=RUNS, structures=STRUCTURES):
    main(["--out", str(out), "--structures", *structures, "--runs", str(runs), "--steps", str(STEPS),
          "--stride", str(STRIDE), "--reference", LJ, "--workers", "1", "--seed", "3"])
    return read_frames(out / "frames.h5")


def parts(out) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted((out / "parts").rglob("*.npz"))}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "data"
    generate(out)
    return out


@pytest.fixture
def copy(generated, tmp_path):
    """A private copy of the generated folder to modify."""
    out = tmp_path / "data"
    shutil.copytree(generated, out)
    return out


def test_frame_count_and_layout(generated):
    frames = read_frames(generated / "frames.h5")
    assert len(frames) == len(STRUCTURES) * RUNS * PER_SEGMENT
    assert sorted(parts(generated)) == [f"parts/{s}/run{r:04d}.npz" for s in STRUCTURES for r in range(RUNS)]
    assert not list(generated.rglob("*.tmp*"))
    expected = [s for s in STRUCTURES for _ in range(RUNS * PER_SEGMENT)]
    assert list(frames.structure) == expected
    assert list(frames.natoms) == [NATOMS[s] for s in expected]
    assert len(frames.numbers) == frames.natoms.sum()
    # one trajectory id per segment
    traj = frames.trajectory.reshape(-1, PER_SEGMENT)
    assert (traj == traj[:, :1]).all()
    assert list(traj[:, 0]) == [STRUCTURE_TYPES.index(s) * 100000 + r for s in STRUCTURES for r in range(RUNS)]
    assert frames.pbc.tolist() == [[True, True, False]] * len(frames)
    assert frames.attrs["reference"] == LJ


def test_atoms_stay_in_plane(generated):
    frames = read_frames(generated / "frames.h5")
    assert np.all(frames.positions[:, 2] == 0.0)
    # while they do move in the plane: consecutive frames of a segment differ
    first = frames.subset(np.array([0])).positions
    second = frames.subset(np.array([1])).positions
    assert np.abs(first - second).max() > 1e-4


def test_labels_are_the_reference(generated):
    frames = read_frames(generated / "frames.h5")
    off = frames.offsets
    for i in (0, len(frames) // 2 + 1, len(frames) - 1):
        atoms = Atoms(numbers=frames.numbers[off[i]:off[i + 1]], positions=frames.positions[off[i]:off[i + 1]],
                      cell=frames.cell[i], pbc=frames.pbc[i])
        atoms.calc = LennardJones()
        assert atoms.get_potential_energy() == pytest.approx(frames.energy[i], abs=LABEL_ATOL, rel=0)
        np.testing.assert_allclose(atoms.get_forces(), frames.forces[off[i]:off[i + 1]], rtol=0, atol=LABEL_ATOL)


def test_more_runs_adds_segments(copy):
    before, old = parts(copy), read_frames(copy / "frames.h5")
    frames = generate(copy, runs=RUNS + 1)
    assert len(frames) == len(STRUCTURES) * (RUNS + 1) * PER_SEGMENT
    after = parts(copy)
    assert sorted(set(after) - set(before)) == [f"parts/{s}/run{RUNS:04d}.npz" for s in STRUCTURES]
    for name, data in before.items():  # earlier parts untouched, byte for byte
        assert after[name] == data, name
    # the old frames are all still there, unchanged, in the same order per structure
    for s in STRUCTURES:
        n_old = RUNS * PER_SEGMENT
        o, n = old.subset(np.flatnonzero(old.structure == s)), frames.subset(np.flatnonzero(frames.structure == s))
        np.testing.assert_array_equal(n.subset(np.arange(n_old)).positions, o.positions)
        np.testing.assert_array_equal(n.energy[:n_old], o.energy)


def test_rerun_with_everything_done_changes_nothing(copy):
    before = parts(copy)
    frames = generate(copy)
    assert parts(copy) == before
    assert len(frames) == len(STRUCTURES) * RUNS * PER_SEGMENT


def test_killed_run_resumes(copy):
    """A job killed mid-segment leaves the last part missing; a rerun makes just that one again,
    continuing from the end of the previous segment."""
    lost = copy / "parts" / "hbn_vacancy" / f"run{RUNS - 1:04d}.npz"
    original = dict(np.load(lost))
    before = parts(copy)
    lost.unlink()
    lost.with_name(lost.stem + ".tmp.npz").write_bytes(b"half-written")  # killed inside np.savez
    (copy / "frames.h5").unlink()
    frames = generate(copy)
    assert len(frames) == len(STRUCTURES) * RUNS * PER_SEGMENT
    after = parts(copy)
    assert sorted(after) == sorted(before)  # the stale temporary file is gone too
    for name in before:
        if not name.endswith(f"hbn_vacancy/run{RUNS - 1:04d}.npz"):
            assert after[name] == before[name], name
    again = np.load(lost)
    np.testing.assert_array_equal(again["numbers"], original["numbers"])
    np.testing.assert_allclose(again["positions"], original["positions"], rtol=0, atol=RESUME_ATOL)
    np.testing.assert_allclose(again["energy"], original["energy"], rtol=0, atol=RESUME_ATOL)


def test_missing_earlier_part_is_regenerated(copy):
    first = copy / "parts" / "graphene_pristine" / "run0000.npz"
    later = copy / "parts" / "graphene_pristine" / f"run{RUNS - 1:04d}.npz"
    kept = later.read_bytes()
    first.unlink()
    frames = generate(copy)
    assert first.is_file()
    assert later.read_bytes() == kept
    assert len(frames) == len(STRUCTURES) * RUNS * PER_SEGMENT
