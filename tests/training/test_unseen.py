"""The unseen-trajectory report: one row per trajectory, marked against issue 5's goals, with
its figures."""
from __future__ import annotations

import json
import re
from pathlib import Path

from training.experiments.unseen import GOALS, main
from training.h5data import write_frames
from training.importer import read_file


def test_report_rows_figures_and_goal_marks(tmp_path):
    frames, _ = read_file(Path("tests/data/hbn_unseen_1000K_5frames.extxyz"), method="SevenNet-0")
    path = tmp_path / "hbn_five.h5"
    write_frames(path, frames)
    out = tmp_path / "unseen.md"
    main([str(path), "--out", str(out)])
    rows = json.loads(out.with_suffix(".json").read_text())
    r = rows["hbn_five"]
    assert r["frames"] == 5 and 0 < r["energy_mae"] <= r["energy_max"] and r["force_mae"] > 0
    line = next(row for row in out.read_text().splitlines() if row.startswith("| hbn_five |"))
    marks = re.findall(r"([\d.]+) ([✓✗])", line)
    assert [float(v) for v, _ in marks] == [round(r[k], 2) for k in GOALS]
    assert [m for _, m in marks] == ["✓" if r[k] <= g else "✗" for k, g in GOALS.items()]
    for fig in ("energy", "parity"):
        assert (tmp_path / "unseen" / f"hbn_five_{fig}.png").stat().st_size > 10_000
