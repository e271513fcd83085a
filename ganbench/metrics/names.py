"""The one grammar of metric names: `<base><count>[_ema][_<part>]`, for example `fid500`, `kid1000_lo`,
`fidinf1000`, `fid500_ema`, `kid500_ema_lo`.

The count is the number of generated images the value was computed from, so a name carries its protocol: `fid500`
and `fid10000` are different metrics and are never compared with each other. The part, when present, names a
companion value of the same metric, never a metric of its own:

  std   spread of the estimate (`kid<N>_std`: bootstrap standard error over samples)
  lo    lower end of its 95% evaluation-noise interval (bootstrap over samples, see evaluator.py)
  hi    upper end of that interval
  p     p-value of the metric's test against "the sets are the same" (c2st)

`_ema` marks a value computed from the exponential moving average of G's weights (`ganbench.ema`, a run with
`ema_half_life_kimg` > 0) instead of G as trained; both are recorded side by side, from the same noise and the
same reference images. A name without it is always the trained G.

Bases (lower is better for the distances, higher for precision/recall):

  fid        FID of N generated images against the reference set (biased upwards, the more so the smaller N)
  fidinf     FID-infinity (Chong & Forsyth 2020): FID extrapolated to infinitely many samples from the same N
  kid        KID, unbiased MMD^2 (Binkowski et al. 2018)
  precision  share of generated images inside the reference manifold (k-NN)
  recall     share of reference images inside the generated manifold
  density    Naeem et al. 2020: fakes inside real k-NN balls, per k (about 1 when fakes ~ reals)
  coverage   share of real k-NN balls holding at least one fake
  c2st       held-out accuracy of a real-vs-generated classifier (0.5: it cannot tell; 1: it always can)
  modes      Stacked MNIST: modes covered, of 1,000 (a digit classifier labels each channel; see modes.py)
  mode_kl    Stacked MNIST: KL(generated mode histogram || uniform over the 1,000 modes), in nats

Everything that builds or reads a metric name (evaluator, `ganbench fid`, runner, sweep and the report) goes
through `name` and `parse` here; nothing else spells the pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FID, FIDINF, KID, PRECISION, RECALL = "fid", "fidinf", "kid", "precision", "recall"
DENSITY, COVERAGE, C2ST = "density", "coverage", "c2st"
MODES, MODE_KL = "modes", "mode_kl"
BASES = (FID, FIDINF, KID, PRECISION, RECALL, DENSITY, COVERAGE, C2ST, MODES, MODE_KL)  # display order
STD, LO, HI, P = "std", "lo", "hi", "p"
PARTS = (STD, LO, HI, P)
EMA = "ema"  # the generator marker: the EMA of G ("" = G as trained)
LOWER_IS_BETTER = {
    FID: True,
    FIDINF: True,
    KID: True,
    PRECISION: False,
    RECALL: False,
    DENSITY: False,
    COVERAGE: False,
    C2ST: True,
    MODES: False,
    MODE_KL: True,
}  # c2st: down to 0.5 (chance)
DISTANCES = (FID, FIDINF, KID)  # the bases that can rank variants (lower is better)
# What each base looks through: two metrics of different lenses are two views of the same runs, and a report lines
# up their rankings (ganbench.report.lens). A base registered without a lens is not compared across lenses.
INCEPTION = "Inception features"
DIGITS = "a digit classifier (Stacked MNIST's modes)"
LENS = {base: DIGITS if base in (MODES, MODE_KL) else INCEPTION for base in BASES}
# the bases that can be a comparison's primary metric (direction: LOWER_IS_BETTER); modes: the mode-count lens
PRIMARY_CAPABLE = {*DISTANCES, MODES}

# fidinf before fid: the alternation is tried in order and `fid` would otherwise claim 'fidinf500'. A base may hold
# '_' (mode_kl): the count after it ends the base, so 'mode_kl26000_lo' parses as mode_kl, 26000, lo.
_PATTERN = re.compile(
    rf"^({'|'.join(sorted(BASES, key=len, reverse=True))})(\d+)(?:_({EMA}))?"
    rf"(?:_({'|'.join(PARTS)}))?$"
)


@dataclass(frozen=True)
class MetricName:
    base: str  # one of BASES
    n: int  # generated images the value was computed from
    part: str = ""  # "" for the value itself, else one of PARTS
    g: str = ""  # which generator: "" = G as trained, EMA = its moving average

    def __str__(self) -> str:
        return self.value_name + (f"_{self.part}" if self.part else "")

    @property
    def value_name(self) -> str:
        """The name of the value this part belongs to: 'kid500_lo' -> 'kid500', 'kid500_ema_lo' -> 'kid500_ema'."""
        return f"{self.base}{self.n}" + (f"_{self.g}" if self.g else "")


def name(base: str, n: int, part: str = "", g: str = "") -> str:
    """('fid', 500) -> 'fid500'; ('kid', 500, 'std') -> 'kid500_std'; ('fid', 500, '', 'ema') -> 'fid500_ema'.
    Unknown bases, parts or generators are errors."""
    if base not in BASES:
        raise ValueError(f"unknown metric '{base}': use one of {', '.join(BASES)}")
    if part and part not in PARTS:
        raise ValueError(f"unknown metric part '{part}': use one of {', '.join(PARTS)}")
    if g not in ("", EMA):
        raise ValueError(f"unknown generator marker '{g}': use '' (G as trained) or '{EMA}'")
    if n < 1:
        raise ValueError(f"a metric's sample count must be positive, got {n}")
    return str(MetricName(base, int(n), part, g))


def parse(text: str) -> MetricName | None:
    """'kid500_lo' -> MetricName('kid', 500, 'lo'); 'fid500_ema' -> MetricName('fid', 500, '', 'ema'); None for
    anything that is not a metric name ('loss_d', 'fid500_final', 'fid')."""
    m = _PATTERN.match(str(text))
    return MetricName(m.group(1), int(m.group(2)), m.group(4) or "", m.group(3) or "") if m else None


def of_ema(text: str) -> str:
    """The same metric computed from the EMA of G: 'fid500' -> 'fid500_ema', 'kid500_lo' -> 'kid500_ema_lo'."""
    m = parse(text)
    if m is None or m.g:
        raise ValueError(f"'{text}' is not a metric name of the trained G")
    return str(MetricName(m.base, m.n, m.part, EMA))


def is_metric(text: str) -> bool:
    return parse(text) is not None


def is_value(text: str, base: str | None = None) -> bool:
    """A metric's value itself (not a part), optionally of one base: is_value('fid500', 'fid') is True,
    is_value('kid500_std') and is_value('fidinf500', 'fid') are False."""
    m = parse(text)
    return m is not None and not m.part and (base is None or m.base == base)


def sort_key(text: str) -> tuple:
    """Display order: by base (FID first), then count, the value before its parts."""
    m = parse(text)
    if m is None:
        return (len(BASES), 0, 0, 0, str(text))
    return (BASES.index(m.base), m.n, 1 if m.g else 0, PARTS.index(m.part) + 1 if m.part else 0, "")


def better(text: str) -> str:
    """'lower is better' / 'higher is better' for a metric value; '' for a part or a non-metric."""
    m = parse(text)
    if m is None or m.part:
        return ""
    return "lower is better" if LOWER_IS_BETTER[m.base] else "higher is better"
