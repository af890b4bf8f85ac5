"""The ablation tables: every variant of a set trained and scored, one row each."""
from __future__ import annotations

import json
import re

import pytest

from training.experiments.ablation import INGREDIENTS, REPRESENTATIONS, main


def test_ingredients_table(lj_data, tmp_path):
    out = tmp_path / "ablation.md"
    main(["--set", "ingredients", "--data", str(lj_data), "--grid", "16", "--epochs", "1",
          "--unseen", str(lj_data), "--runs", str(tmp_path / "runs"), "--out", str(out)])
    text = out.read_text()
    assert text.startswith("# Network 2 ablation (ingredients)")
    assert "| translated: energy MAE | unseen: frames | force MAE" in text  # a column per file
    rows = {line.split(" | ")[0][2:]: line.rstrip(" |").split(" | ")[1:]
            for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| variant")}
    for i, name in enumerate(INGREDIENTS):
        mae, moved, unseen, force, mismatch, minutes, ms = rows[name]
        assert min(float(mae), float(moved), float(unseen)) > 0 and float(force) >= 0
        history = json.loads((tmp_path / "runs" / f"variant{i}" / "history.json").read_text())
        assert minutes == f"{history[-1]['seconds'] / 60:.1f}"  # the run's own training time
        assert float(ms) > 0
    assert len(list((tmp_path / "runs").glob("variant*/best.pt"))) == len(INGREDIENTS)
    assert len(re.findall(r"^\| baseline", text, flags=re.M)) == 2


def test_grid_table_trains_each_variant_on_its_own_grid(lj_data, tmp_path):
    """--set grid: the recipe on 1, 1.5 and 2 times --grid, each run on that grid, named by
    its pixel size."""
    out = tmp_path / "grid.md"
    main(["--set", "grid", "--data", str(lj_data), "--grid", "16", "--epochs", "1",
          "--runs", str(tmp_path / "runs"), "--out", str(out)])
    text = out.read_text()
    assert text.startswith("# Network 2 ablation (grid): same data, grid 16², 24², 32², 1 epochs")
    names = [line.split(" | ")[0][2:] for line in text.splitlines()
             if line.startswith("| production recipe")]
    assert [re.search(r"grid (\d+)²", n)[1] for n in names] == ["16", "24", "32"]
    for i, n in enumerate((16, 24, 32)):
        settings = json.loads((tmp_path / "runs" / f"variant{i}" / "settings.json").read_text())
        assert settings["grid"] == n
    assert (tmp_path / "grid_curves.png").stat().st_size > 0 and "`grid_curves.png`" in text


def test_grid_factors_and_seed_reach_every_run(lj_data, tmp_path):
    out = tmp_path / "grid.md"
    main(["--set", "grid", "--data", str(lj_data), "--grid", "16", "--epochs", "1", "--factors",
          "1", "2", "--seed", "3", "--runs", str(tmp_path / "runs"), "--out", str(out)])
    assert "grid 16², 32², 1 epochs" in out.read_text() and "seed 3" in out.read_text()
    for i, n in enumerate((16, 32)):
        settings = json.loads((tmp_path / "runs" / f"variant{i}" / "settings.json").read_text())
        assert (settings["grid"], settings["seed"]) == (n, 3)
    assert not (tmp_path / "runs" / "variant2").exists()
    with pytest.raises(SystemExit, match=r"ablation: .*variant0 holds .*\(--seed 3 -> 0\)"):
        main(["--set", "grid", "--data", str(lj_data), "--grid", "16", "--epochs", "1",
              "--runs", str(tmp_path / "runs"), "--out", str(out)])  # seed 0 into seed 3's runs


def test_default_paths_name_a_nonzero_seed(lj_data, tmp_path, monkeypatch):
    """Another seed's runs and table never overwrite seed 0's."""
    monkeypatch.chdir(tmp_path)
    main(["--set", "grid", "--data", str(lj_data), "--grid", "16", "--epochs", "1", "--factors",
          "1", "--seed", "2"])
    assert (tmp_path / "runs" / "ablation_grid_seed2" / "variant0" / "best.pt").is_file()
    assert "seed 2" in (tmp_path / "results" / "ablation_grid_seed2.md").read_text()


def test_factors_outside_the_grid_set_are_refused(lj_data, capsys):
    with pytest.raises(SystemExit):
        main(["--set", "ingredients", "--data", str(lj_data), "--factors", "1", "2"])
    assert "--factors picks the grids of --set grid" in capsys.readouterr().err


def test_representation_table_scores_z_forces_of_every_variant(lj_data, tmp_path):
    """--set representation: each variant starts from the flat --init model, free-standing
    frames; all are scored on x, y and z (the projected one takes z-forces for zero)."""
    from conftest import GRID, LJ

    from ase_cnnas import load_model
    from training.cli import main as cnnas
    from training.train import train
    from training.trainconfig import TrainConfig

    data = tmp_path / "free.h5"
    assert cnnas(["data", "sheets", "-o", str(data), "--structures", "graphene_pristine@hex3",
                  "hbn_vacancy@4x2", "--frames", "8", "--steps", "4", "--stride", "2", "--free",
                  "--reference", LJ, "--workers", "1"]) == 0
    flat = train(TrainConfig(lj_data, tmp_path / "flat", grid=GRID[0], epochs=1, batch=4,
                             head="pixel", padding="circular", copies=False, force_weight=1.0))
    out = tmp_path / "representation.md"
    main(["--set", "representation", "--data", str(data), "--init", str(flat), "--epochs", "1",
          "--batch", "4", "--runs", str(tmp_path / "runs"), "--out", str(out)])
    text = out.read_text()
    assert text.startswith(f"# Network 2 ablation (representation): same data, the pixels of "
                           f"{flat} (")
    rows = [line for line in text.splitlines() if line.startswith("| ")
            and line.split(" | ")[0][2:] in REPRESENTATIONS]
    assert len(rows) == len(REPRESENTATIONS)
    layers = [load_model(tmp_path / "runs" / f"variant{i}" / "best.pt").network.config
              for i in range(len(REPRESENTATIONS))]
    assert [(c.heights, c.height_layers) for c in layers] == [(False, 0), (True, 0), (True, 4)]
    for row in rows:
        force, ms = row.rstrip(" |").split(" | ")[-5], row.rstrip(" |").split(" | ")[-1]
        assert float(force) > 0 and float(ms) > 0
