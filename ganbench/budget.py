"""A run's budget, parsed once into a typed value: how much training every variant gets.

Units: real images shown to D (`20kimg`, `500img`), epochs (`5epochs`: passes over the training images, so the
image count depends on the data set's size), G steps (`500steps`), or wall-clock training time (`90s`, `10min`,
`1h`; evaluation excluded). Every record carries kimg, epochs, G steps and seconds whatever the unit.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

from ganbench.errors import ConfigError

UNITS = ("img", "epochs", "steps", "seconds")


@dataclass(frozen=True)
class Budget:
    unit: str  # one of UNITS
    amount: float  # images, epochs, G steps or seconds

    def __str__(self) -> str:
        if self.unit == "img":
            return f"{self.amount / 1000:g}kimg"
        return f"{self.amount:g}{ {'steps': 'steps', 'epochs': 'epochs', 'seconds': 's'}[self.unit] }"

    def in_images(self, n_images: int) -> Budget:
        """Epochs as the images they show (n_images training images an epoch); other units unchanged."""
        return Budget("img", self.amount * n_images) if self.unit == "epochs" else self

    def spent(self, img: int, g_steps: int, seconds: float) -> bool:
        """Whether the counters reached the budget; an epoch budget must be turned into images first."""
        if self.unit == "epochs":
            raise ValueError("an epoch budget is counted in images: call in_images(n_images) first")
        return {"img": img, "steps": g_steps, "seconds": seconds}[self.unit] >= self.amount


_BUDGET = re.compile(
    r"^\s*([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)\s*(kimg|img|epochs|epoch|ep|steps|step|s|sec|min|m|h)"
    r"\s*$",
    re.I,
)
_UNITS = {
    "kimg": ("img", 1000),
    "img": ("img", 1),
    "epochs": ("epochs", 1),
    "epoch": ("epochs", 1),
    "ep": ("epochs", 1),
    "steps": ("steps", 1),
    "step": ("steps", 1),
    "s": ("seconds", 1),
    "sec": ("seconds", 1),
    "min": ("seconds", 60),
    "m": ("seconds", 60),
    "h": ("seconds", 3600),
}


@functools.lru_cache(maxsize=256)
def parse_budget(text: str) -> Budget:
    m = _BUDGET.match(str(text))
    if not m:
        raise ConfigError(
            f"budget '{text}' is not understood: write real images shown as '20kimg', passes over the data as "
            "'5epochs', G steps as '500steps', or wall-clock time as '90s', '10min' or '1h'"
        )
    unit, scale = _UNITS[m.group(2).lower()]
    amount = float(m.group(1)) * scale
    if amount < 0:
        raise ConfigError(f"budget '{text}' is not understood: a budget must be positive, for example '20kimg'")
    if not math.isfinite(amount) or amount <= 0:
        raise ConfigError(f"budget '{text}' must be a positive, finite amount, for example '20kimg'")
    return Budget(unit, amount)
