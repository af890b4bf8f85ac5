"""EnergyModel's images: the upscaled image of the paper's grid test is the coarse image with
every pixel replicated, and survives a model file round trip."""
from __future__ import annotations

import pytest
import torch

from ase_cnnas.model import EnergyModel
from ase_cnnas.modelfile import load_model, save_model
from ase_cnnas.networks import network1_config
from conftest import ELEMENT_ENERGY
from training.batches import model_inputs, to_tensors
from training.dimers import make_dimers


def dimer_model(grid: int, upsample: int = 1) -> EnergyModel:
    torch.manual_seed(0)
    return EnergyModel(network1_config((grid, grid), dense=8), cell=[[10, 0, 0], [0, 10, 0], [0, 0, 10]],
                       element_energy={1: 0.0}, upsample=upsample).eval()


def test_upscaled_image_replicates_coarse_pixels():
    frames = make_dimers(3, 2, [(1, 2)], seed=0)
    inputs = model_inputs(to_tensors(frames, [0, 1, 2], "cpu"))
    coarse = dimer_model(8).images(*inputs)
    fine = dimer_model(32, upsample=4).images(*inputs)
    assert fine.shape == (3, 32, 32)
    assert coarse.abs().max() > 0.1
    for i, j in [(0, 0), (3, 3), (5, 2)]:
        torch.testing.assert_close(fine[:, 4 * i:4 * i + 4, 4 * j:4 * j + 4],
                                   coarse[:, i:i + 1, j:j + 1].expand(-1, 4, 4))
    assert not torch.equal(fine, dimer_model(32).images(*inputs))  # the native 32² image differs


def test_upsample_round_trips_through_the_model_file(tmp_path):
    model = dimer_model(16, upsample=2)
    save_model(model, tmp_path / "m.pt")
    back = load_model(tmp_path / "m.pt")
    assert back.upsample == 2
    frames = make_dimers(4, 2, [(1, 3)], seed=1)
    inputs = model_inputs(to_tensors(frames, range(4), "cpu"))
    torch.testing.assert_close(back(*inputs), model(*inputs))


@pytest.mark.parametrize("upsample", [0, 3])
def test_upsample_must_divide_the_grid(upsample):
    with pytest.raises(ValueError, match="whole divisor of the grid"):
        EnergyModel(network1_config((16, 16)), cell=[[10, 0, 0], [0, 10, 0], [0, 0, 10]],
                    element_energy=ELEMENT_ENERGY, upsample=upsample)
