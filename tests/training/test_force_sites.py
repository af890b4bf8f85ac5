"""Where the force error lives: the site classes of built sheets, the summaries, the report."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ase_cnnas.modelfile import load_model
from ase_cnnas.sheets import build_sheet
from training.compare import compare
from training.evaluate import predict
from training.experiments.force_sites import CLASSES, main, site_classes, tables
from training.h5data import read_frames, write_frames
from training.importer import read_file
from training.splits import split_of
from training.train import train
from training.trainconfig import TrainConfig


@pytest.mark.parametrize("structure, counts", [
    ("graphene_pristine", [60, 0, 0, 0]),
    ("heterostructure_pristine", [48, 12, 0, 0]),  # the carbons of the two boundaries
    ("graphene_stone_wales", [44, 0, 16, 0]),  # two pentagons and two heptagons share 16 atoms
    ("hbn_vacancy", [47, 0, 9, 3]),  # 3 atoms lose a neighbour, 9 more border the 12-ring
])
def test_classes_of_built_sheets(structure, counts):
    cls, hops = site_classes(build_sheet(structure))
    assert np.bincount(cls, minlength=len(CLASSES)).tolist() == counts
    if counts[2] + counts[3]:
        assert (hops[cls >= 2] == 0).all() and (hops[cls < 2] > 0).all()
    else:
        assert (hops == -1).all()


def test_a_stretched_bond_makes_two_edge_atoms():
    atoms = build_sheet("graphene_pristine")
    d = atoms.get_all_distances(mic=True)
    a, b = np.argwhere((d > 1) & (d < 1.5))[0]
    shift = atoms.get_distance(a, b, mic=True, vector=True)
    atoms.positions[b] += 0.4 * shift / np.linalg.norm(shift)  # 1.42 → 1.82 Å: still bonded
    assert (site_classes(atoms)[0] == 0).all()
    atoms.positions[b] += 0.1 * shift / np.linalg.norm(shift)  # 1.92 Å: broken
    cls, hops = site_classes(atoms)
    assert set(np.flatnonzero(cls == 3)) == {a, b}
    assert hops[a] == hops[b] == 0 and hops.max() > 2 and (hops >= 0).all()


def test_tables_by_hand():
    sites = {"class": np.array([0, 0, 2, 3]), "hops": np.array([2, 1, 0, 0]),
             "error": np.array([10.0, 30.0, 50.0, 70.0]),
             "reference": np.array([1.0, 1.0, 2.0, 4.0])}
    t = tables(sites)
    assert t["class"]["hexagon sheet"] == {"atoms": 2, "force_mae": 20.0, "reference_rms": 1.0}
    assert t["class"][CLASSES[3]]["reference_rms"] == pytest.approx(4.0)
    assert CLASSES[1] not in t["class"]  # no atom: no row
    assert t["hops"]["0"] == {"atoms": 2, "force_mae": 60.0,
                              "reference_rms": pytest.approx(np.sqrt(10.0))}
    assert list(t["hops"]) == ["0", "1", "2"]


def test_report_on_five_frames(tmp_path):
    frames, _ = read_file(Path("tests/data/hbn_unseen_1000K_5frames.extxyz"), method="SevenNet-0")
    path = tmp_path / "hbn_five.h5"
    write_frames(path, frames)
    out = tmp_path / "new" / "sites.md"
    main([str(path), "--model", "flat", "--out", str(out)])  # in-plane errors, as flat's
    text = out.read_text()
    row = next(line for line in text.splitlines()
               if line.startswith("| hbn_five | hexagon sheet |"))
    atoms, mae = row.split("|")[3:5]
    whole = compare(load_model("flat", "cpu"), read_frames(path))["force_mae"]
    # every atom a hexagon's
    assert int(atoms) == 300 and float(mae) == pytest.approx(whole, abs=0.5)
    assert "| hbn_five | no defect in the frame | 300 |" in text
    assert out.with_suffix(".png").stat().st_size > 10_000


def test_frames_without_forces_are_refused(tmp_path):
    frames, _ = read_file(Path("tests/data/hbn_unseen_1000K_5frames.extxyz"), method="SevenNet-0")
    frames.forces[:60] = np.nan  # the first frame unlabelled
    path = tmp_path / "part.h5"
    write_frames(path, frames)
    out = tmp_path / "sites.md"
    with pytest.raises(SystemExit, match="60 atoms have no reference forces"):
        main([str(path), "--model", "flat", "--out", str(out)])  # in-plane errors, as flat's
    assert not out.exists()


def test_test_split_by_structure(lj_data, tmp_path):
    best = train(TrainConfig(lj_data, tmp_path / "run", grid=16, epochs=1, batch=4,
                             split="random"))
    frames, _ = read_file(Path("tests/data/hbn_unseen_1000K_5frames.extxyz"), method="SevenNet-0")
    unseen = tmp_path / "hbn_five.h5"
    write_frames(unseen, frames)
    out = tmp_path / "sites.md"
    main([str(unseen), "--model", str(best), "--test-split", str(lj_data), "--per-structure", "1",
          "--out", str(out)])
    model, data = load_model(best, "cpu"), read_frames(lj_data)
    test = split_of(model.metadata, lj_data, len(data))["test"]
    text = out.read_text()
    for structure in ("graphene_pristine", "hbn_pristine"):
        first = test[data.structure[test] == structure][:1]  # one frame: the first
        _, forces = predict(model, data, first, forces=True)
        a, b = data.offsets[first[0]:first[0] + 2]
        mae = np.abs(forces - data.forces[a:b])[:, :2].mean() * 1e3
        row = f"| test {structure} | hexagon sheet | {b - a} | {mae:.0f} |"
        assert row in text
    assert out.with_name("sites_test.png").stat().st_size > 10_000
    assert "`sites.png`, `sites_test.png`" in text


def test_no_frames_per_structure_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--test-split", "x.h5", "--per-structure", "0", "--out", str(tmp_path / "s.md")])
    assert "--per-structure 0: take at least one frame" in capsys.readouterr().err
    assert not (tmp_path / "s.md").exists()
