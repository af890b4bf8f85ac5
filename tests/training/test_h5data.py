"""HDF5 frames files: round trip, atomic write, and DataFileError for every bad file."""
from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest
from conftest import truncated_copy

from ase_cnnas.files import temp_path
from training.h5data import (
    FORMAT_VERSION,
    UNITS,
    DataFileError,
    Frames,
    append_frames,
    frame_count,
    read_columns,
    read_frames,
    read_split,
    write_frames,
    write_split,
)

PROVENANCE = {"generator": "test", "runs": 2}


def make_frames(natoms=(3, 5, 4), seed=0) -> Frames:
    rng = np.random.default_rng(seed)
    n_atoms, n_frames = sum(natoms), len(natoms)
    return Frames(numbers=rng.choice([5, 6, 7], n_atoms), positions=rng.normal(size=(n_atoms, 3)),
                  forces=rng.normal(size=(n_atoms, 3)), natoms=np.array(natoms),
                  energy=rng.normal(-500, 5, n_frames), cell=rng.normal(size=(n_frames, 3, 3)),
                  pbc=np.tile([True, True, False], (n_frames, 1)),
                  structure=np.array(["graphene_pristine", "hbn_vacancy",
                                      "heterostructure_stone_wales"][:n_frames]),
                  trajectory=np.arange(n_frames) * 7, stress=rng.normal(size=(n_frames, 6)),
                  source=np.array(["a/OUTCAR", "b.xyz", "a/OUTCAR"][:n_frames], dtype=object),
                  frame_index=np.arange(n_frames) + 3,
                  method=np.array(["VASP"] * n_frames, dtype=object),
                  labels={"distance": rng.uniform(1, 3, n_frames)})


FIELDS = ("numbers", "positions", "forces", "natoms", "energy", "cell", "pbc", "structure",
          "trajectory", "stress", "source", "frame_index", "method", "hash")


def assert_frames_equal(a: Frames, b: Frames):
    for k in FIELDS:
        x, y = getattr(a, k), getattr(b, k)
        assert x.shape == y.shape, k
        assert (x == y).all(), k  # bit-exact
    assert a.labels.keys() == b.labels.keys()
    for k in a.labels:
        assert (a.labels[k] == b.labels[k]).all(), k


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "frames.h5"
    write_frames(path, make_frames(), PROVENANCE)
    return path


def test_round_trip(tmp_path, data_file):
    frames = read_frames(data_file)
    assert_frames_equal(frames, make_frames())
    assert list(frames.structure) == ["graphene_pristine", "hbn_vacancy",
                                      "heterostructure_stone_wales"]
    assert frames.numbers.dtype.kind == "i" and frames.pbc.dtype == bool
    assert json.loads(frames.attrs["provenance"]) == [{**PROVENANCE, "added": 3}]
    assert len(frames) == 3
    assert not list(tmp_path.glob("*.tmp"))  # no temporary file left behind
    with h5py.File(data_file) as f:
        assert json.loads(f.attrs["units"]) == UNITS
        assert f.attrs["format_version"] == FORMAT_VERSION


def test_provenance_counts_repeated_appends_into_one_entry(data_file):
    """Appends made the same way (a generator's flushes, a resumed run) add to the last entry's
    count; another way of making frames starts a new entry."""
    append_frames(data_file, make_frames((2, 2), seed=1), PROVENANCE)
    append_frames(data_file, make_frames((3,), seed=2), {"generator": "other"})
    append_frames(data_file, make_frames((4,), seed=3), {"generator": "other"})
    assert json.loads(read_frames(data_file).attrs["provenance"]) == [
        {**PROVENANCE, "added": 5}, {"generator": "other", "added": 2}]


def test_overwrite(tmp_path, data_file):
    write_frames(data_file, make_frames((2, 2), seed=1), {})
    assert_frames_equal(read_frames(data_file), make_frames((2, 2), seed=1))
    assert not temp_path(data_file).exists()


def test_every_write_is_synced_to_disk(data_file, monkeypatch):
    """The new file is fsynced before it is renamed over the old one, and the folder after."""
    synced = []  # inode numbers
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.fstat(fd).st_ino))
    append_frames(data_file, make_frames((2, 2), seed=1))
    assert synced == [data_file.stat().st_ino, data_file.parent.stat().st_ino]


