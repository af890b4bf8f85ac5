"""The settings table: each setting against the tight one, cached so that a rerun only writes."""
from __future__ import annotations

import re

import pytest
from conftest import LJ

from training.experiments import dft_convergence


def test_table_against_the_tight_setting(lj_data, tmp_path):
    out = tmp_path / "conv.md"
    argv = [str(lj_data), "--frames", "0", "3", "9", "--reference", LJ, "--settings", LJ,
            "conftest:SoftLJ", "--out", str(out)]
    dft_convergence.main(argv)
    text = out.read_text()
    same = re.search(rf"\| `{re.escape(LJ)}` \| \d+ \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", text)
    assert (float(same[1]), float(same[2]), float(same[3])) == (0.0, 0.0, 1.0)
    soft = re.search(r"\| `conftest:SoftLJ` \| \d+ \| [\d.]+ \| [\d.]+ \| ([\d.]+) \|", text)
    assert float(soft[1]) == pytest.approx(0.5, abs=1e-3)  # half the forces
    cache = out.with_suffix(".json").read_text()
    dft_convergence.main(argv)  # from the cache: the same table
    assert out.read_text().split("Command:")[0] == text.split("Command:")[0]
    assert out.with_suffix(".json").read_text() == cache
