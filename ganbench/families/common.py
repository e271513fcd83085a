"""What the trained families share: optimisers, one optimiser step, the EMA of G and the latent sampler. (Device
settings: memory format, optimiser implementation, autocast, are `ganbench.device.DeviceSettings`, passed to
`build`.)"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from ganbench.models import sample_latent
from ganbench.optimizers import make_optimizer

EMA = "G_ema"  # the nets entry holding a `ganbench.ema.EMA` of G (checkpointed under this name)


def optimizer(params, name: str, lr: float, cfg, settings) -> torch.optim.Optimizer:
    """The config's optimiser `name` (optimizer_g or optimizer_d) with the shared betas / momentum and the device's
    implementation (fused, foreach or plain)."""
    return make_optimizer(params, name, lr, (cfg.beta1, cfg.beta2), cfg.momentum, **settings.adam_kwargs())


def ema_generator(nets: dict) -> torch.nn.Module | None:
    """The averaged G, or None when the run keeps no EMA."""
    return nets[EMA].G if EMA in nets else None


def backward_step(loss: torch.Tensor, opt: torch.optim.Optimizer, scaler) -> None:
    opt.zero_grad(set_to_none=True)
    if scaler is not None:  # fp16: scale the loss so small gradients do not underflow
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()


@contextmanager
def frozen(net: torch.nn.Module) -> Iterator[None]:
    """`net`'s parameters need no gradient inside: a G step backpropagates through D to G's weights only, so
    D's weight gradients (which that step would throw away) are never computed. The gradient reaching G is the
    same (tested bit for bit); afterwards each parameter is as it was."""
    params = [p for p in net.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


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
