"""What the commands print about runs and trials: the summary table (stdout), and the progress lines of a batch
(stderr): one per finished trial, per retry and per note, then which trials ran again."""

from __future__ import annotations

import sys
from typing import Any

from ganbench.execution.driver import Event, Finished, Interrupted, Note, Retried, Skipped
from ganbench.metrics import names


class Progress:
    """An `on_event` for `run_trials` that writes a line on stderr per event, and keeps why each trial's worker was
    lost (`retried`: trial label -> one reason per retry) for the closing line (`retried_text`). `label` (e.g.
    "stage 1") prefixes the finished lines."""

    def __init__(self, label: str = "") -> None:
        self.label = label
        self.retried: dict[str, list[str]] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, Retried):
            self.retried.setdefault(event.trial.label, []).append(event.why)
        print(event_line(event, self.label), file=sys.stderr, flush=True)


def event_line(event: Event, label: str = "") -> str:
    if isinstance(event, Finished):
        error = event.summary.get("error")
        return (
            f"[{label + ' ' if label else ''}{event.done}/{event.total}] {event.trial.label}: "
            f"{event.summary.get('status')}{' (' + str(error) + ')' if error else ''}  {event.seconds:.0f}s"
        )
    if isinstance(event, Retried):
        return (
            f"{event.trial.label}: its worker was lost or stopped ({event.why[:300]}); it runs again from its last "
            f"checkpoint (retry {event.retry} of at most {event.max_retries})"
        )
    if isinstance(event, Skipped):
        return f"{event.trial.run_dir}: already completed, skipped"
    if isinstance(event, Note):
        return event.text
    raise TypeError(f"not an event: {event!r}")


def interrupted_text(e: Interrupted) -> str:
    return (
        f"\ninterrupted: {e.finished} of {e.total} trials {'of ' + e.label + ' ' if e.label else ''}"
        "finished. Run the same command again to finish the rest (interrupted trials resume from their "
        "last checkpoint)."
    )


def retried_text(retried: dict[str, list[str]]) -> str:
    """One line: which trials ran again after their worker was lost, how often, and the errors' classes."""
    one = len(retried) == 1
    return (
        f"{len(retried)} trial{'' if one else 's'} ran again after {'its' if one else 'their'} worker was lost or "
        "stopped (each attempt is in its trial.json): "
        + ", ".join(f"{label} {len(whys)}x ({_error_class(whys)})" for label, whys in retried.items())
    )


def _error_class(whys: list[str]) -> str:
    """'WorkerCrashedError' from 'WorkerCrashedError: The worker died ...', each class once, in order."""
    return ", ".join(dict.fromkeys(w.split(":", 1)[0] for w in whys))


def summary_table(summaries: list[dict[str, Any]]) -> str:
    """A plain-text table of one row per run, for stdout.

    One protocol per column: the ranking metric's final value (`kid100`: the runs' `rank_by`, at the end count),
    then the metric whose best point was recorded at the count every evaluation has, final and best side by side
    (`fid50 final`, `fid50 best`: the final evaluation reports that count too), so a best is never set beside a
    final from another sample count."""
    rank_keys = _unique((s.get("metric_protocol") or {}).get("rank_by") for s in summaries)
    best_keys = _unique((s.get("best") or {}).get("metric") for s in summaries)
    if not rank_keys and not best_keys:  # older summaries: the first FID of the final metrics
        best_keys = _unique(
            next((k for k in (s.get("final") or {}) if names.is_value(k, names.FID)), None) for s in summaries
        )
    rank_keys = [k for k in rank_keys if k not in best_keys]
    cols = (
        ["variant", "seed", "status", "kimg", "g_steps", "seconds", "img/s"]
        + [f"{k} final" for k in rank_keys]
        + [f"{k} {which}" for k in best_keys for which in ("final", "best")]
    )
    rows = []
    for s in summaries:
        final, best = s.get("final") or {}, s.get("best") or {}
        row = [
            s.get("variant"),
            s.get("seed"),
            s.get("status"),
            _fmt(s.get("kimg")),
            s.get("g_steps"),
            _fmt(s.get("seconds")),
            _fmt(s.get("img_per_s")),
        ] + [_fmt(final.get(k)) for k in rank_keys]
        for k in best_keys:
            row.append(_fmt(final.get(k)))
            row.append(f"{_fmt(best.get('value'))} @ {_fmt(best.get('kimg'))}kimg" if best.get("metric") == k else None)
        rows.append(["-" if v is None else str(v) for v in row])
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


def _unique(keys) -> list[str]:
    """Metric names in first-seen order, each once; None and non-metrics dropped."""
    return list(dict.fromkeys(str(k) for k in keys if k and names.is_value(str(k))))


def _fmt(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)
