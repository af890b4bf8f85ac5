"""Sheet MD generation with a fast reference (Lennard-Jones): counts, labels, resumption after a
clean stop and after kill -9, protocol checks."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from ase.calculators.lj import LennardJones
from conftest import LJ, ROOT

from ase_cnnas.sheets import build_sheet
from training.cli import main
from training.h5data import frame_count, read_frames

STRUCTURES = ("graphene_pristine", "hbn_vacancy")
NATOMS = {"graphene_pristine": 60, "hbn_vacancy": 59}
STEPS, STRIDE, FRAMES, CHAINS = 4, 2, 5, 2  # 2 frames per segment, the last segment cut to 1
LABEL_ATOL = 1e-10  # eV, eV/Å: stored labels against a fresh LJ evaluation


def generate(path, frames=FRAMES, *extra):
    assert main(["data", "sheets", "-o", str(path), "--structures", *STRUCTURES, "--frames",
                 str(frames), "--chains", str(CHAINS), "--steps", str(STEPS), "--stride",
                 str(STRIDE), "--reference", LJ, "--workers", "1", "--seed", "3", *extra]) == 0
    return read_frames(path)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("gen") / "sheets.h5")


def test_frame_count_and_layout(generated):
    frames = generated
    assert len(frames) == len(STRUCTURES) * CHAINS * FRAMES
    assert len(set(frames.hash)) == len(frames)
    for s in STRUCTURES:
        for chain in range(CHAINS):
            mine = (frames.structure == s) & (frames.trajectory == chain)
            assert sorted(frames.frame_index[mine]) == list(range(FRAMES))
            assert set(frames.source[mine]) == {f"sheets/{s}"}
            assert set(frames.natoms[mine]) == {NATOMS[s]}
    assert set(frames.method) == {LJ}
    assert len(frames.numbers) == frames.natoms.sum()


def test_chains_differ(generated):
    frames = generated
    a = frames.energy[(frames.structure == STRUCTURES[0]) & (frames.trajectory == 0)]
    b = frames.energy[(frames.structure == STRUCTURES[0]) & (frames.trajectory == 1)]
    assert not np.allclose(a, b)


def test_labels_match_reference(generated):
    for i in (0, len(generated) - 1):
        atoms = generated.atoms(i)
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = LennardJones()
        assert abs(atoms.get_potential_energy() - energy) < LABEL_ATOL
        np.testing.assert_allclose(atoms.get_forces(), forces, atol=LABEL_ATOL)
    assert np.all(generated.positions[:, 2] == generated.positions[0, 2])  # held in the plane


def test_resume_continues_to_the_same_frames(generated, tmp_path):
    path = tmp_path / "sheets.h5"
    first = generate(path, 3)
    assert len(first) == len(STRUCTURES) * CHAINS * 3
    resumed = generate(path, FRAMES)
    order = np.lexsort((resumed.frame_index, resumed.trajectory, resumed.structure))
    ref = np.lexsort((generated.frame_index, generated.trajectory, generated.structure))
    np.testing.assert_allclose(resumed.energy[order], generated.energy[ref], rtol=0, atol=1e-10)
    assert generate(path, FRAMES).hash.tolist() == resumed.hash.tolist()  # a third run adds none


def test_other_protocol_refused(tmp_path, capsys):
    path = tmp_path / "sheets.h5"
    generate(path, 2)
    assert main(["data", "sheets", "-o", str(path), "--structures", *STRUCTURES, "--frames", "4",
                 "--steps", str(STEPS), "--stride", str(STRIDE), "--reference", LJ, "--seed", "3",
                 "--temperature", "300"]) == 2
    assert "generated with" in capsys.readouterr().err
    assert frame_count(path) == len(STRUCTURES) * CHAINS * 2


def test_steps_not_multiple_of_stride(tmp_path):
    with pytest.raises(SystemExit, match="multiple of --stride"):
        main(["data", "sheets", "-o", str(tmp_path / "x.h5"), "--steps", "5", "--stride", "2",
              "--reference", LJ])


def test_kill_9_then_rerun_gives_exact_count(tmp_path):
    """kill -9 the whole process group mid-job, then rerun: exact count, no repeats, readable."""
    path, per_chain = tmp_path / "big.h5", 400
    cmd = [sys.executable, "-m", "training.cli", "data", "sheets", "-o", str(path), "--structures",
           *STRUCTURES, "--frames", str(per_chain), "--chains", "1", "--steps", "20", "--stride",
           "1", "--reference", LJ, "--workers", "2", "--flush-seconds", "0"]
    path_var = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path_var}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not path.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert path.exists(), "the job wrote nothing before it was killed"
    partial = frame_count(path)  # readable after the kill
    assert 0 < partial < 2 * per_chain, "the job finished before the kill; make it longer"
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    frames = read_frames(path)
    assert len(frames) == 2 * per_chain
    assert len(set(frames.hash)) == len(frames)
    for s in STRUCTURES:
        assert sorted(frames.frame_index[frames.structure == s]) == list(range(per_chain))
    assert not list(tmp_path.glob("*.tmp"))


def test_reference_failure_keeps_finished_segments(tmp_path, monkeypatch):
    from training.generate import Protocol
    from training.generate import generate as run

    path, protocol = tmp_path / "f.h5", Protocol(steps=4, stride=2, reference="conftest:FailingLJ")
    monkeypatch.setenv("CNNAS_FAIL_AFTER", "60")
    with pytest.raises(RuntimeError, match="reference failed"):
        run(path, list(STRUCTURES), 40, 1, protocol, workers=1, flush_seconds=600)
    kept = frame_count(path)
    assert 0 < kept < 80
    monkeypatch.setenv("CNNAS_FAIL_AFTER", "1000000")
    assert run(path, list(STRUCTURES), 40, 1, protocol, workers=1) == 80 - kept
    frames = read_frames(path)
    for s in STRUCTURES:
        assert sorted(frames.frame_index[frames.structure == s]) == list(range(40))


FREE_SHEETS = ["graphene_pristine@hex4", "heterostructure_vacancy_interface@4x2"]


def generate_free(path, frames):
    assert main(["data", "sheets", "-o", str(path), "--structures", *FREE_SHEETS, "--chains", "2",
                 "--steps", str(STEPS), "--stride", str(STRIDE), "--reference", LJ, "--workers",
                 "1", "--seed", "5", "--free", "--strain", "0.04", "--frames", str(frames)]) == 0
    return read_frames(path)


def test_free_strained_any_cell(tmp_path):
    """Free-standing chains leave the plane, each chain keeps its own strained cell, hexagonal
    and new defect sheets are generated, and a rerun continues them to the same frames."""
    generate_free(tmp_path / "f.h5", 3)
    frames = generate_free(tmp_path / "f.h5", 5)
    assert len(frames) == 2 * 2 * 5
    whole = generate_free(tmp_path / "g.h5", 5)
    order = np.lexsort((frames.frame_index, frames.trajectory, frames.structure))
    ref = np.lexsort((whole.frame_index, whole.trajectory, whole.structure))
    np.testing.assert_allclose(frames.energy[order], whole.energy[ref], rtol=0, atol=1e-10)
    assert np.ptp(frames.positions[:, 2]) > 1e-3  # left the plane
    for s in FREE_SHEETS:
        mine = frames.structure == s
        cells = {c: frames.cell[mine & (frames.trajectory == c)] for c in (0, 1)}
        assert all(np.ptp(c, axis=0).max() == 0 for c in cells.values())  # one cell a chain
        assert not np.allclose(cells[0][0], cells[1][0])  # strained differently
        ideal = build_sheet(s).cell.array
        for c in cells.values():
            stretch = np.diag(c[0]) / np.diag(ideal)
            assert np.all(np.abs(stretch[:2] - 1) <= 0.04) and stretch[2] == 1
    hexagonal = frames.cell[frames.structure == FREE_SHEETS[0]][0]
    assert hexagonal[1, 0] == pytest.approx(-hexagonal[0, 0] / 2)  # the 120° cell as given


def test_bool_and_strain_options_refused_clearly(tmp_path):
    with pytest.raises(SystemExit, match="--strain"):
        main(["data", "sheets", "-o", str(tmp_path / "x.h5"), "--strain", "0.7", "--reference", LJ])
    assert main(["data", "sheets", "-o", str(tmp_path / "x.h5"), "--structures", "graphene_x",
                 "--reference", LJ]) == 2
