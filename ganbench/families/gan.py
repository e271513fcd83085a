"""The GAN family: G against D under an objective (`ganbench.objectives`) and a penalty (`ganbench.penalties`),
n_critic D steps per G step.

The step never knows which objective or penalty it runs. A D step: the objective's d_loss on D's raw logits, plus
`penalty_weight` times the penalty (on every `penalty_every`-th D step only, weighted that many times: lazy
regularisation), one step of D's optimiser, then WGAN's weight clipping when `clip` > 0. A G step: the objective's
G loss, which for a relativistic objective (`needs_real_in_g`) also takes D's outputs on a fresh real batch
(computed without gradient: they carry none to G), one step of G's optimiser, then the EMA of G, if any. That real
batch is not counted in the image budget, which counts the real images of D's own steps.
"""

from __future__ import annotations

import torch

from ganbench import objectives, penalties
from ganbench.device import compile_networks
from ganbench.ema import EMA as EMAverage
from ganbench.families.common import EMA, backward_step, frozen, latent_sampler, optimizer
from ganbench.models import Discriminator, Generator
from ganbench.penalties import clip_weights_, lazy_weight


def build(cfg, device: torch.device, settings) -> dict:
    """G, D, their optimisers (optimizer_g, optimizer_d) and, with ema_half_life_kimg > 0, an EMA of G,
    initialised from the global RNG (seeded by the caller)."""
    mem = settings.torch_memory_format
    G = Generator(cfg.resolution, cfg.channels, cfg.latent_dim, cfg.g_width).to(device, memory_format=mem)
    D = Discriminator(cfg.resolution, cfg.channels, cfg.d_width, cfg.d_norm, cfg.leaky_slope).to(
        device, memory_format=mem
    )
    nets = {"G": G, "D": D}
    if cfg.ema_half_life_kimg > 0:  # copied before G is compiled: the average is a plain module
        nets[EMA] = EMAverage(G, cfg.ema_half_life_kimg, cfg.ema_rampup)
    compile_networks(nets, settings.compile)
    nets["opt_g"] = optimizer(G.parameters(), cfg.optimizer_g, cfg.lr_g, cfg, settings)
    nets["opt_d"] = optimizer(D.parameters(), cfg.optimizer_d, cfg.lr_d, cfg, settings)
    return nets


def compiled(cfg) -> tuple[str, ...]:
    """The networks `compile` compiles: G and D, or G alone under a penalty (compiled graphs have no double
    backward, which the gradient penalties need)."""
    return ("G",) if penalties.get(cfg.penalty).active else ("G", "D")


def generator(nets: dict) -> torch.nn.Module:
    return nets["G"]


def sampler(cfg, G, device: torch.device, seed: int):
    return latent_sampler(cfg, G, device, seed)


def d_step(cfg, nets, obj, penalty, weight, real, z, amp, scaler) -> dict[str, torch.Tensor]:
    """One D step; `weight` is this step's penalty weight (0: the penalty's pass is skipped)."""
    G, D = nets["G"], nets["D"]
    with amp:
        with torch.no_grad():
            fake = G(z)
        real_logits, fake_logits = D(real).float(), D(fake).float()
        loss = obj.d_loss(real_logits, fake_logits)
    pen = torch.zeros((), device=real.device)
    if penalty.active and weight > 0:  # in fp32: the double backward is precision-sensitive
        pen = penalty(D, real, fake.float())
        loss = loss + weight * pen
    backward_step(loss, nets["opt_d"], scaler)
    if cfg.clip > 0:
        clip_weights_(D, cfg.clip)
    t = obj.threshold if obj.threshold is not None else (real_logits.mean() + fake_logits.mean()).detach() / 2
    acc = ((real_logits > t).float().mean() + (fake_logits < t).float().mean()) / 2
    return {
        "loss_d": loss.detach(),
        "penalty": pen.detach(),
        "d_real": real_logits.detach().mean(),
        "d_fake": fake_logits.detach().mean(),
        "d_acc": acc.detach(),
    }


def g_step(cfg, nets, obj, z, real, amp, scaler) -> dict[str, torch.Tensor]:
    """One G step; `real` is a real batch for a relativistic objective, else None."""
    G, D = nets["G"], nets["D"]
    with frozen(D):  # the loss backpropagates through D to G; D's own weight gradients are not computed
        with amp:
            real_logits = None
            if real is not None:
                with torch.no_grad():
                    real_logits = D(real).float()
            loss = obj.generator_loss(D(G(z)).float(), real_logits)
        backward_step(loss, nets["opt_g"], scaler)
    return {"loss_g": loss.detach()}


def step(loop) -> None:
    """n_critic D steps, each showing batch_size real images (stopping exactly at an image budget), then one G
    step and the EMA update."""
    cfg, nets = loop.cfg, loop.nets
    obj, penalty = objectives.get(cfg.objective), penalties.get(cfg.penalty)
    for _ in range(cfg.n_critic):
        weight = lazy_weight(cfg.penalty_weight, cfg.penalty_every, loop.c.d_steps)
        loop.add(d_step(cfg, nets, obj, penalty, weight, loop.real_batch(), loop.z_batch(), loop.amp, loop.scaler))
        loop.c.img += cfg.batch_size
        loop.c.d_steps += 1
        if loop.images_spent():
            break
    z = loop.z_batch()
    real = loop.real_batch() if obj.needs_real_in_g else None
    loop.add(g_step(cfg, nets, obj, z, real, loop.amp, loop.scaler))
    if EMA in nets:
        nets[EMA].update(nets["G"], loop.c.img)
