"""The study section's figures and blocks: verdict, forest of both arms, samples, rank against budget, curves of both
arms, each variant's spread over its search draws, and the tables (ranking, settings, pairs, tuned vs recipe,
goals). The analysis is `ganbench.report.study`'s."""

from __future__ import annotations

import math
import shutil
import textwrap
from pathlib import Path

import numpy as np
import seaborn as sns

from ganbench import families as fam
from ganbench.metrics import names
from ganbench.report import plots
from ganbench.report.display import fmt, pair_verdict
from ganbench.report.pages import Figure, Heading, Para, Table
from ganbench.report.study import GOAL_KID, GOAL_PRECISION, StudyFindings, goals, verdict
from ganbench.rundir import Status, file_name, number
from ganbench.study.layout import RECIPE, TUNED


def _lighter(colour: tuple) -> tuple:
    return tuple(0.55 + 0.45 * c for c in colour[:3])


def forest(f: StudyFindings, colours: dict, path: Path) -> list[str]:
    """Both arms of every variant, tuned above recipe, ordered by the tuned mean; the scale's two ends as lines."""
    rows = []
    for v in f.order:
        for arm in (TUNED, RECIPE):
            vals = f.values.get((v, arm), [])
            if not vals:
                continue
            iv = f.interval(v, arm)
            colour = colours.get(v, (0.3, 0.3, 0.3))
            rows.append(
                plots.ForestRow(
                    f"{v} · {arm}",
                    iv.mean,
                    iv.low,
                    iv.high,
                    iv.n,
                    vals,
                    f.letters.get(v, "") if arm == TUNED else "",
                    colour if arm == TUNED else _lighter(colour),
                )
            )
    line = lambda iv, label: plots.ForestRow(label, iv.mean, iv.low, iv.high, iv.n, []) if iv else None  # noqa: E731
    return plots.forest(rows, line(f.floor, "random"), f.key, path, ceiling=line(f.ceiling, "real"))


def curves(f: StudyFindings, colours: dict, every: float, path: Path) -> Path:
    """The metric against kimg for every variant: tuned (solid) and recipe (dashed), mean over seeds with the
    seeds' range as a band; the random floor and the real-vs-real line across."""
    from ganbench.report.study import budget_bucket

    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = plots._figure(10, 5.2)
        ax = fig.add_subplot()
        for v in f.order:
            for arm, style in ((TUNED, "-"), (RECIPE, "--")):
                points: dict[float, list[float]] = {}
                for r in f.runs.get((v, arm), []):
                    if r.status != Status.COMPLETED:
                        continue
                    for e in r.evals:
                        value = number(e.get(f.key))
                        if value is not None and math.isfinite(value):
                            points.setdefault(budget_bucket(float(e["kimg"]), every), []).append(value)
                if not points:
                    continue
                x = sorted(points)
                mean = [np.mean(points[k]) for k in x]
                ax.plot(x, mean, style, marker="o", ms=4, color=colours.get(v), label=f"{v} · {arm}")
                ax.fill_between(
                    x,
                    [min(points[k]) for k in x],
                    [max(points[k]) for k in x],
                    color=colours.get(v),
                    alpha=0.12 if arm == TUNED else 0.06,
                    lw=0,
                )
        for iv, label, style, colour in (
            (f.floor, "random floor", "--", "0.4"),
            (f.ceiling, "real vs real", ":", "tab:green"),
        ):
            if iv is not None:
                ax.axhline(iv.mean, ls=style, color=colour, lw=1.5)
                ax.text(ax.get_xlim()[0], iv.mean, f" {label} {fmt(iv.mean)}", va="bottom", color=colour, fontsize=9)
        ax.set_xlabel(plots.KIMG_LABEL)
        ax.set_ylabel(f"{f.key} (lower is better)")
        ax.set_title(
            f"{f.key} along training: tuned (solid) and recipe (dashed), mean over seeds, band: range",
            loc="left",
            fontsize=11,
        )
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        return plots._save(fig, path)


