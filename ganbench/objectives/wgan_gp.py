"""`wgan-gp`: Wasserstein GAN with gradient penalty (Gulrajani et al., 2017, "Improved Training of Wasserstein
GANs", Algorithm 1).

The critic's raw output f (no sigmoid) estimates the Wasserstein-1 distance:

    d_loss = E[f(fake)] - E[f(real)]
    g_loss = -E[f(fake)]
    penalty = E[(||grad_x f(x_hat)||_2 - 1)^2],  x_hat = eps * real + (1 - eps) * fake,  eps ~ U[0, 1] per sample

That is the `wasserstein` loss plus the `gp` penalty of `ganbench.penalties`, whose functions this file uses, and
that is how a config naming this objective is run: `ganbench.config.migrate` turns objective `wgan-gp` into
objective `wasserstein` + penalty `gp` (the recipe `wgan-gp` says so directly), and the trainer adds
`penalty_weight * penalty` (10 in the paper) to d_loss and runs `n_critic` (5) critic steps per G step. The
paper's critic has no BatchNorm (the penalty is per sample); the `wgan-gp` recipe uses layer norm.
"""

from ganbench.objectives.base import Objective, register
from ganbench.objectives.wasserstein import d_loss, g_loss
from ganbench.penalties import gradient_penalty  # the `gp` penalty; one owner

register(
    Objective(
        "wgan-gp",
        d_loss,
        g_loss,
        penalty=gradient_penalty,
        threshold=None,  # a critic's scale is arbitrary: accuracy against the midpoint of the batch means
        paper="Gulrajani et al. 2017, Improved Training of Wasserstein GANs",
        summary="Wasserstein critic loss + gradient penalty on interpolates (= wasserstein + penalty gp)",
    )
)
