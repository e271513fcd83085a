"""`ganbench report`: the comparison of a results folder, from its result files alone.

Reads every run under a folder (config.json, metrics.jsonl, summary.json, samples/) and writes to `<dir>/report/`:

  results.csv               one tidy row per run (status, kimg/steps/seconds spent, img/s, memory, final and best
                            metrics, what is missing)
  summary.csv, summary.md   one row per variant: centre and 95% interval over successful seeds with n and failed
                            seeds, ranked by the final value of the protocol's ranking metric (KID; FID for older
                            results), compact letters (ganbench.report.compare); the verdict in words first
  pairwise.csv              every pair under the report's plan and under the ratio-scale re-analysis: effect (ratio
                            or difference), 95% and 90% intervals, test, p, Holm p, TOST p, P(A better), the call
  forest.png                the ranking metric per variant: mean, 95% interval, seeds, letters, the random floor
  rank_vs_kimg.png          each variant's rank at each evaluated budget (runs evaluated along the way)
  fid_vs_kimg.png, fid_vs_time.png, losses.png, d_outputs.png, throughput.png, samples.png, real.png, samples/
  report.md                 for a code host (relative image links): verdict, forest plot, samples, curves, tables,
                            and the protocol and provenance last, folded
  agreement.png             with --against (studies only): each variant's place on both studies' scales, beside
                            the pair-by-pair agreement of their conclusions (ganbench.report.agreement)
  report.html               the same, self-contained: opens from disk, images embedded, no script, no network

Runs whose evaluation protocols differ (sample count, reference split, resolution, weights, reference images) are
never ranked together: each protocol gets its own verdict, figure and tables (`ganbench.report.cohorts`).

The package reads, analyses, renders: `runs`, `record` (a study's record) and `failures` read; `compare` (the one
comparison owner, on `ganbench.stats`), `plan`, `findings`, `study`, `ranks`, `progress`, `lens`, `agreement`
analyse; `verdict` (the one verdict writer), `blocks`, `display`, `figures/` (one function per figure kind),
`pages`, `study_page` and `build` render.

Partial input is reported, not fatal: runs in progress, diverged or failed runs, single seeds and missing metrics
are listed as such. Only a folder without any run is an error (ReportError).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ganbench.report.runs import ReportError

if TYPE_CHECKING:
    from ganbench.report.build import Report

__all__ = ["ReportError", "build_report", "write_report"]


def write_report(
    results_dir: Path,
    out_dir: Path | None = None,
    real_images: bool = True,
    margin: float | None = None,
    against: tuple[Path, ...] = (),
    scale: str | None = None,
) -> Report:
    """Write the report; return what was written and the warnings (missing pieces), without printing them.
    `margin`, `scale`: an analysis plan given to the report (ganbench.report.plan; None: a study's declared plan,
    else the first protocol's rule with the ratio-scale re-analysis beside it). `against`: other study folders
    whose rankings a study's report lines up with its own (ganbench.report.agreement)."""
    from ganbench.report.build import write_report as write  # pandas, seaborn: imported only when reporting

    return write(results_dir, out_dir, real_images=real_images, margin=margin, against=against, scale=scale)


def build_report(
    results_dir: Path, out_dir: Path | None = None, real_images: bool = True, margin: float | None = None
) -> Path:
    """Write the report of `results_dir` (default output: `<results_dir>/report/`); warnings go to stderr.

    Raises ReportError (a ValueError) when `results_dir` holds no run.
    """
    report = write_report(results_dir, out_dir, real_images=real_images, margin=margin)
    for w in report.warnings:
        print(f"ganbench report: {w}", file=sys.stderr)
    return report.out_dir