def search_spread(f: StudyFindings, colours: dict, path: Path) -> Path | None:
    """Lucic et al. 2018's figure: each variant's stage-1 results over its search draws (the selection split and
    budget), the chosen draw ringed; how much a variant depends on its hyperparameters, and how lucky a recipe is."""
    key = (f.selection.get(next(iter(f.selection), ""), {}) or {}).get("metric") or f.key
    rows = []
    for v, sel in f.selection.items():
        chosen = (sel.get("chosen") or {}).get("tag")
        for c in sel.get("candidates", []):
            value = c.get("value")
            rows.append((v, value if c.get("status") == Status.COMPLETED else math.nan, c.get("tag") == chosen))
    if not rows:
        return None
    variants = list(dict.fromkeys(v for v, *_ in rows))
    variants.sort(key=lambda v: min((x for w, x, *_ in rows if w == v and math.isfinite(x)), default=math.inf))
    finite = [x for _, x, *_ in rows if math.isfinite(x)]
    top = max(finite, default=1.0)
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = plots._figure(9.5, 4.6)
        ax = fig.add_subplot()
        rng = np.random.default_rng(0)
        for i, v in enumerate(variants):
            for w, x, chosen in rows:
                if w != v:
                    continue
                y = x if math.isfinite(x) else top * 1.08  # a diverged or failed draw sits above the rest
                dx = rng.uniform(-0.12, 0.12)
                ax.scatter(
                    [i + dx],
                    [y],
                    s=150 if chosen else 45,
                    color=colours.get(v, "0.3"),
                    marker="o" if math.isfinite(x) else "x",
                    edgecolor="black" if chosen else "none",
                    linewidth=1.6 if chosen else 0,
                    zorder=3,
                )
        ax.set_xticks(range(len(variants)), variants)
        ax.set_ylabel(f"{key} on the selection split (lower is better)")
        ax.set_title(
            "\n".join(
                textwrap.wrap(
                    f"Stage 1: each variant's {key} over the same search draws (ringed: the draw chosen; x: diverged or "
                    "failed, drawn above the rest)",
                    100,
                )
            ),
            loc="left",
            fontsize=11,
        )
        return plots._save(fig, path)


def sample_sheet(f: StudyFindings, out: Path) -> tuple[Path, list[tuple[str | None, str]]]:
    """Real images (the real-vs-real line's own grid), then each variant's tuned seed-0 grid in rank order, then the
    random floor's; copied into the report folder."""
    (out / "samples").mkdir(exist_ok=True)
    panels, gallery = [], []
    ceilings = [k for k in f.runs if fam.is_ceiling(f.runs[k][0].family)]
    floors = [k for k in f.runs if fam.is_floor(f.runs[k][0].family)]
    for key, label in [
        *((k, "real images (training split)") for k in ceilings),
        *((((v, TUNED)), f"{v} · tuned") for v in f.order),
        *((k, "random noise") for k in floors),
    ]:
        runs = sorted(f.runs.get(key, []), key=lambda r: (r.status != Status.COMPLETED, r.seed or 0))
        if not runs:
            continue
        path, which = runs[0].sample_grid()
        value = runs[0].final_metrics().get(f.key)
        title = f"{label}\nseed {runs[0].seed}, {which}" + (f", {f.key} {fmt(value)}" if value is not None else "")
        name = None
        if path is not None:
            name = f"samples/{file_name(f'study_{key[0]}_{key[1]}.png')}"
            shutil.copyfile(path, out / name)
        panels.append((out / name if name else None, title, f"{label}: no sample grid yet"))
        gallery.append((name, title.replace("\n", ", ")))
    return plots.sample_sheet(panels, out / "study_samples.png"), gallery


def _settings_rows(f: StudyFindings) -> list[list[str]]:
    rows = []
    for v in [*f.order, *(v for v in f.selection if v not in f.order)]:
        sel = f.selection.get(v) or {}
        chosen = sel.get("chosen") or {}
        cands = [
            c["value"]
            for c in sel.get("candidates", [])
            if c.get("status") == Status.COMPLETED and c.get("value") is not None
        ]
        recipe = f.runs.get((v, RECIPE)) or f.runs.get((v, TUNED)) or []
        cfg = recipe[0].config if recipe else {}
        params = chosen.get("params") or {}
        rows.append(
            [
                v,
                ", ".join(f"{k}={fmt(x)}" for k, x in params.items()) or "(waiting for stage 1)",
                ", ".join(f"{k}={fmt(cfg.get(k))}" for k in params)
                if cfg and recipe and recipe is f.runs.get((v, RECIPE))
                else "–",
                fmt(chosen.get("value")) if chosen else "–",
                f"{fmt(min(cands))} .. {fmt(max(cands))} ({len(cands)} of {len(sel.get('candidates', []))})"
                if cands
                else "–",
            ]
        )
    return rows


