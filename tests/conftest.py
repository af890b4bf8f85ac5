"""Shared fixtures: a tiny random-weight sheet model and a tiny Lennard-Jones data set.

Everything is sized to run in seconds on a busy CPU: 16 × 16 images, a 16-unit dense layer,
a handful of frames from a few MD steps.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
# `tests/training` has no __init__.py (it must not shadow the real `training` package); make sure
# the repository root comes first so that `import training` finds the package even under `pytest`
# run without `python -m` (the editable install's finder comes after the path-based one).
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ase_cnnas.model import EnergyModel  # noqa: E402
from ase_cnnas.modelfile import save_model  # noqa: E402
from ase_cnnas.networks import network2_config  # noqa: E402
from ase_cnnas.sheets import build_sheet  # noqa: E402

# the machine is shared with long jobs; tiny tensors gain nothing from more threads
torch.set_num_threads(1)

GRID = (16, 16)
DENSE = 16
ELEMENT_ENERGY = {5: -7.0, 6: -9.2, 7: -8.1}
ENERGY_MEAN = 0.3
ENERGY_SCALE = 0.05
IMAGE_SCALE = 1 / 7
LJ = "ase.calculators.lj:LennardJones"
METADATA = {"reference": {"method": "test"}, "note": "random weights"}


def make_model(seed: int = 0, activation: str = "silu") -> EnergyModel:
    """A sheet model in the paper's cell with random weights (float32 network)."""
    torch.manual_seed(seed)
    cell = build_sheet("graphene_pristine").cell.array
    return EnergyModel(network2_config(GRID, dense=DENSE, activation=activation), cell=cell,
                       element_energy=ELEMENT_ENERGY, energy_mean=ENERGY_MEAN,
                       energy_scale=ENERGY_SCALE, image_scale=IMAGE_SCALE,
                       metadata=dict(METADATA)).eval()


def make_sheet_model(seed: int = 0, height_layers: int = 0, stretch: bool = False,
                     response: bool = False) -> EnergyModel:
    """A free-standing any-cell sheet model (height channels, or a slab of `height_layers`;
    pixel head, circular padding; with `stretch`, its head reading the pixel stretch with
    weights not zero; with `response`, giving the stretch response) with random weights, its
    pixel energies not zero, in float64 for exact gradient checks."""
    torch.manual_seed(seed)
    config = network2_config(GRID, dense=DENSE, activation="silu", padding="circular",
                             head="pixel", periodic_copies=False, heights=True,
                             height_layers=height_layers)
    model = EnergyModel(config, cell=build_sheet("graphene_pristine").cell.array,
                        element_energy=ELEMENT_ENERGY, energy_mean=ENERGY_MEAN,
                        energy_scale=ENERGY_SCALE, image_scale=IMAGE_SCALE, any_cell=True,
                        metadata=dict(METADATA))
    if stretch:
        model.use_stretch_inputs()
        torch.nn.init.normal_(model.network.head[0].weight[:, -2:], std=1.0)
    if response:
        model.use_stretch_response()
    torch.nn.init.normal_(model.network.head[-1].weight, std=0.3)
    return model.double().eval()


@pytest.fixture(scope="session")
def sheet_model_file(tmp_path_factory) -> Path:
    """make_sheet_model() saved with save_model; treat as read-only."""
    path = tmp_path_factory.mktemp("sheet_model") / "sheet.pt"
    save_model(make_sheet_model(), path)
    return path


@pytest.fixture(scope="session")
def stretch_sheet_model_file(tmp_path_factory) -> Path:
    """make_sheet_model(stretch=True) saved with save_model; treat as read-only."""
    path = tmp_path_factory.mktemp("stretch_sheet_model") / "stretch.pt"
    save_model(make_sheet_model(stretch=True), path)
    return path


@pytest.fixture(scope="session")
def response_sheet_model_file(tmp_path_factory) -> Path:
    """make_sheet_model(response=True) saved with save_model; treat as read-only."""
    path = tmp_path_factory.mktemp("response_sheet_model") / "response.pt"
    save_model(make_sheet_model(response=True), path)
    return path


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    """make_model() saved with save_model; treat as read-only."""
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_model(make_model(), path)
    return path


@pytest.fixture(scope="session")
def lj_data(tmp_path_factory) -> Path:
    """frames.h5 of two structures × 9 frames (segments of 2), labelled by LJ."""
    from training.cli import main

    path = tmp_path_factory.mktemp("lj_data") / "frames.h5"
    main(["data", "sheets", "-o", str(path), "--structures", "graphene_pristine", "hbn_pristine",
          "--frames", "9", "--steps", "4", "--stride", "2", "--reference", LJ, "--workers", "1"])
    return path


class FailingLJ:
    """A factory for `--reference conftest:FailingLJ`: Lennard-Jones that raises on its
    CNNAS_FAIL_AFTER-th calculation in a process (a reference that dies mid-job)."""

    def __new__(cls):
        import os

        from ase.calculators.lj import LennardJones

        class Failing(LennardJones):
            calls = 0

            def calculate(self, *args, **kwargs):
                Failing.calls += 1
                if Failing.calls >= int(os.environ["CNNAS_FAIL_AFTER"]):
                    raise RuntimeError("reference failed")
                super().calculate(*args, **kwargs)

        return Failing()


class SlowLJ:
    """A factory for `--reference conftest:SlowLJ`: Lennard-Jones that writes a line to the file
    CNNAS_CALC_LOG as each calculation starts, then sleeps CNNAS_SLEEP seconds (a slow reference
    to kill mid-job)."""

    def __new__(cls):
        import os
        import time

        from ase.calculators.lj import LennardJones

        class Slow(LennardJones):
            def calculate(self, *args, **kwargs):
                with open(os.environ["CNNAS_CALC_LOG"], "a") as log:
                    log.write("start\n")
                time.sleep(float(os.environ["CNNAS_SLEEP"]))
                super().calculate(*args, **kwargs)

        return Slow()


def StresslessLJ():  # noqa: N802 (a factory named like the class it stands for)
    """A factory for `--reference conftest:StresslessLJ`: LJ that gives no stress."""
    from ase.calculators.lj import LennardJones

    calc = LennardJones()
    calc.implemented_properties = ["energy", "forces"]
    return calc


def SoftLJ():  # noqa: N802 (a factory named like the class it stands for)
    """A factory for `--reference conftest:SoftLJ`: LJ at half strength (half the forces)."""
    from ase.calculators.lj import LennardJones

    return LennardJones(epsilon=0.5)


class Payload:
    """Unpickling this runs `touch <target>`."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.target}",)


def evil_file(path: Path, target: Path) -> None:
    """A model file, tagged as ours, whose weights are a pickle that would create `target`."""
    from ase_cnnas.modelfile import FORMAT, FORMAT_VERSION

    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, "metadata": "{}",
                "state_dict": Payload(target)}, path)


def truncated_copy(path: Path, folder: Path, fraction: float = 0.5) -> Path:
    """A copy of `path` in `folder`, same name, cut after `fraction` of its bytes."""
    data = Path(path).read_bytes()
    out = Path(folder) / Path(path).name
    out.write_bytes(data[:int(len(data) * fraction)])
    return out
