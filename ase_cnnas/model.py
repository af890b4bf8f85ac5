"""A trained CNNAS energy model: rasterizer, network and energy scale in one torch module.

    E = Σ_i ε(Z_i) + μ + s · CNN(V / v₀, c · n)

ε are per-element reference energies (eV), μ and s the mean and spread of the remaining energy
over the training frames, V the image of Eq. (1) and v₀ a fixed input scale. An extensive model
(per-pixel head, circular padding) keeps the training cell's pixel spacing on any cell whose
sides are whole multiples of it, so its image, and its summed energy, grow with the cell; its μ
is scaled by the atom count (N / N_train). n, the number of
atoms of each element scaled by c, reaches the dense head when the network takes extra inputs
(a vacancy's formation energy is not linear in the counts, and a CNN learns it only slowly).
The reference sum and the scale are applied in float64, so totals of ~−550 eV keep their meV
digits whatever precision the network runs in.

With `symmetrize`, E is averaged over the reflections that map the training cell onto itself
(x, y and both for a rectangular sheet; only the 180° rotation, s → −s, for any other cell). A
reflection of the structure is a permutation of the image's pixels, so the average costs one
rasterization and 2^d network passes, and makes the energy exactly invariant under them, as the
physical one is; the raw CNN is only taught so by augmentation.
"""
from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

from .networks import CNNAS, NetworkConfig
from .raster import CUTOFF, SIGMA, rasterize

N_ELEMENTS = 119
ORTHOGONAL = 1e-6  # |cos| of the angle between cell vectors below which they count as orthogonal


def reflections(cell: np.ndarray) -> list[tuple[int, ...]]:
    """The cell axes each averaged reflection flips (s_k → −s_k), for a model trained on `cell`
    [D, D]: every subset when its vectors are orthogonal, else none and all (the half turn,
    s → −s). A flip of a frame's image is the image of the frame's mirror image in the mirrored
    cell, which has the frame's shape when its vectors are orthogonal, nearly so near the
    training cell, and always for the half turn. Chosen by the training cell, not by each frame,
    so that the energy stays smooth as a cell is sheared (stress)."""
    d = len(cell)
    gram = cell @ cell.T
    cos = gram / np.sqrt(np.outer(np.diag(gram), np.diag(gram)))
    if np.abs(cos - np.eye(d)).max() < ORTHOGONAL:
        return [s for r in range(d + 1) for s in itertools.combinations(range(d), r)]
    return [(), tuple(range(d))]


