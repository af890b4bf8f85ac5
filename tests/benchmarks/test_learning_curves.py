"""The learning-curve plot: one line per run, drawn from each run's history; a folder without a
history is a clear error."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest

from training.report import learning_curves

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from learning_curves import forecast_table, power_law  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(ROOT / "benchmarks" / "learning_curves.py")


def test_one_named_line_per_run():
    fig = learning_curves({
        "fast": [{"epoch": 1, "val_mae": 2.0}, {"epoch": 2, "val_mae": 0.5}],
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


def _rounds(tmp_path, values, per_round=4):
    """Run folders r0, r1… holding `values` as their validation MAE, `per_round` epochs each."""
    runs = []
    for k in range(0, len(values), per_round):
        run = tmp_path / f"r{k // per_round}"
        run.mkdir()
        run.joinpath("history.json").write_text(json.dumps(
            [{"epoch": i + 1, "val_mae": v} for i, v in enumerate(values[k:k + per_round])]))
        runs.append(str(run))
    return runs


def test_the_power_law_fit_recovers_its_exponent():
    best = 2.0 * np.arange(1, 41) ** -0.25
    a, b, scatter = power_law(best, start=5)
    assert a == pytest.approx(2.0) and b == pytest.approx(0.25) and scatter < 1e-12
    table = forecast_table(best, {1: power_law(best)}, [0.5])
    # 2·n^(−1/4) halves when n grows 16-fold: 640 epochs, 16× the 40 done
    assert "| 640 (16.0× the 40 done) |" in table
    flat = np.full(10, 0.5)  # no progress: no number of epochs gets there
    assert forecast_table(flat, {1: power_law(flat)}, [0.9]).endswith(
        "| never (the fit does not fall) |")


def test_the_forecast_is_written_from_chained_rounds(tmp_path):
    values = list(1.5 * np.arange(1, 13) ** -0.2)
    values[4] = 3.0  # a warm-up bump: the best so far ignores it
    out, table = tmp_path / "f.png", tmp_path / "forecast.md"
    run = subprocess.run([sys.executable, SCRIPT, *_rounds(tmp_path, values), "--chained",
                          "--out", str(out), "--forecast", str(table), "--reach", "0.5",
                          "--fit-from", "1", "6"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    text = table.read_text()
    assert "Regenerate: `python benchmarks/learning_curves.py" in text and "r0, r1, r2" in text
    row = next(line for line in text.splitlines() if line.startswith("| 6 |"))
    assert "| 0.200 |" in row and "(32.0× the 12 done)" in row  # 0.5^(-1/0.2) = 32
    assert out.exists()


def test_a_forecast_needs_chained_rounds_and_enough_epochs(tmp_path):
    runs = _rounds(tmp_path, [1.0, 0.9, 0.8, 0.7])
    for extra, message in (
            (["--forecast", "t.md"], "add --chained"),
            (["--chained", "--forecast", "t.md", "--fit-from", "3"], "needs 3 at least"),
            (["--chained", "--forecast", "t.md", "--reach", "1.5"], "between 0 and 1")):
        run = subprocess.run([sys.executable, SCRIPT, *runs, "--out", str(tmp_path / "c.png"),
                              *extra], cwd=tmp_path, capture_output=True, text=True)
        assert run.returncode != 0 and message in run.stderr and "Traceback" not in run.stderr
        assert not (tmp_path / "t.md").exists() and not (tmp_path / "c.png").exists()
