"""The pixel-matching benchmark end to end on a tiny model: one row per tolerance, the tightest
its own reference, the mismatch shrinking as the tolerance does."""
from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from pixel_match import main  # noqa: E402


def test_rows_per_tolerance(sheet_model_file, tmp_path):
    from conftest import LJ

    from training.cli import main as cnnas

    data, out = tmp_path / "strained.h5", tmp_path / "pixel_match.md"
    assert cnnas(["data", "sheets", "-o", str(data), "--structures", "hbn_pristine@2x1",
                  "--frames", "4", "--steps", "2", "--stride", "2", "--free", "--strain", "0.03",
                  "--reference", LJ, "--workers", "1"]) == 0
    main([str(data), "--models", str(sheet_model_file), "--tolerances", "0.01", "0.002",
          "--out", str(out)])
    rows = re.findall(r"^\| `[^`]+` \| 0 % \| ([\d.]+) % \| ([\d.]+) \| (\d+) \| ([\d.]+) \| "
                      r"([\d.]+) \| \d+ \|$", out.read_text(), flags=re.M)
    assert [tol for tol, *_ in rows] == ["1", "0.2"]  # loosest first
    (_, _, _, moved_loose, mis_loose), (_, _, _, moved_tight, mis_tight) = rows
    assert float(moved_tight) == 0  # the tightest is the reference
    assert float(mis_tight) < float(mis_loose)  # strained 8-atom cells: more repeats match better
