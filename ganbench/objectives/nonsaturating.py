"""`nonsaturating`: the non-saturating GAN (Goodfellow et al., 2014, sec. 3; the usual DCGAN training).

D is trained as in the original game; G maximises log D(G(z)) instead of minimising log(1 - D(G(z))):

    d_loss = E[softplus(-l_real)] + E[softplus(l_fake)]    # binary cross-entropy on logits
    g_loss = -E[log sigmoid(l_fake)] = E[softplus(-l_fake)]

Its G gradient d g_loss / d l = sigmoid(l) - 1 stays near -1 when D confidently rejects fakes, so G keeps learning.
Same fixed point as `minimax`, different dynamics. (Radford et al. 2016 train DCGAN with this loss.)
"""

import torch
import torch.nn.functional as F

from ganbench.objectives.base import Objective, register
from ganbench.objectives.minimax import d_loss


def g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return F.softplus(-fake_logits).mean()  # -log(sigmoid(l))


register(
    Objective(
        "nonsaturating",
        d_loss,
        g_loss,
        paper="Goodfellow et al. 2014 (sec. 3); Radford et al. 2016 (DCGAN)",
        summary="G maximises log D(G(z)); the usual DCGAN loss",
    )
)
