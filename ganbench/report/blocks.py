"""A comparison rendered: its forest figure, its verdict and its pair table, as page blocks. Every section of a
report that compares groups (a protocol cohort, the study's primary family, selected against recipe, the
re-analysis on the ratio scale) is made of this one rendering, so they read, and are drawn, the same way."""

from __future__ import annotations

import math
from pathlib import Path

from ganbench.report import display
from ganbench.report.compare import Comparison, Group, Obs
from ganbench.report.figures import forest as F
from ganbench.report.pages import Figure, Heading, Para, Table
from ganbench.report.verdict import FAILED_TABLE, Context, details, lead, value
from ganbench.stats import scale as sc

GREY = (0.3, 0.3, 0.3)


def _lighter(colour: tuple) -> tuple:
    return tuple(0.55 + 0.45 * c for c in colour[:3])


def row(g: Group, colour: tuple = GREY, letters: str = "", label: str | None = None) -> F.ForestRow:
    """A group as a forest row: its centre and interval, its seeds (failed ones as crosses), its failure count."""
    good = [o.value for o in g.obs if not o.failure and math.isfinite(o.value)]
    bad = [o.value for o in g.obs if o.failure and math.isfinite(o.value)]
    text = ""
    if g.failed:
        text = f"{display.fmt(g.centre)} ({g.failed} of {g.total} failed)"
    elif g.scale == sc.LOG and g.n >= 2:
        text = f"{display.fmt(g.centre)} ({display.fmt(g.low)}-{display.fmt(g.high)})"
    return F.ForestRow(label or g.name, g.centre, g.low, g.high, g.n, good, letters, colour, bad, text)


def forest(
    c: Comparison,
    colours: dict,
    path: Path,
    floor: Group | None = None,
    ceiling: Group | None = None,
    labels: dict[str, str] | None = None,
    light: frozenset[str] = frozenset(),
    exclude: tuple[str, ...] = (),
) -> list[str]:
    """The comparison's forest figure: groups best first (a light colour for `light` ones), the floor and ceiling
    as lines. Returns warnings."""
    labels = labels or {}
    rows = []
    for g in c.groups:
        if g.name in exclude:
            continue
        colour = colours.get(g.name, colours.get(g.name.split(" ")[0], GREY))
        rows.append(
            row(g, _lighter(colour) if g.name in light else colour, c.letters.get(g.name, ""), labels.get(g.name))
        )
    centre = "geometric mean and 95% interval (log scale)" if c.scale == sc.LOG else "mean and 95% t-interval"
    what = (
        f"{centre} over successful seeds (dots: seeds; crosses: failed seeds); groups sharing a letter are not "
        f"distinguishable ({c.plan.label})"
    )
    line = lambda g: row(g) if g is not None else None  # noqa: E731
    return F.forest(
        rows,
        line(floor),
        c.key,
        path,
        ceiling=line(ceiling),
        what=what,
        log_x=c.scale == sc.LOG,
        lower_is_better=c.lower_is_better,
    )


def blocks(
    c: Comparison,
    ctx: Context,
    figure: str | None,
    title: str | None = None,
    exclude: tuple[str, ...] = (),
    level: int = 3,
) -> list:
    """Heading (optional), the lead verdict, the figure (a file already drawn, relative to the report folder), the
    details paragraph and the pair table."""
    out: list = [Heading(title, level)] if title else []
    out.append(Para(lead(c, ctx, exclude), lead=True))
    if figure:
        out.append(Figure(figure, f"{c.key} per group, {c.plan.label}"))
    out.append(Para(details(c, ctx, exclude)))
    if c.tested:
        view = display.pair_table(c)
        out += [Heading(view.title, level + 1), Table(view.header, view.rows), Para(view.note, note=True)]
    return out


def group_rows(c: Comparison) -> list[list[str]]:
    """Per group: rank, letters, centre with interval, seeds, failures with their rate's interval, evaluation noise."""
    rows = []
    for i, g in enumerate(c.groups, 1):
        rate = f"{g.failed} of {g.total} ({g.rate[0]:.0%}-{g.rate[1]:.0%})" if g.total else "–"
        rows.append(
            [
                str(i),
                g.name,
                c.letters.get(g.name, ""),
                value(g).removeprefix(g.name + " ") + (" (widened to evaluation noise)" if g.widened else ""),
                ", ".join(f"{display.fmt(o.value)}" + (f" [{o.failure}]" if o.failure else "") for o in g.obs),
                rate,
                g.noise,
            ]
        )
    return rows


GROUP_HEAD = [
    "rank",
    "group",
    "letters",
    "centre (95% CI)",
    "every seed",
    "failed (95% CI of the rate)",
    "evaluation noise",
]


def failed_blocks(failed: list[tuple[str, Obs]], level: int = 3) -> list:
    """The table the verdict's failure count points to: every failed seed (group, seed, run folder) with what its
    run shows ("stalled (D accuracy ≥ 0.99, |G loss| ≤ 0.01) from 50 to 225 kimg, took off by 250 kimg")."""
    if not failed:
        return []
    rows = [[g, "" if o.seed is None else str(o.seed), o.run, o.why] for g, o in failed]
    return [Heading(FAILED_TABLE, level), Table(["group", "seed", "run", "what the run shows"], rows)]
