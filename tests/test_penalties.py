"""Penalties pinned by closed forms on critics with known input gradients, told apart by what each one reads,
and the `gp` penalty shown bit-identical to the one `wgan-gp` always used."""

import pytest
import torch
from torch.testing import assert_close

from ganbench import objectives, penalties
from ganbench.penalties import PENALTIES

D64 = torch.float64


class Linear(torch.nn.Module):
    """D(x) = <w, x>: grad_x D = w everywhere."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x):
        return (x.flatten(1) * self.w).sum(1)


class Quadratic(torch.nn.Module):
    """D(x) = a/2 ||x||^2: grad_x D = a x, so the gradient norm depends on where the penalty looks."""

    def __init__(self, a: float):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(a, dtype=D64))

    def forward(self, x):
        return 0.5 * self.a * x.flatten(1).pow(2).sum(1)


def batch(seed: int, n: int = 8):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 4, 4, dtype=D64, generator=g)


def unit(seed: int = 0) -> torch.Tensor:
    w = torch.randn(48, dtype=D64, generator=torch.Generator().manual_seed(seed))
    return w / w.norm()


def test_registry_names_and_none():
    assert PENALTIES.names() == ["none", "gp", "dragan", "r1", "r2"]
    none = penalties.get("none")
    assert not none.active and all(penalties.get(n).active for n in ("gp", "dragan", "r1", "r2"))
    assert none(Linear(unit()), batch(0), batch(1)).item() == 0.0
    for name, p in PENALTIES.items():
        assert p.name == name and (p.paper or name == "none") and p.summary


@pytest.mark.parametrize("scale", [0.5, 1.0, 2.0, 3.0])
def test_linear_critic_closed_forms(scale):
    D = Linear(scale * unit())  # ||grad|| = scale at every point
    real, fake = batch(0), batch(1)
    for name in ("gp", "dragan"):
        assert_close(penalties.get(name)(D, real, fake), torch.tensor((scale - 1) ** 2, dtype=D64))
    for name in ("r1", "r2"):
        assert_close(penalties.get(name)(D, real, fake), torch.tensor(scale**2 / 2, dtype=D64))


def test_one_lipschitz_critic_is_free_under_gp_and_dragan_but_not_under_r1_r2():
    D, real, fake = Linear(unit()), batch(0), batch(1)
    assert penalties.get("gp")(D, real, fake).item() < 1e-20
    assert penalties.get("dragan")(D, real, fake).item() < 1e-20
    assert penalties.get("r1")(D, real, fake).item() == pytest.approx(0.5)
    assert penalties.get("r2")(D, real, fake).item() == pytest.approx(0.5)


def test_quadratic_critic_r1_reads_reals_and_r2_reads_fakes():
    a = 0.7
    D, real, fake = Quadratic(a), batch(0), 3 * batch(1)
    half_sq = lambda x: 0.5 * a**2 * x.flatten(1).pow(2).sum(1).mean()  # noqa: E731
    assert_close(penalties.get("r1")(D, real, fake), half_sq(real))
    assert_close(penalties.get("r2")(D, real, fake), half_sq(fake))
    assert abs(half_sq(real).item() - half_sq(fake).item()) > 1.0
    # what each one does not read
    assert_close(penalties.get("r1")(D, real, batch(5)), half_sq(real))
    assert_close(penalties.get("r2")(D, batch(5), fake), half_sq(fake))


def test_quadratic_critic_gp_on_interpolates_with_the_documented_draw():
    a, real, fake = 0.3, batch(0), 2 * batch(1)
    got = penalties.get("gp")(Quadratic(a), real, fake, torch.Generator().manual_seed(7))
    eps = torch.rand(8, 1, 1, 1, dtype=D64, generator=torch.Generator().manual_seed(7))
    x_hat = eps * real + (1 - eps) * fake
    assert_close(got, (a * x_hat.flatten(1).norm(dim=1) - 1).pow(2).mean())
    # with fake == real every interpolate is the real itself: no randomness left
    assert_close(penalties.get("gp")(Quadratic(a), real, real), (a * real.flatten(1).norm(dim=1) - 1).pow(2).mean())


def test_quadratic_critic_dragan_on_perturbed_reals_with_the_documented_draws():
    a, real, fake = 0.3, batch(0), 2 * batch(1)
    got = penalties.get("dragan")(Quadratic(a), real, fake, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    u = torch.rand(real.shape, dtype=D64, generator=g)
    alpha = torch.rand(8, 1, 1, 1, dtype=D64, generator=g)
    x_hat = real + alpha * 0.5 * real.std(correction=0) * u
    assert_close(got, (a * x_hat.flatten(1).norm(dim=1) - 1).pow(2).mean())
    # it never looks at fakes, and the perturbation moves it away from the penalty at the reals themselves
    again = penalties.get("dragan")(Quadratic(a), real, batch(9), torch.Generator().manual_seed(7))
    assert_close(again, got)
    at_reals = (a * real.flatten(1).norm(dim=1) - 1).pow(2).mean()
    assert abs(got.item() - at_reals.item()) > 1e-3
    # a constant batch has std 0: no perturbation, the penalty at the reals exactly
    flat = torch.full((4, 3, 4, 4), 0.25, dtype=D64)
    assert_close(
        penalties.get("dragan")(Quadratic(a), flat, fake[:4]), (a * flat.flatten(1).norm(dim=1) - 1).pow(2).mean()
    )


def test_gp_reads_fakes_and_dragan_does_not():
    D, real = Quadratic(0.3), batch(0)
    gp1 = penalties.get("gp")(D, real, batch(1), torch.Generator().manual_seed(3))
    gp2 = penalties.get("gp")(D, real, 4 * batch(2), torch.Generator().manual_seed(3))
    assert abs(gp1.item() - gp2.item()) > 1e-2


def _original_wgan_gp_penalty(D, real, fake):
    """Verbatim copy of objectives/wgan_gp.py's gradient_penalty before penalties became an axis (commit bef0354)."""
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = D(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def test_gp_through_the_registry_is_bit_identical_to_the_original_and_draws_the_same():
    torch.manual_seed(123)
    D = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 4, 2, 1), torch.nn.LeakyReLU(0.2), torch.nn.Flatten(), torch.nn.Linear(8 * 8 * 8, 1)
    )
    real, fake = torch.randn(16, 3, 16, 16), torch.randn(16, 3, 16, 16)
    results = []
    for fn in (_original_wgan_gp_penalty, penalties.get("gp"), objectives.get("wgan-gp").penalty):
        torch.manual_seed(42)
        value = fn(D, real, fake)
        grads = torch.autograd.grad(value, [D[0].weight, D[0].bias, D[3].weight])  # D[3].bias: no input gradient
        results.append((value, grads, torch.rand(3)))  # the next global draw: the same number were taken
    ref = results[0]
    for value, grads, nxt in results[1:]:
        assert torch.equal(value, ref[0])
        assert all(torch.equal(a, b) for a, b in zip(grads, ref[1], strict=True))
        assert torch.equal(nxt, ref[2])


