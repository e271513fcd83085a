"""Where two studies' rankings agree (`ganbench report A --against B`): the same variants, the same search and
protocol, two data sets. Each study is analysed on its own (`study.analyse`: its own tests, margin and scale); this
module only lines up what each one concluded, pair by pair, and never pools values across data sets (a KID on faces
and a KID on CIFAR-10 are different scales).

Per pair of variants, each study's call is one of: the better variant's name (Welch, Holm over that study's pairs;
"different but by less than the margin" counts as ordered), "tied" (TOST at that study's margin, Holm), "open"
(neither) or "untested" (fewer than 2 seeds on a side). Two calls agree when they name the same variant or are both
"tied"; they conflict when they name opposite variants; anything else is partial evidence and is said as such.
Besides the pairs: each variant's rank and group on both, and its position on each study's own scale,
(value - real-vs-real) / (random - real-vs-real): 0 is as close as two sets of real images, 1 is random noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ganbench.report.compare import OPEN, TIED, UNTESTED, Comparison, PairResult
from ganbench.report.display import fmt
from ganbench.report.study import StudyFindings
from ganbench.stats.resample import kendall

SAME, BOTH_TIED, OPPOSITE, PARTIAL, NEITHER = (
    "same order",
    "tied on both",
    "opposite order",
    "partial",
    "not settled on either",
)


def _settled(c: str) -> bool:
    """A call that says something: a better variant or TIED."""
    return c not in (OPEN, UNTESTED)


def _ordered(c: str) -> bool:
    """A call that names the better variant."""
    return c not in (TIED, OPEN, UNTESTED)


def call(p: PairResult) -> str:
    """One study's conclusion about a pair: the better variant, TIED, OPEN or UNTESTED (the comparison's own)."""
    return p.call


def agree(x: str, y: str) -> str:
    """How two calls about the same pair relate: SAME, BOTH_TIED, OPPOSITE, PARTIAL or NEITHER."""
    if not _settled(x) and not _settled(y):
        return NEITHER
    if not (_settled(x) and _settled(y)):
        return PARTIAL
    if x == y:
        return BOTH_TIED if x == TIED else SAME
    return PARTIAL if TIED in (x, y) else OPPOSITE


@dataclass(frozen=True)
class PairRow:
    a: str
    b: str
    calls: tuple[str, str]
    relation: str


@dataclass
class Agreement:
    labels: tuple[str, str]
    variants: list[str]  # tuned arms present in both, in the first study's order
    ranks: dict[str, tuple[int, int]]
    groups: dict[str, tuple[str, str]]
    position: dict[str, tuple[float, float]]  # on each study's own scale: 0 real-vs-real, 1 random noise
    pairs: list[PairRow]
    tau: float  # Kendall's tau between the two orders of the means (descriptive)

    def by(self, relation: str) -> list[PairRow]:
        return [p for p in self.pairs if p.relation == relation]


def _position(f: StudyFindings, v: str) -> float:
    g = f.primary.group(v)
    if g is None or f.floor is None or f.ceiling is None or not f.floor.centre > f.ceiling.centre:
        return math.nan
    return (g.centre - f.ceiling.centre) / (f.floor.centre - f.ceiling.centre)


def kendall_tau(x: list[float], y: list[float]) -> float:
    """Kendall's tau (tau-b: tau-a where nothing is tied) between two score lists; NaN below 2 items."""
    return kendall(x, y)


def compare(
    a: StudyFindings,
    b: StudyFindings,
    labels: tuple[str, str],
    ca: Comparison | None = None,
    cb: Comparison | None = None,
) -> Agreement:
    """Line up two studies' conclusions about the variants both have a selected arm for: their primary
    comparisons, or the two given (e.g. both re-analyses on the ratio scale)."""
    ca, cb = ca or a.primary, cb or b.primary
    common = [v for v in ca.order if v in cb.order]
    ranks = {v: (ca.order.index(v) + 1, cb.order.index(v) + 1) for v in common}
    groups = {v: (ca.letters.get(v, ""), cb.letters.get(v, "")) for v in common}
    position = {v: (_position(a, v), _position(b, v)) for v in common}
    rows = []
    for i, x in enumerate(common):
        for y in common[i + 1 :]:
            calls = (call(ca.pair(x, y)), call(cb.pair(x, y)))
            rows.append(PairRow(x, y, calls, agree(*calls)))
    tau = kendall_tau([ca.group(v).centre for v in common], [cb.group(v).centre for v in common])
    return Agreement(labels, common, ranks, groups, position, rows, tau)


def _pairs(rows: list[PairRow]) -> str:
    return ", ".join(f"{p.a} and {p.b}" for p in rows)  # no final "and": the items themselves are "x and y"


def _beats(rows: list[PairRow], i: int) -> str:
    """'x over y, ...' as study i called them."""
    return ", ".join(f"{p.calls[i]} over {p.b if p.calls[i] == p.a else p.a}" for p in rows)


