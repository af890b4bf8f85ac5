"""The net-force benchmark, shortened to 20 steps: the calculator's forces keep the centre of
mass at rest, −∇E as it is does not, and the report says so."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_net_force_report(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "net_force.py"), "--ps", "0.01",
                    "--every", "5", "--temperature", "300", "--device", "cpu", "--out",
                    str(tmp_path)], check=True, capture_output=True, cwd=tmp_path)
    assert (tmp_path / "net_force.png").stat().st_size > 10_000
    rows = {line.split(" | ")[0][2:]: [float(x) for x in line.split(" | ")[1:-1]]
            for line in (tmp_path / "net_force.md").read_text().splitlines()
            if line.startswith("| −∇E")}
    (net, end, most, share, _, excursion), = [rows["−∇E less its mean (default)"][:6]]
    assert net < 1e-9 and most < 1e-6 and share < 1e-12 and excursion < 0.2
    net, end, most, share, _, excursion = rows["−∇E as it is"][:6]
    assert net > 1e-3 and most > 1e-3 and excursion < 0.2  # eV/Å and m/s: it does move
