"""Streaming batches from HDF5: every frame once per epoch, reshuffled per epoch, DataLoader
workers, translation, and batches the model can eat."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from training.batches import model_inputs, to_device
from training.h5data import read_frames
from training.loader import FrameStream, make_loader


def seen(loader) -> list[float]:
    return [e for b in loader for e in b["energy"].tolist()]


@pytest.mark.parametrize("workers", [0, 2])
def test_every_frame_once_per_epoch(lj_data, workers):
    frames = read_frames(lj_data)
    index = np.array([0, 1, 2, 4, 5, 7, 8, 9, 11, 12, 15, 17])
    loader = make_loader(lj_data, index, batch=3, workers=workers, chunk=4, pool=2)
    energies = seen(loader)
    assert sorted(energies) == sorted(frames.energy[index].tolist())
    assert len(loader) == 4


def test_batches_match_the_file(lj_data):
    frames = read_frames(lj_data)
    for b in FrameStream(lj_data, np.arange(len(frames)), batch=5, chunk=6):
        assert b["n_frames"] == len(b["energy"]) <= 5
        for k in range(b["n_frames"]):
            i = int(np.flatnonzero(frames.energy == b["energy"][k].item())[0])
            a, e = frames.offsets[i:i + 2]
            mine = (b["frame"] == k).numpy()
            np.testing.assert_array_equal(b["positions"][mine].numpy(), frames.positions[a:e])
            np.testing.assert_array_equal(b["forces"][mine].numpy(), frames.forces[a:e])
            np.testing.assert_array_equal(b["numbers"][mine].numpy(), frames.numbers[a:e])
            np.testing.assert_array_equal(b["cells"][k].numpy(), frames.cell[i])


def test_shuffled_per_epoch_and_seeded(lj_data):
    stream = FrameStream(lj_data, np.arange(18), batch=4, chunk=3, pool=3, seed=1)
    first = seen(stream)
    assert seen(stream) == first  # same epoch, same order
    stream.set_epoch(1)
    assert seen(stream) != first and sorted(seen(stream)) == sorted(first)
    assert seen(FrameStream(lj_data, np.arange(18), batch=4, shuffle=False)) == \
        read_frames(lj_data).energy.tolist()


def test_translate_moves_frames_not_labels(lj_data):
    plain = next(iter(FrameStream(lj_data, np.arange(18), batch=18, seed=2)))
    moved = next(iter(FrameStream(lj_data, np.arange(18), batch=18, seed=2,
                                  augment=("translate",))))
    assert torch.equal(plain["energy"], moved["energy"])
    shift = moved["positions"] - plain["positions"]
    assert shift[:, :2].abs().max() > 0.1 and shift[:, 2].abs().max() == 0


def test_mirrored_frames_keep_their_labels_exactly(lj_data):
    """Reflections of the rectangular cell are symmetries: the reference gives the mirrored frame
    the same energy and the mirrored forces."""
    from ase.calculators.lj import LennardJones

    frames = read_frames(lj_data)
    flipped = frames.mirrored(np.random.default_rng(3))
    moved = 0
    for i in range(len(frames)):
        atoms = flipped.atoms(i)
        moved += not np.allclose(atoms.positions, frames.atoms(i).positions)
        atoms.calc = LennardJones()
        assert atoms.get_potential_energy() == pytest.approx(frames.energy[i], rel=1e-10)
        np.testing.assert_allclose(atoms.get_forces(), flipped.atoms(i).get_forces(), atol=1e-9)
    assert moved >= len(frames) // 2  # three of the four choices move a frame


def test_augmentations_checked(lj_data):
    with pytest.raises(ValueError, match=r"unknown augmentation \['rotate'\]; choose from"):
        FrameStream(lj_data, np.arange(18), batch=4, augment=("rotate",))


def test_oblique_cells_are_mirrored_with_their_frames(tmp_path):
    """A hexagonal cell's mirror image lies in the mirrored cell: the same energy, mirrored
    forces, by the reference itself."""
    from ase.build import graphene
    from ase.calculators.lj import LennardJones
    from ase.io import write

    from training.importer import read_file

    atoms = graphene("BN", a=2.5, size=(3, 3, 1), vacuum=4)
    atoms.rattle(0.05, seed=1)
    atoms.calc = LennardJones()
    atoms.get_forces()
    write(tmp_path / "hex.extxyz", [atoms] * 8)
    frames, _ = read_file(tmp_path / "hex.extxyz")
    flipped = frames.mirrored(np.random.default_rng(2))
    assert len({tuple(c.ravel()) for c in flipped.cell}) > 1
    for i in range(len(flipped)):
        mirror = flipped.atoms(i)
        forces = mirror.get_forces()
        mirror.calc = LennardJones()
        # extxyz keeps positions to 8 decimals: labels agree to ~1e-9 of themselves
        assert mirror.get_potential_energy() == pytest.approx(frames.energy[i], rel=1e-8)
        np.testing.assert_allclose(mirror.get_forces(), forces, atol=1e-7)


def test_feeds_the_model(lj_data, model_file):
    from ase_cnnas.modelfile import load_model

    model = load_model(model_file)
    b = to_device(next(iter(make_loader(lj_data, np.arange(18), batch=6))), "cpu")
    energy = model(*model_inputs(b))
    assert energy.shape == (6,) and torch.isfinite(energy).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_pinned_batches_reach_the_gpu(lj_data, model_file):
    from ase_cnnas.modelfile import load_model

    b = next(iter(make_loader(lj_data, np.arange(18), batch=6, device="cuda", shuffle=False)))
    assert b["positions"].is_pinned()
    cpu_model, gpu_model = load_model(model_file), load_model(model_file).to("cuda")
    gpu = gpu_model(*model_inputs(to_device(b, "cuda")))
    torch.testing.assert_close(gpu.cpu(), cpu_model(*model_inputs(b)), rtol=0, atol=1e-4)
