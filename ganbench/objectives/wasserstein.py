"""`wasserstein`: the Wasserstein GAN loss on a critic's raw outputs, with no penalty (Arjovsky et al., 2017,
"Wasserstein Generative Adversarial Networks", Algorithm 1).

The critic f (no sigmoid) estimates the Wasserstein-1 distance E[f(real)] - E[f(fake)], which D maximises:

    d_loss = E[f(fake)] - E[f(real)]
    g_loss = -E[f(fake)]

The estimate means something only while f is (about) 1-Lipschitz, which the loss itself does not enforce: the
paper clips the critic's weights to [-0.01, 0.01] after each critic step (`ganbench.penalties.clip_weights_`),
Gulrajani et al. (2017) add a gradient penalty instead (penalty `gp`; `wgan-gp` = this loss + `gp`). Both train
with n_critic = 5 critic steps per G step. Its gradients never saturate: d d_loss / d f(real) = -1/B for every
real sample, however confident the critic is (unlike `hinge`, whose gradient stops at f(real) >= 1).
"""

import torch

from ganbench.objectives.base import Objective, register


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return fake_logits.mean() - real_logits.mean()


def g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


register(
    Objective(
        "wasserstein",
        d_loss,
        g_loss,
        threshold=None,  # a critic's scale and offset are arbitrary: accuracy against the batch midpoint
        paper="Arjovsky et al. 2017, Wasserstein Generative Adversarial Networks",
        summary="Wasserstein critic loss, no penalty: E[f(fake)] - E[f(real)]; G: -E[f(fake)]",
    )
)
