"""The PBE comparison: a calculator scored against its own labels is exact, a softer one shows its
slope, and a fixed-cell model scores only the frames in its cell."""
from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import LJ

from training.experiments import dft


def test_scores_calculators_and_models(lj_data, tmp_path, model_file, sheet_model_file):
    out = tmp_path / "dft.md"
    dft.main([str(lj_data), "--references", LJ, "conftest:SoftLJ",
              "--models", str(model_file), str(sheet_model_file), "--out", str(out)])
    text = out.read_text()
    exact = re.search(rf"\| {re.escape(LJ)} \| 18 \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", text)
    assert float(exact[1]) == pytest.approx(0, abs=1e-6) and float(exact[2]) == 0
    assert float(exact[3]) == pytest.approx(1.0)
    half = re.search(r"\| conftest:SoftLJ \| 18 \| [\d.]+ \| [\d.]+ \| "
                     r"([\d.]+) \|", text)
    assert float(half[1]) == pytest.approx(0.5, abs=1e-6)
    assert f"| CNNAS {sheet_model_file} | 18 |" in text  # any cell: every frame
    assert f"| CNNAS {model_file} | 18 |" in text  # the paper's cell, as the data
    assert (tmp_path / "dft.png").stat().st_size > 10_000
    assert f"r with {LJ} |" in text
    assert re.search(rf"\| {re.escape(LJ)} \| 18 \|[^\n]*\| – \|$", text, re.M)  # no errors: no r
    by_type = {(t, name): (float(mae), float(mean)) for t, name, mae, mean in re.findall(
        r"^\| (\S+) \| ([^|]+) \| \d+ \| ([\d.]+) \| ([-+][\d.]+) \|", text, re.M)}
    assert by_type and all(v == (0.0, 0.0) for (_, name), v in by_type.items() if name == LJ)
    assert f"By chain, for CNNAS {sheet_model_file}" in text
    chain_row = r"^\| \w+ \| [\d.]+ × [\d.]+ \| [\d.]+ \| \d+ \| [-+][\d.]+ \| [\d.]+ \|$"
    assert len(re.findall(chain_row, text, re.M)) == 2  # graphene and hBN, each in one cell
    soft = [v for (_, name), v in by_type.items() if name == "conftest:SoftLJ"]
    assert len(soft) == 2 and all(mae > 1 for mae, _ in soft)  # graphene, hBN: each type's
    assert all(abs(mean) < 0.01 for _, mean in soft)  # own elements' offsets absorb its mean


def test_error_correlation_with_the_first_calculator(lj_data, tmp_path):
    """r: the soft reference's energy errors against its own are 1; the exact one's, all zero,
    have none."""
    out = tmp_path / "dft.md"
    dft.main([str(lj_data), "--references", "conftest:SoftLJ", LJ, "--models", "--out", str(out)])
    text = out.read_text()
    assert re.search(r"^\| conftest:SoftLJ \| 18 \|[^\n]*\| 1.00 \|$", text, re.M)
    assert re.search(rf"^\| {re.escape(LJ)} \| 18 \|[^\n]*\| – \|$", text, re.M)



def test_chain_split_separates_offsets_from_scatter(lj_data):
    """Two chains (one structure in two cells): errors 1, 3 and −2, −2 meV/atom have chain
    offsets 2 and 2, and a scatter of 1, 1, 0, 0 about the chains' means."""
    from dataclasses import replace

    from training.h5data import read_frames

    frames = read_frames(lj_data).subset(np.arange(4))
    cell = frames.cell.copy()
    cell[2:] *= 1.03
    frames = replace(frames, cell=cell, structure=np.array(["sheet"] * 4))
    offset, scatter = dft.chain_split(frames, np.array([1.0, 3.0, -2.0, -2.0]))
    assert offset == pytest.approx(2.0) and scatter == pytest.approx(0.5)


def test_by_data_file(lj_data, tmp_path):
    """With two data files each calculator has a row per file: the exact reference's errors are
    zero in both, the soft one's are not."""
    import shutil

    second = tmp_path / "second.h5"
    shutil.copy(lj_data, second)
    out = tmp_path / "dft.md"
    dft.main([str(lj_data), str(second), "--references", LJ, "conftest:SoftLJ", "--models",
              "--out", str(out)])
    text = out.read_text().split("By data file")[1]
    rows = re.findall(r"^\| (\S+\.h5) \| ([^|]+) \| (\d+) \| ([\d.]+) \|", text, re.M)
    assert sorted((f, n) for f, n, _, _ in rows) == sorted(
        (str(p), name) for p in (lj_data, second) for name in (LJ, "conftest:SoftLJ"))
    assert all(int(k) == 18 for _, _, k, _ in rows)
    assert all((float(mae) == 0) == (name == LJ) for _, name, _, mae in rows)
