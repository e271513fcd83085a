"""The report's plot data as tidy frames, read from runs: one row per tick, one row per evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ganbench.report.runs import Run, group_label, number


def ticks_frame(runs: list[Run]) -> pd.DataFrame:
    rows = [
        {
            "group": group_label(r),
            "run": r.name,
            "seed": r.seed,
            "family": r.family,
            "status": r.status,
            **{k: number(v) for k, v in t.items() if k != "kind"},
        }
        for r in runs
        for t in r.ticks
    ]
    return pd.DataFrame(rows)


def evals_frame(runs: list[Run], key: str) -> pd.DataFrame:
    """Evaluations of metric `key`; a run whose summary has a final value but no eval record adds that point."""
    rows = []
    for r in runs:
        points = [(number(e.get("kimg")), number(e.get("seconds")), number(e.get(key))) for e in r.evals]
        points = [p for p in points if p[0] is not None and p[2] is not None]
        if not points and key in r.final_metrics():
            points = [(r.counter("kimg"), r.counter("seconds"), r.final_metrics()[key])]
        rows += [
            {
                "group": group_label(r),
                "run": r.name,
                "seed": r.seed,
                "family": r.family,
                "status": r.status,
                "kimg": k,
                "seconds": s,
                "value": v,
            }
            for k, s, v in points
        ]
    frame = pd.DataFrame(rows, columns=["group", "run", "seed", "family", "status", "kimg", "seconds", "value"])
    return frame[np.isfinite(frame["value"].astype(float))] if len(frame) else frame
