"""Model files: weights plus versioned JSON metadata in one torch zip, never pickled code.

The file holds ``{"format": "ase-cnnas-model", "format_version": 1, "metadata": <JSON text>,
"state_dict": {...}}`` and is read with ``torch.load(weights_only=True)``, which refuses any
pickle that would run code. The metadata says how to rebuild the model (network, image, cell,
elements and their reference energies, energy scale) and what it is (reference method, data,
training summary, test metrics).
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import zipfile
from functools import partial
from importlib import resources
from pathlib import Path

import torch

from .cells import MATCH
from .files import replace_atomically
from .model import EnergyModel
from .networks import NetworkConfig

FORMAT = "ase-cnnas-model"
FORMAT_VERSION = 1
BUNDLED = ("default", "flat", "fast", "extensive", "free", "pbe")
DEFAULT = "pbe"  # the file "default" names: free-standing sheets in any cell, fine-tuned to PBE


class ModelFileError(ValueError):
    """A model file that is missing, not ours, damaged, unsafe, or of an unknown version."""


def resolve(model: str | os.PathLike) -> Path:
    """A bundled model's name (``"default"`` is ``DEFAULT``'s file) or a path → the file's path."""
    name = str(model)
    if name not in BUNDLED:
        return Path(model)
    return Path(str(resources.files("ase_cnnas") / "models"
                    / f"{DEFAULT if name == 'default' else name}.pt"))


def file_sha256(model: str | os.PathLike) -> str:
    """The sha256 hex digest (all 64 digits) of a model file's bytes, a bundled name resolved:
    which weights a result came from, whatever the file is called."""
    path = resolve(model)
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as err:
        raise ModelFileError(f"{path}: cannot read the model file ({err.strerror})") from err


def save_model(model: EnergyModel, path: str | os.PathLike) -> None:
    """Write `model` to `path` atomically (temporary file, fsync, rename: ase_cnnas.files)."""
    meta = {
        "network": model.network.config.to_dict(),
        "image": {"sigma": model.sigma, "cutoff": model.cutoff, "scale": model.image_scale,
                  "cell": model.cell.tolist(), "upsample": model.upsample,
                  "extensive": model.extensive, "any_cell": model.any_cell,
                  "match_pixels": model.match_pixels, "stretch_inputs": model.stretch_inputs},
        "count_scale": model.count_scale,
        "symmetrize": model.symmetrize,
        "elements": {str(z): e for z, e in model.element_energies.items()},
        "energy": {"mean": model.energy_mean, "scale": model.energy_scale, "unit": "eV"},
        **model.metadata,
    }
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    replace_atomically(path, partial(torch.save, {
        "format": FORMAT, "format_version": FORMAT_VERSION, "metadata": json.dumps(meta),
        "state_dict": state}))


def matched_within(stored: bool | float) -> float:
    """The pixel-matching tolerance a file records: files before the tolerance was a setting
    say true (cells.MATCH then) or false (0: no matching)."""
    return MATCH if stored is True else float(stored)


def read_metadata(path: str | os.PathLike) -> dict:
    """The metadata of a model file, checked for format and version."""
    return _load(resolve(path))[0]


def load_model(model: str | os.PathLike = "default", device: str | torch.device = "cpu",
               symmetrize: bool | None = None) -> EnergyModel:
    """Rebuild the model stored at `model` (a bundled name or a path) on `device`, in eval mode;
    `symmetrize` overrides the file's choice (None keeps it)."""
    meta, state = _load(resolve(model))
    keys = ("network", "image", "count_scale", "symmetrize", "elements", "energy")
    extra = {k: v for k, v in meta.items() if k not in keys}
    try:
        net = EnergyModel(
            NetworkConfig.from_dict(meta["network"]), cell=meta["image"]["cell"],
            element_energy={int(z): e for z, e in meta["elements"].items()},
            energy_mean=meta["energy"]["mean"], energy_scale=meta["energy"]["scale"],
            image_scale=meta["image"]["scale"], count_scale=meta["count_scale"],
            upsample=meta["image"].get("upsample", 1),
            extensive=meta["image"].get("extensive", False),
            any_cell=meta["image"].get("any_cell", False),
            match_pixels=matched_within(meta["image"].get("match_pixels", 0.0)),
            stretch_inputs=meta["image"].get("stretch_inputs", False),
            sigma=meta["image"]["sigma"],
            cutoff=meta["image"]["cutoff"],
            symmetrize=meta.get("symmetrize", False) if symmetrize is None else symmetrize,
            metadata=extra)
        # files written before the pixel head became matrix products hold its weights as
        # 1-pixel convolutions [out, in, 1, 1]
        net.load_state_dict({k: v.flatten(1) if k.startswith("network.head.") and v.dim() > 2
                             else v for k, v in state.items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ModelFileError(f"{model}: metadata and weights do not fit together ({err}); "
                             "the file is damaged or was edited by hand") from err
    return net.to(device).eval()


def _load(path: Path) -> tuple[dict, dict]:
    if not path.is_file():
        bundled = path.parent == Path(str(resources.files("ase_cnnas") / "models"))
        fix = ("reinstall ase-cnnas: the bundled model is missing" if bundled else
               "check the path, or use model='default' for the bundled model")
        raise ModelFileError(f"{path}: no such model file; {fix}")
    unreadable = (f"{path}: not a readable ase-cnnas model file (truncated or another format); "
                  "save or copy it again")
    if not zipfile.is_zipfile(path):  # torch.save always writes a zip
        raise ModelFileError(unreadable)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:  # weights_only met something it will not build
        if "global" in str(err).lower():
            raise ModelFileError(f"{path}: refused to load: the file holds pickled code, not only "
                                 "weights, which ase-cnnas model files never do; delete it and "
                                 "get the model from a source you trust") from err
        raise ModelFileError(f"{unreadable}: {str(err).splitlines()[0]}") from err
    except (RuntimeError, EOFError, OSError, IndexError, KeyError, ValueError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ModelFileError(f"{unreadable}: {first}") from err
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an ase-cnnas model file (no format={FORMAT!r} tag)")
    version = blob.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(f"{path}: model format version {version!r}, this ase-cnnas reads "
                             f"version {FORMAT_VERSION}; upgrade ase-cnnas or re-export the model")
    try:
        return json.loads(blob["metadata"]), blob["state_dict"]
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{path}: damaged model file, its metadata or weights are missing or "
                             f"unreadable ({err})") from err
