"""Model families: the one place that knows what `gan`, `vae` and `random` mean.

Each entry says whether it trains networks, whether it has a discriminator and an objective, and which searched
hyperparameters act on it. Its implementation (`ganbench.families.gan`, `.vae`, `.noise`) builds the networks,
takes one training step and makes the sampler; it is imported on first use, so reading result files (the report)
never imports the training code.

Implementation interface (`Family.impl`):

    build(cfg, device, settings) -> dict   networks and optimisers by name (checkpointed under those names);
                                      settings: ganbench.device.DeviceSettings (memory format, Adam kind)
    step(loop) -> None                one G step: everything up to and including it (a GAN's n_critic D steps),
                                      drawing batches and adding statistics through the loop's state
                                      (`ganbench.train.Loop`) and advancing its image and D-step counters
    generator(nets) -> module | None  the network `ganbench.models.latent_sampler` draws from (None: pixel noise)
    compiled(cfg) -> tuple[str, ...]  the networks `compile` compiles, by name (recorded in DeviceSettings.compile;
                                      build passes settings.compile to ganbench.device.compile_networks)

New families, or new axes of one (penalties, EMA of G, per-network optimisers), change only these modules.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from ganbench.registry import Registry

# The training hyperparameters of a recipe: what a sweep may search over.
HYPERPARAMETERS = (
    "lr_g",
    "lr_d",
    "beta1",
    "beta2",
    "momentum",
    "batch_size",
    "n_critic",
    "penalty_weight",
    "penalty_every",
    "clip",
    "ema_half_life_kimg",
    "latent_dim",
    "latent_dist",
    "g_width",
    "d_width",
    "d_norm",
    "leaky_slope",
    "kl_weight",
)
_GAN_ONLY = ("n_critic", "penalty_weight", "penalty_every", "clip", "ema_half_life_kimg")


@dataclass(frozen=True)
class Family:
    name: str
    summary: str
    trains: bool  # has networks to train (the random baseline does not)
    adversarial: bool  # has a discriminator and an objective (cfg.objective acts)
    hyperparameters: tuple[str, ...]  # those of HYPERPARAMETERS that act on it
    module: str  # the implementation, imported on use
    reference: str = ""  # for a family with nothing trained: "floor" (random noise) or "ceiling" (real images)

    @property
    def impl(self) -> ModuleType:
        return importlib.import_module(self.module)

    def applies(self, key: str, cfg) -> bool:
        """Whether hyperparameter `key` changes what a run of `cfg` does."""
        if key not in self.hyperparameters:
            return False
        if key in ("penalty_weight", "penalty_every"):  # act only through a penalty
            return cfg.penalty != "none"
        if key in ("beta1", "beta2"):  # Adam's
            return "adam" in (cfg.optimizer_g, cfg.optimizer_d)
        if key == "momentum":  # RMSProp's and SGD's
            return bool({"rmsprop", "sgd"} & {cfg.optimizer_g, cfg.optimizer_d})
        return True


FAMILIES: Registry[Family] = Registry("family")
_COMMON = tuple(k for k in HYPERPARAMETERS if k not in (*_GAN_ONLY, "kl_weight"))
GAN = FAMILIES.register(
    "gan",
    Family(
        "gan",
        "G against D under an objective and a penalty",
        True,
        True,
        (*_COMMON, *_GAN_ONLY),
        "ganbench.families.gan",
    ),
)
VAE = FAMILIES.register(
    "vae",
    Family(
        "vae", "variational autoencoder, decoder = G", True, False, (*_COMMON, "kl_weight"), "ganbench.families.vae"
    ),
)
RANDOM = FAMILIES.register(
    "random",
    Family(
        "random",
        "uniform pixel noise: the floor every metric is read against",
        False,
        False,
        (),
        "ganbench.families.noise",
        reference="floor",
    ),
)
REAL = FAMILIES.register(
    "real",
    Family(
        "real",
        "real training images: the real-vs-real line, the end of the scale",
        False,
        False,
        (),
        "ganbench.families.real",
        reference="ceiling",
    ),
)


def device_settings(cfg, device):
    """The device settings a run of `cfg` (a ganbench Config) uses on `device` (ganbench.device.resolve), with the
    networks its family compiles when cfg.compile is on."""
    from ganbench.device import resolve

    return resolve(cfg, device, get(cfg.family).impl.compiled(cfg) if cfg.compile else ())


def get(name: str) -> Family:
    """The family called `name`; UnknownNameError (with the valid names) otherwise."""
    return FAMILIES[name]


def trains(name: str) -> bool:
    """For result files, which may name anything: True for a known family that trains networks."""
    return name in FAMILIES and FAMILIES[name].trains


def adversarial(name: str) -> bool:
    return name in FAMILIES and FAMILIES[name].adversarial


def is_baseline(name: str) -> bool:
    """A known family with nothing trained: a line to read the others against (the random floor, the real-vs-real
    ceiling), not a contender."""
    return name in FAMILIES and not FAMILIES[name].trains


def is_floor(name: str) -> bool:
    """The random baseline: where the scale starts."""
    return name in FAMILIES and FAMILIES[name].reference == "floor"


def is_ceiling(name: str) -> bool:
    """The real-vs-real line: where the scale ends (a perfect model of the training data)."""
    return name in FAMILIES and FAMILIES[name].reference == "ceiling"
