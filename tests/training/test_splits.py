"""Splits: the paper's random one and whole trajectories held out, stored in the file."""
from __future__ import annotations

import numpy as np
import pytest

from training.cli import main
from training.h5data import read_frames, read_split
from training.splits import held_out, random_split, stored_or_random, trajectory_split


@pytest.mark.parametrize("n", [10, 101, 1000])
def test_random_split_proportions(n):
    parts = random_split(n, seed=7)
    assert sorted(np.concatenate(list(parts.values()))) == list(range(n))
    assert len(parts["test"]) == round(0.3 * n)
    assert len(parts["validation"]) == round(0.1 * (n - round(0.3 * n)))


def test_random_split_seeded():
    a, b, c = random_split(200, 1), random_split(200, 1), random_split(200, 2)
    assert all((a[k] == b[k]).all() for k in a)
    assert not (a["test"] == c["test"]).all()


def test_trajectory_split_keeps_trajectories_whole():
    rng = np.random.default_rng(0)
    strata = np.repeat(["a", "b"], 400)
    keys = np.array([f"{s}{i // 40}" for i, s in enumerate(strata)])  # 10 trajectories each
    order = rng.permutation(len(keys))
    keys, strata = keys[order], strata[order]
    parts = trajectory_split(keys, strata, seed=3)
    assert sorted(np.concatenate(list(parts.values()))) == list(range(800))
    sets = {k: set(keys[v]) for k, v in parts.items()}
    assert not (sets["train"] & sets["test"]) and not (sets["train"] & sets["validation"])
    assert not (sets["test"] & sets["validation"])
    for s in "ab":  # each stratum gives about 30 % to test, 10 % of the rest to validation
        mine = strata == s
        assert (mine[parts["test"]]).sum() == 120
        assert (mine[parts["validation"]]).sum() == 40


def test_single_trajectory_stays_in_training():
    parts = trajectory_split(np.zeros(50, str), np.zeros(50, str), seed=0)
    assert len(parts["train"]) == 50 and not len(parts["test"])


def test_cli_stores_splits(lj_data, tmp_path, capsys):
    path = tmp_path / "d.h5"
    path.write_bytes(lj_data.read_bytes())
    assert main(["data", "split", str(path), "--by", "random", "--seed", "4"]) == 0
    stored = read_split(path, "random")
    expected = random_split(18, 4)
    assert all((stored[k] == expected[k]).all() for k in expected)
    assert stored_or_random(path, "random", 18, 0)["test"].tolist() == expected["test"].tolist()
    # the fixture has one chain per structure: nothing can be held out whole
    assert main(["data", "split", str(path), "--by", "trajectory"]) == 0
    assert "no test frames" in capsys.readouterr().out
    assert len(read_frames(path)) == 18


def test_trajectory_split_of_generated_chains(tmp_path):
    from conftest import LJ

    path = tmp_path / "g.h5"
    main(["data", "sheets", "-o", str(path), "--structures", "graphene_pristine", "--frames", "2",
          "--chains", "4", "--steps", "2", "--stride", "1", "--reference", LJ, "--workers", "1"])
    main(["data", "split", str(path), "--by", "trajectory", "--name", "traj"])
    frames, parts = read_frames(path), read_split(path, "traj")
    chains = {k: set(frames.trajectory[v]) for k, v in parts.items()}
    assert len(chains["test"]) == 1 and not chains["test"] & chains["train"]


def test_hold_out_whole_structure_types(lj_data, tmp_path, capsys):
    """--hold-out puts every frame of a type in test, whatever its cell; a type the file lacks
    is refused by name."""
    path = tmp_path / "d.h5"
    path.write_bytes(lj_data.read_bytes())
    assert main(["data", "split", str(path), "--by", "random", "--hold-out", "hbn_pristine",
                 "--name", "loo"]) == 0
    frames, parts = read_frames(path), read_split(path, "loo")
    hbn = np.flatnonzero(frames.structure == "hbn_pristine")
    assert set(hbn) <= set(parts["test"])
    assert not set(hbn) & (set(parts["train"]) | set(parts["validation"]))
    assert len(parts["train"]) + len(parts["validation"]) + len(parts["test"]) == len(frames)
    structures = np.array(["hbn_vacancy@hex6", "hbn_vacancy", "graphene_pristine"])
    moved = held_out({"train": np.array([0, 2]), "validation": np.array([1]),
                      "test": np.array([], int)}, structures, ["hbn_vacancy"])
    assert moved["train"].tolist() == [2] and moved["test"].tolist() == [0, 1]
    assert main(["data", "split", str(path), "--hold-out", "silicene_pristine"]) == 2
    assert "no such structure type" in capsys.readouterr().err
