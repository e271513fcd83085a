"""What the trained families share: one optimiser step and the latent sampler. (Device settings: memory format,
Adam implementation, autocast, are `ganbench.device.DeviceSettings`, passed to `build`.)"""

from __future__ import annotations

import torch

from ganbench.models import sample_latent


def backward_step(loss: torch.Tensor, opt: torch.optim.Optimizer, scaler) -> None:
    opt.zero_grad(set_to_none=True)
    if scaler is not None:  # fp16: scale the loss so small gradients do not underflow
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()


def latent_sampler(cfg, G: torch.nn.Module, device: torch.device, seed: int):
    """sample(n) -> n images G(z) from a z sequence that restarts with each call of latent_sampler: every trained
    variant and seed sees the same z sequence."""
    gen = torch.Generator(device).manual_seed(seed)

    @torch.no_grad()
    def sample(n: int) -> torch.Tensor:
        z = sample_latent(n, cfg.latent_dim, cfg.latent_dist, device, gen)
        was_training = G.training
        G.eval()  # running BatchNorm statistics: samples do not depend on the batch they are drawn in
        out = G(z).float()
        G.train(was_training)
        return out

    return sample
