r"""The training distribution a model records, so that the calculator can warn when a structure
leaves it: over the training frames, the ranges of the energy per atom above the element
references (eV/atom), of the closest distance between two atoms (Å) and of the image's highest
pixel (what the network sees).

    python -m training.distribution --model ase_cnnas/models/flat.pt \
        --data datasets/sheets_30k_1000K.h5
    python -m training.distribution --model ase_cnnas/models/pbe.pt \
        --data runs/finetune_matched/train.h5 --geometry data/free_all/all.h5  # fine-tuned
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ase_cnnas.checks import closest_pair
from ase_cnnas.model import EnergyModel
from ase_cnnas.modelfile import load_model, save_model

from .batches import model_inputs, reference_sums, to_tensors
from .h5data import Frames, read_frames
from .splits import split_of

MAX_FRAMES = 10_000  # a random sample of the training frames beyond this


def distribution(model: EnergyModel, frames: Frames, index: np.ndarray, energy: bool = True,
                 batch: int = 64, seed: int = 0) -> dict:
    """{"frames", "closest_distance", what EnergyModel.summary reports ("image_peak", and for
    models that see heights or any cell "height", "spacing_min", "spacing_max"), and with
    `energy` "energy_per_atom"}, each [lo, hi], over the frames at `index` (at most MAX_FRAMES
    of them)."""
    index = np.asarray(index)
    if len(index) > MAX_FRAMES:
        index = np.sort(np.random.default_rng(seed).choice(index, MAX_FRAMES, replace=False))
    parts = [model.summary(*model_inputs(to_tensors(frames, index[start:start + batch],
                                                    model.device)))
             for start in range(0, len(index), batch)]
    values = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else {}
    values["closest_distance"] = np.array([closest_pair(frames.atoms(i))[0] for i in index])
    if energy:
        values["energy_per_atom"] = ((frames.energy[index]
                                      - reference_sums(frames, index, model.element_energies))
                                     / frames.natoms[index])
    values = {k: v[np.isfinite(v)] for k, v in values.items()}  # one atom: no closest distance
    return {"frames": len(index),
            **{k: [float(v.min()), float(v.max())] for k, v in values.items() if len(v)}}


def widened(ranges: dict, other: dict) -> dict:
    """`ranges` widened to cover `other`'s ranges of the same keys (frames added up)."""
    out = {k: [min(v[0], other[k][0]), max(v[1], other[k][1])] if k in other else v
           for k, v in ranges.items() if k != "frames"}
    return {"frames": ranges["frames"] + other["frames"], **out}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="model file to add the distribution to")
    ap.add_argument("--data", type=Path, required=True, help="the frames it was trained on")
    ap.add_argument("--geometry", type=Path, nargs="*", default=[],
                    help="frames it was trained on before (a fine-tuned model's pretraining "
                    "data): their geometry widens the ranges, not their energies, which may "
                    "be on another reference's zero")
    ap.add_argument("--out", type=Path, help="where to write the model (default: over --model)")
    args = ap.parse_args(argv)
    model = load_model(args.model)
    frames = read_frames(args.data)
    train_idx = split_of(model.metadata, args.data, len(frames))["train"]
    target = model.metadata.get("training", {}).get("target", "energy")
    seen = distribution(model, frames, train_idx, target == "energy")
    for path in args.geometry:
        more = read_frames(path)
        seen = widened(seen, distribution(model, more, np.arange(len(more)), energy=False))
    model.metadata["distribution"] = seen
    save_model(model, args.out or args.model)
    print(f"{args.out or args.model}: distribution {model.metadata['distribution']}")


if __name__ == "__main__":
    main()
