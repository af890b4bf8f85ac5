"""Importing real VASP output and ase.io files: the issue's must-show, de-duplication, and every
bad file reported by name while the others import."""
from __future__ import annotations

import json

import ase.io
import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator
from conftest import ROOT, truncated_copy

from training.cli import main
from training.h5data import frame_count, read_frames
from training.importer import import_files

DATA = ROOT / "tests" / "data"
VASPRUN, OUTCAR = DATA / "vasprun.h2o.md.10.xml", DATA / "OUTCAR.h2o.md.10"
FIRST, LAST = -28.38622624, -28.39848822  # eV, the run's first and last frame


@pytest.mark.parametrize("path", [VASPRUN, OUTCAR])
def test_vasp_import_then_again_adds_none(tmp_path, path, capsys):
    out = tmp_path / "data.h5"
    assert main(["data", "import", str(path), "-o", str(out)]) == 0
    assert "10 frames read, 10 added" in capsys.readouterr().out
    frames = read_frames(out)
    assert len(frames) == 10
    assert frames.energy[0] == FIRST and frames.energy[-1] == LAST
    assert np.linalg.norm(frames.forces[:6], axis=1).max() == pytest.approx(1.4005, abs=1e-4)
    assert set(frames.method) == {"VASP"} and set(frames.structure) == {"H4O2"}
    assert list(frames.frame_index) == list(range(10))
    assert np.isfinite(frames.stress).all()
    assert main(["data", "import", str(path), "-o", str(out)]) == 0
    assert "10 frames read, 0 added, 10 already there" in capsys.readouterr().out
    assert frame_count(out) == 10


def test_outcar_and_vasprun_agree(tmp_path):
    a = read_frames(import_files([VASPRUN], tmp_path / "a.h5") and tmp_path / "a.h5")
    b = read_frames(import_files([OUTCAR], tmp_path / "b.h5") and tmp_path / "b.h5")
    np.testing.assert_array_equal(a.energy, b.energy)
    np.testing.assert_allclose(a.forces, b.forces, atol=1e-6)
    np.testing.assert_allclose(a.positions, b.positions, atol=1e-5)


def test_xdatcar_takes_labels_from_its_outcar(tmp_path):
    images = ase.io.read(VASPRUN, index=":")
    xdatcar = tmp_path / "XDATCAR"
    ase.io.write(xdatcar, images, format="vasp-xdatcar")
    reports = import_files([xdatcar], tmp_path / "x.h5", labels=[OUTCAR])
    assert reports[0].added == 10, reports
    frames = read_frames(tmp_path / "x.h5")
    np.testing.assert_array_equal(frames.energy, [a.get_potential_energy() for a in images])
    unlabelled = import_files([xdatcar], tmp_path / "y.h5")[0]
    assert "XDATCAR needs --labels" in unlabelled.error and unlabelled.added == 0


def test_xdatcar_with_labels_of_another_run(tmp_path):
    images = ase.io.read(VASPRUN, index=":")
    for a in images:
        a.positions += 0.3
    ase.io.write(tmp_path / "XDATCAR", images, format="vasp-xdatcar")
    report = import_files([tmp_path / "XDATCAR"], tmp_path / "x.h5", labels=[OUTCAR])[0]
    assert "differ from those of" in report.error


def test_extxyz_and_traj(tmp_path):
    images = ase.io.read(DATA / "hbn_unseen_1000K_5frames.extxyz", index=":")
    ase.io.write(tmp_path / "run.traj", images)
    reports = import_files([DATA / "hbn_unseen_1000K_5frames.extxyz", tmp_path / "run.traj"],
                           tmp_path / "d.h5")
    assert [(r.read, r.added) for r in reports] == [(5, 5), (5, 0)]  # same frames, other format
    frames = read_frames(tmp_path / "d.h5")
    np.testing.assert_allclose(frames.forces[:60], images[0].get_forces())


def test_energy_only_file_keeps_nan_forces(tmp_path):
    atoms = ase.io.read(DATA / "hbn_unseen_1000K_5frames.extxyz")
    atoms.calc = SinglePointCalculator(atoms, energy=-1.5)
    ase.io.write(tmp_path / "e.extxyz", atoms)
    report = import_files([tmp_path / "e.extxyz"], tmp_path / "e.h5")[0]
    assert report.added == 1 and "60 atoms without forces" in report.note
    assert np.isnan(read_frames(tmp_path / "e.h5").forces).all()


