"""Batches of frames streamed from an HDF5 file for training: read in large contiguous chunks,
shuffled within a pool of chunks, prepared by DataLoader workers, rasterized on the device.

Only positions travel to the device (a 60-atom frame is 1.4 kB; its 256² image would be 256 kB),
so the host never becomes the bottleneck of a GPU: the image is made there, inside the model.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from .batches import batch_tensors
from .h5data import Frames, read_frames

AUGMENTATIONS = {"translate": Frames.translated, "mirror": Frames.mirrored}


class FrameStream(IterableDataset):
    """One epoch of batches of the frames at `index` of an HDF5 file, in random order.

    The sorted index is cut into chunks of about `chunk` consecutive frames; each chunk is one
    contiguous read. Chunks come in random order, `pool` at a time, and their frames are shuffled
    together before batching. Each DataLoader worker takes every n-th pool. `augment` names the
    exact symmetries applied at random to every frame: "translate" (a random in-plane lattice
    fraction) and "mirror" (the reflections of a rectangular cell).
    """

    def __init__(self, path: str | Path, index: np.ndarray, batch: int, seed: int = 0,
                 chunk: int = 2048, pool: int = 4, augment: tuple[str, ...] = (),
                 shuffle: bool = True):
        unknown = set(augment) - set(AUGMENTATIONS)
        if unknown:
            raise ValueError(f"unknown augmentation {sorted(unknown)}; "
                             f"choose from {sorted(AUGMENTATIONS)}")
        self.path, self.index, self.batch = Path(path), np.sort(np.asarray(index)), batch
        self.seed, self.chunk, self.pool = seed, chunk, pool
        self.augment, self.shuffle, self.epoch = tuple(augment), shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle differently in the next iteration."""
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.index) // self.batch)

    def _chunks(self) -> list[np.ndarray]:
        return np.array_split(self.index, max(1, -(-len(self.index) // self.chunk)))

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        rng = np.random.default_rng([self.seed, self.epoch, worker])
        chunks = self._chunks()
        order = (np.random.default_rng([self.seed, self.epoch]).permutation(len(chunks))
                 if self.shuffle else np.arange(len(chunks)))
        pools = [order[i:i + self.pool] for i in range(0, len(order), self.pool)]
        for pool in pools[worker::workers]:
            parts = []
            for c in pool:
                want = chunks[c]
                block = read_frames(self.path, int(want[0]), int(want[-1]) + 1)
                parts.append(block.subset(want - want[0]))
            frames = Frames.concatenate(parts)
            order_in = rng.permutation(len(frames)) if self.shuffle else np.arange(len(frames))
            for name in self.augment:
                frames = AUGMENTATIONS[name](frames, rng)
            for start in range(0, len(frames), self.batch):
                yield batch_tensors(frames.subset(order_in[start:start + self.batch]))


def make_loader(path: str | Path, index: np.ndarray, batch: int, workers: int = 0,
                device: torch.device | str = "cpu", **stream) -> DataLoader:
    """A DataLoader over FrameStream (options `stream`), with pinned memory when feeding a GPU."""
    return DataLoader(FrameStream(path, index, batch, **stream), batch_size=None,
                      num_workers=workers, pin_memory=torch.device(device).type == "cuda",
                      persistent_workers=False, prefetch_factor=4 if workers else None)
