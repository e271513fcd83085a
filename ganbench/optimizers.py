"""Optimisers by name, one per network: a recipe can train D with RMSProp (WGAN) or SGD and G with Adam.

    make_optimizer(params, name, lr, betas=(0.5, 0.999), momentum=0.0, fused=False, foreach=None) -> Optimizer

    adam     torch.optim.Adam(lr, betas)             Kingma & Ba 2015; DCGAN's (0.5, 0.999)
    rmsprop  torch.optim.RMSprop(lr, momentum)       Tieleman & Hinton 2012; WGAN's critic and G, lr 5e-5
    sgd      torch.optim.SGD(lr, momentum)

Each optimiser reads only its own hyperparameters (betas for adam; momentum for rmsprop and sgd); every one is
checked whatever the name, so a typo fails before a run starts. `fused` asks for the single-kernel path where
torch has one (Adam, SGD; RMSprop has none and takes foreach instead), `foreach` for the multi-tensor one
(None: torch's choice); the maths is the same (`ganbench.device.DeviceSettings.adam_kwargs` picks them). RMSprop
keeps torch's defaults (alpha 0.99, eps 1e-8), as in the WGAN reference code.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from ganbench.registry import Registry


@dataclass(frozen=True)
class OptimizerKind:
    name: str
    build: Callable[..., torch.optim.Optimizer]  # build(params, lr, betas, momentum, impl)
    reads: tuple[str, ...]  # the hyperparameters besides lr that it uses
    summary: str = ""


OPTIMIZERS: Registry[OptimizerKind] = Registry("optimizer")


def _impl(impl: dict, fused_ok: bool = True) -> dict:
    """torch's implementation switches: {'fused': True} | {'foreach': bool} | {}; fused falls back to foreach
    where the class has no fused kernel."""
    if impl.get("fused") and not fused_ok:
        return {"foreach": True}
    return impl


OPTIMIZERS.register(
    "adam",
    OptimizerKind(
        "adam",
        lambda p, lr, betas, momentum, impl: torch.optim.Adam(p, lr=lr, betas=betas, **_impl(impl)),
        ("betas",),
        "Adam (Kingma & Ba 2015)",
    ),
)
OPTIMIZERS.register(
    "rmsprop",
    OptimizerKind(
        "rmsprop",
        lambda p, lr, betas, momentum, impl: torch.optim.RMSprop(
            p, lr=lr, momentum=momentum, **_impl(impl, fused_ok=False)
        ),
        ("momentum",),
        "RMSProp (Tieleman & Hinton 2012); WGAN's optimiser",
    ),
)
OPTIMIZERS.register(
    "sgd",
    OptimizerKind(
        "sgd",
        lambda p, lr, betas, momentum, impl: torch.optim.SGD(p, lr=lr, momentum=momentum, **_impl(impl)),
        ("momentum",),
        "stochastic gradient descent, optional heavy-ball momentum",
    ),
)


def check_optimizer(
    name: str, lr: float, betas: tuple[float, float] = (0.5, 0.999), momentum: float = 0.0, what: str = "optimizer"
) -> None:
    """Raise ValueError (one line: what is wrong, what is valid) for a setting no optimiser could run with.
    `what` names the field in the message, e.g. 'opt_d'."""
    OPTIMIZERS[name]  # unknown names: the valid ones and a did-you-mean
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"{what}: learning rate must be a positive number, got {lr}")
    if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
        raise ValueError(f"{what}: betas must be two numbers in [0, 1), got {tuple(betas)}")
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"{what}: momentum must be in [0, 1), got {momentum}")


def make_optimizer(
    params: Iterable,
    name: str,
    lr: float,
    betas: tuple[float, float] = (0.5, 0.999),
    momentum: float = 0.0,
    fused: bool = False,
    foreach: bool | None = None,
) -> torch.optim.Optimizer:
    """The optimiser `name` over `params` (parameters or parameter groups), after `check_optimizer`."""
    check_optimizer(name, lr, betas, momentum)
    impl = {"fused": True} if fused else ({} if foreach is None else {"foreach": foreach})
    return OPTIMIZERS[name].build(params, lr, (float(betas[0]), float(betas[1])), float(momentum), impl)