def blocks(f: StudyFindings, out: Path, colours: dict) -> tuple[list, list[Path], list[str]]:
    """The study section (verdict first) for report.md/html; the files written; warnings."""
    every = float((f.meta.get("final") or {}).get("settings", {}).get("eval_every_kimg", 0) or 0)
    if not f.order:  # stage 2 has not produced a tuned result yet: the verdict says so, the search shows
        spread = search_spread(f, colours, out / "study_search.png")
        return (
            [Heading("The study"), Para(verdict(f), lead=True)]
            + ([Figure("study_search.png", "stage 1: each variant's results over the search draws")] if spread else []),
            [spread] if spread else [],
            [],
        )
    warnings = forest(f, colours, out / "study_forest.png")
    files = [out / "study_forest.png", curves(f, colours, every, out / "study_curves.png")]
    sheet, _ = sample_sheet(f, out)
    files.append(sheet)
    spread = search_spread(f, colours, out / "study_search.png")
    files += [spread] if spread else []
    if f.budgets:
        files.append(plots.rank_curves(f.budgets, colours, f.key, out / "study_rank_vs_kimg.png"))
    n = names.parse(f.key).n
    out_blocks: list = [
        Heading("The study"),
        Para(verdict(f), lead=True),
        Figure("study_forest.png", f"{f.key} per variant, tuned and recipe arms"),
        Figure("study_samples.png", "samples: real images, each variant's tuned arm, noise"),
    ]
    if f.budgets:
        out_blocks += [
            Heading("Rank at every budget", 3),
            Figure("study_rank_vs_kimg.png", "rank against kimg"),
            Para(f.stability.text(f.key) if f.stability else "", note=True),
        ]
    out_blocks += [Heading("Along training", 3), Figure("study_curves.png", f"{f.key} against kimg, both arms")]
    rank_rows = []
    for i, v in enumerate(f.order, 1):
        t, r = f.interval(v, TUNED), f.interval(v, RECIPE)
        prec = f.precision.get((v, TUNED)) or []
        vs = f.vs_recipe.get(v)
        rank_rows.append(
            [
                str(i),
                v,
                f.letters.get(v, ""),
                _iv(t),
                fmt(np.mean(prec)) if prec else "–",
                _iv(r),
                _vs_text(vs) if vs else "–",
            ]
        )
    out_blocks += [
        Heading("Ranking (tuned arms) and what tuning changed", 3),
        Table(
            [
                "rank",
                "variant",
                "group",
                f"{f.key} tuned (mean ± 95% CI, n)",
                f"precision{n} tuned",
                f"{f.key} recipe",
                "tuned vs recipe",
            ],
            rank_rows,
        ),
        Para(
            "Variants sharing a letter are not distinguishable (Welch over seeds, Holm over the pairs of "
            "tuned arms, α 0.05). Tuned vs recipe: Welch and TOST at the same margin, Holm over the "
            "variants.",
            note=True,
        ),
    ]
    if f.pairs:
        out_blocks += [
            Heading("Every pair of tuned arms", 3),
            Table(
                ["pair", "difference (95% CI)", "Holm p", "TOST p (Holm)", "verdict"],
                [
                    [
                        f"{p.a} − {p.b}",
                        f"{fmt(p.diff)} ({fmt(p.low)} .. {fmt(p.high)})",
                        fmt(p.p_holm),
                        fmt(p.p_tost_holm),
                        pair_verdict(p),
                    ]
                    for p in f.pairs
                ],
            ),
        ]
    out_blocks += [
        Heading("The search: settings chosen, and each variant's spread over its draws", 3),
        Table(
            [
                "variant",
                "chosen setting",
                "the recipe's values",
                "chosen: value on selection split",
                "range over the draws",
            ],
            _settings_rows(f),
        ),
    ]
    if spread:
        out_blocks.append(Figure("study_search.png", "stage 1: each variant's results over the search draws"))
    g = goals(f)
    if g:
        out_blocks += [
            Heading("Goal figures", 3),
            Table(
                ["goal", "value", "met"],
                [
                    [
                        f"best GAN {f.key} ≤ {GOAL_KID}",
                        f"{fmt(g['kid'])} ({g['variant']}, {g['arm']})",
                        "yes" if g["kid_met"] else "no",
                    ],
                    [
                        f"its precision{n} ≥ {GOAL_PRECISION}",
                        fmt(g["precision"]),
                        "yes" if g["precision_met"] else "no",
                    ],
                    [
                        "a GAN significantly better than the VAE",
                        ", ".join(g["beats_vae"]) or "none",
                        "yes" if g["beats_vae"] else "no",
                    ],
                ],
            ),
        ]
    return out_blocks, files, warnings


def _iv(iv) -> str:
    if iv.n == 0:
        return "–"
    return f"{fmt(iv.mean)} ± {fmt(iv.high - iv.mean)} (n={iv.n})" if iv.n >= 2 else f"{fmt(iv.mean)} (n=1)"


def _vs_text(p) -> str:
    if p.different:
        return f"{'tuned' if p.diff < 0 else 'recipe'} better (Holm p={p.p_holm:.2g})"
    if p.tied:
        return f"tied (±{fmt(p.margin)}, TOST p={p.p_tost_holm:.2g})"
    return f"not distinguishable: {fmt(p.low)} .. {fmt(p.high)}"
