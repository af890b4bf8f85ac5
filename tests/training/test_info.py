"""`cnnas data info`: the summary and the histogram."""
from __future__ import annotations

from training.cli import main
from training.h5data import read_frames
from training.info import compositions


def test_info_reports_and_plots(lj_data, tmp_path, capsys):
    plot = tmp_path / "e.png"
    assert main(["data", "info", str(lj_data), "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("18 frames, 1080 atoms, methods: ase.calculators.lj:LennardJones (18)")
    assert "       9" in out and "B30N30" in out and "C60" in out and "sheets/hbn_pristine" in out
    assert "0 atoms without forces" in out
    assert plot.stat().st_size > 10_000 and plot.read_bytes()[:4] == b"\x89PNG"


def test_compositions(lj_data):
    assert sorted(set(compositions(read_frames(lj_data)))) == ["B30N30", "C60"]


def test_info_on_a_bad_file(tmp_path, capsys):
    (tmp_path / "x.h5").write_text("not hdf5")
    assert main(["data", "info", str(tmp_path / "x.h5")]) == 2
    assert "cannot be read as HDF5" in capsys.readouterr().err
