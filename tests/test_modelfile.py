"""Model files: round trip, and a clear ModelFileError for every kind of bad file."""
from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest
import torch
from conftest import (
    ELEMENT_ENERGY,
    ENERGY_MEAN,
    ENERGY_SCALE,
    GRID,
    IMAGE_SCALE,
    METADATA,
    evil_file,
    make_model,
    truncated_copy,
)

from ase_cnnas.files import replace_atomically, temp_path
from ase_cnnas.modelfile import (
    FORMAT,
    FORMAT_VERSION,
    ModelFileError,
    file_sha256,
    load_model,
    read_metadata,
    save_model,
)
from ase_cnnas.sheets import build_sheet

ROUND_TRIP_ATOL = 1e-12  # eV: same weights, same arithmetic


def sheet_inputs(structures=("graphene_pristine", "hbn_vacancy", "heterostructure_stone_wales")):
    """EnergyModel.forward arguments for a batch of rattled sheets."""
    rng = np.random.default_rng(0)
    frames = [build_sheet(s) for s in structures]
    for a in frames:
        a.positions[:, :2] += rng.normal(0, 0.05, (len(a), 2))
    pos = np.concatenate([a.positions for a in frames])
    return (torch.tensor(pos), torch.tensor(np.concatenate([a.numbers for a in frames])),
            torch.tensor(np.stack([a.cell.array for a in frames])),
            torch.tensor(np.repeat(np.arange(len(frames)), [len(a) for a in frames])), len(frames))


def test_round_trip_same_energies_and_metadata(tmp_path):
    model = make_model(seed=5)
    path = tmp_path / "m.pt"
    save_model(model, path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left behind
    loaded = load_model(path)
    assert not loaded.training  # eval mode
    inputs = sheet_inputs()
    with torch.no_grad():
        before, after = model(*inputs), loaded(*inputs)
    assert before.dtype == torch.float64 and before.shape == (3,)
    np.testing.assert_allclose(after.numpy(), before.numpy(), rtol=0, atol=ROUND_TRIP_ATOL)
    # the file rebuilds the same model
    assert loaded.network.config == model.network.config
    assert loaded.elements == sorted(ELEMENT_ENERGY)
    for z, e in ELEMENT_ENERGY.items():
        assert float(loaded.element_energy[z]) == e
    assert (loaded.energy_mean, loaded.energy_scale, loaded.image_scale) == (
        ENERGY_MEAN, ENERGY_SCALE, IMAGE_SCALE)
    assert (loaded.sigma, loaded.cutoff) == (model.sigma, model.cutoff)
    np.testing.assert_array_equal(loaded.cell, model.cell)
    assert loaded.metadata == METADATA
    meta = read_metadata(path)
    assert meta["network"]["grid"] == list(GRID)
    assert meta["elements"] == {str(z): e for z, e in ELEMENT_ENERGY.items()}
    assert meta["energy"] == {"mean": ENERGY_MEAN, "scale": ENERGY_SCALE, "unit": "eV"}
    assert meta["reference"] == METADATA["reference"]


def test_round_trip_other_weights_differ(tmp_path):
    """The round-trip check can fail: a model with other weights gives other energies."""
    save_model(make_model(seed=6), tmp_path / "m.pt")
    inputs = sheet_inputs()
    with torch.no_grad():
        diff = (load_model(tmp_path / "m.pt")(*inputs) - make_model(seed=5)(*inputs)).abs().max()
    assert diff > 1e-6


def test_overwrite_replaces_file(tmp_path):
    path = tmp_path / "m.pt"
    save_model(make_model(seed=1), path)
    save_model(make_model(seed=2), path)
    loaded = load_model(path)
    for (k, v), v2 in zip(loaded.state_dict().items(), make_model(seed=2).state_dict().values()):
        torch.testing.assert_close(v, v2, rtol=0, atol=0, equal_nan=True, msg=k)


def test_failed_save_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    """A write that dies half-way (disk full) went to temp_path, never to the file itself."""
    path = tmp_path / "m.pt"
    save_model(make_model(seed=1), path)
    before = path.read_bytes()
    written = []

    def half_then_fail(obj, f):
        written.append(f)
        f.write_bytes(before[:100])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        save_model(make_model(seed=2), path)
    assert written == [temp_path(path)]
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]


def test_save_syncs_the_file_then_its_folder(tmp_path, monkeypatch):
    """fsync of the new file before the rename (its bytes on disk), of the folder after (the
    rename on disk): a power cut leaves the old file or the new one, whole."""
    synced = []  # inode numbers
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_ino),
                                                 real_fsync(fd)))
    path = tmp_path / "sub" / "m.pt"
    save_model(make_model(), path)
    assert synced == [path.stat().st_ino, path.parent.stat().st_ino]


def test_a_killed_writers_temporary_file_is_replaced(tmp_path):
    path = tmp_path / "m.pt"
    temp_path(path).write_bytes(b"half a file from a killed run")
    save_model(make_model(seed=3), path)
    assert not temp_path(path).exists()
    load_model(path)


def test_a_writer_that_writes_nothing_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="wrote no file there"):
        replace_atomically(tmp_path / "x.txt", lambda tmp: None)
    assert not list(tmp_path.iterdir())


