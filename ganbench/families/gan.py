"""The GAN family: G against D under an objective (`ganbench.objectives`), n_critic D steps per G step.

The step never knows which objective it runs: it calls the objective's d_loss / g_loss on D's raw logits and adds
its penalty when it has one. Where later axes slot in: a penalty choice replaces `obj.penalty` in `d_step`; an
EMA of G is one more entry in `build` updated at the end of `step`; per-network optimisers are `build`'s; a
relativistic loss that needs real logits in the G step passes `loop.real_batch()` to `g_step`.
"""

from __future__ import annotations

import torch

from ganbench import objectives
from ganbench.families.common import backward_step, latent_sampler
from ganbench.models import Discriminator, Generator


def build(cfg, device: torch.device, settings) -> dict:
    """G, D and one Adam each, initialised from the global RNG (seeded by the caller)."""
    mem, adam = settings.torch_memory_format, dict(betas=(cfg.beta1, cfg.beta2), **settings.adam_kwargs())
    G = Generator(cfg.resolution, cfg.channels, cfg.latent_dim, cfg.g_width).to(device, memory_format=mem)
    D = Discriminator(cfg.resolution, cfg.channels, cfg.d_width, cfg.d_norm, cfg.leaky_slope).to(
        device, memory_format=mem)
    if cfg.compile:  # in place (Module.compile): state_dict keys, hence checkpoints, are unchanged
        G.compile()
        if objectives.get(cfg.objective).penalty is None:  # compiled graphs have no double backward
            D.compile()
    return {"G": G, "D": D, "opt_g": torch.optim.Adam(G.parameters(), lr=cfg.lr_g, **adam),
            "opt_d": torch.optim.Adam(D.parameters(), lr=cfg.lr_d, **adam)}


def generator(nets: dict) -> torch.nn.Module:
    return nets["G"]


def sampler(cfg, G, device: torch.device, seed: int):
    return latent_sampler(cfg, G, device, seed)


def d_step(cfg, nets, obj, real, z, amp, scaler) -> dict[str, torch.Tensor]:
    G, D = nets["G"], nets["D"]
    with amp:
        with torch.no_grad():
            fake = G(z)
        real_logits, fake_logits = D(real).float(), D(fake).float()
        loss = obj.d_loss(real_logits, fake_logits)
    penalty = torch.zeros((), device=real.device)
    if obj.penalty is not None and cfg.gp_weight > 0:  # in fp32: the double backward is precision-sensitive
        penalty = obj.penalty(D, real, fake.float())
        loss = loss + cfg.gp_weight * penalty
    backward_step(loss, nets["opt_d"], scaler)
    t = obj.threshold if obj.threshold is not None else (real_logits.mean() + fake_logits.mean()).detach() / 2
    acc = ((real_logits > t).float().mean() + (fake_logits < t).float().mean()) / 2
    return {"loss_d": loss.detach(), "penalty": penalty.detach(), "d_real": real_logits.detach().mean(),
            "d_fake": fake_logits.detach().mean(), "d_acc": acc.detach()}


def g_step(cfg, nets, obj, z, amp, scaler) -> dict[str, torch.Tensor]:
    G, D = nets["G"], nets["D"]
    with amp:
        loss = obj.g_loss(D(G(z)).float())
    # D's parameters get gradients here too; they are cleared by D's next zero_grad and never applied
    backward_step(loss, nets["opt_g"], scaler)
    return {"loss_g": loss.detach()}


def step(loop) -> None:
    """n_critic D steps, each showing batch_size real images (stopping exactly at an image budget), then one G
    step."""
    cfg, obj = loop.cfg, objectives.get(loop.cfg.objective)
    for _ in range(cfg.n_critic):
        loop.add(d_step(cfg, loop.nets, obj, loop.real_batch(), loop.z_batch(), loop.amp, loop.scaler))
        loop.c.img += cfg.batch_size
        loop.c.d_steps += 1
        if loop.images_spent():
            break
    loop.add(g_step(cfg, loop.nets, obj, loop.z_batch(), loop.amp, loop.scaler))
