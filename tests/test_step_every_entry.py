"""One D step and one G step on the real backbone for every objective x every penalty (compare_gan's habit), with
the optimiser, EMA and latent blocks the wiring wave will use: every combination runs, stays finite, and moves D."""

import pytest
import torch

from ganbench import objectives, penalties
from ganbench.ema import EMA
from ganbench.models import Discriminator, Generator, sample_latent
from ganbench.objectives import OBJECTIVES
from ganbench.optimizers import make_optimizer
from ganbench.penalties import PENALTIES


@pytest.mark.parametrize("penalty", [*PENALTIES.names(), "r1+r2"])
@pytest.mark.parametrize("objective", OBJECTIVES.names())
def test_one_step(objective, penalty):
    torch.manual_seed(0)
    obj, pen = objectives.get(objective), penalties.get(penalty)
    G, D = Generator(16, 3, 8, 8), Discriminator(16, 3, 8, "layer", 0.2)
    opt_g = make_optimizer(G.parameters(), "adam", 1e-3, betas=(0.5, 0.999))
    opt_d = make_optimizer(D.parameters(), "rmsprop", 1e-3)
    ema = EMA(G, half_life_kimg=0.01, rampup=0.05)
    real = torch.rand(4, 3, 16, 16) * 2 - 1
    z = sample_latent(4, 8, "sphere", "cpu", torch.Generator().manual_seed(1))
    d_before = [p.detach().clone() for p in D.parameters()]

    fake = G(z).detach()
    real_logits, fake_logits = D(real), D(fake)
    loss_d = obj.d_loss(real_logits, fake_logits) + 10.0 * pen(D, real, fake)
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    if objective == "wasserstein":  # the `wgan` recipe: weight clipping after each critic step
        penalties.clip_weights_(D, 0.01)

    fake_logits = D(G(z))
    with torch.no_grad():
        real_logits = D(real) if obj.needs_real_in_g else None
    loss_g = obj.generator_loss(fake_logits, real_logits)
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    ema.update(G, 8)

    assert torch.isfinite(loss_d) and torch.isfinite(loss_g)
    assert any(not torch.equal(a, b) for a, b in zip(d_before, D.parameters(), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(ema.G.parameters(), G.parameters(), strict=True))  # first: copy
