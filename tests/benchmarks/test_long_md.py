"""The long-MD benchmark, shortened to a few dozen steps: it runs, its report says what it
promises (intact sheet, NVE drift per stretch, distribution flags), and it resumes exactly."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SHORT = ["--segment-ps", "0.01", "--nve-ps", "0.005", "--every", "5", "--temperature", "300",
         "--device", "cpu"]


def long_md(out: Path, ps: float, *extra: str, state: bool = True) -> subprocess.CompletedProcess:
    """The benchmark run in `out` (the default state goes to out/runs/long_md/)."""
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / "long_md.py"), "--ps", str(ps),
                           *SHORT, "--out", str(out), *extra,
                           *(["--state", str(out / "state.npz")] if state else [])],
                          cwd=out, capture_output=True, text=True)


def test_short_long_md(tmp_path):
    assert long_md(tmp_path, 0.02, state=False).returncode == 0
    text = (tmp_path / "long_md.md").read_text()
    assert "| sheet intact | yes: at most 0 atoms changed" in text
    assert "| steps outside the training distribution | 0 of 60 " in text
    stretches = [line for line in text.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert len(stretches) == 2
    assert all(float(line.split("|")[3]) < 0.2 for line in stretches)  # excursion, meV/atom
    # the default state is named by the settings: another temperature starts its own run
    assert long_md(tmp_path, 0.01, "--temperature", "310", state=False).returncode == 0
    assert len(list((tmp_path / "runs" / "long_md").glob("*.npz"))) == 2


def test_extended_run_resumes_to_the_straight_run(tmp_path):
    """One segment, then rerun with --ps for two: the same log as two segments straight through;
    a rerun with another temperature or model is refused, naming it, and leaves the state alone."""
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    straight.mkdir(), resumed.mkdir()
    assert long_md(straight, 0.02).returncode == 0
    assert long_md(resumed, 0.01).returncode == 0
    second = long_md(resumed, 0.02)
    assert second.returncode == 0 and "resuming" in second.stdout
    assert "after segment 1" in second.stdout
    a, b = (dict(np.load(run / "state.npz")) for run in (straight, resumed))
    assert int(a["segments"]) == int(b["segments"]) == 2
    for key in ("t", "T", "fmax", "dmin", "changed", "positions", "momenta", "stretches"):
        np.testing.assert_allclose(b[key], a[key], rtol=1e-12, atol=0, err_msg=key)
    saved = (resumed / "state.npz").read_bytes()
    other = long_md(resumed, 0.02, "--temperature", "400")
    assert other.returncode != 0 and "--temperature 300.0 -> 400.0" in other.stderr
    assert "Traceback" not in other.stderr and (resumed / "state.npz").read_bytes() == saved
    other = long_md(resumed, 0.02, "--model", "fast")
    assert other.returncode != 0 and "model file sha256" in other.stderr
