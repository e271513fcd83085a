"""The VAE family: the decoder is G, the encoder has D's layout; one optimiser step on the negative ELBO."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ganbench.device import compile_networks
from ganbench.families.common import backward_step, latent_sampler, optimizer
from ganbench.models import VAE


def build(cfg, device: torch.device, settings) -> dict:
    vae = VAE(cfg.resolution, cfg.channels, cfg.latent_dim, cfg.g_width, cfg.d_width, cfg.d_norm, cfg.leaky_slope).to(
        device, memory_format=settings.torch_memory_format
    )
    enc = [*vae.encoder.parameters(), *vae.mu.parameters(), *vae.logvar.parameters()]
    compile_networks({"G": vae.decoder, "encoder": vae.encoder}, settings.compile)
    groups = [{"params": vae.decoder.parameters(), "lr": cfg.lr_g}, {"params": enc, "lr": cfg.lr_d}]
    # one step over decoder and encoder: optimizer_g for both (config.validate refuses two different names)
    return {"G": vae.decoder, "vae": vae, "opt": optimizer(groups, cfg.optimizer_g, cfg.lr_g, cfg, settings)}


def compiled(cfg) -> tuple[str, ...]:
    """The networks `compile` compiles: the decoder (G) and the encoder's convolutional trunk (the mean and
    log-variance heads are one small convolution each)."""
    return ("G", "encoder")


def generator(nets: dict) -> torch.nn.Module:
    return nets["G"]


def sampler(cfg, G, device: torch.device, seed: int):
    return latent_sampler(cfg, G, device, seed)


def vae_step(cfg, nets, real, amp, scaler, gen) -> dict[str, torch.Tensor]:
    """Negative ELBO per pixel. Likelihood: Gaussian with one shared variance set to its maximum-likelihood value,
    the batch's mean squared error (the sigma-VAE of Rybkin et al. 2021), so no reconstruction weight is tuned.
    Per image: NLL = D/2 * log(2 pi e mse) with D = C*H*W; KL(q(z|x) || N(0, I)) in closed form."""
    vae = nets["vae"]
    with amp:
        mu, logvar = vae.encode(real)
        mu, logvar = mu.float(), logvar.float().clamp(-30, 20)
        z = mu + torch.randn(mu.shape, device=mu.device, generator=gen) * (0.5 * logvar).exp()
        recon = vae.decoder(z).float()
    mse = F.mse_loss(recon, real.float())
    pixels = real[0].numel()
    nll = 0.5 * pixels * torch.log(2 * math.pi * math.e * mse)  # per image, at the ML variance
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()
    loss = (nll + cfg.kl_weight * kl) / pixels
    backward_step(loss, nets["opt"], scaler)
    return {"loss_g": loss.detach(), "recon_mse": mse.detach(), "kl": kl.detach()}


def step(loop) -> None:
    """One update on batch_size real images."""
    loop.add(vae_step(loop.cfg, loop.nets, loop.real_batch(), loop.amp, loop.scaler, loop.gen))
    loop.c.img += loop.cfg.batch_size
