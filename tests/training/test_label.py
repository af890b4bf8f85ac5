"""Relabelling a frames file: labels equal the reference's, the frames keep their identity, a
killed labeller resumes and loses at most the frame in progress."""
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

from training.cli import main
from training.h5data import frame_count, read_frames
from training.label import geometry_keys


def test_labels_are_the_references_and_frames_keep_their_identity(lj_data, tmp_path, capsys):
    out = tmp_path / "relabelled.h5"
    args = ["data", "label", str(lj_data), "-o", str(out), "--reference", LJ + "_sigma2"]
    with pytest.raises(SystemExit, match="--reference .*_sigma2"):
        main(args)
    factory = "ase.calculators.lj:LennardJones"
    assert main(["data", "label", str(lj_data), "-o", str(out), "--reference", factory,
                 "--every", "2"]) in (0, None)
    source, frames = read_frames(lj_data), read_frames(out)
    kept = np.arange(0, len(source), 2)
    assert len(frames) == len(kept) == 9
    for i, j in enumerate(kept):
        atoms = source.atoms(j)
        atoms.calc = LennardJones()
        assert frames.energy[i] == pytest.approx(atoms.get_potential_energy(), abs=1e-10)
        np.testing.assert_allclose(frames.atoms(i).get_forces(), atoms.get_forces(), atol=1e-10)
        assert (frames.structure[i], frames.trajectory[i], frames.frame_index[i]) == \
            (source.structure[j], source.trajectory[j], source.frame_index[j])
    assert set(frames.method) == {factory}
    # a second run labels the rest only
    main(["data", "label", str(lj_data), "-o", str(out), "--reference", factory])
    assert "added 9 frames" in capsys.readouterr().out
    assert sorted(geometry_keys(read_frames(out))) == sorted(geometry_keys(source))


def test_stress_on_request_and_refused_where_the_reference_gives_none(lj_data, tmp_path):
    out = tmp_path / "s.h5"
    main(["data", "label", str(lj_data), "-o", str(out), "--reference", LJ, "--limit", "2",
          "--stress"])
    frames, source = read_frames(out), read_frames(lj_data)
    keys = list(geometry_keys(source))
    for i, key in enumerate(geometry_keys(frames)):
        atoms = source.atoms(keys.index(key))
        atoms.calc = LennardJones()
        np.testing.assert_allclose(frames.stress[i], atoms.get_stress(), atol=1e-12)
    assert np.abs(frames.stress[:, :2]).min() > 0
    with pytest.raises(SystemExit, match="--stress: conftest:StresslessLJ gives no stress"):
        main(["data", "label", str(lj_data), "-o", str(tmp_path / "t.h5"), "--reference",
              "conftest:StresslessLJ", "--stress"])
    main(["data", "label", str(lj_data), "-o", str(tmp_path / "u.h5"), "--reference", LJ,
          "--limit", "1"])
    assert np.isnan(read_frames(tmp_path / "u.h5").stress).all()  # not asked for


def test_random_order_and_limit(lj_data, tmp_path):
    out = tmp_path / "r.h5"
    main(["data", "label", str(lj_data), "-o", str(out), "--reference", LJ, "--order", "random",
          "--seed", "3", "--limit", "4"])
    frames = read_frames(out)
    assert len(frames) == 4
    assert list(frames.frame_index) != sorted(frames.frame_index)  # not the file's order


def test_refuses_to_overwrite_its_input(lj_data):
    with pytest.raises(SystemExit, match="new file, not the input"):
        main(["data", "label", str(lj_data), "-o", str(lj_data), "--reference", LJ])


def test_killed_labeller_resumes_losing_at_most_the_frame_in_progress(lj_data, tmp_path):
    out, log = tmp_path / "slow.h5", tmp_path / "calls.log"
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'tests'}:{ROOT}", "CNNAS_CALC_LOG": str(log),
           "CNNAS_SLEEP": "0.4"}
    cmd = [sys.executable, "-m", "training.cli", "data", "label", str(lj_data), "-o", str(out),
           "--reference", "conftest:SlowLJ"]
    job = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not (out.exists() and frame_count(out) >= 3):
        time.sleep(0.05)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    stored = frame_count(out)
    started = len(log.read_text().splitlines())
    assert 3 <= stored < 18
    assert started - stored <= 1  # lost: at most the frame in progress
    log.unlink()
    subprocess.run(cmd, env={**env, "CNNAS_SLEEP": "0"}, cwd=ROOT, check=True,
                   capture_output=True)
    assert len(log.read_text().splitlines()) == 18 - stored  # nothing labelled twice
    frames, source = read_frames(out), read_frames(lj_data)
    assert sorted(geometry_keys(frames)) == sorted(geometry_keys(source))
    for i in range(len(frames)):
        j = int(np.flatnonzero(geometry_keys(source) == geometry_keys(frames)[i])[0])
        atoms = source.atoms(j)
        atoms.calc = LennardJones()
        assert frames.energy[i] == pytest.approx(atoms.get_potential_energy(), abs=1e-10)
