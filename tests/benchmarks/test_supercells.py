"""The supercell study: a sheet laid on the model's own pixels gets one energy per atom whatever
supercell it is given as; strained, the supercells land on other pixels and the table shows the
spread (the random-weight sheet model, its pixels matched)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_supercell_table(tmp_path, sheet_model_file):
    from ase_cnnas.modelfile import load_model, save_model

    model = load_model(sheet_model_file)
    model.match_pixels = 0.01
    matched = tmp_path / "matched.pt"
    save_model(model, matched)
    out = tmp_path / "supercells.md"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "supercells.py"), "--models",
                    str(matched), "--structures", "graphene_pristine@hex1", "--strains", "0",
                    "0.02", "--out", str(out)], check=True, capture_output=True, cwd=tmp_path)
    rows = [line.strip("| ").split(" | ") for line in out.read_text().splitlines()
            if line.startswith("| graphene_pristine@hex1 |")]
    assert [r[1] for r in rows] == ["+0%", "+2%"]
    unstrained, stretched = rows
    assert float(unstrained[3]) < 1e-6 and unstrained[4] == "+0.0 … +0.0"  # the model's pixels
    assert float(stretched[3]) > 0.01 and stretched[4] != "+0.0 … +0.0"
    assert len(stretched[5].split(" / ")) == 5  # each supercell against the first
