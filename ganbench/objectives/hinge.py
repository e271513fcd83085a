"""`hinge`: the hinge GAN loss (Lim & Ye, 2017, "Geometric GAN"; Miyato et al., 2018, SN-GAN, eq. 17).

d_loss = E[relu(1 - l_real)] + E[relu(1 + l_fake)]
g_loss = -E[l_fake]
"""

import torch
import torch.nn.functional as F

from ganbench.objectives.base import Objective, register


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


register(
    Objective(
        "hinge",
        d_loss,
        g_loss,
        paper="Lim & Ye 2017, Geometric GAN; Miyato et al. 2018, SN-GAN",
        summary="D: relu(1 - l_real) + relu(1 + l_fake); G: -l_fake",
    )
)
