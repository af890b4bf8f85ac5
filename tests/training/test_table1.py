"""The Table 1 experiment at smoke scale: rows train and score, out-of-range sets, baselines on
the same test frames, and the table and plots rebuilt from the stored results."""
from __future__ import annotations

import json

import numpy as np
import pytest

from training.experiments.table1 import ROWS, dimers, main


def test_energy_rows_store_the_pair_energy_as_a_label():
    frames = dimers("2d-energy-1-0.5", 50, [(-1, -0.5)], seed=0)
    np.testing.assert_array_equal(frames.labels["U"], frames.energy)
    assert frames.energy.min() >= -1 and frames.energy.max() <= -0.5


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("table1")
    main(["--scale", "smoke", "--rows", "2d-distance-1-2", "3d-distance-hole", "--baselines",
          "--runs", str(tmp / "runs"), "--out", str(tmp / "res" / "table1.md")])
    return tmp


def test_rows_and_out_of_range_sets(smoke):
    r = json.loads((smoke / "res/table1/smoke/3d-distance-hole.json").read_text())
    assert r["unit"] == "Å" and r["grid"] == 8 and np.isfinite(r["test_mae"])
    hole = r["extra"]["hole 1.67–2.33 Å"]
    assert 1.67 <= hole["true_range"][0] < hole["true_range"][1] <= 2.33
    assert len(r["points"]["test"][0]) == len(r["points"]["test"][1]) == round(0.3 * 120)


def test_baselines_scored_on_the_cnns_test_frames(smoke):
    b = json.loads((smoke / "res/table1/smoke/2d-distance-1-2.json").read_text())["baselines"]
    assert (b["train"], b["test"], b["features"]) == (70, 30, 16 * 16)
    assert {"random forest (200 trees, MSE)", "kernel ridge, linear (alpha 1)",
            "MLP (2 × 10 ReLU, Adam, lr 1e-3, 200 epochs)", "CNN (Network 1, this row)"} <= set(b)
    assert all(v > 0 for k, v in b.items())


def test_table_and_plots(smoke):
    text = (smoke / "res/table1.md").read_text()
    assert text.count("not run yet") == len(ROWS) - 2
    assert "| 2d-distance-1-2 | 0.000999 Å | **" in text and "Best baseline / CNN" in text
    for row in ("2d-distance-1-2", "3d-distance-hole"):
        for kind in ("parity", "loss"):
            assert (smoke / "res/table1" / f"{row}_{kind}.png").stat().st_size > 5000


def test_unknown_row():
    with pytest.raises(SystemExit):
        main(["--rows", "2d-distance-9-9", "--table-only"])


def test_variants_and_extra_models(tmp_path):
    main(["--scale", "smoke", "--rows", "2d-harmonic-1-3", "--grid", "8", "--sampling", "energy",
          "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "table1.md")])
    r = json.loads((tmp_path / "table1/smoke/2d-harmonic-1-3@grid8@energy-sampled.json")
                   .read_text())
    assert r["grid"] == 8 and r["variant"] == "grid8@energy-sampled"
    train = np.array(r["points"]["train"])
    assert 0 <= train.min() and train.max() <= 1  # U = (r − 2)² for 1 ≤ r ≤ 3
    text = (tmp_path / "table1.md").read_text()
    assert "| 2d-harmonic-1-3 (grid8@energy-sampled) | — | **" in text


def test_grid_study_at_equal_data_with_upscaled_images(tmp_path):
    main(["--scale", "smoke", "--study", "grid", "--runs", str(tmp_path / "runs"),
          "--out", str(tmp_path / "table1.md")])
    results = {p.stem: json.loads(p.read_text())
               for p in (tmp_path / "table1/smoke").glob("*.json")}
    assert set(results) == {"2d-energy-1-0@grid8@120img", "2d-energy-1-0@grid16@120img",
                            "2d-energy-1-0@grid16@from8@120img"}
    up = results["2d-energy-1-0@grid16@from8@120img"]
    assert (up["grid"], up["upsample"], up["study"]) == (16, 2, "grid")
    assert all(r["images"] == 120 and np.isfinite(r["test_rmse"]) for r in results.values())
    text = (tmp_path / "table1.md").read_text()
    assert "## Grid study" in text and "| smoke | 8² upscaled to 16² | 1.56 | **" in text
    assert text.count("not run yet") == len(ROWS)  # study runs are not Table 1 rows
    assert (tmp_path / "table1/grid_study.png").stat().st_size > 5000


def test_sampling_study_compares_rmse(tmp_path):
    for extra in ([], ["--sampling", "energy"]):
        main(["--scale", "smoke", "--rows", "2d-energy-1-0", *extra,
              "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "table1.md")])
    text = (tmp_path / "table1.md").read_text()
    plain, sampled = (json.loads((tmp_path / f"table1/smoke/{n}.json").read_text())
                      for n in ("2d-energy-1-0", "2d-energy-1-0@energy-sampled"))
    change = 100 * (sampled["test_rmse"] / plain["test_rmse"] - 1)
    assert set(plain["rmse_on"]) == set(sampled["rmse_on"]) == {"distance", "energy"}
    for r, tail in ((plain, ""), (sampled, f" ({change:+.0f} %)")):
        fresh = " | ".join(f"{r['rmse_on'][s]:.3g} ε" for s in ("distance", "energy"))
        assert (f"| 2d-energy-1-0 | smoke | {r['sampling']} | {r['test_rmse']:.3g} ε{tail} | "
                f"{fresh} |") in text
    assert plain["rmse_on"] != sampled["rmse_on"]  # two models, scored on the same fresh sets
    history = plain["history"]  # training time: the last epoch's running total
    assert plain["seconds"] == history[-1]["seconds"] > history[0]["seconds"] > 0


def test_finished_run_is_scored_not_retrained(smoke, monkeypatch):
    """A run whose history holds every epoch (its checkpoint gone, e.g. trained on a lent GPU)
    is only scored, and the row reports the machine it trained on."""
    run = smoke / "runs/smoke/3d-distance-hole/run"
    (run / "checkpoint.pt").unlink()
    settings = json.loads((run / "settings.json").read_text())
    settings["hardware"] = ["a lent GPU"]
    (run / "settings.json").write_text(json.dumps(settings))
    monkeypatch.setattr("training.experiments.table1.train",
                        lambda *a, **k: pytest.fail("retrained"))
    out = smoke / "rescored" / "table1.md"
    main(["--scale", "smoke", "--rows", "3d-distance-hole", "--runs", str(smoke / "runs"),
          "--out", str(out)])
    r = json.loads((out.parent / "table1/smoke/3d-distance-hole.json").read_text())
    first = json.loads((smoke / "res/table1/smoke/3d-distance-hole.json").read_text())
    assert r["hardware"] == "a lent GPU" and r["scored_on"] != "a lent GPU"
    assert r["test_mae"] == pytest.approx(first["test_mae"], rel=1e-6)
    assert r["history"] == first["history"]
