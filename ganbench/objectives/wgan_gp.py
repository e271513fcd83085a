"""`wgan-gp`: Wasserstein GAN with gradient penalty (Gulrajani et al., 2017, "Improved Training of Wasserstein
GANs", Algorithm 1).

The critic's raw output f (no sigmoid) estimates the Wasserstein-1 distance:

    d_loss = E[f(fake)] - E[f(real)]
    g_loss = -E[f(fake)]
    penalty = E[(||grad_x f(x_hat)||_2 - 1)^2],  x_hat = eps * real + (1 - eps) * fake,  eps ~ U[0, 1] per sample

The trainer adds `gp_weight * penalty` (10 in the paper) to d_loss and runs `n_critic` (5) critic steps per G
step. The paper's critic has no BatchNorm (the penalty is per sample); the `wgan-gp` recipe uses layer norm.
"""

import torch

from ganbench.objectives import Objective, register


def d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return fake_logits.mean() - real_logits.mean()


def g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    return -fake_logits.mean()


def gradient_penalty(D: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Two-sided penalty on random interpolates. real, fake: (B, C, H, W); returns a scalar."""
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = D(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


register(
    Objective(
        "wgan-gp",
        d_loss,
        g_loss,
        penalty=gradient_penalty,
        threshold=None,  # a critic's scale is arbitrary: accuracy against the midpoint of the batch means
        paper="Gulrajani et al. 2017, Improved Training of Wasserstein GANs",
        summary="Wasserstein critic loss + gradient penalty on interpolates (weight gp_weight)",
    )
)
