"""The ablation tables: every variant of a set trained and scored, one row each."""
from __future__ import annotations

import re

from training.experiments.ablation import INGREDIENTS, main


def test_ingredients_table(lj_data, tmp_path):
    out = tmp_path / "ablation.md"
    main(["--set", "ingredients", "--data", str(lj_data), "--grid", "16", "--epochs", "1",
          "--unseen", str(lj_data), "--runs", str(tmp_path / "runs"), "--out", str(out)])
    text = out.read_text()
    assert text.startswith("# Network 2 ablation (ingredients)")
    assert "| translated: energy MAE | unseen: frames | force MAE" in text  # a column per file
    rows = {line.split(" | ")[0][2:]: line.split(" | ")[1:] for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| variant")}
    for name in INGREDIENTS:
        mae, moved, unseen, force, mismatch = rows[name]
        assert min(float(mae), float(moved), float(unseen)) > 0 and float(force) >= 0
    assert len(list((tmp_path / "runs").glob("variant*/best.pt"))) == len(INGREDIENTS)
    assert len(re.findall(r"^\| baseline", text, flags=re.M)) == 2
