"""The report's pages as blocks: the verdict of each protocol cohort (or the study's section before them), the
samples, the curves, the tables with each cohort's re-analysis on the ratio scale, and last, folded, the method and
a compact table of what differs between runs. `ganbench.report.pages` turns the blocks into Markdown and HTML."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ganbench.report import blocks as B
from ganbench.report import display, findings, protocol, tables
from ganbench.report.cohorts import difference
from ganbench.report.compare import changed_calls, said
from ganbench.report.findings import Findings
from ganbench.report.pages import Bullets, Code, Details, Figure, Gallery, Heading, Para, Table
from ganbench.report.runs import Run, group_label
from ganbench.report.verdict import details, lead


def verdict_blocks(found: list[Findings], groups, several: bool, figures: bool = True) -> list:
    blocks: list = []
    if several:
        blocks.append(
            Para(
                f"These runs were made under {len(found)} evaluation protocols, which differ in "
                f"{difference(groups)}: each is ranked on its own, never against the others.",
                lead=True,
            )
        )
    for i, f in enumerate(found, 1):
        title = f"Protocol {i}: {f.cohort.title()}" if several else None
        if f.comparison is None:
            blocks += ([Heading(title)] if title else []) + [
                Para(
                    "No evaluations in these runs, so nothing is ranked: run without --no-eval to compare the "
                    "variants. Training curves, samples and costs follow.",
                    lead=True,
                )
            ]
            continue
        blocks += [Heading(title)] if title else []
        blocks.append(Para(lead(f.comparison, findings.context(f), findings.baselines(f)), lead=True))
        if figures:
            blocks.append(Figure(f"forest{f.cohort.suffix}.png", f"{f.key} per group, {f.comparison.plan.label}"))
    return blocks


def _reanalysis_blocks(f: Findings) -> list:
    """The ratio-scale re-analysis of a cohort: what it changes, and its pair table."""
    r = f.reanalysis
    if r is None or not r.tested:
        return []
    changes = changed_calls(f.comparison, r)
    text = (
        f"On the ratio scale (log {r.key}, margin {r.margin_text}; post hoc, not the plan these results were made "
        "under) "
        + (
            f"{len(changes)} of {len(r.pairs)} verdicts change: "
            + "; ".join(f"{a} vs {b}: {said(x)} → {said(y)}" for a, b, x, y in changes)
            if changes
            else "no verdict changes"
        )
        + "."
    )
    view = display.pair_table(r)
    return [
        Heading("Re-analysis on the ratio scale (post hoc)", 3),
        Para(text),
        Heading(view.title, 4),
        Table(view.header, view.rows),
        Para(view.note, note=True),
    ]


def table_blocks(found: list[Findings], several: bool) -> list:
    blocks: list = []
    for i, f in enumerate(found, 1):
        if several:
            blocks.append(Heading(f"Protocol {i}: {f.cohort.title()}", 3))
        if f.comparison is not None:
            ctx = findings.context(f)
            blocks.append(Para(details(f.comparison, ctx, findings.baselines(f))))
        for view in display.summary_tables(f.summary, f.results, tables.curve_metric(f.cohort.runs)):
            blocks += [Heading(view.title, 3), Table(view.header, view.rows)]
            if view.note:
                blocks.append(Para(view.note, note=True))
        if f.comparison is not None and any(g.failed for g in f.comparison.groups):
            blocks += [Heading("Every seed, failures counted", 3), Table(B.GROUP_HEAD, B.group_rows(f.comparison))]
            blocks += B.failed_blocks(findings.failed_seeds(f))
        blocks += _reanalysis_blocks(f)
    return blocks


def sweep_blocks(results_dir: Path, out: Path, files: list[Path]) -> list:
    from ganbench.report.sweep import plot_sweep_spread, sweep_runs, sweep_table, sweep_table_rows

    sweep = sweep_table(results_dir)
    sweep.to_csv(out / "sweep.csv", index=False)
    png = plot_sweep_spread(sweep_runs(results_dir), out / "sweep_spread.png")
    head, rows = sweep_table_rows(sweep)
    files += [out / "sweep.csv"] + ([png] if png else [])
    spread = (
        Figure("sweep_spread.png", "FID per variant over the settings searched (each run a point)")
        if png
        else Para(sweep.attrs.get("note", "no FID in these results"))
    )
    return [Heading("Sweep: best setting per variant", 3), Table(head, rows), spread]


def document(
    title: str,
    runs: list[Run],
    warnings: list[str],
    found: list[Findings],
    groups,
    several: bool,
    tables_blocks: list,
    method: list[str],
    results,
    order: list[str],
    gallery,
    sheet: bool = True,
) -> list:
    created = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    blocks: list = [
        Heading(title, 1),
        *verdict_blocks(found, groups, several),
        Heading("Samples"),
        Figure("samples.png", "sample grids side by side, real images first")
        if sheet
        else Para("The study's samples lead its section above; every run's grid is in the folded section below."),
    ]
    if warnings:
        blocks += [Heading("What is missing or unusual"), Bullets(warnings, warn=True)]
    blocks += [
        Heading("During training"),
        Figure("fid_vs_kimg.png", "FID against kimg"),
        Figure("fid_vs_time.png", "FID against training wall-clock"),
    ]
    for i, f in enumerate(found, 1):
        if f.budgets:
            blocks += [
                Heading("Rank against budget" + (f", protocol {i}" if several else ""), 3),
                Figure(f"rank_vs_kimg{f.cohort.suffix}.png", f"rank by {f.budget_key} at each budget"),
                Para(f.stability.text(f.budget_key or "") if f.stability else "", note=True),
            ]
    blocks += [
        Heading("Training dynamics", 3),
        Figure("losses.png", "G and D losses"),
        Figure("d_outputs.png", "mean D output on real and fake"),
        Heading("Tables"),
        *tables_blocks,
        Figure("throughput.png", "images per second and peak memory"),
    ]
    view = display.results_table(results, order)
    blocks += [Heading(view.title, 3), Table(view.header, view.rows), Para(view.note, note=True)]
    published = protocol.published_table(runs)
    if published is not None:
        blocks += [
            Heading(f"Published figures ({protocol.PUBLISHED_LABEL})"),
            Para(
                "Measured under other protocols (networks, sample counts, reference sets, Inception ports "
                "and training lengths differ), so they place the scale, never rank against the tables "
                "above."
            ),
            Table(*published),
        ]
    commands = sorted({command(r.meta.get("command") or []) for r in runs} - {""})
    n_groups = len({group_label(r) for r in runs})
    head, rows, shared = protocol.appendix(runs)
    folded = [
        Para(f"{len(runs)} runs of {n_groups} groups; report made {created} from the result files alone."),
        Bullets(method),
        Heading("What differs between runs", 3),
        Table(head, rows),
        Para(
            "Every run shares: " + "; ".join(shared) + ". The full record (config, metric protocol) is in each "
            "run's config.json and summary.json.",
            note=True,
        ),
        Heading("Every run's sample grid (final, or the latest while a run is unfinished)", 3),
        Gallery(gallery),
        Code("commands that made these runs", "\n".join(commands) or "not recorded"),
    ]
    blocks += [
        Heading("Protocol, method and provenance"),
        Details("How these numbers were made: protocol, statistics, every run's samples, provenance", folded),
    ]
    return blocks


def command(argv: list) -> str:
    """A recorded command line without the machine's paths: the program by its name, an absolute path argument by
    its last two parts."""
    words = []
    for i, a in enumerate(str(x) for x in argv):
        if i == 0:
            words.append(Path(a).name)
        elif a.startswith("/"):
            words.append("…/" + "/".join(Path(a).parts[-2:]))
        elif "=/" in a:
            k, v = a.split("=", 1)
            words.append(f"{k}=…/{Path(v).name}")
        else:
            words.append(a)
    return " ".join(words)
