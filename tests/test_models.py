"""The DCGAN backbone: shapes, raw logits, the Radford et al. initialisation, the configurable parts."""

import contextlib
import copy

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from ganbench.models import VAE, Discriminator, Generator, sample_latent


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_parameter_counts_match_the_pytorch_dcgan_example():
    # examples/dcgan at 64x64, nz=100, ngf=ndf=64, nc=3: 3,576,704 (G) and 2,765,568 (D) parameters.
    assert n_params(Generator(64, 3, 100, 64)) == 3_576_704
    assert n_params(Discriminator(64, 3, 64, "batch")) == 2_765_568


@pytest.mark.parametrize("res", [16, 32, 64, 128])
@pytest.mark.parametrize("ch", [1, 3])
def test_shapes(res, ch):
    G, D = Generator(res, ch, 16, 8), Discriminator(res, ch, 8)
    x = G(torch.randn(5, 16))
    assert x.shape == (5, ch, res, res)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    assert D(x).shape == (5,)


def test_no_sigmoid_anywhere_and_d_returns_raw_logits():
    for m in (Generator(), Discriminator(), VAE()):
        assert not any(isinstance(x, nn.Sigmoid) for x in m.modules())
    D = Discriminator(32, 3, 8)
    with torch.no_grad():
        D.head.weight.mul_(1000)
    out = D(torch.randn(8, 3, 32, 32))
    assert out.abs().max() > 1  # not squashed into (0, 1)


def test_layer_types_follow_radford():
    G, D = Generator(64), Discriminator(64)
    g_types = [type(m) for m in G.main]
    assert g_types[-1] is nn.Tanh and g_types.count(nn.ConvTranspose2d) == 5 and g_types.count(nn.BatchNorm2d) == 4
    assert all(m.kernel_size == (4, 4) for m in G.modules() if isinstance(m, nn.ConvTranspose2d))
    trunk = list(D.trunk.main)
    assert isinstance(trunk[0], nn.Conv2d) and isinstance(trunk[1], nn.LeakyReLU)  # no norm on the first layer
    assert all(m.negative_slope == 0.2 for m in D.modules() if isinstance(m, nn.LeakyReLU))
    assert sum(isinstance(m, nn.BatchNorm2d) for m in D.modules()) == 3
    assert all(m.stride == (2, 2) for m in D.trunk.modules() if isinstance(m, nn.Conv2d))


def test_init_is_normal_0_002_and_bn_1_002():
    torch.manual_seed(0)
    G = Generator(64)
    w = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(w.mean().item()) < 1e-3 and 0.0195 < w.std().item() < 0.0205
    bn = torch.cat([m.weight for m in G.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(bn.mean().item() - 1) < 0.005 and 0.015 < bn.std().item() < 0.025


@pytest.mark.parametrize(
    "norm,kind", [("batch", nn.BatchNorm2d), ("layer", nn.GroupNorm), ("none", None), ("spectral", None)]
)
def test_d_normalisation_options(norm, kind):
    D = Discriminator(32, 3, 8, norm)
    norms = [m for m in D.modules() if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm))]
    if kind is None:
        assert norms == []
    else:
        assert norms and all(isinstance(m, kind) for m in norms)
    has_sn = any("parametrizations" in n for n, _ in D.named_modules())
    assert has_sn == (norm == "spectral")
    assert D(torch.randn(2, 3, 32, 32)).shape == (2,)


def test_leaky_slope_configurable():
    D = Discriminator(32, 3, 8, slope=0.1)
    assert {m.negative_slope for m in D.modules() if isinstance(m, nn.LeakyReLU)} == {0.1}


@pytest.mark.parametrize("res", [0, 8, 48, 100])
def test_impossible_resolution_is_a_clear_error(res):
    with pytest.raises(ValueError, match="power of two"):
        Generator(res)


def test_vae_encoder_is_d_trunk_and_decoder_is_g():
    vae = VAE(32, 3, 16, 8, 8)
    assert type(vae.decoder) is Generator
    assert type(vae.encoder).__name__ == "DiscriminatorTrunk"
    mu, logvar = vae.encode(torch.randn(4, 3, 32, 32))
    assert mu.shape == logvar.shape == (4, 16)


