"""The learning-curve plot: one line per run, drawn from each run's history; a folder without a
history is a clear error."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt

from training.report import learning_curves

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(ROOT / "benchmarks" / "learning_curves.py")


def test_one_named_line_per_run():
    fig = learning_curves({"fast": [{"epoch": 1, "val_mae": 2.0}, {"epoch": 2, "val_mae": 0.5}],
                           "diverged": [{"epoch": 1, "val_mae": 1.0}, {"epoch": 2, "val_mae": 40.0}]})
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["fast", "diverged"]
    assert list(lines[1].get_ydata()) == [1.0, 40.0]
    assert fig.axes[0].get_yscale() == "log"
    plt.close(fig)  # other tests count the open figures


def test_chained_rounds_continue_where_the_last_ended():
    rounds = {"r1": [{"epoch": 1, "val_mae": 2.0}, {"epoch": 2, "val_mae": 1.0}],
              "r2": [{"epoch": 1, "val_mae": 0.9}, {"epoch": 2, "val_mae": 0.8}]}
    for chained, second in ((False, [1, 2]), (True, [3, 4])):
        fig = learning_curves(rounds, chained)
        assert list(fig.axes[0].get_lines()[1].get_xdata()) == second
        plt.close(fig)


def test_the_plot_is_written_from_run_folders(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "history.json").write_text(json.dumps([{"epoch": 1, "val_mae": 1.0}]))
    out = tmp_path / "curves.png"
    subprocess.run([sys.executable, SCRIPT, str(tmp_path / "a"),
                    str(tmp_path / "b" / "history.json"), "--out", str(out)],
                   check=True, cwd=ROOT, capture_output=True)
    assert matplotlib.image.imread(out).shape[:2] == (480, 720)  # 6 × 4 in at 120 dpi


def test_a_folder_without_history_is_named(tmp_path):
    run = subprocess.run([sys.executable, SCRIPT, str(tmp_path), "--out", str(tmp_path / "c.png")],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 1 and "no history.json" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "c.png").exists()
