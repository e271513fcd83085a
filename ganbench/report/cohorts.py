"""One protocol per comparison: runs whose evaluation protocols differ are never ranked together.

A run's protocol is what its numbers depend on besides the model: the data set and its reference split, the
resolution, channels and crop, the number of generated and reference images, and the Inception weights. Runs are
split into cohorts of one protocol each; the report ranks, tests and summarises each cohort on its own and names
what differs between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ganbench.report.runs import Run
from ganbench.rundir import Status

# config field -> how a reader knows it; the order is the order of a cohort's title
PROTOCOL_FIELDS = {
    "dataset": "data set",
    "eval_split": "reference split",
    "resolution": "resolution",
    "channels": "channels",
    "crop": "crop",
    "eval_samples": "images per evaluation",
    "inception_weights": "Inception weights",
    "reference_sha256": "reference images (content sha256)",  # from the metric protocol; old runs: not recorded
}


@dataclass
class Cohort:
    key: tuple[tuple[str, Any], ...]  # (field, value) for every PROTOCOL_FIELDS entry
    runs: list[Run]
    suffix: str = ""  # "" for the only (or first) cohort, "-2", "-3", ... for the others: file names

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.key)

    def title(self) -> str:
        """'synthetic 32x32, 100 generated vs 100 reference images (split train)'."""
        v = self.values
        res = f" {v['resolution']}x{v['resolution']}" if v.get("resolution") else ""
        extra = [
            f"{PROTOCOL_FIELDS[k]} {v[k]}"
            for k in ("channels", "crop", "inception_weights")
            if v.get(k) not in (None, "", 0, 3)
        ]
        if v.get("reference_sha256"):
            extra.append(f"reference images sha256 {str(v['reference_sha256'])[:12]}")
        return (
            f"{v.get('dataset')}{res}, {v.get('eval_samples')} generated vs {v.get('eval_samples')} reference "
            f"images (split {v.get('eval_split')})" + "".join(f", {e}" for e in extra)
        )


def protocol_key(run: Run) -> tuple[tuple[str, Any], ...]:
    """The run's protocol: its config's fields, and the content hash of the reference images its metric protocol
    recorded (runs whose references differ are never ranked together; runs that did not record one: None)."""
    cfg = dict(run.config)
    cfg["reference_sha256"] = ((run.summary or {}).get("metric_protocol") or {}).get("reference_sha256")
    defaults = {"eval_split": "train", "channels": 3, "crop": 0, "inception_weights": ""}  # fields older runs lack
    return tuple((k, cfg.get(k, defaults.get(k))) for k in PROTOCOL_FIELDS)


def _but_reference(key: tuple) -> tuple:
    return tuple(kv for kv in key if kv[0] != "reference_sha256")


def _pending(run: Run) -> bool:
    """A run that has not finished (in progress, failed, interrupted) and has not recorded its reference images
    (a run records its metric protocol with its final summary): its own files do not say its whole protocol."""
    return run.status not in (Status.COMPLETED, Status.DIVERGED) and dict(protocol_key(run))["reference_sha256"] is None


def cohorts(runs: list[Run]) -> list[Cohort]:
    """The runs split by protocol, the largest cohort first (ties: first seen). An unfinished run without a
    recorded reference joins the one cohort whose other protocol fields it shares (listed there as not finished),
    rather than making a cohort of its own."""
    known = list(dict.fromkeys(protocol_key(r) for r in runs if not _pending(r)))
    split: dict[tuple, list[Run]] = {}
    for run in runs:  # in the order given, so a cohort lists its runs as before
        key = protocol_key(run)
        if _pending(run):
            same = [k for k in known if _but_reference(k) == _but_reference(key)]
            key = same[0] if len(same) == 1 else key
        split.setdefault(key, []).append(run)
    ordered = sorted(split.items(), key=lambda kv: -len(kv[1]))  # stable: first seen among equals
    return [Cohort(key, members, "" if i == 0 else f"-{i + 1}") for i, (key, members) in enumerate(ordered)]


def difference(groups: list[Cohort]) -> str:
    """What differs between cohorts, in words: 'images per evaluation 100 vs 1000; reference split train vs
    heldout'. Empty for a single cohort."""
    if len(groups) < 2:
        return ""
    parts = []
    for k, label in PROTOCOL_FIELDS.items():
        seen = list(dict.fromkeys(str(c.values.get(k)) for c in groups))
        if len(seen) > 1:
            parts.append(f"{label} {' vs '.join(seen)}")
    return "; ".join(parts)
