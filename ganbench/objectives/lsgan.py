"""`lsgan`: least-squares GAN (Mao et al., 2017, "Least Squares Generative Adversarial Networks", eq. 2).

Raw D outputs o (no sigmoid), with the 0-1 target convention a = 0 (fake), b = 1 (real), c = 1 (what G wants):

    d_loss = 1/2 E[(o_real - 1)^2] + 1/2 E[o_fake^2]
    g_loss = 1/2 E[(o_fake - 1)^2]

(The paper's other convention, a = -1, b = 1, c = 0, is not used.)
"""

import torch

from ganbench.objectives.base import Objective, register


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return 0.5 * (real_logits - 1).pow(2).mean() + 0.5 * fake_logits.pow(2).mean()


def g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return 0.5 * (fake_logits - 1).pow(2).mean()


register(
    Objective(
        "lsgan",
        d_loss,
        g_loss,
        threshold=0.5,
        paper="Mao et al. 2017, Least Squares Generative Adversarial Networks",
        summary="least squares on raw outputs, targets a=0 (fake), b=1 (real), c=1",
    )
)