def test_subset_and_concatenate():
    frames = make_frames()
    assert list(frames.offsets) == [0, 3, 8, 12]
    sub = frames.subset(np.array([2, 0]))
    assert list(sub.natoms) == [4, 3]
    np.testing.assert_array_equal(sub.positions,
                                  np.concatenate([frames.positions[8:12], frames.positions[:3]]))
    np.testing.assert_array_equal(sub.energy, frames.energy[[2, 0]])
    assert len(frames.subset(np.array([], dtype=int))) == 0
    whole = Frames.concatenate([frames.subset(np.array([0])), frames.subset(np.array([1, 2]))])
    assert_frames_equal(whole, frames)


def test_atoms_carries_positions_and_labels():
    frames = make_frames()
    atoms = frames.atoms(1)
    a, b = frames.offsets[1:3]
    assert len(atoms) == 5
    np.testing.assert_array_equal(atoms.positions, frames.positions[a:b])
    np.testing.assert_array_equal(atoms.numbers, frames.numbers[a:b])
    assert atoms.get_potential_energy() == frames.energy[1]
    np.testing.assert_array_equal(atoms.get_forces(), frames.forces[a:b])


def test_translated_shifts_each_frame_in_plane_only():
    frames = make_frames()
    moved = frames.translated(np.random.default_rng(0))
    shift = moved.positions - frames.positions
    assert np.all(shift[:, 2] == 0)
    for a, b in zip(frames.offsets[:-1], frames.offsets[1:]):  # one rigid shift per frame
        np.testing.assert_allclose(shift[a:b], np.broadcast_to(shift[a], (b - a, 3)), atol=1e-12)
    assert not np.allclose(shift[0], shift[frames.offsets[1]])
    np.testing.assert_array_equal(moved.energy, frames.energy)


def test_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="no such data file"):
        read_frames(tmp_path / "nothing.h5")


def test_not_hdf5(tmp_path):
    path = tmp_path / "text.h5"
    path.write_text("energy,forces\n1,2\n")
    with pytest.raises(DataFileError, match="cannot be read as HDF5"):
        read_frames(path)


def test_truncated(tmp_path, data_file):
    (tmp_path / "cut").mkdir()
    with pytest.raises(DataFileError, match="cannot be read as HDF5"):
        read_frames(truncated_copy(data_file, tmp_path / "cut"))


def edited(data_file, edit):
    with h5py.File(data_file, "a") as f:
        edit(f)
    return data_file


