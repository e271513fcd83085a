"""The one DCGAN backbone every variant shares (Radford et al. 2016; the PyTorch `examples/dcgan` layout).

G: z (B, nz) -> 4x4 transposed conv -> [4x4 stride-2 transposed conv + BatchNorm + ReLU] * k -> tanh, (B, C, R, R)
D: (B, C, R, R) -> [4x4 stride-2 conv + norm + LeakyReLU] * k (no norm on the first) -> 4x4 conv -> logits (B,)

D returns raw logits: there is no Sigmoid anywhere; each objective decides what to do with them.
Resolution R is any power of two >= 16; widths double at every halving of the resolution.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def check_resolution(resolution: int) -> int:
    n = int(round(math.log2(resolution))) if resolution > 0 else 0
    if resolution < 16 or 2**n != resolution:
        raise ValueError(
            f"resolution {resolution} cannot be built by the DCGAN backbone: use a power of two >= 16 "
            "(32, 64, 128, ...)"
        )
    return n - 2  # number of stride-2 stages between 4x4 and R x R


def init_weights(module: nn.Module) -> None:
    """Radford et al.: conv weights ~ N(0, 0.02); normalisation scales ~ N(1, 0.02), shifts 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    def __init__(self, resolution: int = 64, channels: int = 3, latent_dim: int = 100, width: int = 64) -> None:
        super().__init__()
        stages = check_resolution(resolution)
        self.latent_dim = latent_dim
        ch = width * 2 ** (stages - 1)  # 512 at 64x64 with width 64
        layers: list[nn.Module] = [
            # (B, nz, 1, 1) -> (B, ch, 4, 4)
            nn.ConvTranspose2d(latent_dim, ch, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(stages - 1):
            # (B, ch, s, s) -> (B, ch/2, 2s, 2s)
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        # (B, width, R/2, R/2) -> (B, C, R, R) in [-1, 1]
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.view(z.shape[0], -1, 1, 1))


def _norm(kind: str, ch: int) -> nn.Module | None:
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "layer":  # layer-style: normalise each sample over (C, H, W); safe under a gradient penalty
        return nn.GroupNorm(1, ch)
    if kind in ("spectral", "none"):
        return None
    raise ValueError(f"unknown d_norm '{kind}'. Valid choices: batch, layer, spectral, none.")


class _SpectralNormFP32(nn.utils.parametrizations._SpectralNorm):
    """torch's spectral-norm parametrization (same buffers, same state-dict keys) with its power iteration and
    sigma computed in fp32 with autocast off. Why: under fp16/bf16 autocast `mv` is cast to half precision while
    `vdot` is not (the pinned torch has an MPS autocast rule for mv, none for vdot), so torch's
    sigma = vdot(u, mv(W, v)) multiplies an fp32 u by a half vector and fails on MPS ("dot: expected both vectors
    to have same dtype"); elsewhere it would divide every weight by a norm rounded to half precision. fp32 runs and
    the CPU (no autocast rule for mv) compute exactly what torch's own parametrization computes."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        with torch.autocast(weight.device.type, enabled=False):
            return super().forward(weight)


def spectral_norm(module: nn.Conv2d) -> nn.Conv2d:
    """Spectral normalisation of a convolution's weight (Miyato et al. 2018), one power iteration per forward."""
    return nn.utils.parametrize.register_parametrization(module, "weight", _SpectralNormFP32(module.weight))


class DiscriminatorTrunk(nn.Module):
    """D without its last layer: (B, C, R, R) -> (B, width * 2^(k-1), 4, 4). Also the VAE's encoder trunk."""

    def __init__(
        self, resolution: int = 64, channels: int = 3, width: int = 64, norm: str = "batch", slope: float = 0.2
    ) -> None:
        super().__init__()
        stages = check_resolution(resolution)
        sn = spectral_norm if norm == "spectral" else (lambda m: m)
        # (B, C, R, R) -> (B, width, R/2, R/2); no normalisation on the first layer (Radford et al.)
        layers: list[nn.Module] = [sn(nn.Conv2d(channels, width, 4, 2, 1, bias=False)), nn.LeakyReLU(slope, True)]
        ch = width
        for _ in range(stages - 1):
            # (B, ch, s, s) -> (B, 2ch, s/2, s/2)
            layers.append(sn(nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False)))
            if (n := _norm(norm, ch * 2)) is not None:
                layers.append(n)
            layers.append(nn.LeakyReLU(slope, True))
            ch *= 2
        self.main = nn.Sequential(*layers)
        self.out_channels = ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class Discriminator(nn.Module):
    def __init__(
        self, resolution: int = 64, channels: int = 3, width: int = 64, norm: str = "batch", slope: float = 0.2
    ) -> None:
        super().__init__()
        self.trunk = DiscriminatorTrunk(resolution, channels, width, norm, slope)
        sn = spectral_norm if norm == "spectral" else (lambda m: m)
        # (B, ch, 4, 4) -> (B, 1, 1, 1): one raw logit per image
        self.head = sn(nn.Conv2d(self.trunk.out_channels, 1, 4, 1, 0, bias=False))
        self.apply(init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x)).view(-1)  # (B,) logits


class VAE(nn.Module):
    """Encoder = D's convolutional trunk + mean / log-variance heads; decoder = G (the shared generator)."""

    def __init__(
        self,
        resolution: int = 64,
        channels: int = 3,
        latent_dim: int = 100,
        g_width: int = 64,
        d_width: int = 64,
        d_norm: str = "batch",
        slope: float = 0.2,
    ) -> None:
        super().__init__()
        self.encoder = DiscriminatorTrunk(resolution, channels, d_width, d_norm, slope)
        ch = self.encoder.out_channels
        # (B, ch, 4, 4) -> (B, nz, 1, 1) each
        self.mu = nn.Conv2d(ch, latent_dim, 4, 1, 0)
        self.logvar = nn.Conv2d(ch, latent_dim, 4, 1, 0)
        self.encoder.apply(init_weights)
        self.mu.apply(init_weights)
        self.logvar.apply(init_weights)
        self.decoder = Generator(resolution, channels, latent_dim, g_width)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.mu(h).flatten(1), self.logvar(h).flatten(1)  # (B, nz) each


def sample_latent(n: int, dim: int, dist: str, device: torch.device | str, generator: torch.Generator | None = None):
    """z of shape (n, dim): 'normal' N(0, I); 'uniform' U[-1, 1]^dim; 'sphere' a normal draw scaled onto the sphere
    of radius sqrt(dim) (uniform direction; the radius is where normal z concentrates, so E[z_i^2] = 1 as for
    'normal' and a G sees inputs of the same scale; "use a spherical Z" from the ganhacks list, after White 2016,
    "Sampling Generative Networks"). 'sphere' takes exactly the draws of 'normal' from the generator."""
    if dist == "normal":
        return torch.randn(n, dim, device=device, generator=generator)
    if dist == "uniform":
        return torch.rand(n, dim, device=device, generator=generator) * 2 - 1
    if dist == "sphere":
        z = torch.randn(n, dim, device=device, generator=generator)
        return z * (dim**0.5 / z.norm(dim=1, keepdim=True))
    raise ValueError(f"unknown latent_dist '{dist}'. Valid choices: normal, sphere, uniform.")