@pytest.mark.parametrize("name", ["gp", "dragan", "r1", "r2", "r1+r2"])
def test_every_penalty_trains_the_critic(name):
    D = Quadratic(0.4)
    penalties.get(name)(D, batch(0), batch(1)).backward()
    assert D.a.grad is not None and D.a.grad.abs().item() > 0


def test_sum_of_penalties():
    D, real, fake = Quadratic(0.6), batch(0), batch(1)
    both = penalties.get("r1+r2")
    assert both.name == "r1+r2" and both.active
    assert_close(both(D, real, fake), penalties.get("r1")(D, real, fake) + penalties.get("r2")(D, real, fake))
    with pytest.raises(ValueError, match="twice"):
        penalties.get("r1+r1")
    with pytest.raises(KeyError, match="Did you mean 'gp'"):
        penalties.get("r1+gpp")
    with pytest.raises(KeyError):
        penalties.get("r1+none")


def test_unknown_penalty_suggests():
    with pytest.raises(KeyError, match="Did you mean 'dragan'") as e:
        penalties.get("dragn")
    assert "r1" in str(e.value)
    with pytest.raises(TypeError):
        penalties.register("gp")  # type: ignore[arg-type]


def test_lazy_weight_keeps_the_average_weight():
    w = [penalties.lazy_weight(10.0, 4, step) for step in range(8)]
    assert w == [40.0, 0.0, 0.0, 0.0, 40.0, 0.0, 0.0, 0.0]
    assert sum(w) / len(w) == 10.0
    assert [penalties.lazy_weight(2.5, 1, s) for s in range(3)] == [2.5, 2.5, 2.5]
    with pytest.raises(ValueError, match=">= 1"):
        penalties.lazy_weight(1.0, 0, 0)


def test_clip_weights_clamps_every_parameter_and_leaves_small_ones():
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[0.5, -0.5, 0.005, -0.003]] * 3))
    penalties.clip_weights_(net, 0.01)
    assert_close(net[0].weight[0], torch.tensor([0.01, -0.01, 0.005, -0.003]))
    for p in net.parameters():
        assert p.abs().max().item() <= 0.01
    assert torch.equal(net[1].weight, torch.full((3,), 0.01))  # BatchNorm's gamma (1 at init) clipped as in the paper
    with pytest.raises(ValueError, match="positive"):
        penalties.clip_weights_(net, 0.0)
