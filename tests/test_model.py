"""Tests of s2mlib.gan.model: parameter counts of the paper, block algebra, init, memory formats, bf16, devices."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import needs_native_bf16

from s2mlib.gan.model import (
    Discriminator,
    Generator,
    ResidualBlock,
    count_parameters,
    init_weights,
    place,
    resolve_device,
)


def conv_params(cin: int, cout: int, k: int = 27) -> int:
    return k * cin * cout + cout


def expected_counts(w: int) -> tuple[int, int]:
    """Hand count from the README's facts about the original code: U-Net++ nodes X(i,j), i+j<4, residual blocks
    with 2 scalar PReLUs; discriminator 4 convs + one shared PReLU + MLP 8w-100-25-1."""
    ch = [w, 2 * w, 4 * w, 8 * w]
    gen = conv_params(ch[0], 1, k=1)
    for i in range(4):
        for j in range(4 - i):
            cin = (1 if i == 0 else ch[i - 1]) if j == 0 else j * ch[i] + ch[i + 1]
            gen += (
                conv_params(cin, ch[i])
                + conv_params(ch[i], ch[i])
                + 2
                + (conv_params(cin, ch[i]) if cin != ch[i] else 0)
            )
    disc = sum(conv_params(a, b) for a, b in zip([1] + ch[:3], ch)) + 1
    disc += 8 * w * 100 + 100 + 100 * 25 + 25 + 25 + 1
    return gen, disc


def test_paper_parameter_counts_and_shapes():
    g, d = Generator(), Discriminator()
    assert count_parameters(g) == 10_289_333
    assert count_parameters(d) == 1_190_812
    assert expected_counts(32) == (10_289_333, 1_190_812)
    x = torch.rand(1, 1, 32, 32, 32)
    with torch.no_grad():
        y = g(x)
        assert y.shape == (1, 1, 32, 32, 32) and torch.isfinite(y).all()
        assert d(torch.cat([x, y])).shape == (2, 1)


@pytest.mark.parametrize("width", [2, 5, 8])
def test_small_widths_follow_the_same_layout(width):
    assert (count_parameters(Generator(width)), count_parameters(Discriminator(width))) == expected_counts(width)


def test_residual_block_against_functional_oracle():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8, 8)
    for cin, cout in [(3, 3), (3, 5)]:
        block = ResidualBlock(cin, cout)
        with torch.no_grad():
            for p in block.parameters():
                p.normal_(0, 0.3)
            h = F.prelu(
                F.instance_norm(F.conv3d(x[:, :cin], block.conv1.weight, block.conv1.bias, padding=1)),
                block.act1.weight,
            )
            h = F.instance_norm(F.conv3d(h, block.conv2.weight, block.conv2.bias, padding=1))
            short = (
                x[:, :cin]
                if cin == cout
                else F.instance_norm(F.conv3d(x[:, :cin], block.shortcut[0].weight, block.shortcut[0].bias, padding=1))
            )
            torch.testing.assert_close(block(x[:, :cin]), F.prelu(h + short, block.act2.weight))


def test_init_normal_001_and_zero_bias():
    g = Generator(8)
    convs = [m for m in g.modules() if isinstance(m, torch.nn.Conv3d)]
    weights = torch.cat([m.weight.flatten() for m in convs])
    assert abs(weights.std().item() - 0.01) < 5e-4 and abs(weights.mean().item()) < 5e-4
    assert all((m.bias == 0).all() for m in convs)
    lin = torch.nn.Linear(4, 4)
    before = lin.weight.clone()
    init_weights(lin)  # Linear layers keep PyTorch's default init
    assert torch.equal(before, lin.weight)


def test_channels_last_3d_gives_the_same_output():
    torch.manual_seed(1)
    g, d = Generator(4), Discriminator(4)
    x = torch.rand(2, 1, 32, 32, 32)
    with torch.no_grad():
        ref_g, ref_d = g(x), d(x)
        g_cl, d_cl = place(g, "cpu", channels_last=True), place(d, "cpu", channels_last=True)
        x_cl = place(x, "cpu", channels_last=True)
        assert x_cl.is_contiguous(memory_format=torch.channels_last_3d)
        assert g_cl.nodes["x0_0"].conv1.weight.is_contiguous(memory_format=torch.channels_last_3d)
        torch.testing.assert_close(g_cl(x_cl), ref_g, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(d_cl(x_cl), ref_d, rtol=1e-4, atol=1e-6)


@needs_native_bf16
def test_bf16_autocast_close_to_fp32():
    torch.manual_seed(2)
    g = Generator(4)
    x = torch.rand(1, 1, 32, 32, 32)
    with torch.no_grad():
        ref = g(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = g(x)
    assert low.dtype == torch.bfloat16
    assert ((low.float() - ref).abs().max() / ref.abs().max()).item() < 0.1


def test_bad_input_and_device():
    with pytest.raises(ValueError, match="multiples of 8"):
        Generator(2)(torch.zeros(1, 1, 30, 32, 32))
    with pytest.raises(ValueError, match="width"):
        Discriminator(0)
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("gpu7")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


# ------------------------------------------------------------------ resolution conditioning


def test_conditioned_networks_add_only_the_film_and_condition_parameters():
    """Unconditioned counts are the paper's; conditioning adds the embedding MLP, one FiLM head per block
    (2 x channels outputs) and one input channel of the discriminator's first convolution."""
    w = 4
    g, d = Generator(w, conditioned=True), Discriminator(w, conditioned=True)
    ch = [w, 2 * w, 4 * w, 8 * w]
    film = sum((32 + 1) * 2 * ch[i] for i in range(4) for _ in range(4 - i))
    embed = (1 + 1) * 32 + (32 + 1) * 32
    assert count_parameters(g) == expected_counts(w)[0] + film + embed
    assert count_parameters(d) == expected_counts(w)[1] + 27 * w  # one more input channel, no extra bias
    assert count_parameters(Generator(w)) == expected_counts(w)[0]


