"""Discriminator penalties: an axis of their own, independent of the loss (as in compare_gan's penalty_lib).

A penalty is a pure function of the discriminator and a batch, returning a scalar that the trainer adds to D's
loss times `penalty_weight`:

    fn(D, real, fake, generator=None) -> scalar      real, fake: (B, C, H, W) in [-1, 1]

`generator` is the torch.Generator for the penalty's random draws; None draws from torch's global stream (what
the `wgan-gp` objective has always done). Every penalty detaches its inputs and makes its own forward pass through
D, with `create_graph=True` so that the penalty's gradient reaches D's weights (a double backward: compute it in
fp32, and not under torch.compile). Gradient norms are per sample, over all of C*H*W.

    none     0
    gp       E[(||grad D(x_hat)|| - 1)^2],  x_hat = eps*real + (1-eps)*fake, eps ~ U[0,1) per sample
             (Gulrajani et al. 2017, WGAN-GP; weight 10)
    dragan   E[(||grad D(x_hat)|| - 1)^2],  x_hat = real + alpha * 0.5*std(real) * u, u ~ U[0,1)^(CHW),
             alpha ~ U[0,1) per sample (Kodali et al. 2017; weight 10)
    r1       1/2 E[||grad D(real)||^2]      (Mescheder et al. 2018; penalty_weight = their gamma)
    r2       1/2 E[||grad D(fake)||^2]      (the same on fakes; Huang et al. 2024 use R1 + R2)

`get("r1+r2")` sums several penalties under one weight (R3GAN: gamma for both). `clip_weights_` is WGAN's weight
clipping, the Lipschitz constraint that predates these penalties; `lazy_weight` spaces a penalty out over D steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ganbench.registry import Registry, unknown

PenaltyFn = Callable[..., torch.Tensor]  # fn(D, real, fake, generator=None) -> scalar


@dataclass(frozen=True)
class Penalty:
    name: str
    fn: PenaltyFn
    paper: str = ""
    summary: str = ""
    active: bool = True  # False only for `none`: the trainer can skip the extra pass (and may compile D)

    def __call__(
        self, D: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        return self.fn(D, real, fake, generator)


PENALTIES: Registry[Penalty] = Registry("penalty")


def register(penalty: Penalty) -> Penalty:
    if not isinstance(penalty, Penalty):
        raise TypeError(f"expected a Penalty, got {type(penalty).__name__}")
    if "+" in penalty.name:
        raise ValueError(f"penalty name {penalty.name!r} may not contain '+': that joins penalties in get()")
    return PENALTIES.register(penalty.name, penalty)


def get(spec: str) -> Penalty:
    """One registered penalty by name, or several joined by '+' ("r1+r2"): their sum, under one weight."""
    names = [n.strip() for n in spec.split("+")]
    if len(names) == 1:
        return PENALTIES[names[0]]
    for n in names:
        if n not in PENALTIES or n == "none":
            raise unknown("penalty in a sum", n, [m for m in PENALTIES.names() if m != "none"])
    if len(set(names)) != len(names):
        raise ValueError(f"penalty '{spec}' names one penalty twice; raise penalty_weight instead")
    parts = [PENALTIES[n] for n in names]

    def total(D, real, fake, generator=None):  # in the written order, so the random draws are reproducible
        return sum(p.fn(D, real, fake, generator) for p in parts)

    return Penalty(
        "+".join(names), total, paper="; ".join(p.paper for p in parts), summary=" + ".join(p.summary for p in parts)
    )


# ---------------------------------------------------------------------------------------------------- the penalties
def _grad_at(D: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """d D(x).sum() / dx for a leaf x, kept differentiable w.r.t. D's weights; flattened to (B, C*H*W)."""
    out = D(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.flatten(1)


def no_penalty(
    D: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    return real.new_zeros(())


def gradient_penalty(
    D: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """WGAN-GP's two-sided penalty on random interpolates (Gulrajani et al. 2017, Algorithm 1, lines 6-8).

    One draw, eps of shape (B, 1, 1, 1), per call. The line order and draws are those of the original
    `objectives/wgan_gp.py`, so the same seed gives the same value bit for bit.
    """
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype, generator=generator)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    return (_grad_at(D, x_hat).norm(2, dim=1) - 1).pow(2).mean()


def dragan_penalty(
    D: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """DRAGAN's penalty near the data (Kodali et al. 2017, "On Convergence and Stability of GANs", sec. 4).

    Follows the authors' code: perturb each real by delta = 0.5 * std(real) * u, u ~ U[0, 1) per element (std
    over every element of the batch, ddof 0 as numpy's in that code; a constant, no gradient), then penalise at
    a random point between real and perturbed real, x_hat = real + alpha * delta, alpha ~ U[0, 1) per sample.
    Draws: u (shape of real) first, then alpha (B,).
    The paper's text writes delta ~ N(0, cI); the code, which the published results come from, is used. Fakes
    are not used.
    """
    real = real.detach()
    u = torch.rand(real.shape, device=real.device, dtype=real.dtype, generator=generator)
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype, generator=generator)
    x_hat = (real + alpha * 0.5 * real.std(correction=0) * u).requires_grad_(True)
    return (_grad_at(D, x_hat).norm(2, dim=1) - 1).pow(2).mean()


def r1_penalty(
    D: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """R1 (Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?", eq. 9):
    1/2 E[||grad_x D(x)||^2] on real images. With the 1/2 inside, penalty_weight is the paper's gamma (the
    regulariser is gamma/2 E||grad||^2), as in StyleGAN2 (r1_gamma) and R3GAN. Fakes are not used."""
    x = real.detach().requires_grad_(True)
    return 0.5 * _grad_at(D, x).pow(2).sum(1).mean()


def r2_penalty(
    D: torch.nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """R2 (Mescheder et al. 2018, eq. 10): 1/2 E[||grad_x D(x)||^2] on generated images; same convention as r1.
    Reals are not used."""
    x = fake.detach().requires_grad_(True)
    return 0.5 * _grad_at(D, x).pow(2).sum(1).mean()


register(Penalty("none", no_penalty, summary="no penalty", active=False))
register(
    Penalty(
        "gp",
        gradient_penalty,
        paper="Gulrajani et al. 2017, Improved Training of Wasserstein GANs",
        summary="(||grad D(x_hat)|| - 1)^2 on real/fake interpolates (weight 10)",
    )
)
register(
    Penalty(
        "dragan",
        dragan_penalty,
        paper="Kodali et al. 2017, On Convergence and Stability of GANs",
        summary="(||grad D(x_hat)|| - 1)^2 on perturbed reals (weight 10)",
    )
)
register(
    Penalty(
        "r1",
        r1_penalty,
        paper="Mescheder et al. 2018, Which Training Methods for GANs do actually Converge?",
        summary="1/2 ||grad D(real)||^2 (weight = gamma)",
    )
)
register(
    Penalty(
        "r2",
        r2_penalty,
        paper="Mescheder et al. 2018; Huang et al. 2024 (R3GAN)",
        summary="1/2 ||grad D(fake)||^2 (weight = gamma)",
    )
)


# ---------------------------------------------------------------------------------------------------- schedules
def lazy_weight(weight: float, every: int, d_step: int) -> float:
    """The penalty weight for D step `d_step` (0-based) under lazy regularisation (Karras et al. 2020, StyleGAN2,
    sec. 3.1): the penalty is computed only on every `every`-th D step, with its weight multiplied by `every` so
    that its average over steps is unchanged; on the other steps the weight is 0.0 and the trainer skips the
    penalty's pass. `every=1` is the ordinary penalty on every step.

    Here the penalty is added to that D step's loss (one optimiser step), so, unlike StyleGAN2's separate
    regularisation step, Adam's learning rate and betas need no correction.
    """
    if every < 1:
        raise ValueError(f"lazy regularisation interval must be >= 1 D step, got {every}")
    return weight * every if d_step % every == 0 else 0.0


@torch.no_grad()
def clip_weights_(D: torch.nn.Module, clip: float = 0.01) -> None:
    """WGAN's weight clipping (Arjovsky et al. 2017, Algorithm 1, line 7): after each critic step, clamp every
    parameter of D (as the paper's code does, BatchNorm's affine ones included) to [-clip, clip]; in place."""
    if not clip > 0:
        raise ValueError(f"weight clipping bound must be positive, got {clip}")
    for p in D.parameters():
        p.clamp_(-clip, clip)
