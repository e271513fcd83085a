"""`ragan`: the relativistic average GAN loss (Jolicoeur-Martineau, 2019, "The relativistic discriminator: a key
element missing from standard GAN", RaSGAN, eq. 11-12 with the standard GAN's f).

D asks whether a real is more realistic than the average fake, and a fake less realistic than the average real
(l = raw D outputs; the means are over the batch):

    d_loss = E[softplus(-(l_real - mean l_fake))] + E[softplus(l_fake - mean l_real)]
    g_loss = E[softplus(-(l_fake - mean l_real))] + E[softplus(l_real - mean l_fake)]

G's loss is D's with real and fake swapped, so G also pushes reals to look less real than the average fake; that
term carries gradient to G through mean l_fake (`needs_real_in_g`). Like `rpgan` it depends only on differences
of outputs (a constant shift changes nothing); unlike `rpgan` it compares with batch means, so it does not care
how reals and fakes are paired, and batch sizes may differ.
"""

import torch
import torch.nn.functional as F

from ganbench.objectives.base import Objective, register


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(-(real_logits - fake_logits.mean())).mean() + F.softplus(fake_logits - real_logits.mean()).mean()


def g_loss(fake_logits: torch.Tensor, real_logits: torch.Tensor) -> torch.Tensor:
    return d_loss(fake_logits, real_logits)  # the same game, roles swapped


register(
    Objective(
        "ragan",
        d_loss,
        g_loss,
        threshold=None,  # only differences of D's outputs mean anything: accuracy against the batch midpoint
        needs_real_in_g=True,
        paper="Jolicoeur-Martineau 2019, The relativistic discriminator (RaSGAN)",
        summary="relativistic average: each sample against the other side's batch mean, both losses",
    )
)