def test_a_fresh_conditioned_generator_is_the_unconditioned_one_and_learns_to_use_r():
    x = torch.rand(2, 1, 32, 32, 32)
    torch.manual_seed(4)
    plain = Generator(4)
    torch.manual_seed(4)
    conditioned = Generator(4, conditioned=True)
    with torch.no_grad():
        base = plain(x)
        assert torch.equal(conditioned(x, torch.tensor([3.0, 9.0])), base)  # FiLM is the identity at init
        for block in conditioned.nodes.values():  # once the heads are trained (here: set), R changes the output
            block.film.weight.normal_(0, 0.1)
        at3, at9 = conditioned(x, torch.tensor(3.0)), conditioned(x, torch.tensor(9.0))
    assert (at3 - at9).abs().max() > 1e-3
    assert torch.equal(conditioned(x, torch.tensor([3.0, 3.0]))[1], at3[1])  # a scalar R is broadcast


def test_resolution_is_required_exactly_where_it_is_used():
    x = torch.rand(1, 1, 32, 32, 32)
    with pytest.raises(ValueError, match="not resolution-conditioned"):
        Generator(2)(x, torch.tensor([3.0]))
    with pytest.raises(ValueError, match="is resolution-conditioned"):
        Generator(2, conditioned=True)(x)
    with pytest.raises(ValueError, match="2 resolutions for a batch of 1"):
        Discriminator(2, conditioned=True)(x, torch.tensor([3.0, 4.0]))
    d = Discriminator(2, conditioned=True)
    with torch.no_grad():
        assert not torch.equal(d(x, torch.tensor([3.0])), d(x, torch.tensor([9.0])))  # D sees R


def test_resolution_feature_maps_3_to_10_onto_minus_one_to_one():
    from s2mlib.gan.model import resolution_feature

    assert resolution_feature(torch.tensor([3.0, 6.5, 10.0])).flatten().tolist() == [-1.0, 0.0, 1.0]
