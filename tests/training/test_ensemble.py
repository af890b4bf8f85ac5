"""The ensemble-spread study: per-frame errors and spreads, the flag statistics, the report."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ase_cnnas.modelfile import load_model, save_model
from training.compare import compare
from training.experiments.ensemble import flags, frame_statistics, main
from training.h5data import read_frames, write_frames
from training.importer import read_file


def test_frame_statistics_by_hand():
    """Two members, frames of 1 and 2 atoms: energies and forces worked out by hand."""
    natoms = np.array([1, 2])
    energies = np.array([[1.0, 2.0], [1.2, 2.4]])  # eV, [members, frames]
    forces = np.zeros((2, 3, 3))
    forces[0, :, 0], forces[1, :, 0] = [0.1, 0.2, 0.3], [0.3, 0.2, 0.1]  # x only
    forces[:, :, 2] = [[5.0], [-5.0]]  # z differs wildly: out of the plane, ignored
    s = frame_statistics(energies, forces, natoms, np.array([1.0, 2.0]), np.zeros((3, 3)))
    assert np.allclose(s["energy_error"], [100.0, 100.0])  # |1.1 − 1| / 1, |2.2 − 2| / 2
    assert np.allclose(s["energy_spread"], [100.0, 100.0])  # std of (1, 1.2), of (2, 2.4) / 2
    assert np.allclose(s["member_energy_error"], [[0.0, 0.0], [200.0, 200.0]])
    assert np.allclose(s["force_error"], [100.0, 100.0])  # mean |F| = 0.2 in x, 0 in y; halved
    assert np.allclose(s["force_spread"], [50.0, 25.0])  # x stds 0.1, 0, 0.1; y none; halved


def test_flags_rank_and_catch():
    error = np.arange(1.0, 21.0)
    assert flags(error, error * 3) == {"spearman": pytest.approx(1.0), "caught": 1.0}
    assert flags(error, -error) == {"spearman": pytest.approx(-1.0), "caught": 0.0}
    spread = error.copy()
    spread[[-1, 0]] = spread[[0, -1]]  # the worst frame has the smallest spread
    assert flags(error, spread)["caught"] == 0.5  # 2 worst frames, one flagged


def test_report_on_two_members(tmp_path):
    frames, _ = read_file(Path("tests/data/hbn_unseen_1000K_5frames.extxyz"), method="SevenNet-0")
    path = tmp_path / "hbn_five.h5"
    write_frames(path, frames)
    out = tmp_path / "new" / "ensemble.md"  # a folder that does not exist yet
    other = load_model("default", "cpu")  # a second member: the default, its weights perturbed
    torch.manual_seed(0)
    with torch.no_grad():
        for p in other.network.parameters():
            p.mul_(1 + 0.02 * torch.randn_like(p))
    save_model(other, tmp_path / "other.pt")
    main(["--members", "default", str(tmp_path / "other.pt"), "--data", str(path),
          "--out", str(out)])
    r = json.loads(out.with_suffix(".json").read_text())["hbn_five"]
    alone = compare(load_model("default", "cpu"), read_frames(path))
    assert r["member_energy_mae"][0] == pytest.approx(alone["energy_mae"], rel=1e-6)
    assert r["frames"] == 5 and len(r["per_frame"]["energy_spread"]) == 5
    assert r["member_energy_mae"][1] != pytest.approx(r["member_energy_mae"][0], rel=1e-3)
    spread = np.array(r["per_frame"]["energy_spread"])
    assert (spread > 0).all() and np.ptp(spread) > 0 and np.isfinite(r["energy"]["spearman"])
    assert "| hbn_five | 5 |" in out.read_text()
    assert out.with_suffix(".png").stat().st_size > 10_000
    with pytest.raises(SystemExit):
        main(["--members", "default", "--data", str(path), "--out", str(out)])