def test_bad_files_reported_the_rest_imports(tmp_path, capsys):
    bad = {truncated_copy(OUTCAR, tmp_path, 0.6): "cut short",
           truncated_copy(VASPRUN, tmp_path): "cut short",
           tmp_path / "notes.txt": "unknown file type",
           tmp_path / "missing_OUTCAR": "no such file"}
    (tmp_path / "notes.txt").write_text("hello\n")
    out = tmp_path / "data.h5"
    assert main(["data", "import", *map(str, bad), str(VASPRUN), "-o", str(out)]) == 1
    printed = capsys.readouterr().out
    for path, reason in bad.items():
        assert f"SKIPPED {path}: {reason}" in printed
    assert "4 of 5 files skipped" in printed
    assert frame_count(out) == 10
    assert not list(tmp_path.glob("*.tmp"))


def test_partial_files_on_request(tmp_path):
    short = truncated_copy(OUTCAR, tmp_path, 0.6)
    report = import_files([short], tmp_path / "p.h5", allow_partial=True)[0]
    assert 0 < report.added < 10
    frames = read_frames(tmp_path / "p.h5")
    np.testing.assert_array_equal(frames.energy, read_frames(
        import_files([OUTCAR], tmp_path / "f.h5") and tmp_path / "f.h5").energy[:len(frames)])


def test_outcar_without_forces(tmp_path):
    lines = OUTCAR.read_text().splitlines(keepends=True)
    (tmp_path / "OUTCAR").write_text("".join(x for x in lines if "TOTAL-FORCE" not in x))
    report = import_files([tmp_path / "OUTCAR"], tmp_path / "o.h5")[0]
    assert report.error.startswith(f"{tmp_path / 'OUTCAR'}: cannot be read as vasp-out")


def test_own_hdf5_merges(tmp_path, lj_data):
    reports = import_files([lj_data, lj_data], tmp_path / "m.h5")
    assert [r.added for r in reports] == [18, 0]
    made, copied = (json.loads(read_frames(path).attrs["provenance"])
                    for path in (lj_data, tmp_path / "m.h5"))
    assert copied == [{"importer": "cnnas data import", "file": str(lj_data), "from": made,
                       "added": 18}]  # how the frames were made travels with them
    assert made[0]["generator"] == "sheets"


def test_every_nth_frame_of_each_trajectory(lj_data, tmp_path, capsys):
    """--every 4 keeps frames 0, 4, 8 of each chain (not of the file), and says so."""
    out = tmp_path / "thin.h5"
    assert main(["data", "import", str(lj_data), "--every", "4", "-o", str(out)]) == 0
    assert "18 frames read, 6 kept (every 4), 6 added" in capsys.readouterr().out
    frames = read_frames(out)
    assert sorted(zip(frames.structure, frames.frame_index)) == [
        (s, i) for s in ("graphene_pristine", "hbn_pristine") for i in (0, 4, 8)]


def test_merged_files_keep_their_trajectories_apart(lj_data, tmp_path):
    """Chain 0 of a structure from two files is two trajectories in the merged file, so a split
    by trajectory can hold one out."""
    from training.cli import main as cnnas

    other = tmp_path / "other.h5"
    cnnas(["data", "sheets", "-o", str(other), "--structures", "graphene_pristine", "hbn_pristine",
           "--frames", "9", "--steps", "4", "--stride", "2", "--reference",
           "ase.calculators.lj:LennardJones", "--temperature", "500", "--workers", "1"])
    merged = tmp_path / "merged.h5"
    import_files([lj_data, other], merged)
    frames = read_frames(merged)
    assert len(frames) == 36 and len(set(frames.trajectories())) == 4
    assert len(set(read_frames(lj_data).trajectories())) == 2
    cnnas(["data", "split", str(merged), "--by", "trajectory", "--test", "0.5"])
    from training.h5data import read_split

    test = read_split(merged, "trajectory")["test"]
    assert len(test) == 18 and len(set(frames.trajectories()[test])) == 2