def test_latent_distributions():
    g = torch.Generator().manual_seed(0)
    u = sample_latent(10000, 4, "uniform", "cpu", g)
    n = sample_latent(10000, 4, "normal", "cpu", g)
    assert u.min() >= -1 and u.max() <= 1 and abs(u.std().item() - (1 / 3) ** 0.5) < 0.02
    assert n.abs().max() > 1 and abs(n.std().item() - 1) < 0.03
    with pytest.raises(ValueError, match="normal, sphere, uniform"):
        sample_latent(2, 2, "cauchy", "cpu")


def test_sphere_latent_has_radius_sqrt_dim_and_uniform_direction():
    dim = 64
    z = sample_latent(5000, dim, "sphere", "cpu", torch.Generator().manual_seed(0))
    assert_close(z.norm(dim=1), torch.full((5000,), dim**0.5))  # every norm, both ways
    assert abs(z.pow(2).mean().item() - 1.0) < 1e-5  # E[z_i^2] = 1 exactly, as for normal z on average
    assert z.mean(0).abs().max().item() < 0.1  # no preferred direction (sd of each mean: 1/sqrt(5000))
    n = sample_latent(5000, dim, "normal", "cpu", torch.Generator().manual_seed(0))
    assert_close(z, n / n.norm(dim=1, keepdim=True) * dim**0.5)  # the same draws as normal, normalised
    spread = n.norm(dim=1)
    assert spread.max() - spread.min() > 2.0  # normal z's norms do spread: the test above can tell them apart


# ---------------------------------------------------------------------------------------------------- spectral norm
@contextlib.contextmanager
def autocast_casts_mv_not_vdot():
    """MPS's autocast in the pinned torch, emulated on the CPU: `aten::mv` is cast to the autocast dtype (an
    AutocastCPU kernel registered for the test), `aten::vdot` keeps its inputs' dtypes (no rule, as on MPS)."""
    lib = torch.library.Library("aten", "IMPL")

    def mv(a, b):
        dtype = torch.get_autocast_dtype("cpu")
        with torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(torch._C.DispatchKey.AutocastCPU)):
            return torch.mv(a.to(dtype), b.to(dtype))

    lib.impl("mv", mv, "AutocastCPU")
    try:
        yield
    finally:
        lib._destroy()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_spectral_norm_runs_under_an_autocast_that_casts_mv_but_not_vdot(dtype):
    """Issue 20: torch's spectral norm computed vdot(u fp32, mv(W, v) half) and failed on every D forward on MPS.
    sigma is now fp32 with autocast off, so the emulated rule changes nothing: the logits are those of a twin D
    under the CPU's own autocast (which has no rule for mv), bit for bit."""
    torch.manual_seed(0)
    D = Discriminator(16, 3, 8, "spectral")
    twin = copy.deepcopy(D)
    x = torch.randn(4, 3, 16, 16)
    with torch.autocast("cpu", dtype=dtype):
        expected = twin(x)
        with autocast_casts_mv_not_vdot():
            assert torch.mv(torch.ones(2, 2), torch.ones(2)).dtype == dtype  # the emulated rule is on
            assert torch.vdot(torch.ones(2), torch.ones(2)).dtype == torch.float32  # and vdot has none
            logits = D(x)
    assert logits.dtype == dtype and bool(torch.isfinite(logits).all())
    assert_close(logits, expected, rtol=0, atol=0)
    assert_close(D.state_dict(), twin.state_dict(), rtol=0, atol=0)  # the power iteration's u, v too


def test_spectral_norm_keeps_torchs_parametrization_state_and_values():
    """The fp32 parametrization is torch's own (same buffers, keys, initial power iteration), so checkpoints and
    fp32 runs are unchanged."""
    torch.manual_seed(0)
    ours = Discriminator(16, 3, 8, "spectral")
    torch.manual_seed(0)
    theirs = Discriminator(16, 3, 8, "none")
    for m in theirs.modules():
        if isinstance(m, nn.Conv2d):
            nn.utils.parametrizations.spectral_norm(m)
    theirs.load_state_dict(ours.state_dict())  # the same keys
    for (k, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items(), strict=True):
        assert_close(a, b, rtol=0, atol=0, msg=k)
    x = torch.randn(4, 3, 16, 16)
    assert_close(ours(x), theirs(x), rtol=0, atol=0)
