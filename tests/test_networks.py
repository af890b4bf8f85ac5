"""CNNAS networks: shapes, periodic copies, configuration errors, circular-padding periodicity,
widening."""
from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from ase_cnnas.networks import (
    ACTIVATIONS,
    CNNAS,
    NetworkConfig,
    circular_pad,
    network1_config,
    network2_config,
    widened,
)

DENSE = 16
EQUIVARIANCE_ATOL = 1e-12  # float64 trunk, circular padding: rolls commute exactly
ZERO_PAD_MIN_DIFF = 1e-4  # zero padding must visibly break the same commutation


def run(config: NetworkConfig, batch: int = 3, seed: int = 0) -> torch.Tensor:
    torch.manual_seed(seed)
    model = CNNAS(config)
    return model(torch.rand(batch, *config.grid))


@pytest.mark.parametrize("config", [
    network1_config((16, 16), dense=DENSE),
    network1_config((32, 32), dense=DENSE),
    network1_config((16, 32), dense=DENSE),
    network1_config((8, 8, 8), dense=DENSE),
    network2_config((16, 16), dense=DENSE),
    network2_config((32, 32), dense=DENSE),
    network2_config((8, 8, 8), dense=DENSE),
    network2_config((16, 16), reductions=0, dense=DENSE),
    network2_config((16, 16), reductions=3, dense=DENSE, padding="circular"),
], ids=lambda c: (f"{'n2' if c.periodic_copies else 'n1'}-{'x'.join(map(str, c.grid))}"
                  f"-r{c.reductions}-{c.padding}"))
def test_output_shape(config):
    out = run(config, batch=3)
    assert out.shape == (3,)
    assert torch.isfinite(out).all()
    assert out.dtype == torch.float32


