"""A trained CNNAS energy model: rasterizer, network and energy scale in one torch module.

    E = Σ_i ε(Z_i) + μ + s · CNN(V / v₀, c · n)

ε are per-element reference energies (eV), μ and s the mean and spread of the remaining energy
over the training frames, V the image of Eq. (1) and v₀ a fixed input scale. An extensive model
(per-pixel head, circular padding) keeps the training cell's pixel spacing on any cell whose
sides are whole multiples of it, so its image, and its summed energy, grow with the cell; its μ
is scaled by the atom count (N / N_train). An any-cell model (`any_cell`) takes every sheet
cell: each frame is rotated so that its first vector lies along x and, if oblique, replaced by
its orthogonal supercell (ase_cnnas/cells.py); its grid has n = round(L/Δ) pixels per side (in
whole multiples of the network's reduction), and the pixel energies are weighted by the pixel's
area over the training one, so the summed energy is an integral over the cell whatever the
spacing. The network sees lengths in pixels, so a side laid on pixels of L/n ≠ Δ looks strained
by L/(nΔ) − 1 (up to ±6 % on a 10 Å side): with `match_pixels` (a tolerance), sides are repeated
(cells.repeats) until L/(nΔ) is within it of 1; with `stretch_inputs`, the head also reads each
side's stretch L/(nΔ) − 1 (times STRETCH_SCALE), so the network knows its pixels' true size and a
strain that leaves n unchanged is no longer near invisible. With `stretch_response` (a pixel
head of three outputs), the network gives per pixel an energy and its first-order change with
each side's stretch m = L/(nΔ) − 1, and the energy is Σ e + Σ_k m_k Σ v_k: the image shows the
sheet strained by −m, and the energy of a strained sheet moves, to first order, by its virial
times the strain, a product of the structure and m that an input to the head cannot form.
n, the number of atoms of each element scaled by c, reaches the dense head when the network
takes extra inputs (a vacancy's formation energy is not linear in the counts, and a CNN learns
it only slowly).
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

from .cells import MATCH, canonical, supercell_factor, whole_steps
from .heights import HEIGHT_SCALE, atom_heights, height_weights
from .networks import CNNAS, NetworkConfig, with_extra_inputs, with_outputs
from .raster import CUTOFF, SIGMA, rasterize

N_ELEMENTS = 119
STRETCH_SCALE = 20.0  # stretch_inputs: a side's L/(nΔ) − 1 times this (±5 % → ±1)
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
                 any_cell: bool = False, match_pixels: float = 0.0, stretch_inputs: bool = False,
                 sigma: float = SIGMA, cutoff: float = CUTOFF, symmetrize: bool = False,
                 metadata: dict | None = None):
        super().__init__()
        self.network = CNNAS(network)
        self.dim = len(network.grid)
        if network.heights and (upsample != 1 or len(network.grid) != 2):
            raise ValueError("height channels are for 2D images of sheets, without upsampling")
        if upsample < 1 or any(n % upsample for n in network.grid):
            raise ValueError(f"upsample {upsample} must be a whole divisor of the grid "
                             f"{network.grid}")
        self.upsample = upsample  # rasterize at grid / upsample, then replicate each pixel
        self.cell = np.asarray(cell, dtype=float)  # the cell it was trained on
        d = self.dim
        self.extensive = self.any_cell = False
        # any-cell: the head reads the pixel stretch per side (the network's 2 extra inputs)
        self.stretch_inputs = stretch_inputs
        if extensive:
            self._check_extensive("an extensive")
            self.extensive = True
        if any_cell:
            self.use_any_cell()
        if stretch_inputs and not (self.any_cell and network.extra_inputs == 2):
            raise ValueError("stretch inputs are an any-cell model's two extra inputs (x, y)")
        if network.outputs != 1 and not (self.any_cell and network.outputs == 3):
            raise ValueError("a network of several outputs is an any-cell model's stretch "
                             "response: three (the energy, its change with x and y stretch)")
        self.symmetrize = symmetrize  # average over the cell's reflections (2^d network passes)
        # any-cell: repeat sides until the pixels match within this fraction (0: do not)
        self.match_pixels = float(match_pixels)
        # training only: draws among the repeats that match (cells.repeats); not saved
        self.repeat_rng: np.random.Generator | None = None
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

    def _check_extensive(self, kind: str) -> None:
        """Refuse, naming what is missing, a model that cannot grow its grid with the cell."""
        config, d = self.network.config, self.dim
        if (config.head != "pixel" or config.padding != "circular"
                or (config.extra_inputs and not self.stretch_inputs) or self.upsample != 1
                or np.count_nonzero(self.cell[:d, :d] - np.diag(np.diag(self.cell[:d, :d])))):
            raise ValueError(f"{kind} model needs the per-pixel head, circular padding, no extra "
                             "inputs but the stretch, no upsampling and an orthogonal training "
                             "cell")

    def use_any_cell(self) -> None:
        """Make this an any-cell model (see the module docstring), e.g. to fine-tune a
        fixed-cell one on sheets of every cell."""
        self._check_extensive("an any-cell")
        if self.dim != 2:
            raise ValueError("an any-cell model is a sheet model: give it a 2D grid")
        self.any_cell, self.extensive = True, False

    def use_stretch_inputs(self) -> None:
        """Give an any-cell model's head the stretch inputs, read with zero weights at first
        (networks.with_extra_inputs): the same energies until training moves them."""
        if not self.any_cell:
            raise ValueError("stretch inputs are for an any-cell model; make it one first")
        if not self.stretch_inputs:
            self.network = with_extra_inputs(self.network, 2).train(self.network.training)
            self.stretch_inputs = True

    def use_stretch_response(self) -> None:
        """Give an any-cell model's head the stretch response (networks.with_outputs), at zero at
        first: the same energies until training moves it."""
        if not self.any_cell:
            raise ValueError("a stretch response is for an any-cell model; make it one first")
        if not self.stretch_response:
            self.network = with_outputs(self.network, 3).train(self.network.training)

    @property
    def stretch_response(self) -> bool:
        """Whether the network also gives the energy's change with each side's stretch."""
        return self.network.config.outputs == 3

    @property
    def reads_stretch(self) -> bool:
        """Whether the energy needs each frame's pixel stretch (stretch inputs or response)."""
        return self.stretch_inputs or self.stretch_response

    @property
    def element_energies(self) -> dict[int, float]:
        """The per-element reference energies ε_Z (eV), as given to the constructor."""
        return {z: float(self.element_energy[z]) for z in self.elements}

    @property
    def force_components(self) -> int:
        """The force components the model describes: x, y (and z for a 3D image or a 2D image
        with height channels); a flat 2D model's z-forces are zero."""
        return 3 if self.network.config.heights else self.dim

    @property
    def device(self) -> torch.device:
        return self.element_energy.device

    def atom_weights(self, positions: torch.Tensor, numbers: torch.Tensor, cells: torch.Tensor,
                     frame: torch.Tensor) -> torch.Tensor:
        """Each atom's weight in the image: Z [A], or with height channels Z · (1, u/h₀,
        (u/h₀)²) [A, 3] (near heights: [A, 5]) or a slab's Z · φ_k(u) [A, K]
        (ase_cnnas/heights.py), in the network's dtype."""
        config = self.network.config
        if not config.heights:
            return numbers
        dtype = next(self.network.parameters()).dtype
        return height_weights(positions.to(dtype), numbers, cells.to(dtype), frame,
                              config.height_layers, config.near_heights, config.slopes)

    def images(self, positions: torch.Tensor, numbers: torch.Tensor, cells: torch.Tensor,
               frame: torch.Tensor, n_frames: int, weights: torch.Tensor | None = None
               ) -> torch.Tensor:
        """The network's input [F, *grid], or [F, C, *grid] with height channels, in the
        network's dtype (with `upsample` > 1, a coarser image whose pixels are replicated, the
        paper's upscaling test); `weights` from atom_weights, if already at hand."""
        dtype = next(self.network.parameters()).dtype
        d, k = self.dim, self.upsample
        if weights is None:
            weights = self.atom_weights(positions, numbers, cells, frame)
        image = rasterize(positions[:, :d].to(dtype), weights, cells[:, :d, :d].to(dtype), frame,
                          n_frames, tuple(n // k for n in self.grid_for(cells)), self.sigma,
                          self.cutoff)
        for axis in range(1, d + 1) if k > 1 else ():
            image = image.repeat_interleave(k, dim=axis)
        return self.image_scale * image

    def grid_for(self, cells: torch.Tensor) -> tuple[int, ...]:
        """The image grid for a batch: the trained grid, or for an extensive model the cells'
        sides in pixels of the trained spacing (the same for every frame of the batch)."""
        if self.any_cell:  # whole multiples of the reduction, as near the spacing as they come
            sides = cells[:, :2, :2].detach().norm(dim=-1).cpu().numpy()
            pixels = (whole_steps(sides, self.spacing * self.multiple) * self.multiple).astype(int)
            if (pixels != pixels[0]).any():
                raise ValueError("frames of one batch need one grid; forward() groups them")
            return tuple(int(n) for n in pixels[0])
        if not self.extensive:
            return self.network.config.grid
        sides = torch.diagonal(cells[:, :self.dim, :self.dim], dim1=-2, dim2=-1).detach().cpu()
        pixels = torch.round(sides / torch.as_tensor(self.spacing)).long()
        if (pixels != pixels[0]).any():
            raise ValueError("an extensive model evaluates one cell size per batch; batch frames "
                             "by cell")
        return tuple(int(n) for n in pixels[0])

    def pixel_spacing(self, cells: torch.Tensor) -> torch.Tensor:
        """Å per pixel [F, 2] along the in-plane sides of canonical cells [F, 3, 3] (one grid, as
        grid_for): an any-cell model's training spacing where the sides fit it exactly."""
        return cells[:, :2, :2].norm(dim=-1) / torch.as_tensor(self.grid_for(cells),
                                                               dtype=cells.dtype,
                                                               device=cells.device)

    def stretch(self, cells: torch.Tensor) -> torch.Tensor:
        """The stretch inputs [F, 2] of canonical cells (one grid): each side's pixel over the
        trained one, less one, times STRETCH_SCALE; differentiable in the cell (stress)."""
        spacing = torch.as_tensor(self.spacing, dtype=cells.dtype, device=cells.device)
        return (self.pixel_spacing(cells) / spacing - 1) * STRETCH_SCALE

    def counts(self, numbers: torch.Tensor, frame: torch.Tensor, n_frames: int) -> torch.Tensor:
        """Atoms of each model element per frame [F, n_elements], times `count_scale`."""
        onehot = (numbers[:, None] == torch.tensor(self.elements, device=numbers.device)).double()
        counts = torch.zeros(n_frames, len(self.elements), dtype=torch.float64,
                             device=numbers.device)
        return counts.index_add(0, frame, onehot) * self.count_scale

    def forward(self, positions: torch.Tensor, numbers: torch.Tensor, cells: torch.Tensor,
                frame: torch.Tensor, n_frames: int) -> torch.Tensor:
        return self.evaluate(positions, numbers, cells, frame, n_frames)[0]

    def evaluate(self, positions: torch.Tensor, numbers: torch.Tensor, cells: torch.Tensor,
                 frame: torch.Tensor, n_frames: int, describe: bool = False
                 ) -> tuple[torch.Tensor, dict[str, np.ndarray] | None]:
        """Total energies [F] (eV) and, with `describe`, what the network saw of each frame
        (summary's dict), taken from the same images: what a calculator needs in one pass."""
        total = torch.zeros(n_frames, dtype=torch.float64, device=positions.device)
        seen = self._summary_arrays(n_frames) if describe else None
        for chosen, inputs, density, copies in self.groups(positions, numbers, cells, frame,
                                                           n_frames):
            weights = self.atom_weights(*inputs[:4])
            images = self.images(*inputs, weights=weights)
            stretch = self.stretch(inputs[2]) if self.reads_stretch else None
            energy = self.energy(images, *inputs[1:2], *inputs[3:], density=density,
                                 stretch=stretch)
            total = total.index_add(0, chosen, energy / copies)
            if describe:
                self._describe(seen, chosen, inputs, weights.detach(), images.detach())
        return total, seen

    def groups(self, positions: torch.Tensor, numbers: torch.Tensor, cells: torch.Tensor,
               frame: torch.Tensor, n_frames: int):
        """The frames as the network takes them, in groups that share a grid: (the frames' indices
        [G], images() inputs of the group, density [G] or None, copies [G]). An any-cell model's
        frames are made rectangular (cells.canonical: divide a supercell's energy by its copies)
        and its pixel energies weighted by `density`, the pixel's area over the training pixel's;
        any other model's batch is one group as it is."""
        every = torch.arange(n_frames, device=positions.device)
        if not self.any_cell:
            yield every, (positions, numbers, cells, frame, n_frames), None, 1
            return
        factors = [supercell_factor(c) for c in cells.detach().cpu().numpy()]
        positions, numbers, cells, frame, copies = canonical(
            positions, numbers, cells, frame, factors,
            tuple(float(d) * self.multiple for d in self.spacing) if self.match_pixels else None,
            self.match_pixels or MATCH, self.repeat_rng if self.training else None)
        grids = [self.grid_for(cells[f:f + 1]) for f in range(n_frames)]
        for grid in sorted(set(grids)):
            chosen = every[[g == grid for g in grids]]
            renumber = torch.full((n_frames,), -1, dtype=torch.long, device=positions.device)
            renumber[chosen] = torch.arange(len(chosen), device=positions.device)
            atoms = renumber[frame] >= 0
            area = torch.linalg.det(cells[chosen, :2, :2]).abs()
            density = area / float(np.prod(grid) * np.prod(self.spacing))
            yield chosen, (positions[atoms], numbers[atoms], cells[chosen],
                           renumber[frame[atoms]], len(chosen)), density, copies[chosen]

    def summary(self, positions: torch.Tensor, numbers: torch.Tensor, cells: torch.Tensor,
                frame: torch.Tensor, n_frames: int) -> dict[str, np.ndarray]:
        """What the network sees of each frame, to tell a structure beyond the training data:
        its image's highest pixel ("image_peak"), with height channels the largest height of an
        atom above its neighbours ("height", Å), for an any-cell model the pixel spacing
        ("spacing", Å, the smaller and the larger axis: "spacing_min", "spacing_max")."""
        seen = self._summary_arrays(n_frames)
        with torch.no_grad():
            for chosen, inputs, _, _ in self.groups(positions, numbers, cells, frame, n_frames):
                weights = self.atom_weights(*inputs[:4])
                self._describe(seen, chosen, inputs, weights,
                               self.images(*inputs, weights=weights))
        return seen

    def _summary_arrays(self, n_frames: int) -> dict[str, np.ndarray]:
        """summary's keys, each an empty [F] array."""
        return {key: np.zeros(n_frames) for key in ["image_peak"]
                + ["height"] * self.network.config.heights
                + ["spacing_min", "spacing_max"] * self.any_cell}

    def _describe(self, seen: dict[str, np.ndarray], chosen: torch.Tensor, inputs: tuple,
                  weights: torch.Tensor, images: torch.Tensor) -> None:
        """Fill `seen` for the frames `chosen` of one group from its images() `inputs`, atom
        weights and images."""
        index = chosen.cpu().numpy()
        layers = self.network.config.height_layers
        channels = images if images.dim() == self.dim + 2 else images[:, None]
        density = channels.sum(1) if layers else channels[:, 0]  # a slab's layers add up to Z's
        seen["image_peak"][index] = density.flatten(1).amax(1).cpu().numpy()
        if "height" in seen:  # without layers, the weights are Z · (1, u/h₀, …)
            u = (atom_heights(*(inputs[k].detach() for k in (0, 2, 3))) if layers
                 else weights[:, 1] / weights[:, 0] * HEIGHT_SCALE).abs().cpu()
            top = torch.zeros(len(index), dtype=u.dtype).scatter_reduce(
                0, inputs[3].cpu(), u, "amax")
            seen["height"][index] = top.numpy()
        if self.any_cell:
            spacing = self.pixel_spacing(inputs[2].detach().cpu())
            seen["spacing_min"][index] = spacing.amin(1).numpy()
            seen["spacing_max"][index] = spacing.amax(1).numpy()

    def energy(self, images: torch.Tensor, numbers: torch.Tensor, frame: torch.Tensor,
               n_frames: int, density: torch.Tensor | None = None,
               stretch: torch.Tensor | None = None) -> torch.Tensor:
        """Total energies [F] (eV) of frames whose images are `images` (from `images()`), averaged
        over the reflections when the model symmetrizes; `density` [F] weights the network's
        summed pixel energies (an any-cell model's pixel area over its training pixel's), and
        `stretch` [F, 2] are its stretch inputs (a reflection leaves them as they are)."""
        if stretch is None and self.reads_stretch:
            raise ValueError("this model reads each frame's pixel stretch: call evaluate() or "
                             "the model itself, which give it, or pass stretch=")
        if not self.symmetrize:
            return self._energy(images, numbers, frame, n_frames, density, stretch)
        flips = self.reflections
        r = len(flips)
        if images.numel() * r <= self.network.band_pixels:  # one batched pass over all images
            orbit = torch.cat([self.reflect(images, s) for s in flips])
            energies = self._energy(orbit, numbers.repeat(r),
                                    torch.cat([frame + k * n_frames for k in range(r)]),
                                    r * n_frames, None if density is None else density.repeat(r),
                                    None if stretch is None else stretch.repeat(r, 1)
                                    ).reshape(r, n_frames)
        else:  # large cells: one pass per reflection, so memory stays that of one image
            energies = torch.stack([self._energy(self.reflect(images, s), numbers, frame, n_frames,
                                                 density, stretch) for s in flips])
        return energies.mean(0)

    def reflect(self, images: torch.Tensor, axes: tuple[int, ...]) -> torch.Tensor:
        """The images [F, *grid] of the structures reflected (s → −s mod 1) along the cell axes
        `axes`: pixel i samples i/n (with upsampling, a block of `upsample` pixels), so it becomes
        pixel −i, the flipped image rolled by one pixel (block)."""
        dims = [a - self.dim for a in axes]  # the last `dim` axes are the image's
        return images.flip(dims).roll([self.upsample] * len(dims), dims) if dims else images

    def _energy(self, images: torch.Tensor, numbers: torch.Tensor, frame: torch.Tensor,
                n_frames: int, density: torch.Tensor | None = None,
                stretch: torch.Tensor | None = None) -> torch.Tensor:
        """Total energies [F] (eV) of the images as they are."""
        extra = stretch if self.stretch_inputs else (
            self.counts(numbers, frame, n_frames) if self.network.config.extra_inputs else None)
        out = self.network(images, extra)
        if self.stretch_response:  # the energy and its first-order change with the stretch
            out = out[:, 0] + (out[:, 1:] * stretch.to(out.dtype)).sum(-1)
        if density is not None:
            out = out * density.to(out.dtype)
        reference = torch.zeros(n_frames, dtype=torch.float64, device=self.device)
        reference = reference.index_add(0, frame, self.element_energy[numbers])
        mean = (self.energy_mean * self.count_scale * torch.bincount(frame, minlength=n_frames)
                if self.extensive or self.any_cell else self.energy_mean)
        return reference + mean + self.energy_scale * out.double()
