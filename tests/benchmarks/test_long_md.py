"""The long-MD benchmark, shortened to a few dozen steps: it runs, and its report says what it
promises (intact sheet, NVE drift per stretch, distribution flags)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_short_long_md(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "long_md.py"), "--ps", "0.02",
                    "--segment-ps", "0.01", "--nve-ps", "0.005", "--every", "5", "--temperature",
                    "300", "--device", "cpu", "--out", str(tmp_path)], check=True, cwd=ROOT,
                   capture_output=True)
    text = (tmp_path / "long_md.md").read_text()
    assert "| sheet intact | yes: at most 0 atoms changed" in text
    assert "| steps outside the training distribution | 0 of 60 " in text
    stretches = [line for line in text.splitlines() if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert len(stretches) == 2
    assert all(float(line.split("|")[3]) < 0.2 for line in stretches)  # excursion, meV/atom