def test_batch_items_independent():
    """Each image's value does not depend on the rest of the batch."""
    torch.manual_seed(0)
    model = CNNAS(network2_config((16, 16), dense=DENSE)).eval()
    x = torch.rand(4, 16, 16)
    together = model(x)
    alone = torch.cat([model(x[i:i + 1]) for i in range(4)])
    torch.testing.assert_close(together, alone, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("grid, copies", [((16, 16), 4), ((32, 16), 4), ((8, 8, 8), 8)])
def test_network2_periodic_copies(grid, copies):
    model = CNNAS(network2_config(grid, dense=DENSE))
    assert len(model.shifts) == copies
    assert len(set(model.shifts)) == copies
    # every copy is the image shifted by half a cell (or not) along each axis
    assert set(model.shifts) == {tuple(b * n // 2 for b, n in zip(bits, grid))
                                 for bits in itertools.product((0, 1), repeat=len(grid))}


def test_network1_single_copy():
    assert CNNAS(network1_config((16, 16), dense=DENSE)).shifts == [(0, 0)]


@pytest.mark.parametrize("grid", [(16, 16), (32, 32), (64, 32), (8, 8, 8)])
def test_network2_default_keeps_8_pixels(grid):
    """Network 2 by default reduces until 8 pixels per side (of the smaller side) remain, and its
    dense layer takes all copies' feature maps."""
    model = CNNAS(network2_config(grid, dense=DENSE))
    features = model.trunk(torch.zeros(1, 1, *grid))
    factor = min(grid) // 8
    assert features.shape[2:] == tuple(n // factor for n in grid)
    assert model.head[0].in_features == len(model.shifts) * features[0].numel()


def test_network1_reduces_to_2_pixels():
    model = CNNAS(network1_config((32, 32), dense=DENSE))
    assert model.head[0].in_features == 64 * 2 * 2  # last layer reducing (64 filters), 2 × 2


def test_network2_copies_see_shifted_images():
    """With zero padding Network 2 is not invariant to a half-cell roll of the whole image,
    but the roll only permutes the copies: the trunk features are the same set."""
    torch.manual_seed(0)
    model = CNNAS(network2_config((16, 16), dense=DENSE)).double()
    x = torch.rand(1, 16, 16, dtype=torch.float64)
    rolled = x.roll((8, 8), (1, 2))
    f = [model.trunk(x.roll(s, (1, 2))[:, None]) for s in model.shifts]
    g = [model.trunk(rolled.roll(s, (1, 2))[:, None]) for s in model.shifts]
    # (8, 8) roll maps copy (0,0)↔(8,8) and (0,8)↔(8,0)
    torch.testing.assert_close(g[0], f[3], atol=EQUIVARIANCE_ATOL, rtol=0)
    torch.testing.assert_close(g[1], f[2], atol=EQUIVARIANCE_ATOL, rtol=0)


@pytest.mark.parametrize("grid, reductions", [((16, 16), 1), ((16, 16), 3), ((8, 8, 8), 2)])
def test_circular_trunk_is_roll_equivariant(grid, reductions):
    """padding='circular': rolling the image by 2**reductions pixels rolls the trunk's feature
    map by exactly one pixel; with zero padding it does not."""
    step = 2**reductions
    dims = tuple(range(2, 2 + len(grid)))
    x = torch.rand(2, 1, *grid, dtype=torch.float64)
    for padding in ("circular", "zeros"):
        torch.manual_seed(1)
        trunk = CNNAS(network2_config(grid, reductions=reductions, padding=padding,
                                      dense=DENSE)).trunk.double()
        shifted = trunk(x.roll((step,) * len(grid), dims))
        expected = trunk(x).roll((1,) * len(grid), dims)
        diff = (shifted - expected).abs().max().item()
        if padding == "circular":
            assert diff < EQUIVARIANCE_ATOL
        else:
            assert diff > ZERO_PAD_MIN_DIFF


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_activations_run(activation):
    out = run(network2_config((16, 16), dense=DENSE, activation=activation))
    assert out.shape == (3,) and torch.isfinite(out).all()
    model = CNNAS(network2_config((16, 16), dense=DENSE, activation=activation))
    assert any(isinstance(m, ACTIVATIONS[activation]) for m in model.modules())


def test_output_differentiable_wrt_image():
    torch.manual_seed(0)
    model = CNNAS(network2_config((16, 16), dense=DENSE, activation="silu"))
    x = torch.rand(2, 16, 16, requires_grad=True)
    model(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("make, grid, kw, halvings", [
    (network1_config, (20, 20), {}, 3),  # Network 1 on 20: 3 halvings, 20 % 8 ≠ 0
    (network1_config, (16, 20), {}, 3),
    (network2_config, (16, 16), {"reductions": 4}, 4),  # more than Network 1 has
    (network2_config, (16, 16), {"reductions": -1}, -1),
    (network2_config, (12, 12), {"reductions": 3}, 3),
    (network2_config, (8, 8, 10), {"reductions": 2}, 2),
])
def test_grid_that_cannot_be_halved_raises(make, grid, kw, halvings):
    with pytest.raises(ValueError, match=rf"cannot be halved {halvings} times.*multiples of"):
        CNNAS(make(grid, dense=DENSE, **kw))


@pytest.mark.parametrize("grid", [(16,), (8, 8, 8, 8)])
def test_only_2d_and_3d(grid):
    with pytest.raises(ValueError, match="only 2D and 3D"):
        CNNAS(NetworkConfig(grid=grid, dense=DENSE))


@pytest.mark.parametrize("kw, bad", [({"activation": "tanh"}, "'tanh'"),
                                     ({"padding": "reflect"}, "'reflect'")])
def test_bad_activation_or_padding_raises(kw, bad):
    with pytest.raises(ValueError, match=bad):
        CNNAS(network1_config((16, 16), dense=DENSE, **kw))


def test_config_dict_round_trip():
    config = network2_config((16, 32), dense=DENSE, activation="softplus", padding="circular")
    d = config.to_dict()
    assert d["grid"] == [16, 32]  # JSON-friendly
    assert NetworkConfig.from_dict(d) == config
    assert network2_config((256, 256)).reductions == 5
    assert network2_config((16, 16)).reductions == 1


@pytest.mark.parametrize("grid", [(16, 16), (8, 8, 8)])
def test_pixel_head_is_invariant_to_whole_output_pixel_rolls(grid):
    """Circular padding + an energy per output pixel, summed: rolling the image by one output
    pixel (2**reductions input pixels) leaves the value unchanged."""
    config = network2_config(grid, dense=DENSE, head="pixel", padding="circular",
                             periodic_copies=False)
    torch.manual_seed(0)
    model = CNNAS(config).double()
    torch.nn.init.normal_(model.head[-1].weight)  # the zero-initialised last layer gives 0
    images = torch.rand(2, *grid, dtype=torch.float64)
    step = 2 ** config.reductions
    rolled = images.roll(tuple(step * (k + 1) for k in range(len(grid))),
                         tuple(range(1, len(grid) + 1)))
    assert model(images).abs().min() > 1e-3
    torch.testing.assert_close(model(rolled), model(images), atol=EQUIVARIANCE_ATOL, rtol=0)


def test_pixel_head_starts_at_zero():
    config = network2_config((16, 16), dense=DENSE, head="pixel")
    assert torch.all(CNNAS(config)(torch.rand(2, 16, 16)) == 0)


@pytest.mark.parametrize("head", ["flatten", "pool", "pixel"])
def test_extra_inputs_change_the_value(head):
    config = network2_config((16, 16), dense=DENSE, head=head, extra_inputs=2)
    torch.manual_seed(0)
    model = CNNAS(config)
    torch.nn.init.normal_(model.head[-1].weight)
    images = torch.rand(2, 16, 16)
    a = model(images, torch.tensor([[0.5, 0.5], [0.5, 0.5]]))
    b = model(images, torch.tensor([[0.5, 0.4], [0.5, 0.4]]))
    assert a.shape == (2,)
    assert (a - b).abs().min() > 1e-6


def test_bad_head_raises():
    with pytest.raises(ValueError, match="head one of"):
        CNNAS(network2_config((16, 16), head="global"))


@pytest.mark.parametrize("pad", [[0, 1, 0, 1], [1, 2, 1, 2], [1, 1, 2, 0, 0, 1]])
def test_circular_pad_matches_torch_and_differentiates_twice(pad):
    """circular_pad gives F.pad(mode="circular")'s values in the input's layout, and its first
    and second derivatives pass torch's finite-difference checks (force training differentiates
    through it twice)."""
    spatial = len(pad) // 2  # torch pads 1, 2 or 3 trailing dimensions of [B, C, ...]
    x = torch.randn(2, 3, *[5, 6, 7][:spatial], dtype=torch.float64, requires_grad=True)
    assert torch.equal(circular_pad(x, pad), F.pad(x, pad, mode="circular"))
    layout = torch.channels_last if spatial == 2 else torch.channels_last_3d  # the networks'
    padded = circular_pad(x.detach().contiguous(memory_format=layout), pad)
    assert padded.is_contiguous(memory_format=layout)
    assert torch.equal(padded, F.pad(x, pad, mode="circular"))
    small = torch.randn(1, 2, *[4, 5, 3][:spatial], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: circular_pad(t, pad), small)
    assert torch.autograd.gradgradcheck(lambda t: circular_pad(t, pad), small)


def test_receptive_field_of_the_bundled_network2():
    net = CNNAS(network2_config((64, 64), padding="circular", head="pixel"))
    assert net.receptive_field == (147, 8)


@pytest.mark.parametrize("grid, extra, outputs", [((48, 40), 0, 1), ((48, 40), 0, 3),
                                                   ((32, 16, 16), 2, 1)])
def test_bands_give_the_whole_image_energy_and_gradient(grid, extra, outputs, monkeypatch):
    """A pixel-head network evaluated in bands of rows (each with its halo, recomputed in the
    backward pass) gives the energy and image gradient of the whole image: bands of 8 rows
    and a halo of 152 rows, i.e. wrapped several times around these small images."""
    torch.manual_seed(0)
    net = CNNAS(NetworkConfig(grid=grid, reductions=2, padding="circular", head="pixel",
                              activation="silu", dense=16, extra_inputs=extra,
                              outputs=outputs)).double()
    for layer in net.head:  # the head starts at zero; make the energy depend on the image
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, std=0.1)
    images = torch.rand(2, *grid, dtype=torch.float64, requires_grad=True)
    counts = torch.rand(2, extra, dtype=torch.float64) if extra else None
    whole = net(images, counts)
    assert whole.shape == ((2, outputs) if outputs > 1 else (2,))
    grad = torch.autograd.grad(whole.sum(), images)[0]
    monkeypatch.setattr(net, "band_pixels", 8 * math.prod(grid[1:]))
    banded = net(images, counts)
    assert torch.allclose(banded, whole, rtol=1e-10, atol=1e-10)
    assert torch.allclose(torch.autograd.grad(banded.sum(), images)[0], grad, rtol=1e-9, atol=1e-12)
    assert not torch.allclose(grad, torch.zeros_like(grad))


@pytest.mark.parametrize("config", [
    network2_config((32, 32), padding="circular", head="pixel", activation="silu", dense=DENSE,
                    extra_inputs=2),
    network1_config((8, 8, 8), dense=DENSE),
])
def test_channels_last_layout_gives_the_plain_layouts_values(config):
    """The trunk runs channels-last (oneDNN's fast layout on the CPU) from its first padded
    activation to its last; the same weights in the plain layout give the same value and image
    gradient."""
    torch.manual_seed(0)
    net = CNNAS(config)
    conv = net.trunk[2].conv.weight  # the first has one input channel: both layouts at once
    layout = torch.channels_last if conv.dim() == 4 else torch.channels_last_3d
    assert conv.is_contiguous(memory_format=layout) and not conv.is_contiguous()
    seen = []  # float32 (what runs on oneDNN): every convolution's padded input keeps the
    hooks = [layer.conv.register_forward_pre_hook(  # layout (an empty pad side once made cat
        lambda _, args: seen.append(args[0].is_contiguous(memory_format=layout)))  # drop it)
        for layer in net.trunk[2::2]]
    extra = torch.rand(2, config.extra_inputs, dtype=torch.float64) if config.extra_inputs else None
    net(torch.rand(2, *config.grid), None if extra is None else extra.float())
    assert len(seen) == len(net.trunk) // 2 - 1 and all(seen)
    for hook in hooks:
        hook.remove()
    net.double()
    nn.init.normal_(net.head[-1].weight)
    plain = CNNAS(config).double()
    plain.load_state_dict(net.state_dict())
    plain.to(memory_format=torch.contiguous_format)
    assert plain.trunk[2].conv.weight.is_contiguous()
    images = torch.rand(2, *config.grid, dtype=torch.float64, requires_grad=True)
    values = [n(images, extra) for n in (net, plain)]
    grads = [torch.autograd.grad(v.sum(), images)[0] for v in values]
    assert torch.allclose(values[0], values[1], rtol=1e-12, atol=1e-12)
    assert torch.allclose(grads[0], grads[1], rtol=1e-10, atol=1e-12)
    assert grads[0].abs().max() > 1e-6


@pytest.mark.parametrize("grid, extra", [((32, 32), 0), ((16, 16, 16), 3)])
def test_widened_network_computes_what_the_narrow_one_did(grid, extra):
    """Widening keeps every trained weight and reads the new channels with zero weights: the
    same energy (float64, up to summation order) from a network with more parameters, whose new
    channels receive gradient at once, so training can use them."""
    torch.manual_seed(0)
    net = CNNAS(NetworkConfig(grid=grid, reductions=2, padding="circular", head="pixel",
                              activation="silu", dense=DENSE, extra_inputs=extra)).double()
    for p in net.parameters():  # a "trained" network: no zero-initialised head
        nn.init.normal_(p, std=0.3)
    wide = widened(net, 24)
    images = torch.rand(2, *grid, dtype=torch.float64)
    counts = torch.rand(2, extra, dtype=torch.float64) if extra else None
    energy = net(images, counts)
    assert wide.config.filters == 24 and net.config.filters == 16
    assert (sum(p.numel() for p in wide.parameters())
            > 1.5 * sum(p.numel() for p in net.parameters()))
    assert torch.allclose(wide(images, counts), energy, rtol=1e-12, atol=0)
    wide(images, counts).sum().backward()
    reader = wide.head[0].weight  # its columns 16..23 read the last layer's new channels
    assert (reader[:, 16:24] == 0).all() and reader.grad[:, 16:24].abs().max() > 1e-6
    wide.zero_grad()
    with torch.no_grad():  # ... and they change the energy once they are read
        reader[:, 16:24] = 0.1
    assert not torch.allclose(wide(images, counts), energy, rtol=1e-6, atol=0)


def test_widening_refuses_what_it_cannot_keep():
    pixel = CNNAS(NetworkConfig(grid=(16, 16), reductions=2, padding="circular", head="pixel",
                                dense=DENSE, filters=24))
    with pytest.raises(ValueError, match="narrowing would lose"):
        widened(pixel, 16)
    with pytest.raises(ValueError, match="'flatten' head cannot be widened"):
        widened(CNNAS(network2_config((16, 16), dense=DENSE)), 32)
    with pytest.raises(ValueError, match="at least 1"):
        CNNAS(NetworkConfig(grid=(16, 16), filters=0))
