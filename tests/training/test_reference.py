"""Reference calculators by name."""
from __future__ import annotations

import pytest
import torch
from ase.calculators.lj import LennardJones

from training.reference import make_reference


def test_module_factory():
    assert isinstance(make_reference("ase.calculators.lj:LennardJones"), LennardJones)


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown reference 'vasp'.*'module:factory'"):
        make_reference("vasp")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_sevennet_on_cuda_without_gpu():
    pytest.importorskip("sevenn")
    with pytest.raises(ValueError, match="needs a CUDA GPU and none is visible; use '7net-0'"):
        make_reference("7net-0@cuda")