def text(ag: Agreement) -> str:
    """The agreement in words: what both data sets support, what they contradict, what only one settles."""
    a, b = ag.labels
    n = len(ag.pairs)
    if n == 0:
        return f"{a} and {b} share fewer than two tuned variants: nothing to line up."
    are = lambda rows: "is" if len(rows) == 1 else "are"  # noqa: E731
    out = [
        f"Across {a} and {b} ({len(ag.variants)} variants with a tuned arm in both, {n} pair"
        f"{'s' if n != 1 else ''}, each study tested on its own under its own plan, Holm over its pairs):"
    ]
    same, tied, opposite = ag.by(SAME), ag.by(BOTH_TIED), ag.by(OPPOSITE)
    out.append(
        f"{len(same)} of {n} {are(same)} ordered the same way on both"
        + (f" ({_beats(same, 0)})" if same else "")
        + f"; {len(tied)} {are(tied)} tied on both"
        + (f" ({_pairs(tied)})" if tied else "")
        + f"; {len(opposite)} {are(opposite)} ordered oppositely"
        + (f" ({_pairs(opposite)})" if opposite else "")
        + "."
    )
    partial = ag.by(PARTIAL)
    settled = lambda p: [i for i in (0, 1) if _settled(p.calls[i])]  # noqa: E731
    for i in (0, 1):  # settled on one data set only
        only = [p for p in partial if settled(p) == [i]]
        if only:
            ordered = [p for p in only if p.calls[i] != TIED]
            tied_here = [p for p in only if p.calls[i] == TIED]
            out.append(
                f"Settled on {ag.labels[i]} only ({len(only)}, not on {ag.labels[1 - i]}): "
                + "; ".join(
                    t
                    for t in (
                        f"ordered {_beats(ordered, i)}" if ordered else "",
                        f"tied {_pairs(tied_here)}" if tied_here else "",
                    )
                    if t
                )
                + "."
            )

    def ordered_here_tied_there(p: PairRow) -> str:
        i = 0 if _ordered(p.calls[0]) else 1
        return f"{_beats([p], i)} on {ag.labels[i]}, tied on {ag.labels[1 - i]}"

    mixed = [p for p in partial if len(settled(p)) == 2]  # ordered on one, tied on the other
    if mixed:
        out.append(
            "Ordered on one data set, tied on the other: " + "; ".join(map(ordered_here_tied_there, mixed)) + "."
        )
    neither = ag.by(NEITHER)
    if neither:
        out.append(f"{len(neither)} settled on neither ({_pairs(neither)}).")
    for i in (0, 1):
        undecided = sum(1 for p in ag.pairs if not _settled(p.calls[i]))
        if undecided * 2 > n:
            out.append(
                f"{ag.labels[i]} is inconclusive on most pairs: {undecided} of {n} neither ordered nor shown "
                "equivalent."
            )
    best = [v for v in ag.variants if ag.ranks[v] == (1, 1)]
    out.append(
        (
            f"{best[0]} has the best mean on both"
            if best
            else f"The best mean differs: {ag.variants[0]} on {a}, "
            f"{min(ag.variants, key=lambda v: ag.ranks[v][1])} on {b}"
        )
        + f"; Kendall's tau between the two orders of the means: {ag.tau:.2f} (descriptive, "
        f"{len(ag.variants)} variants)."
    )
    return " ".join(out)


def table_rows(ag: Agreement) -> list[list[str]]:
    """One row per variant: rank, group and scale position on each study."""
    return [
        [
            v,
            f"{ag.ranks[v][0]} ({ag.groups[v][0] or '–'})",
            _pos(ag.position[v][0]),
            f"{ag.ranks[v][1]} ({ag.groups[v][1] or '–'})",
            _pos(ag.position[v][1]),
        ]
        for v in ag.variants
    ]


def pair_rows(ag: Agreement) -> list[list[str]]:
    return [[f"{p.a} − {p.b}", _said(p.calls[0]), _said(p.calls[1]), p.relation] for p in ag.pairs]


def _said(c: str) -> str:
    return (
        f"{c} better" if _ordered(c) else {TIED: "tied", OPEN: "not distinguishable", UNTESTED: "fewer than 2 seeds"}[c]
    )


def _pos(x: float) -> str:
    return "–" if not math.isfinite(x) else fmt(x)


def labels(a: StudyFindings, b: StudyFindings, roots: tuple[Path, Path]) -> tuple[str, str]:
    """Each study's name (its study file's `name`), or its folder's where the names are missing or the same."""
    names = tuple(str(f.study.name or Path(r).resolve().name) for f, r in zip((a, b), roots, strict=True))
    if names[0] != names[1]:
        return names
    return tuple(str(Path(r).resolve().relative_to(Path(r).resolve().parents[1])) for r in roots)


def blocks(
    ag: Agreement, out: Path, colours: dict, title: str = "", figure_name: str = "agreement.png"
) -> tuple[list, list[Path]]:
    """The cross-study section of a report: the agreement in words, the scale-position figure, two tables."""
    from ganbench.report.figures.agreement import scale_positions
    from ganbench.report.pages import Figure, Heading, Para, Table

    a, b = ag.labels
    figure = scale_positions(ag.labels, ag.position, colours, out / figure_name)
    return [
        Heading(title or f"Against {b}: where the rankings agree"),
        Para(text(ag), lead=True),
        Figure(figure_name, f"each variant's place on the scale of {a} and of {b}"),
        Table(
            [
                "variant",
                f"rank on {a} (group)",
                f"scale position on {a}",
                f"rank on {b} (group)",
                f"scale position on {b}",
            ],
            table_rows(ag),
        ),
        Para(
            "Scale position: (mean − real-vs-real) / (random − real-vs-real) on each study's own protocol: 0 is "
            "as close as two sets of real images, 1 is random noise. Groups: each study's own letters (Welch, "
            "Holm, α 0.05).",
            note=True,
        ),
        Table(["pair", f"on {a}", f"on {b}", "relation"], pair_rows(ag)),
    ], [figure]
