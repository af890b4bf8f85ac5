"""The paper's CNNs (NOTES §5, our reconstruction of its Figure 2), in 2D and 3D.

Layers: reducing R = 64 filters 3^d, stride 2; non-reducing N = 16 filters 4^d, stride 1 (more
with `filters`, our capacity knob; `widened` adds them to a trained network); each
followed by the activation, padded so sizes stay or halve exactly. Network 1 (Mills et al. 2017)
is R, then (N, N, R) repeated until the image is 2 pixels wide, flattened into dense 1024 → 1.
Network 2 is Network 1 with the later reducing layers removed (`reductions` keeps the first
ones), so more spatial information reaches the dense layer, and it sees four shifted, wrapped
copies of the image (2^d in 3D) through one shared trunk, so that every cell boundary sits at
the centre of one copy; their flattened outputs feed the dense 1024 layer together.

Beyond the paper: `padding="circular"` makes the trunk exactly periodic, and `head="pixel"`
applies the dense layers to every output pixel's features and sums the result, an
energy per pixel as in EDNN, which is invariant to whole-pixel shifts of the image; `head="pool"`
feeds the dense layers the features' mean. `extra_inputs` adds scalars (element counts) to the
head's input; `outputs` > 1 gives a pixel head several summed values per pixel. A pixel head
on an image above `band_pixels` runs in bands of rows with halos, recomputed in the backward
pass, so that memory does not limit the cell. See docs/method.md.
`heights` reads images with height channels through an EvenStem (free-standing sheets;
`odd_kernel` widens the window in which it reads the heights), or with
`height_layers` a thin slab of height layers through a SlabStem.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.checkpoint import checkpoint

ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "softplus": nn.Softplus}
PADDINGS = ("zeros", "circular")
HEADS = ("flatten", "pool", "pixel")
REDUCING = (64, 3, 2)  # filters, kernel, stride
NON_REDUCING = (4, 1)  # kernel, stride; filters: NetworkConfig.filters


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
    filters: int = 16  # of each non-reducing layer: the paper's 16; more adds capacity
    heights: bool = False  # images carry height channels (V, u, u²) read by an EvenStem
    height_layers: int = 0  # with heights, K > 0: a thin slab of K layers of u, by a SlabStem
    near_heights: float = 0.0  # with heights, R > 0 (Å): two more channels (u_R, u_R²) of the
    # height above the neighbours within R alone
    odd_kernel: int = 0  # with heights: the EvenStem's odd (u) kernel, wider than the stem's own
    # 3 so that one window sees neighbouring atoms' heights together (0: the stem's own)
    slopes: bool = False  # with heights: one more even channel, Z s, of the mean squared height
    # difference to the neighbours, a slope u cannot see (a stretched sheet's tension acts on it)
    outputs: int = 1  # values per pixel of a pixel head, each summed (an energy, and more)

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


def _wrap(x: torch.Tensor, pad: list[int]) -> torch.Tensor:
    """Circular padding of the last len(pad) // 2 dimensions (F.pad's order: last first)."""
    for k in range(len(pad) // 2):
        dim, (lo, hi), n = x.dim() - 1 - k, pad[2 * k:2 * k + 2], x.shape[x.dim() - 1 - k]
        parts = [x.narrow(dim, n - lo, lo)] * bool(lo) + [x] + [x.narrow(dim, 0, hi)] * bool(hi)
        x = torch.cat(parts, dim)  # no empty parts: they would make cat drop channels-last
    return x


def _fold(g: torch.Tensor, pad: list[int]) -> torch.Tensor:
    """The adjoint of _wrap: the padding's gradient added back onto the pixels it copied."""
    for k in reversed(range(len(pad) // 2)):
        dim, (lo, hi) = g.dim() - 1 - k, pad[2 * k:2 * k + 2]
        n = g.shape[dim] - lo - hi
        out = g.narrow(dim, lo, n).clone()
        out.narrow(dim, 0, hi).add_(g.narrow(dim, lo + n, hi))
        out.narrow(dim, n - lo, lo).add_(g.narrow(dim, 0, lo))
        g = out
    return g


class _CircularPad(torch.autograd.Function):
    """Wrap (or, with `fold`, its adjoint); the backward applies the other, so it differentiates
    to any order (force training differentiates through it twice)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, pad: list[int], fold: bool) -> torch.Tensor:
        ctx.pad, ctx.fold = pad, fold
        return (_fold if fold else _wrap)(x, pad)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _CircularPad.apply(grad, ctx.pad, not ctx.fold), None, None


def circular_pad(x: torch.Tensor, pad: list[int]) -> torch.Tensor:
    """F.pad(x, pad, mode="circular") with a one-copy backward: F.pad's goes through a chain of
    slice copies, 2.8× slower on a 64-channel 512² image and 1.5× on the MD-sized ones."""
    return _CircularPad.apply(x, pad, False)


class SamePadConv(nn.Module):
    """Convolution padded like TensorFlow's 'same': output = ceil(input / stride)."""

    def __init__(self, dim: int, c_in: int, c_out: int, kernel: int, stride: int, padding: str,
                 bias: bool = True):
        super().__init__()
        conv = nn.Conv2d if dim == 2 else nn.Conv3d
        self.conv = conv(c_in, c_out, kernel, stride=stride, bias=bias)
        total = kernel - stride  # for sizes divisible by the stride
        self.pad = [total // 2, total - total // 2] * dim
        self.circular = padding == "circular"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(circular_pad(x, self.pad) if self.circular else F.pad(x, self.pad))


class EvenStem(nn.Module):
    """The first layer for images with height channels [N, 1 + 2H, *grid] (V, then Σ Z u g and
    Σ Z u² g of each of H heights u of an atom above its neighbours, ase_cnnas/heights.py):

        ½ [act(W_e * (V, u²…) + W_o * (u…)) + act(W_e * (V, u²…) − W_o * (u…))],

    even in the u, so the energy is exactly invariant to the mirror z → −z. With W_o and the u²
    weights zero it is a flat network's first layer. Being even, it keeps of the u only what one
    window of W_o sees together: a 3-pixel window sees one atom, so the relative sign of two
    atoms' heights is lost there unless `odd_kernel` spans neighbours (about 11 pixels of 0.2 Å
    for a bond's two ends; the ½ act'' (W_o * u)² term then holds their products)."""

    def __init__(self, dim: int, c_out: int, kernel: int, stride: int, padding: str, act: type,
                 heights: int = 1, odd_kernel: int = 0, slopes: int = 0):
        super().__init__()
        self.paired = 1 + 2 * heights  # V, then (u, u²) of each height; any slope channels after
        self.even = SamePadConv(dim, 1 + heights + slopes, c_out, kernel, stride, padding)
        self.odd = SamePadConv(dim, heights, c_out, odd_kernel or kernel, stride, padding,
                               bias=False)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.paired
        even = self.even(torch.cat([x[:, 0:n:2], x[:, n:]], dim=1))
        odd = self.odd(x[:, 1:n:2])
        return (self.act(even + odd) + self.act(even - odd)) / 2


class SlabStem(nn.Module):
    """The first layer for a thin slab [N, K, *grid] (K layers of an atom's height above its
    neighbours, placed symmetrically about zero, ase_cnnas/heights.py):

        ½ [act(W * x) + act(W * x̃)],   x̃ the slab with its layers reversed (the mirror z → −z),

    so the energy is exactly invariant to the mirror. With one kernel on every layer it is a
    flat network's first layer."""

    def __init__(self, dim: int, layers: int, c_out: int, kernel: int, stride: int, padding: str,
                 act: type):
        super().__init__()
        self.conv = SamePadConv(dim, layers, c_out, kernel, stride, padding)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.act(self.conv(x)) + self.act(self.conv(x.flip(1)))) / 2


class CNNAS(nn.Module):
    """Image [B, *grid] → value [B] (an energy or a distance, in the units it was trained on)."""

    band_pixels = 2**24  # pixel head: larger images are evaluated in bands of about this many

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
        if config.outputs < 1 or (config.outputs > 1 and config.head != "pixel"):
            raise ValueError(f"outputs {config.outputs}: one value, or several from a pixel head")
        if config.filters < 1:
            raise ValueError(f"filters {config.filters}: give at least 1 per non-reducing layer")
        if config.near_heights and (not config.heights or config.height_layers):
            raise ValueError(f"near_heights {config.near_heights}: for height channels (heights), "
                             "not a slab (height_layers)")
        if config.odd_kernel and (not config.heights or config.height_layers
                                  or config.odd_kernel < REDUCING[1]):
            raise ValueError(f"odd_kernel {config.odd_kernel}: for height channels (heights), not "
                             f"a slab (height_layers), and at least the stem's {REDUCING[1]}")
        if config.slopes and (not config.heights or config.height_layers):
            raise ValueError("slopes: for height channels (heights), not a slab (height_layers)")
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
            filters, kernel, stride = REDUCING if kind == "R" else (config.filters, *NON_REDUCING)
            if config.heights and not layers:  # the activation is inside; the Identity keeps
                # every later layer at the index it has in a flat network
                stem = (SlabStem(dim, config.height_layers, filters, kernel, stride,
                                 config.padding, act) if config.height_layers else
                        EvenStem(dim, filters, kernel, stride, config.padding, act,
                                 1 + (config.near_heights > 0), config.odd_kernel,
                                 int(config.slopes)))
                layers += [stem, nn.Identity()]
            else:
                layers += [SamePadConv(dim, c_in, filters, kernel, stride, config.padding), act()]
            c_in = filters
        self.trunk = nn.Sequential(*layers)
        kept = 1 + blocks if config.reductions is None else config.reductions
        pixels = math.prod(n // 2**kept for n in grid) if config.head == "flatten" else 1
        self.shifts = ([tuple(s * n // 2 for s, n in zip(bits, grid))
                        for bits in itertools.product((0, 1), repeat=dim)]
                       if config.periodic_copies else [(0,) * dim])
        width = c_in if config.head == "pixel" else len(self.shifts) * c_in * pixels
        self.head = nn.Sequential(nn.Linear(width + config.extra_inputs, config.dense), act(),
                                  nn.Linear(config.dense, config.outputs))
        for layer in self.modules():  # He init keeps the signal alive through the deep trunk
            if isinstance(layer, (nn.Conv2d, nn.Conv3d, nn.Linear)):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
        if config.head == "pixel":  # start from zero energy: a sum over pixels would be large
            nn.init.zeros_(self.head[-1].weight)
        # channels-last activations: oneDNN's native layout, 15–18 % off a CPU forward + backward
        # (60-atom MD step and training step alike; tested equal to the plain layout)
        self.to(memory_format=torch.channels_last if dim == 2 else torch.channels_last_3d)

    def _pixel_energies(self, x: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        """Pixel head: [N, 1, *grid] → values per output pixel [N, *grid / 2^reductions,
        outputs], the dense layers applied to each pixel's features (a view, the trunk being
        channels-last)."""
        features = self.trunk(x).movedim(1, -1)  # [N, *pixels, C]
        with torch.autocast(x.device.type, enabled=False):  # under autocast (a bfloat16 scan)
            features = features.to(x.dtype)  # the head and the sums stay in full precision
            if extra is not None:
                extra = extra.to(x.dtype).reshape(len(extra), *[1] * (features.dim() - 2), -1)
                features = torch.cat([features, extra.expand(*features.shape[:-1], -1)], -1)
            return self.head(features)

    def _summed(self, x: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
        """Pixel head: [N, 1, *grid] → summed values [N, outputs]. Images above `band_pixels`
        pixels (and circular padding) go through in bands of rows, each with a halo of the
        receptive field taken from its wrapped neighbours, and each recomputed in the backward
        pass instead of stored: memory stays that of one band, so any cell fits (the sum is the
        same, exactly up to float rounding, since no output pixel of a band's core sees past its
        halo)."""
        rows, width = x.shape[2], math.prod(x.shape[3:])
        field, scale = self.receptive_field  # scale: input rows per output row
        band = max(self.band_pixels // width // scale, 1) * scale
        if band >= rows or self.config.padding != "circular":
            return self._pixel_energies(x, extra).flatten(1, -2).sum(1)
        halo = -(-field // scale) * scale
        total = 0
        for start in range(0, rows, band):
            rows_in = torch.arange(start - halo, min(start + band, rows) + halo, device=x.device)
            part = x.index_select(2, rows_in % rows)
            if torch.is_grad_enabled():
                out = checkpoint(self._pixel_energies, part, extra, use_reentrant=False)
            else:
                out = self._pixel_energies(part, extra)
            total = total + out[:, halo // scale:out.shape[1] - halo // scale].flatten(1, -2).sum(1)
        return total

    @property
    def receptive_field(self) -> tuple[int, int]:
        """Input pixels across that one output pixel of the trunk sees (147 for the bundled
        Network 2), and input pixels per output pixel."""
        size, jump = 1, 1
        for layer in self.trunk:
            convs = ((layer.even, layer.odd) if isinstance(layer, EvenStem) else
                     (layer,) if isinstance(layer, SamePadConv) else ())
            if convs:
                size += (max(c.conv.kernel_size[0] for c in convs) - 1) * jump
                jump *= convs[0].conv.stride[0]
        return size, jump

    def forward(self, images: torch.Tensor, extra: torch.Tensor | None = None) -> torch.Tensor:
        """images [B, *grid] (or [B, 3, *grid] with height channels), extra [B, extra_inputs]
        → [B] (or [B, outputs] where there are several)."""
        if images.dim() == len(self.config.grid) + 1:
            images = images[:, None]
        dims = tuple(range(2, images.dim()))
        copies = torch.stack([images.roll(s, dims) for s in self.shifts], dim=1)  # [B, S, C, …]
        b, c = copies.shape[:2]
        x = copies.reshape(b * c, *copies.shape[2:])
        if self.config.head == "pixel":  # energy per pixel, summed; copies averaged
            per_copy = extra.repeat_interleave(c, dim=0) if self.config.extra_inputs else None
            out = self._summed(x, per_copy).reshape(b, c, -1).mean(1)
            return out if self.config.outputs > 1 else out[:, 0]
        features = self.trunk(x)
        if self.config.head == "pool":  # translation-invariant summary of each copy
            features = features.flatten(2).mean(-1)
        features = features.reshape(b, -1)
        if self.config.extra_inputs:
            features = torch.cat([features, extra.to(features.dtype)], dim=1)
        return self.head(features).squeeze(-1)


def _rebuilt(network: CNNAS, **changes) -> CNNAS:
    """A fresh network of `network`'s config with `changes`, on its device and in its dtype."""
    like = next(network.parameters())
    return CNNAS(NetworkConfig(**{**asdict(network.config), **changes})).to(like.device,
                                                                            like.dtype)


def widened(network: CNNAS, filters: int) -> CNNAS:
    """`network` with `filters` per non-reducing layer, computing exactly the same function: the
    trained weights are kept, the new channels start from a fresh initialisation and are read
    with zero weights, so that training can put them to use from where the network stands
    (function-preserving widening, Net2Net: Chen, Goodfellow & Shlens 2016). Pixel head only."""
    config = network.config
    if config.head != "pixel":
        raise ValueError(f"a {config.head!r} head cannot be widened: only the pixel head, whose "
                         "input is the last layer's channels, keeps its function")
    if filters < config.filters:
        raise ValueError(f"filters {filters}: the network has {config.filters} per non-reducing "
                         "layer already, and narrowing would lose what it learnt")
    wide = _rebuilt(network, filters=filters)

    def weighted(net: CNNAS) -> list[nn.Module]:
        return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear))]

    old_layers, new_layers = weighted(network), weighted(wide)
    with torch.no_grad():
        for old, new in zip(old_layers, new_layers):
            kept_in, n_in = old.weight.shape[1], new.weight.shape[1]
            # the inputs the old layer read: its first channels, and after the features, the
            # head's extra inputs; the new channels between them are read with zero weights
            extra = config.extra_inputs if old is old_layers[-2] else 0
            read = torch.cat([torch.arange(kept_in - extra), torch.arange(n_in - extra, n_in)])
            kept_out = old.weight.shape[0]
            new.weight[:kept_out] = 0
            new.weight[:kept_out, read.to(new.weight.device)] = old.weight
            new.bias[kept_out:] = 0
            new.bias[:kept_out] = old.bias
    return wide


def with_outputs(network: CNNAS, outputs: int) -> CNNAS:
    """`network` (a pixel head with one output) giving `outputs` values per pixel, the first its
    own and the others read with zero weights at first: the same first value until training
    moves them."""
    config = network.config
    if config.head != "pixel" or config.outputs != 1:
        raise ValueError("only a pixel head with one output can be given more")
    grown = _rebuilt(network, outputs=outputs)
    state = network.state_dict()
    last = len(network.head) - 1
    weight, bias = state[f"head.{last}.weight"], state[f"head.{last}.bias"]
    state[f"head.{last}.weight"] = torch.cat([weight,
                                              weight.new_zeros(outputs - 1, weight.shape[1])])
    state[f"head.{last}.bias"] = torch.cat([bias, bias.new_zeros(outputs - 1)])
    grown.load_state_dict(state)
    return grown


def with_extra_inputs(network: CNNAS, extra: int) -> CNNAS:
    """`network` (a pixel head with no extra inputs) whose head also reads `extra` scalars per
    frame, at first with zero weights: the same function until training moves them."""
    config = network.config
    if config.head != "pixel" or config.extra_inputs:
        raise ValueError("only a pixel head that reads no extra inputs yet can be given them")
    grown = _rebuilt(network, extra_inputs=extra)
    state = network.state_dict()
    first = state["head.0.weight"]
    state["head.0.weight"] = torch.cat([first, first.new_zeros(len(first), extra)], 1)
    grown.load_state_dict(state)
    return grown


ODD_INIT = 0.01  # with_heights: the odd weights' spread, relative to a fresh He initialisation


def with_heights(network: CNNAS, seed: int = 0, layers: int = 0) -> CNNAS:
    """`network` (a flat one) taking height channels, or with `layers` a slab of that many: every
    layer after the first is kept, and the first becomes
    - an EvenStem whose V weights are the trained ones and whose u² weights are zero, its odd
      (u) weights small but not zero: the stem is even in them, so at zero their gradient would
      vanish and training could never move them;
    - or a SlabStem with the trained kernel on every layer, plus small noise: with equal
      kernels the mirror-averaged stem's gradient never separates the layers.
    The energy of any structure starts within O(ODD_INIT²) (EvenStem) or O(ODD_INIT) (SlabStem)
    of the flat network's."""
    config = network.config
    if config.heights:
        raise ValueError("the network takes height channels already")
    deep = _rebuilt(network, heights=True, height_layers=layers)
    old_first, stem = network.trunk[0].conv, deep.trunk[0]
    with torch.no_grad():
        later = {k: v for k, v in network.state_dict().items() if not k.startswith("trunk.0.")}
        missing, unexpected = deep.load_state_dict(later, strict=False)
        assert not unexpected and all(k.startswith("trunk.0.") for k in missing)
        first = stem.conv.conv if layers else stem.even.conv
        first.weight.zero_()
        first.weight[:, :layers or 1] = old_first.weight
        first.bias.copy_(old_first.bias)
        noisy = first.weight if layers else stem.odd.conv.weight.zero_()
        noisy.add_(_small_noise(noisy, seed))
    return deep


def _small_noise(like: torch.Tensor, seed: int) -> torch.Tensor:
    """Seeded noise shaped like the weight `like`, ODD_INIT times He's spread for its fan-in."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    std = math.sqrt(2 / like[0].numel())  # He's, for ReLU-like activations
    return (torch.randn(like.shape, generator=generator, dtype=like.dtype) * std
            * ODD_INIT).to(like.device)


def with_near_heights(network: CNNAS, radius: float, seed: int = 0) -> CNNAS:
    """`network` (with height channels) also reading the height above the neighbours within
    `radius` (Å): its stem's new u_R² weights start at zero and its new odd u_R weights small but
    not zero (with_heights says why), every other weight as trained, so the energy starts within
    O(ODD_INIT²) of the network's."""
    config = network.config
    if not config.heights or config.height_layers or config.near_heights:
        raise ValueError("only a network with the (Z, Zu, Zu²) height channels and no near "
                         "heights yet can be given them")
    deep = _rebuilt(network, near_heights=radius)
    old, stem = network.trunk[0], deep.trunk[0]
    with torch.no_grad():
        deep.load_state_dict({k: v for k, v in network.state_dict().items()
                              if not k.startswith("trunk.0.")}, strict=False)
        stem.even.conv.weight.zero_()
        stem.even.conv.weight[:, :2] = old.even.conv.weight
        stem.even.conv.bias.copy_(old.even.conv.bias)
        odd = stem.odd.conv.weight
        odd[:, :1] = old.odd.conv.weight
        odd[:, 1:] = _small_noise(odd[:, 1:], seed)
    return deep


def with_slopes(network: CNNAS) -> CNNAS:
    """`network` (with height channels) also reading the slope channel: its stem's new even
    weights start at zero, every other weight as trained, so the function is unchanged until
    training moves them (their gradient does not vanish: the channel enters the even part)."""
    old = network.trunk[0]
    if not isinstance(old, EvenStem) or network.config.slopes:
        raise ValueError("only a network with the (Z, Zu, Zu²) height channels and no slope "
                         "channel yet can be given one")
    deep = _rebuilt(network, slopes=True)
    stem = deep.trunk[0]
    with torch.no_grad():
        deep.load_state_dict({k: v for k, v in network.state_dict().items()
                              if k != "trunk.0.even.conv.weight"}, strict=False)
        stem.even.conv.weight.zero_()
        stem.even.conv.weight[:, :old.even.conv.in_channels] = old.even.conv.weight
    return deep


def with_odd_kernel(network: CNNAS, kernel: int) -> CNNAS:
    """`network` (with height channels) whose EvenStem reads the u through a `kernel`-wide odd
    convolution: the trained odd kernel sits where it acted, the new taps around it start at
    zero, so the function is unchanged until training moves them (their gradient does not
    vanish, the trained odd weights being non-zero)."""
    old = network.trunk[0]
    if not isinstance(old, EvenStem) or kernel <= old.odd.conv.kernel_size[0]:
        raise ValueError(f"odd kernel {kernel}: only a network with the (Z, Zu, Zu²) height "
                         "channels, and wider than its present odd kernel, can be given one")
    wide = _rebuilt(network, odd_kernel=kernel)
    new = wide.trunk[0].odd
    # same output pixel: the taps line up where the two paddings' leading sides differ
    at = new.pad[0] - old.odd.pad[0]
    span = old.odd.conv.kernel_size[0]
    with torch.no_grad():
        wide.load_state_dict({k: v for k, v in network.state_dict().items()
                              if k != "trunk.0.odd.conv.weight"}, strict=False)
        new.conv.weight.zero_()
        new.conv.weight[(..., *[slice(at, at + span)] * (new.conv.weight.dim() - 2))] = \
            old.odd.conv.weight
    return wide
