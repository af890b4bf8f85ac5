"""The training distribution a model file records: over its training frames, widened by the
geometry (not the energies) of the frames it was pretrained on."""
from __future__ import annotations

import numpy as np
from conftest import make_sheet_model

from ase_cnnas.modelfile import read_metadata, save_model
from training.distribution import main
from training.h5data import read_frames, write_frames


def test_geometry_widens_the_ranges_not_the_energies(tmp_path, lj_data):
    model = make_sheet_model()
    model.metadata["data"] = {"split": {"name": "random", "seed": 0}}
    path = tmp_path / "m.pt"
    save_model(model, path)
    frames = read_frames(lj_data)
    squeezed = frames.subset(np.arange(2))
    squeezed.positions[1] = squeezed.positions[0] + [0.9, 0, 0.4]  # a pair 0.98 Å apart
    squeezed.energy[:] += 1e3  # another energy zero: must not count
    write_frames(tmp_path / "pre.h5", squeezed)
    main(["--model", str(path), "--data", str(lj_data), "--out", str(tmp_path / "a.pt")])
    main(["--model", str(path), "--data", str(lj_data), "--geometry", str(tmp_path / "pre.h5"),
          "--out", str(tmp_path / "b.pt")])
    alone, wide = (read_metadata(tmp_path / f"{x}.pt")["distribution"] for x in "ab")
    assert wide["frames"] == alone["frames"] + 2
    assert wide["energy_per_atom"] == alone["energy_per_atom"]
    assert wide["closest_distance"][0] < 1.0 < alone["closest_distance"][0]
    assert wide["height"][1] >= alone["height"][1] and wide["height"][1] > 0.1
    assert set(wide) == set(alone) >= {"spacing_min", "spacing_max", "image_peak"}
