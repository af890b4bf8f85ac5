"""The paper's CNNs (NOTES §5, our reconstruction of its Figure 2), in 2D and 3D.

Layers: reducing R = 64 filters 3^d, stride 2; non-reducing N = 16 filters 4^d, stride 1; each
followed by the activation, padded so sizes stay or halve exactly. Network 1 (Mills et al. 2017)
is R, then (N, N, R) repeated until the image is 2 pixels wide, flattened into dense 1024 → 1.
Network 2 is Network 1 with the later reducing layers removed (`reductions` keeps the first
ones), so more spatial information reaches the dense layer, and it sees four shifted, wrapped
copies of the image (2^d in 3D) through one shared trunk, so that every cell boundary sits at
the centre of one copy; their flattened outputs feed the dense 1024 layer together.

Beyond the paper: `padding="circular"` makes the trunk exactly periodic, and `head="pixel"`
applies the dense layers to every output pixel (as 1-pixel convolutions) and sums the result, an
energy per pixel as in EDNN, which is invariant to whole-pixel shifts of the image; `head="pool"`
feeds the dense layers the features' mean. `extra_inputs` adds scalars (element counts) to the
head's input. See README "The method, and where we depart from the paper".
"""
from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "softplus": nn.Softplus}
PADDINGS = ("zeros", "circular")
HEADS = ("flatten", "pool", "pixel")
REDUCING = (64, 3, 2)  # filters, kernel, stride
NON_REDUCING = (16, 4, 1)


@dataclass(frozen=True)
class NetworkConfig:
    """Everything that fixes a network's shape; stored in every model file."""

    grid: tuple[int, ...] = (256, 256)
    reductions: int | None = None  # None: Network 1 (reduce down to 2 pixels)
    periodic_copies: bool = False  # True for Network 2
    padding: str = "zeros"  # the paper's; "circular" makes the trunk exactly periodic
    activation: str = "relu"  # the paper's; "silu"/"softplus" give smooth forces
    dense: int = 1024
    head: str = "flatten"  # the paper's; "pool": dense head on the features' mean; "pixel": an
    # energy per output pixel from a per-pixel dense head, summed (local, translation-invariant)
    extra_inputs: int = 0  # scalars fed to the dense head beside the image (e.g. element counts)

    def to_dict(self) -> dict:
        return {**asdict(self), "grid": list(self.grid)}

    @classmethod
    def from_dict(cls, d: dict) -> "NetworkConfig":
        return cls(**{**d, "grid": tuple(d["grid"])})


def network1_config(grid: tuple[int, ...] = (256, 256), **kw) -> NetworkConfig:
    """Network 1, the dimer network."""
    return NetworkConfig(grid=tuple(grid), **kw)


def network2_config(grid: tuple[int, ...] = (256, 256), reductions: int | None = None,
                    **kw) -> NetworkConfig:
    """Network 2, the sheet network; by default it reduces until 8 pixels per side remain."""
    if reductions is None:
        reductions = max(int(math.log2(min(grid))) - 3, 0)
    return NetworkConfig(**{"grid": tuple(grid), "reductions": reductions, "periodic_copies": True,
                            **kw})


class SamePadConv(nn.Module):
    """Convolution padded like TensorFlow's 'same': output = ceil(input / stride)."""

    def __init__(self, dim: int, c_in: int, c_out: int, kernel: int, stride: int, padding: str):
        super().__init__()
        conv = nn.Conv2d if dim == 2 else nn.Conv3d
        self.conv = conv(c_in, c_out, kernel, stride=stride)
        total = kernel - stride  # for sizes divisible by the stride
        self.pad = [total // 2, total - total // 2] * dim
        self.mode = "constant" if padding == "zeros" else "circular"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, self.pad, mode=self.mode))


class CNNAS(nn.Module):
    """Image [B, *grid] → value [B] (an energy or a distance, in the units it was trained on)."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        self.config = config
        grid, dim = config.grid, len(config.grid)
        if dim not in (2, 3):
            raise ValueError(f"grid {grid}: only 2D and 3D images are supported")
        if (config.padding not in PADDINGS or config.activation not in ACTIVATIONS
                or config.head not in HEADS):
            raise ValueError(f"padding must be one of {PADDINGS}, activation one of "
                             f"{tuple(ACTIVATIONS)} and head one of {HEADS}; got "
                             f"{config.padding!r}, {config.activation!r}, {config.head!r}")
        blocks = int(math.log2(min(grid))) - 2  # Network 1: R + (N, N, R) × blocks → 2 pixels
        reductions = blocks + 1 if config.reductions is None else config.reductions
        if not 0 <= reductions <= blocks + 1 or any(n % 2**reductions for n in grid):
            raise ValueError(f"grid {grid} cannot be halved {reductions} times: use sizes that are "
                             f"multiples of {2**reductions}, at least {2**(reductions + 1)}")
        act = ACTIVATIONS[config.activation]
        layers, c_in = [], 1
        kinds = ["R"] + ["N", "N", "R"] * blocks
        for kind in kinds:
            if kind == "R":
                if reductions == 0:
                    continue
                reductions -= 1
            filters, kernel, stride = REDUCING if kind == "R" else NON_REDUCING
            layers += [SamePadConv(dim, c_in, filters, kernel, stride, config.padding), act()]
            c_in = filters
        self.trunk = nn.Sequential(*layers)
        kept = 1 + blocks if config.reductions is None else config.reductions
        pixels = math.prod(n // 2**kept for n in grid) if config.head == "flatten" else 1
        self.shifts = ([tuple(s * n // 2 for s, n in zip(bits, grid))
                        for bits in itertools.product((0, 1), repeat=dim)]
                       if config.periodic_copies else [(0,) * dim])
        if config.head == "pixel":  # the dense layers as 1-pixel convolutions
            conv = nn.Conv2d if dim == 2 else nn.Conv3d
            self.head = nn.Sequential(conv(c_in + config.extra_inputs, config.dense, 1), act(),
                                      conv(config.dense, 1, 1))
        else:
            self.head = nn.Sequential(
                nn.Linear(len(self.shifts) * c_in * pixels + config.extra_inputs, config.dense),
                act(), nn.Linear(config.dense, 1))
        for layer in self.modules():  # He init keeps the signal alive through the deep trunk
            if isinstance(layer, (nn.Conv2d, nn.Conv3d, nn.Linear)):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)
        if config.head == "pixel":  # start from zero energy: a sum over pixels would be large
            nn.init.zeros_(self.head[-1].weight)

    def forward(self, images: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """images [B, *grid], extra [B, extra_inputs] → [B]."""
        dims = tuple(range(1, images.dim()))
        copies = torch.stack([images.roll(s, dims) for s in self.shifts], dim=1)  # [B, C, *grid]
        b, c = copies.shape[:2]
        features = self.trunk(copies.reshape(b * c, 1, *copies.shape[2:]))
        if self.config.head == "pixel":  # energy per pixel, summed; copies averaged
            if self.config.extra_inputs:
                per_copy = extra.to(features.dtype).repeat_interleave(c, dim=0)
                per_copy = per_copy.reshape(*per_copy.shape, *[1] * (features.dim() - 2))
                features = torch.cat([features, per_copy.expand(-1, -1, *features.shape[2:])], 1)
            return self.head(features).reshape(b, c, -1).sum(-1).mean(-1)
        if self.config.head == "pool":  # translation-invariant summary of each copy
            features = features.flatten(2).mean(-1)
        features = features.reshape(b, -1)
        if self.config.extra_inputs:
            features = torch.cat([features, extra.to(features.dtype)], dim=1)
        return self.head(features).squeeze(-1)