def test_file_sha256_is_of_the_files_bytes(model_file):
    assert file_sha256(model_file) == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert len(file_sha256("default")) == 64  # bundled names resolved
    with pytest.raises(ModelFileError, match="cannot read the model file"):
        file_sha256(model_file.with_name("nothing.pt"))


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "nothing.pt")


def test_random_bytes(tmp_path):
    path = tmp_path / "random.pt"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelFileError, match=str(path)):
        load_model(path)


def test_random_bytes_not_called_pickled_code(tmp_path):
    path = tmp_path / "random.pt"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ModelFileError, match="not a readable ase-cnnas model file"):
        load_model(path)


@pytest.mark.parametrize("content", [b"", b"hello world, not a model"], ids=["empty", "text"])
def test_empty_or_text_file(tmp_path, content):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="not a readable ase-cnnas model file"):
        load_model(path)


def test_truncated_file(tmp_path, model_file):
    with pytest.raises(ModelFileError, match="truncated or another format"):
        load_model(truncated_copy(model_file, tmp_path))


def test_dict_without_format_tag(tmp_path):
    path = tmp_path / "plain.pt"
    torch.save({"state_dict": make_model().state_dict(), "metadata": "{}"}, path)
    with pytest.raises(ModelFileError, match=f"no format='{FORMAT}' tag"):
        load_model(path)


def test_not_a_dict(tmp_path):
    path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), path)
    with pytest.raises(ModelFileError, match="not an ase-cnnas model file"):
        load_model(path)


def test_future_format_version(tmp_path, model_file):
    blob = torch.load(model_file, weights_only=True)
    assert blob["format_version"] == FORMAT_VERSION
    blob["format_version"] = 99
    path = tmp_path / "v99.pt"
    torch.save(blob, path)
    with pytest.raises(ModelFileError, match=r"version 99.*reads version 1"):
        load_model(path)
    with pytest.raises(ModelFileError, match="version 99"):
        read_metadata(path)


def test_metadata_and_weights_mismatch(tmp_path, model_file):
    """A hand-edited file whose metadata no longer fits its weights."""
    blob = torch.load(model_file, weights_only=True)
    meta = json.loads(blob["metadata"])
    meta["network"]["dense"] = 8
    blob["metadata"] = json.dumps(meta)
    path = tmp_path / "edited.pt"
    torch.save(blob, path)
    with pytest.raises(ModelFileError, match="do not fit together"):
        load_model(path)


def test_payload_is_live(tmp_path):
    """Sanity check of the attack below: an unsafe load does run the payload."""
    target = tmp_path / "pwned_unsafe"
    evil_file(tmp_path / "evil.pt", target)
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert target.exists()


def test_malicious_pickle_refused(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    evil_file(path, target)
    with pytest.raises(ModelFileError, match="refused to load.*pickled code"):
        load_model(path)
    with pytest.raises(ModelFileError, match="refused to load"):
        read_metadata(path)
    assert not target.exists()


@pytest.mark.parametrize("drop, metadata",
                         [("state_dict", "{}"), ("metadata", None), (None, "not json")],
                         ids=["no-state-dict", "no-metadata", "bad-json"])
def test_tagged_but_damaged(tmp_path, drop, metadata):
    blob = {"format": FORMAT, "format_version": FORMAT_VERSION, "metadata": metadata,
            "state_dict": {}}
    blob.pop(drop, None)
    path = tmp_path / "damaged.pt"
    torch.save(blob, path)
    with pytest.raises(ModelFileError, match="damaged"):
        load_model(path)


def test_pixel_head_saved_as_one_pixel_convolutions_still_loads(tmp_path):
    """Files written before the pixel head became matrix products on the channel-last view
    hold its weights as 1-pixel convolutions [out, in, 1, 1]; they load to the same model."""
    from ase_cnnas.model import EnergyModel
    from ase_cnnas.networks import network2_config
    torch.manual_seed(3)
    model = EnergyModel(network2_config(GRID, dense=8, head="pixel", padding="circular",
                                        activation="silu"),
                        cell=build_sheet("graphene_pristine").cell.array,
                        element_energy=ELEMENT_ENERGY, energy_scale=ENERGY_SCALE).eval()
    torch.nn.init.normal_(model.network.head[-1].weight)
    save_model(model, tmp_path / "new.pt")
    blob = torch.load(tmp_path / "new.pt", weights_only=True)
    heads = [k for k, v in blob["state_dict"].items()
             if k.startswith("network.head.") and v.dim() == 2]
    assert len(heads) == 2
    for k in heads:
        blob["state_dict"][k] = blob["state_dict"][k][:, :, None, None]
    torch.save(blob, tmp_path / "old.pt")
    inputs = sheet_inputs()
    with torch.no_grad():
        before, after = model(*inputs), load_model(tmp_path / "old.pt")(*inputs)
    np.testing.assert_allclose(after.numpy(), before.numpy(), rtol=0, atol=ROUND_TRIP_ATOL)
    assert np.ptp(before.numpy()) > 1e-3  # the head is not zero
