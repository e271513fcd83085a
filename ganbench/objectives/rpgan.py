"""`rpgan`: the relativistic pairing GAN loss (Jolicoeur-Martineau, 2019, "The relativistic discriminator: a key
element missing from standard GAN", RSGAN, eq. 8-9; Huang et al., 2024, "The GAN is dead; long live the GAN! A
Modern GAN Baseline" (R3GAN), eq. 2).

D judges each fake against a real, pairing the i-th fake with the i-th real of the batch (l = raw D outputs):

    d_loss = E_i[softplus(l_fake_i - l_real_i)]    # = -E[log sigmoid(l_real_i - l_fake_i)]
    g_loss = E_i[softplus(l_real_i - l_fake_i)]    # = -E[log sigmoid(l_fake_i - l_real_i)]

i.e. f(t) = softplus(-t) = -log(sigmoid(t)) in R3GAN's notation, with G's loss the same game with the roles
swapped. Both losses depend only on differences, so adding a constant to every output changes nothing, and both
depend on which fake is paired with which real (the `ragan` loss, which compares with batch means, does not).
G's loss needs D's outputs on a real batch (`needs_real_in_g`); real and fake batches must have the same size.
R3GAN trains it with R1 + R2 penalties (`ganbench.penalties`, "r1+r2"); this file is the loss only.
"""

import torch
import torch.nn.functional as F

from ganbench.objectives.base import Objective, register


def _paired(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> None:
    if real_logits.shape != fake_logits.shape:
        raise ValueError(
            f"rpgan pairs reals with fakes: shapes {tuple(real_logits.shape)} and "
            f"{tuple(fake_logits.shape)} differ; use the same batch size for both"
        )


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    _paired(real_logits, fake_logits)
    return F.softplus(fake_logits - real_logits).mean()


def g_loss(fake_logits: torch.Tensor, real_logits: torch.Tensor) -> torch.Tensor:
    _paired(real_logits, fake_logits)
    return F.softplus(real_logits - fake_logits).mean()


register(
    Objective(
        "rpgan",
        d_loss,
        g_loss,
        threshold=None,  # only differences of D's outputs mean anything: accuracy against the batch midpoint
        needs_real_in_g=True,
        paper="Jolicoeur-Martineau 2019 (RSGAN); Huang et al. 2024, R3GAN",
        summary="relativistic pairing: D: softplus(l_fake - l_real); G: softplus(l_real - l_fake), pair by pair",
    )
)
