"""The performance benchmark end to end on tiny settings: its tables, slope and figure."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from performance import main  # noqa: E402


def test_tables_slope_and_figure(tmp_path):
    out = tmp_path / "performance.md"
    main(["--model", "flat", "--against", "--max-atoms", "240", "--scan-frames", "8", "--repeats",
          "4", "--rounds", "2", "--size-repeats", "2", "--out", str(out)])
    text = out.read_text()
    step = re.findall(r"\| CNNAS (default|default, symmetrize=False|extensive) \(64×64 grid for 60 "
                      r"atoms, float32, cpu\) \| ([\d.]+) \|", text)
    assert [name for name, _ in step] == ["default", "default, symmetrize=False", "extensive"]
    assert all(0 < float(ms) < 1000 for _, ms in step)
    sizes = re.findall(r"^\| ([\d,]+) \| ([\d.]+) \| ([\d.]+) \|$", text, flags=re.M)
    assert [int(n.replace(",", "")) for n, _, _ in sizes] == [60, 240]
    for n, ms, us in sizes:  # µs per atom is ms per call over the atoms
        assert float(us) == pytest_approx(float(ms) * 1e3 / int(n.replace(",", "")))
    slope = float(re.search(r"slope above 10³ atoms: \*\*([-\d.]+)\*\*", text)[1])
    (n1, t1), (n2, t2) = [(int(n.replace(",", "")), float(ms)) for n, ms, _ in sizes]
    assert slope == pytest_approx(np.log(t2 / t1) / np.log(n2 / n1))  # below 10³: all sizes
    scans = re.findall(r"^\| CNNAS default(, symmetrize=False)?, batches of 64", text, re.M)
    assert len(scans) == 2
    ratios = re.findall(r"batches of 64 \(cpu\) \| [\d,]+ \| ([\d.]+) \(([\d.]+)–([\d.]+)\) \|",
                        text)
    assert ratios[0] == ("1", "1", "1")  # each round's ratio to itself
    assert all(float(lo) <= float(mid) <= float(hi) for mid, lo, hi in ratios)
    assert len(ratios) == 3  # float32 averaged and raw, and bfloat16 convolutions
    assert "| CNNAS default, bfloat16 convolutions, batches of 64 (cpu) |" in text
    moved = re.search(r"energies of these frames move by ([\d.]+) meV/atom RMS, ([\d.]+) at most, "
                      r"against float32, and their forces by ([\d.]+) meV/Å on average, (\d+) at "
                      r"most", text)
    energy_rms, energy_max, force_mean, force_max = map(float, moved.groups())
    assert 0 < energy_rms <= energy_max < 5 and 0 < force_mean <= force_max
    assert "SevenNet" not in text  # --against with no names: CNNAS alone
    assert out.with_suffix(".png").stat().st_size > 10_000


def pytest_approx(value: float):
    """The table rounds to 0.1 ms and 0.01 in the slope."""
    return pytest.approx(value, rel=0.03, abs=0.15)


def tiny_run(tmp_path, model, *options: str) -> str:
    """The benchmark of `model` alone at the smallest settings; its table."""
    out = tmp_path / "performance.md"
    main(["--model", str(model), *options, "--against", "--max-atoms", "240", "--scan-frames",
          "4", "--repeats", "2", "--rounds", "1", "--size-repeats", "1", "--out", str(out)])
    return out.read_text()


def test_times_the_model_file_it_is_given(model_file, tmp_path):
    """--model replaces the bundled default (a 16×16-grid model here, raw in its file, averaged
    by --symmetrize) and the table says so."""
    text = tiny_run(tmp_path, model_file, "--symmetrize")
    assert f"'CNNAS default' is `{model_file}` here" in text
    assert len(re.findall(r"\| CNNAS default(, symmetrize=False)? \(16×16 grid", text)) == 2
    assert "CNNAS default is averaged over the cell's reflections" in text


def test_free_standing_model(sheet_model_file, tmp_path):
    """--free times the sheet model itself against the atom count, no extensive row."""
    text = tiny_run(tmp_path, sheet_model_file, "--free")
    assert f"## `{sheet_model_file}` against the atom count" in text
    assert "CNNAS extensive" not in text
    sizes = re.findall(r"^\| ([\d,]+) \| ([\d.]+) \| ([\d.]+) \|$", text, flags=re.M)
    assert [int(n.replace(",", "")) for n, _, _ in sizes] == [60, 240]
