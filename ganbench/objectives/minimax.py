"""`minimax`: the original, saturating GAN game (Goodfellow et al., 2014, "Generative Adversarial Nets", eq. 1).

    D maximises  E[log D(x)] + E[log(1 - D(G(z)))]       with D(.) = sigmoid(logit)
    G minimises  E[log(1 - D(G(z)))]

On logits l: log D = -softplus(-l) and log(1 - D) = -softplus(l), so

    d_loss = E[softplus(-l_real)] + E[softplus(l_fake)]
    g_loss = E[log(1 - sigmoid(l_fake))] = -E[softplus(l_fake)]

The G gradient d g_loss / d l = -sigmoid(l) vanishes when D confidently rejects fakes (l << 0): that is the
saturation the paper warns about, and why `nonsaturating` exists. Many libraries call the non-saturating loss
"minimax"; here "minimax" is this saturating one, and the tests prove the two differ.
"""

import torch
import torch.nn.functional as F

from ganbench.objectives.base import Objective, register


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return -F.softplus(fake_logits).mean()  # log(1 - sigmoid(l))


register(
    Objective(
        "minimax",
        d_loss,
        g_loss,
        paper="Goodfellow et al. 2014, Generative Adversarial Nets",
        summary="original saturating game: G minimises log(1 - D(G(z)))",
    )
)
