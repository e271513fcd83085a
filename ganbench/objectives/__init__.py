"""The registry of GAN objectives.

An objective is a few pure functions of the discriminator's raw outputs (logits; the backbone has no Sigmoid):

    d_loss(real_logits, fake_logits) -> scalar   # minimised by D
    g_loss(fake_logits) -> scalar                # minimised by G
    penalty(D, real, fake) -> scalar | None      # only `wgan-gp`: the penalty it was defined with (see below)

Penalties are an axis of their own (`ganbench.penalties`, the config's `penalty`, `penalty_weight`): the trainer
applies the config's penalty and never an objective's. `wgan-gp` stays registered as a shorthand: a config that
names it is read as objective `wasserstein` + penalty `gp` (`ganbench.config.migrate`), which is what it always
computed, so result directories written before keep their meaning.

Relativistic objectives (`rpgan`, `ragan`) judge a fake relative to reals, so their G loss needs D's outputs on
real images too. They set `needs_real_in_g = True` and take `g_loss(fake_logits, real_logits)`; everything else
keeps `g_loss(fake_logits)`. A trainer calls `objective.generator_loss(fake_logits, real_logits)`, which passes
the real logits only where they are needed, so the one-argument objectives are unchanged. (In G's step the real
logits carry no gradient to G; the trainer may compute them under `torch.no_grad()`.)

Adding an objective is one small file in this folder that calls `register(Objective(...))` (both from
`ganbench.objectives.base`), plus an import below.
The training loop never knows which objective it runs.
"""

from ganbench.objectives.base import OBJECTIVES, Loss1, Loss2, Objective, Penalty, get, register

__all__ = ["OBJECTIVES", "Loss1", "Loss2", "Objective", "Penalty", "get", "register"]

# Registration happens on import; keep this list in the order users see it.
from ganbench.objectives import (  # noqa: E402, F401
    hinge,
    lsgan,
    minimax,
    nonsaturating,
    ragan,
    rpgan,
    wasserstein,
    wgan_gp,
)
