"""The leave-one-out study: one run per left-out type, that type never in training, scored."""
from __future__ import annotations

import re
import shutil

import numpy as np

from training.cli import main
from training.experiments import transfer
from training.h5data import read_frames, read_split


def test_each_type_left_out_and_scored(lj_data, sheet_model_file, tmp_path):
    data = tmp_path / "frames.h5"
    shutil.copy(lj_data, data)
    main(["data", "split", str(data), "--by", "random", "--name", "base", "--test", "0",
          "--validation", "0.4", "--seed", "1"])
    out = tmp_path / "transfer.md"
    transfer.main(["--data", str(data), "--split", "base", "--types", "hbn_pristine",
                   "--init", str(sheet_model_file), "--hours", "0.0003", "--batch", "4",
                   "--runs", str(tmp_path / "runs"), "--out", str(out)])
    parts = read_split(data, "base_without_hbn_pristine")
    frames = read_frames(data)
    assert not np.isin(frames.structure[parts["train"]], ["hbn_pristine"]).any()
    assert (frames.structure[parts["test"]] == "hbn_pristine").sum() == 9
    row = re.search(r"\| hbn_pristine \| 9 \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", out.read_text())
    assert float(row[3]) == float(f"{float(row[1]) / float(row[2]):.1f}")
    assert (tmp_path / "runs/hbn_pristine/best.pt").is_file()
