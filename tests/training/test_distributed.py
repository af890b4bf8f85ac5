"""Data-parallel training with torchrun on the CPU (gloo, 2 processes): equal shards, a model
and checkpoint written once, ranks that end with the same weights (checked by the run)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from ase_cnnas.modelfile import load_model
from training.distributed import shard

ROOT = Path(__file__).resolve().parents[2]


def test_shards_are_disjoint_and_equal():
    index = np.arange(11)
    parts = [shard(index, r, 3) for r in range(3)]
    assert [len(p) for p in parts] == [3, 3, 3]
    assert len(set(np.concatenate(parts))) == 9


def torchrun(data: Path, out: Path, *options: str) -> subprocess.CompletedProcess:
    """`training.train` on 2 CPU processes (gloo), a 16² grid and batches of 2; it must succeed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}  # a crash shows where
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "training.train", "--data", str(data), "--out", str(out), "--grid", "16",
         "--batch", "2", "--device", "cpu", *options],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    crash = result.stderr.find("Fatal Python error")  # the crashed rank's stacks, before the
    assert result.returncode == 0, (result.stderr[crash:crash + 4000] if crash >= 0 else "") + (
        result.stderr[-3000:])  # long list of extension modules that ends its report
    return result


def test_two_processes_with_gloo(lj_data, tmp_path):
    out = tmp_path / "ddp"
    torchrun(lj_data, out, "--epochs", "2", "--force-weight", "0.5")
    assert json.loads((out / "settings.json").read_text())["ranks"] == 2
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(np.isfinite(h["val_mae"]) for h in history)
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 2
    assert np.isfinite(load_model(out / "best.pt").metadata["training"]["val_mae"])


def test_two_processes_agree_on_a_time_budget(lj_data, tmp_path):
    """--hours under torchrun: rank 0's epoch count reaches every rank (a rank that trained on
    while another stopped would wait forever on its gradients)."""
    out = tmp_path / "ddp"
    result = torchrun(lj_data, out, "--epochs", "3", "--hours", "1e-9")
    assert "1 of 3 epochs fit" in result.stdout
    assert [h["epoch"] for h in json.loads((out / "history.json").read_text())] == [1]
