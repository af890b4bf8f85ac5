"""Batched scanning gives what the calculator gives frame by frame, whatever the batch size and
however many atoms each frame has; bad frames are named."""
from __future__ import annotations

import numpy as np
import pytest
from ase.calculators.calculator import CalculatorSetupError

from ase_cnnas import CNNASCalculator
from ase_cnnas.checks import check_atoms
from ase_cnnas.modelfile import load_model
from ase_cnnas.scan import _suspects, check_frames, scan
from ase_cnnas.sheets import build_sheet


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(0)
    out = []
    for name in ("graphene_vacancy", "hbn_pristine", "heterostructure_stone_wales", "hbn_vacancy"):
        atoms = build_sheet(name)
        atoms.positions[:, :2] += rng.normal(0, 0.05, (len(atoms), 2))
        out.append(atoms)
    return out


@pytest.mark.parametrize("batch", [1, 3, 64])
def test_scan_matches_the_calculator(frames, batch):
    model = load_model("flat")
    energies, forces = scan(frames, model, forces=True, batch=batch, progress=False)
    calc = CNNASCalculator("flat", device="cpu")
    for atoms, e, f in zip(frames, energies, forces):
        atoms = atoms.copy()
        atoms.calc = calc
        assert e == pytest.approx(atoms.get_potential_energy(), abs=1e-5)
        np.testing.assert_allclose(f, atoms.get_forces(), atol=1e-5)
        assert np.abs(f.sum(0)).max() < 1e-9  # each frame's own net force removed, not the batch's
    assert [len(f) for f in forces] == [59, 60, 60, 59]


def test_symmetrize_override_matches_the_calculator(frames):
    got = {}
    for flag in (False, True):
        got[flag] = scan(frames[:2], "flat", symmetrize=flag, progress=False)[0]
        for atoms, e in zip(frames[:2], got[flag]):
            atoms = atoms.copy()
            atoms.calc = CNNASCalculator("flat", device="cpu", symmetrize=flag)
            assert e == pytest.approx(atoms.get_potential_energy(), abs=1e-5)
    assert np.abs(got[True] - got[False]).max() > 1e-4
    model = load_model("flat")  # a model passed in keeps its own setting
    e, _ = scan(frames[:2], model, symmetrize=not model.symmetrize, progress=False)
    np.testing.assert_array_equal(e, got[not model.symmetrize])
    assert model.symmetrize is load_model("flat").symmetrize


def test_energies_only_and_empty(frames):
    energies, forces = scan(frames[:2], progress=False)
    assert energies.shape == (2,) and forces is None
    e, f = scan([], forces=True)
    assert e.shape == (0,) and f == []


def test_bfloat16_convolutions_move_energies_and_forces_a_little(frames):
    model = load_model("default")
    sheets = [a.copy() for a in frames]
    for atoms in sheets:  # rippled, as the default model sees them
        atoms.positions[:, 2] += np.random.default_rng(1).normal(0, 0.1, len(atoms))
    full = scan(sheets, model, forces=True, progress=False)
    low = scan(sheets, model, forces=True, progress=False, precision="bfloat16")
    change = np.abs(low[0] - full[0]) / [len(a) for a in sheets] * 1e3  # meV/atom
    assert 0 < change.max() < 3
    forces = np.abs(np.concatenate(low[1]) - np.concatenate(full[1]))
    assert 0 < forces.mean() < 0.04  # eV/Å
    with pytest.raises(ValueError, match="precision 'float16': use one of float32, bfloat16"):
        scan(sheets, model, precision="float16", progress=False)


def test_bad_frame_and_batch_named(frames):
    broken = [f.copy() for f in frames]
    broken[2].numbers[0] = 14
    with pytest.raises(CalculatorSetupError, match="frame 2: the model knows only B, C, N"):
        scan(broken, progress=False)
    with pytest.raises(ValueError, match="batch 0: give at least 1"):
        scan(frames, batch=0)


def broken(atoms, how: str):
    """`atoms` broken one way check_atoms refuses."""
    atoms = atoms.copy()
    if how == "nan":
        atoms.positions[3, 0] = np.nan
    elif how == "element":
        atoms.numbers[5] = 8
    elif how == "plane":
        atoms.positions[7, 2] += 0.5
    elif how == "cell":
        atoms.set_cell(atoms.cell.array * 1.1, scale_atoms=True)
    elif how == "pbc":
        atoms.pbc = (True, False, False)
    elif how == "overlap across the boundary":  # two atoms 0.05 Å apart through the y edge
        atoms.positions[0, :2] = [3.0, 0.01]
        atoms.positions[1, :2] = [3.0, atoms.cell[1, 1] - 0.04]
    elif how == "empty":
        atoms = atoms[:0]
    return atoms


@pytest.mark.parametrize("model_name", ["flat", "extensive"])
@pytest.mark.parametrize("how", ["nan", "element", "plane", "cell", "pbc",
                                 "overlap across the boundary", "empty"])
def test_the_whole_batch_screen_agrees_with_check_atoms(frames, how, model_name):
    """Good frames pass the screen untouched (none goes through the per-frame check); a frame
    broken any way check_atoms refuses is caught and named with check_atoms' own message."""
    model = load_model(model_name)
    many = [f.copy() for f in frames * 5]
    assert len(_suspects(model, many)) == 0
    bad = broken(many[13], how)
    many[13] = bad
    with pytest.raises(CalculatorSetupError) as err:
        check_atoms(model, bad)
    with pytest.raises(CalculatorSetupError, match=r"^frame 13: ") as batch_err:
        check_frames(model, many)
    assert str(batch_err.value) == f"frame 13: {err.value}"
