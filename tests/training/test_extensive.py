"""The extensive-model experiment's mosaics: alignment onto the ideal sheet and tiling."""
from __future__ import annotations

import numpy as np
import pytest

from ase_cnnas.calculator import CNNASCalculator
from ase_cnnas.sheets import build_sheet
from training.experiments.extensive import aligned, mosaic, mosaics
from training.h5data import Frames


def thermal(name: str, rng: np.random.Generator, shift: bool = True):
    """The ideal sheet, rattled in the plane, moved by a random fraction of its cell and wrapped."""
    atoms = build_sheet(name)
    noise = rng.normal(0, 0.05, (len(atoms), 2))
    noise -= noise.mean(0)
    atoms.positions[:, :2] += noise
    if shift:
        atoms.positions[:, :2] += rng.uniform(0, 1, 2) @ atoms.cell.array[:2, :2]
        atoms.wrap()
    return atoms, noise


@pytest.mark.parametrize("name", ["graphene_vacancy", "heterostructure_stone_wales"])
def test_aligned_undoes_a_rigid_shift_and_the_wrapping(name):
    atoms, noise = thermal(name, np.random.default_rng(1))
    ideal = build_sheet(name)
    back = aligned(atoms, ideal)
    assert np.abs(back.positions[:, :2] - ideal.positions[:, :2] - noise).max() < 1e-3


def test_mosaic_of_one_frame_is_its_supercell_and_costs_four_times_its_energy():
    tile, _ = thermal("hbn_pristine", np.random.default_rng(2), shift=False)
    big = mosaic([tile] * 4, 2)
    rep = tile.repeat((2, 2, 1))
    assert np.allclose(big.cell.array, rep.cell.array)
    assert np.allclose(np.sort(big.positions, axis=0), np.sort(rep.positions, axis=0))
    calc = CNNASCalculator("extensive", device="cpu")
    assert calc.get_potential_energy(big) == pytest.approx(4 * calc.get_potential_energy(tile),
                                                           abs=1e-3)


def test_mosaics_use_distinct_test_frames_of_one_type_and_record_their_energy_sum():
    rng = np.random.default_rng(3)
    sheets = [thermal(name, rng)[0] for name in ["graphene_pristine"] * 6 + ["hbn_vacancy"] * 6]
    frames = Frames(numbers=np.concatenate([a.numbers for a in sheets]),
                    positions=np.concatenate([a.positions for a in sheets]),
                    natoms=np.array([len(a) for a in sheets]), energy=np.arange(12.0),
                    cell=np.array([a.cell.array for a in sheets]),
                    pbc=np.array([a.pbc for a in sheets]),
                    structure=np.array(["graphene_pristine"] * 6 + ["hbn_vacancy"] * 6,
                                       dtype=object))
    test = np.array([0, 1, 2, 3, 4, 6, 7, 8, 9])  # 5 graphene, 4 hBN frames
    out = mosaics(frames, test, 2, 3, seed=0)
    assert [a.info["structure"] for a in out] == ["graphene_pristine"] * 3 + ["hbn_vacancy"] * 3
    assert [len(a) for a in out] == [240] * 3 + [236] * 3
    for atoms in out[3:]:  # every hBN test frame once: energies 6 + 7 + 8 + 9
        assert atoms.info["tiles_energy"] == 30.0
    assert all(np.ptp(a.positions[:, 0]) > 20 for a in out)  # tiles side by side, not stacked
