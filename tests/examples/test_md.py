"""The MD examples run a short stretch on the bundled model and report what they promise: a
total energy that NVE conserves, a temperature that NVT holds near its target."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_example(name: str, tmp_path: Path, *argv: str) -> str:
    subprocess.run([sys.executable, str(ROOT / "examples" / f"{name}.py"), "--out", str(tmp_path),
                    "--device", "cpu", *argv], check=True, capture_output=True, cwd=ROOT)
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    return (tmp_path / f"{name}.md").read_text()


def test_nve_conserves_the_total_energy(tmp_path):
    text = run_example("md_nve", tmp_path, "--ps", "0.02", "--every", "5", "--temperature", "300")
    assert "| run | 0.02 ps = 40 steps of 0.5 fs |" in text
    excursion = float(re.search(r"largest excursion of the total energy \| ([\d.]+) meV/atom",
                                text)[1])
    assert excursion < 0.2  # forces are the energy's exact gradient; a 300 K sheet moves little
    assert 1.2 < float(re.search(r"smallest interatomic distance \| ([\d.]+)", text)[1]) < 1.5
    assert float(re.search(r"centre of mass \| at most (\S+) m/s", text)[1]) < 1e-6  # at rest


def test_nvt_reports_its_temperature(tmp_path):
    text = run_example("md_nvt", tmp_path, "--ps", "0.02", "--every", "5",
                       "--structure", "hbn_pristine")
    mean = float(re.search(r"mean temperature after the first fifth \| (\d+) K", text)[1])
    assert 100 < mean < 1500
    assert "| structure | hbn_pristine |" in text


def test_bad_structure_is_refused(tmp_path):
    with pytest.raises(subprocess.CalledProcessError) as err:
        run_example("md_nve", tmp_path, "--structure", "diamond")
    assert b"unknown structure 'diamond'" in err.value.stderr


def test_free_standing_nve(tmp_path, sheet_model_file):
    """--free: a model that sees heights runs a hexagonal sheet out of the plane, conserving the
    total energy, and reports how far the sheet ripples."""
    text = run_example("md_nve", tmp_path, "--ps", "0.02", "--every", "5", "--temperature", "300",
                       "--free", "--structure", "hbn_vacancy@hex4", "--model",
                       str(sheet_model_file))
    height = float(re.search(r"RMS height \(free-standing\) \| ([\d.]+) Å", text)[1])
    assert 1e-4 < height < 0.5
    excursion = float(re.search(r"largest excursion of the total energy \| ([\d.]+) meV/atom",
                                text)[1])
    assert excursion < 0.5


def test_free_standing_md_against_a_reference(tmp_path, sheet_model_file):
    """md_free.py: two short runs of the same sheet (the random-weight sheet model and LJ as its
    'reference'), then the report compares their ⟨h²⟩ and RDF; energy conserved, sheet intact."""
    from conftest import LJ

    script = ROOT / "examples" / "md_free.py"
    common = ["--structure", "hbn_pristine@hex3", "--temperature", "300", "--ps", "0.01",
              "--equilibrate", "0.002", "--every", "2", "--out", str(tmp_path)]
    subprocess.run([sys.executable, str(script), "run", "--model", str(sheet_model_file),
                    "--device", "cpu", *common], check=True, capture_output=True, cwd=ROOT)
    subprocess.run([sys.executable, str(script), "run", "--calculator", LJ, *common],
                   check=True, capture_output=True, cwd=ROOT)
    subprocess.run([sys.executable, str(script), "report", "--out", str(tmp_path)], check=True,
                   capture_output=True, cwd=ROOT)
    text = (tmp_path / "md_free.md").read_text()
    row = next(line for line in text.splitlines() if "| CNNAS (" in line and "| 18 |" in line)
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert abs(float(cells[5])) < 0.5 and cells[7] == "0 (0)"  # drift (meV/atom), bond changes
    assert "| hbn_pristine@hex3 | 300 | CNNAS (" in text  # compared with the reference
    assert (tmp_path / "md_free.png").stat().st_size > 10_000


@pytest.mark.parametrize("friction", [0.0, 0.05])
def test_free_standing_md_resumes_on_the_same_trajectory(tmp_path, monkeypatch, friction):
    """md_free.py checkpoints every CHUNK steps: a run killed after its second chunk and started
    again with the same command ends where the straight run does (NVE, and Langevin, whose noise
    goes on from the checkpoint), and leaves no checkpoint."""
    import argparse
    import json

    from conftest import LJ

    sys.path.insert(0, str(ROOT / "examples"))
    import md_free

    monkeypatch.setattr(md_free, "CHUNK", 6)

    def args(out: Path) -> argparse.Namespace:
        return argparse.Namespace(structure="hbn_pristine@hex3", calculator=LJ, model="default",
                                  device="cpu", temperature=300.0, ps=0.01, timestep=0.5,
                                  equilibrate=0.002, every=2, seed=3, out=out, free=True,
                                  friction=friction)

    md_free.simulate(args(tmp_path / "straight"))
    calls, real_run = [], md_free.run

    def killed_after_two(*a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_run(*a, **kw)

    monkeypatch.setattr(md_free, "run", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        md_free.simulate(args(tmp_path / "resumed"))
    part = md_free.checkpoint_path(args(tmp_path / "resumed"))
    assert json.loads(part.read_text())["steps"] == 12
    monkeypatch.setattr(md_free, "run", real_run)
    changed = args(tmp_path / "resumed")
    changed.seed = 4
    with pytest.raises(SystemExit, match="--seed 3 -> 4"):
        md_free.simulate(changed)
    md_free.simulate(args(tmp_path / "resumed"))
    name = "hbn_pristine@hex3_300K_" + LJ + ".json"
    straight, resumed = (json.loads((tmp_path / d / name).read_text())
                         for d in ("straight", "resumed"))
    assert len(resumed["t"]) == len(straight["t"]) == 11
    assert resumed["t"] == straight["t"]
    np.testing.assert_allclose(resumed["etot"], straight["etot"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(resumed["rdf"], straight["rdf"], rtol=0, atol=1e-12)
    assert resumed["h2"] == pytest.approx(straight["h2"], abs=1e-14)
    assert not part.exists()


def test_ensemble_averages_the_seeds(tmp_path):
    """md_free.py ensemble: ⟨h²⟩/T̄ of each calculator averaged over the seeds' runs, with its
    standard error, and the difference from the reference's mean."""
    import json

    runs = {"7net-0": [(0.020, 1000.0), (0.030, 1000.0)],
            "CNNAS (default)": [(0.016, 800.0), (0.024, 800.0), (0.020, 1000.0)]}
    for calc, values in runs.items():
        for seed, (h2, temperature) in enumerate(values):
            folder = tmp_path / f"seed{seed}"
            folder.mkdir(exist_ok=True)
            (folder / f"graphene_pristine_1000K_{calc[:5]}.json").write_text(json.dumps(
                {"structure": "graphene_pristine", "temperature_start": 1000.0, "ps": 2.5,
                 "calculator": calc, "h2": h2, "mean_T": temperature,
                 "drift_mev_per_atom": 0.01 * (seed + 1), "bond_changes": 0}))
    (tmp_path / "seed0" / "graphene_pristine_300K_7net-0.part.json").write_text("{}")
    h2_t = [9.0, 9.0, 0.010, 0.010, 0.012, 0.012, 0.014, 0.014, 0.016, 0.016, 0.018, 0.018]
    (tmp_path / "seed0" / "graphene_pristine_1000K_langevin.json").write_text(json.dumps(
        {"structure": "graphene_pristine", "temperature_start": 1000.0, "ps": 6, "friction": 0.02,
         "calculator": "7net-0", "h2": 0.014, "mean_T": 1000.0, "equilibrate_ps": 0.2,
         "t": [0.1 * i for i in range(12)], "h2_t": h2_t, "drift_mev_per_atom": 5.0,
         "bond_changes": 0}))
    subprocess.run([sys.executable, str(ROOT / "examples" / "md_free.py"), "ensemble", "--out",
                    str(tmp_path)], check=True, capture_output=True, cwd=ROOT)
    text = (tmp_path / "md_ensemble.md").read_text()
    # 7net-0: 20 and 30 (10⁻⁶ Å²/K), mean 25 ± 5; CNNAS: 20, 30, 20, mean 23.33 ± 3.33
    assert "| 7net-0 | 2 × 2.5 ps | 25.00 ± 5.00 | 20.00–30.00 | 0.020 | 0 |" in text
    assert "| CNNAS (default) | 3 × 2.5 ps | 23.33 ± 3.33 | 20.00–30.00 | 0.030 | 0 |" in text
    error = 23.33 / 25 * np.hypot(3.333 / 23.33, 5 / 25) * 100
    assert f"| CNNAS (default) | 7net-0 | -6.7 ± {error:.1f} % |" in text
    # one Langevin run: its error from five stretches after 0.2 ps (means 10, 12, …, 18), no drift
    sem = np.std([10, 12, 14, 16, 18], ddof=1) / np.sqrt(5)
    assert (f"| 7net-0 | 1 × 6 ps, Langevin 0.02/fs | 14.00 ± {sem:.2f} | 14.00–14.00 | — | 0 |"
            in text)
