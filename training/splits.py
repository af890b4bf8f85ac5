"""Store a train/validation/test split in a frames file: random, or whole trajectories held out.

The random split is the paper's (seeded 70/30, then 10 % of train for validation).

Frames of one MD trajectory are strongly correlated, so a random split puts near-copies of test
frames in training; holding out whole trajectories is the honest measure for MD data. Holding
out whole structure types (`--hold-out`) measures transfer to an environment never trained on.

    cnnas data split data.h5 --by trajectory --name trajectory
    cnnas data split data.h5 --by trajectory --hold-out hbn_vacancy_b --name without_vacancy_b
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from .h5data import read_frames, read_split, write_split


def random_split(n_frames: int, seed: int, test: float = 0.3, validation: float = 0.1
                 ) -> dict[str, np.ndarray]:
    """The paper's split: seeded 70/30 train/test, then 10 % of train held for validation."""
    order = np.random.default_rng(seed).permutation(n_frames)
    n_test = round(test * n_frames)
    rest, test_idx = order[n_test:], order[:n_test]
    n_val = round(validation * len(rest))
    return {"train": np.sort(rest[n_val:]), "validation": np.sort(rest[:n_val]),
            "test": np.sort(test_idx)}


def _take(groups: list[np.ndarray], fraction: float, rng: np.random.Generator
          ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Shuffled groups → (held out, kept): hold out each group that brings the held-out frames
    closer to `fraction` of all, always keeping at least one group."""
    order = rng.permutation(len(groups))
    target, held, out = fraction * sum(len(g) for g in groups), 0, set()
    for i in order[:-1]:
        if abs(held + len(groups[i]) - target) < abs(held - target):
            out.add(i)
            held += len(groups[i])
    return [groups[i] for i in order if i in out], [groups[i] for i in order if i not in out]


def trajectory_split(trajectory_keys: np.ndarray, strata: np.ndarray, seed: int,
                     test: float = 0.3, validation: float = 0.1) -> dict[str, np.ndarray]:
    """Whole trajectories (frames sharing a key) held out for test, then for validation, about
    `test` and `validation` of the frames of each stratum (e.g. structure type). A stratum with a
    single trajectory stays in training."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    for stratum in np.unique(strata):
        mine = np.flatnonzero(strata == stratum)
        keys = trajectory_keys[mine]
        groups = [mine[keys == k] for k in np.unique(keys)]
        test_groups, rest = _take(groups, test, rng)
        val_groups, train_groups = _take(rest, validation, rng) if len(rest) > 1 else ([], rest)
        for name, gs in (("test", test_groups), ("validation", val_groups),
                         ("train", train_groups)):
            parts[name].extend(gs)
    return {k: np.sort(np.concatenate(v)) if v else np.zeros(0, np.int64) for k, v in parts.items()}


def held_out(parts: dict[str, np.ndarray], structures: np.ndarray, types: list[str]
             ) -> dict[str, np.ndarray]:
    """`parts` with every frame of the structure types `types` moved to test: a type names a
    sheet without its cell (``hbn_vacancy`` holds out ``hbn_vacancy@hex6`` too)."""
    kind = np.array([s.partition("@")[0] for s in structures])
    held = np.isin(kind, types)
    missing = sorted(set(types) - set(kind))
    if missing:
        raise ValueError(f"--hold-out {' '.join(missing)}: no such structure type in the file; "
                         f"it holds {', '.join(sorted(set(kind)))}")
    return {"train": parts["train"][~held[parts["train"]]],
            "validation": parts["validation"][~held[parts["validation"]]],
            "test": np.union1d(parts["test"], np.flatnonzero(held))}


def stored_or_random(path: Path, name: str, n_frames: int, seed: int) -> dict[str, np.ndarray]:
    """Split `name` as stored in `path`; "random" falls back to the seeded random split."""
    import h5py  # here: scoring a model from a trajectory file (`cnnas compare`) needs no h5py

    with h5py.File(path, "r") as f:
        stored = f"splits/{name}" in f
    if stored or name != "random":
        return read_split(path, name)
    return random_split(n_frames, seed)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("path", type=Path, help="HDF5 frames file (the split is stored in it)")
    ap.add_argument("--by", choices=("random", "trajectory"), default="random",
                    help="random frames, or whole trajectories held out within each structure "
                    "type (the honest measure for MD data)")
    ap.add_argument("--name", help="name of the stored split (default: the --by value)")
    ap.add_argument("--seed", type=int, default=0, help="of the random choice")
    ap.add_argument("--test", type=float, default=0.3, help="fraction of frames for test")
    ap.add_argument("--validation", type=float, default=0.1,
                    help="fraction of train for validation")
    ap.add_argument("--hold-out", nargs="+", default=[], metavar="TYPE",
                    help="structure types (sheet names without their @cell) whose every frame "
                    "goes to test: transfer to an environment never trained on")


def run(args: argparse.Namespace) -> None:
    frames = read_frames(args.path)
    if args.by == "random":
        parts = random_split(len(frames), args.seed, args.test, args.validation)
    else:
        parts = trajectory_split(frames.trajectories(), frames.structure.astype(str), args.seed,
                                 args.test, args.validation)
    if args.hold_out:
        parts = held_out(parts, frames.structure.astype(str), args.hold_out)
    name = args.name or args.by
    write_split(args.path, name, parts, {k: getattr(args, k) for k in
                                         ("by", "seed", "test", "validation", "hold_out")})
    sizes = ", ".join(f"{k} {len(v)}" for k, v in parts.items())
    print(f"{args.path}: split {name!r} stored: {sizes}")
    if args.by == "trajectory" and args.test > 0 and not len(parts["test"]):
        print("no test frames: every structure has a single trajectory; generate more chains "
              "(`cnnas data sheets --chains 3`) or import more runs")


def split_of(metadata: dict, path: str | Path, n: int) -> dict[str, np.ndarray]:
    """The split a model was trained with (from its metadata) over the n frames in `path`."""
    split = metadata["data"]["split"]
    return stored_or_random(path, split.get("name", "random"), n, split["seed"])