def without_net_force(forces: torch.Tensor, frame: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Forces [A, 3] less the mean force of each frame. The energy of a rasterized structure
    changes a little as the whole structure moves by a fraction of a pixel (a grid is invariant
    only to whole-pixel shifts), so −∇E sums to a small net force that would push the centre of
    mass about in MD; the physical forces sum to zero. Removing the mean keeps −∇E along every
    move that leaves the centroid in place, so MD started at rest conserves E exactly as before."""
    atoms = torch.bincount(frame, minlength=n_frames).clamp(min=1).to(forces.dtype)
    net = torch.zeros(n_frames, forces.shape[1], dtype=forces.dtype, device=forces.device)
    return forces - (net.index_add(0, frame, forces) / atoms[:, None])[frame]


class EnergyModel(nn.Module):
    """positions [A, 3] Å, numbers [A], cells [F, 3, 3] Å, frame [A] → total energies [F] eV."""

    def __init__(self, network: NetworkConfig, cell: np.ndarray, element_energy: dict[int, float],
                 energy_mean: float = 0.0, energy_scale: float = 1.0, image_scale: float = 1.0,
                 count_scale: float = 1.0, upsample: int = 1, extensive: bool = False,
                 sigma: float = SIGMA, cutoff: float = CUTOFF, symmetrize: bool = False,
                 metadata: dict | None = None):
        super().__init__()
        self.network = CNNAS(network)
        self.dim = len(network.grid)
        if upsample < 1 or any(n % upsample for n in network.grid):
            raise ValueError(f"upsample {upsample} must be a whole divisor of the grid {network.grid}")
        self.upsample = upsample  # rasterize at grid / upsample, then replicate each pixel
        self.cell = np.asarray(cell, dtype=float)  # the cell it was trained on
        d = self.dim
        if extensive and (network.head != "pixel" or network.padding != "circular"
                          or network.extra_inputs or upsample != 1
                          or np.count_nonzero(self.cell[:d, :d] - np.diag(np.diag(self.cell[:d, :d])))):
            raise ValueError("an extensive model needs the per-pixel head, circular padding, no "
                             "extra inputs, no upsampling and an orthogonal training cell")
        self.extensive = extensive
        self.symmetrize = symmetrize  # average over the cell's reflections (2^d network passes)
        self.reflections = reflections(self.cell[:d, :d])
        self.spacing = np.diag(self.cell)[:d] / np.array(network.grid)  # Å per pixel, per axis
        self.multiple = 2 ** (network.reductions or 0)  # pixels per side must divide by this
        self.sigma, self.cutoff, self.image_scale = sigma, cutoff, image_scale
        self.count_scale = count_scale
        self.energy_mean, self.energy_scale = energy_mean, energy_scale
        self.elements = sorted(int(z) for z in element_energy)
        table = torch.full((N_ELEMENTS,), float("nan"), dtype=torch.float64)
        for z, e in element_energy.items():
            table[int(z)] = e
        self.register_buffer("element_energy", table)
        self.metadata = metadata or {}

    @property
    def element_energies(self) -> dict[int, float]:
        """The per-element reference energies ε_Z (eV), as given to the constructor."""
        return {z: float(self.element_energy[z]) for z in self.elements}

    @property
    def device(self) -> torch.device:
        return self.element_energy.device

    def images(self, positions: torch.Tensor, numbers: torch.Tensor, cells: torch.Tensor,
               frame: torch.Tensor, n_frames: int) -> torch.Tensor:
        """The network's input [F, *grid], in the network's dtype (with `upsample` > 1, a coarser
        image whose pixels are replicated, the paper's upscaling test)."""
        dtype = next(self.network.parameters()).dtype
        d, k = self.dim, self.upsample
        image = rasterize(positions[:, :d].to(dtype), numbers, cells[:, :d, :d].to(dtype), frame,
                          n_frames, tuple(n // k for n in self.grid_for(cells)), self.sigma,
                          self.cutoff)
        for axis in range(1, d + 1) if k > 1 else ():
            image = image.repeat_interleave(k, dim=axis)
        return self.image_scale * image

    def grid_for(self, cells: torch.Tensor) -> tuple[int, ...]:
        """The image grid for a batch: the trained grid, or for an extensive model the cells'
        sides in pixels of the trained spacing (the same for every frame of the batch)."""
        if not self.extensive:
            return self.network.config.grid
        sides = torch.diagonal(cells[:, :self.dim, :self.dim], dim1=-2, dim2=-1).detach().cpu()
        pixels = torch.round(sides / torch.as_tensor(self.spacing)).long()
        if (pixels != pixels[0]).any():
            raise ValueError("an extensive model evaluates one cell size per batch; batch frames "
                             "by cell")
        return tuple(int(n) for n in pixels[0])

    def counts(self, numbers: torch.Tensor, frame: torch.Tensor, n_frames: int) -> torch.Tensor:
        """Atoms of each model element per frame [F, n_elements], times `count_scale`."""
        onehot = (numbers[:, None] == torch.tensor(self.elements, device=numbers.device)).double()
        counts = torch.zeros(n_frames, len(self.elements), dtype=torch.float64, device=numbers.device)
        return counts.index_add(0, frame, onehot) * self.count_scale

    def forward(self, positions: torch.Tensor, numbers: torch.Tensor, cells: torch.Tensor,
                frame: torch.Tensor, n_frames: int) -> torch.Tensor:
        return self.energy(self.images(positions, numbers, cells, frame, n_frames), numbers, frame,
                           n_frames)

    def energy(self, images: torch.Tensor, numbers: torch.Tensor, frame: torch.Tensor,
               n_frames: int) -> torch.Tensor:
        """Total energies [F] (eV) of frames whose images are `images` (from `images()`), averaged
        over the reflections when the model symmetrizes."""
        if not self.symmetrize:
            return self._energy(images, numbers, frame, n_frames)
        flips = self.reflections
        r = len(flips)
        if images.numel() * r <= self.network.band_pixels:  # one batched pass over all images
            orbit = torch.cat([self.reflect(images, s) for s in flips])
            energies = self._energy(orbit, numbers.repeat(r),
                                    torch.cat([frame + k * n_frames for k in range(r)]),
                                    r * n_frames).reshape(r, n_frames)
        else:  # large cells: one pass per reflection, so memory stays that of one image
            energies = torch.stack([self._energy(self.reflect(images, s), numbers, frame, n_frames)
                                    for s in flips])
        return energies.mean(0)

    def reflect(self, images: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
        """The images [F, *grid] of the structures reflected (s → −s mod 1) along the cell axes
        `axes`: pixel i samples i/n (with upsampling, a block of `upsample` pixels), so it becomes
        pixel −i, the flipped image rolled by one pixel (block)."""
        dims = [a + 1 for a in axes]
        return images.flip(dims).roll([self.upsample] * len(dims), dims) if dims else images

    def _energy(self, images: torch.Tensor, numbers: torch.Tensor, frame: torch.Tensor,
                n_frames: int) -> torch.Tensor:
        """Total energies [F] (eV) of the images as they are."""
        extra = self.counts(numbers, frame, n_frames) if self.network.config.extra_inputs else None
        out = self.network(images, extra)
        reference = torch.zeros(n_frames, dtype=torch.float64, device=self.device)
        reference = reference.index_add(0, frame, self.element_energy[numbers])
        mean = (self.energy_mean * self.count_scale * torch.bincount(frame, minlength=n_frames)
                if self.extensive else self.energy_mean)
        return reference + mean + self.energy_scale * out.double()