def test_other_hdf5_file(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(DataFileError, match="not an ase-cnnas frames file"):
        read_frames(path)


def test_missing_units(data_file):
    edited(data_file, lambda f: f.attrs.__delitem__("units"))
    with pytest.raises(DataFileError, match="units missing"):
        read_frames(data_file)


def test_other_units(data_file):
    edited(data_file, lambda f: f.attrs.__setitem__(
        "units", json.dumps({**UNITS, "energy": "kcal/mol"})))
    with pytest.raises(DataFileError, match="units missing or not"):
        read_frames(data_file)


def test_newer_format_version(data_file):
    edited(data_file, lambda f: f.attrs.__setitem__("format_version", FORMAT_VERSION + 1))
    with pytest.raises(DataFileError, match=f"format version {FORMAT_VERSION + 1} is newer"):
        read_frames(data_file)


@pytest.mark.parametrize("dataset", ["forces", "structure", "natoms"])
def test_missing_dataset(data_file, dataset):
    edited(data_file, lambda f: f.__delitem__(dataset))
    with pytest.raises(DataFileError, match=f"damaged, .*{dataset}.* is missing"):
        read_frames(data_file)


def test_defaults_and_hash():
    rng = np.random.default_rng(0)
    frames = Frames(numbers=np.array([6, 6]), positions=rng.normal(size=(2, 3)),
                    natoms=np.array([2]), energy=np.array([-1.0]), cell=np.eye(3)[None] * 5,
                    pbc=np.ones((1, 3), bool))
    assert np.isnan(frames.forces).all() and np.isnan(frames.stress).all()
    assert frames.source[0] == "" and frames.frame_index[0] == 0 and len(frames.hash[0]) == 32
    moved = Frames(numbers=frames.numbers, positions=frames.positions + 1e-9, natoms=frames.natoms,
                   energy=frames.energy, cell=frames.cell, pbc=frames.pbc)
    assert moved.hash[0] != frames.hash[0]  # the hash sees every bit of the geometry
    assert set(frames.atoms(0).calc.results) == {"energy"}  # NaN labels are not passed on


def test_append_skips_frames_already_there(tmp_path):
    path = tmp_path / "x.h5"
    frames = make_frames(seed=2)
    assert append_frames(path, frames.subset(np.array([0, 2]))) == 2
    assert append_frames(path, frames) == 1  # frames 0 and 2 are there already
    assert append_frames(path, frames) == 0
    doubled = Frames.concatenate([frames.subset(np.array([1])), frames.subset(np.array([1]))])
    assert append_frames(tmp_path / "y.h5", doubled) == 1  # repeats within one append too
    assert_frames_equal(read_frames(path), frames.subset(np.array([0, 2, 1])))
    assert frame_count(path) == 3
    assert not list(tmp_path.glob("*.tmp"))


def test_read_a_range(data_file):
    assert_frames_equal(read_frames(data_file, 1, 3), make_frames().subset(np.array([1, 2])))


def test_read_columns_without_the_atoms(data_file):
    col = read_columns(data_file, ("structure", "trajectory", "energy"))
    whole = read_frames(data_file)
    assert set(col) == {"structure", "trajectory", "energy", "provenance"}
    for key in ("structure", "trajectory", "energy"):
        np.testing.assert_array_equal(col[key], getattr(whole, key))
    assert col["provenance"] == whole.attrs["provenance"]


def test_append_without_the_files_labels(data_file):
    frames = make_frames((2,), seed=5)
    frames.labels = {}
    with pytest.raises(DataFileError, match="carry labels"):
        append_frames(data_file, frames)


def test_killed_append_leaves_the_file_as_it_was(data_file, monkeypatch):
    before = data_file.read_bytes()

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr("training.h5data._extend", crash)
    with pytest.raises(KeyboardInterrupt):
        append_frames(data_file, make_frames((2, 2), seed=9))
    assert data_file.read_bytes() == before
    assert not temp_path(data_file).exists()
    assert_frames_equal(read_frames(data_file), make_frames())


def test_splits_round_trip(data_file):
    write_split(data_file, "mine", {"train": [0], "validation": [], "test": [1, 2]}, {"seed": 1})
    split = read_split(data_file, "mine")
    assert [list(split[k]) for k in ("train", "validation", "test")] == [[0], [], [1, 2]]
    write_split(data_file, "mine", {"train": [2], "validation": [0], "test": [1]}, {})
    assert list(read_split(data_file, "mine")["train"]) == [2]
    with pytest.raises(DataFileError, match="no split named 'other'.*cnnas data split"):
        read_split(data_file, "other")
    with pytest.raises(ValueError, match="outside"):
        write_split(data_file, "bad", {"train": [5], "validation": [], "test": []}, {})


def test_reads_version_1(tmp_path):
    frames = make_frames()
    path = tmp_path / "v1.h5"
    with h5py.File(path, "w") as f:
        f.attrs.update(format="ase-cnnas-frames", format_version=1, reference="7net-0",
                       provenance=json.dumps({"timestep": 1.0}),
                       units=json.dumps({k: v for k, v in UNITS.items() if k != "stress"}))
        for key in ("numbers", "positions", "forces", "natoms", "energy", "cell", "pbc",
                    "trajectory"):
            f[key] = getattr(frames, key)
        f.create_dataset("structure", data=frames.structure.astype(object),
                         dtype=h5py.string_dtype())
    old = read_frames(path)
    np.testing.assert_array_equal(old.energy, frames.energy)
    assert set(old.method) == {"7net-0"} and set(old.source) == {"v1.h5"}
    assert list(read_frames(path, 1, 2).energy) == [frames.energy[1]]
    np.testing.assert_array_equal(read_columns(path, ("energy",))["energy"], frames.energy)
    with pytest.raises(DataFileError, match="cannot be appended to; convert it"):
        append_frames(path, frames)
