"""An optional TensorBoard mirror of a run's records, for users who watch training there (StudioGAN, Mimicry and
mmagic users do). The JSONL files stay the source of truth; this only copies them.

Each record as written to metrics.jsonl (a dict with "kind": "tick" | "eval" | ..., "kimg", and numbers) becomes
one scalar per numeric field, tagged "<kind>/<field>" ("tick/loss_d", "eval/fid500"), at step = real images shown
(kimg * 1000, an integer, so runs with different n_critic line up). Non-numeric fields (and booleans) are skipped;
None is skipped; NaN and inf are written as they are, so a divergence shows.

Needs the `tensorboard` extra (`pip install 'ganbench[tensorboard]'`); this module imports without it and says
so in one line when a sink is asked for.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

STEP_FIELD = "kimg"  # the field a record's step comes from (thousands of real images shown)
SKIP_FIELDS = ("kind", "kimg")  # the tag's prefix and the step, not scalars of their own


class TensorBoardMissing(ImportError):
    """The `tensorboard` package is not installed."""


class TensorBoardSink:
    """Writes records to TensorBoard event files in `log_dir`. Use as a context manager, or call close()."""

    def __init__(self, log_dir: str | os.PathLike) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise TensorBoardMissing(
                "TensorBoard logging needs the 'tensorboard' package: install ganbench's extra with "
                "pip install 'ganbench[tensorboard]' (or uv sync --extra tensorboard), or turn TensorBoard off"
            ) from e
        self.log_dir = os.fspath(log_dir)
        self._writer = SummaryWriter(log_dir=self.log_dir)

    def write(self, record: dict[str, Any]) -> int:
        """Mirror one record; returns the number of scalars written. A record without "kimg" is skipped."""
        if STEP_FIELD not in record or record[STEP_FIELD] is None:
            return 0
        step = int(round(float(record[STEP_FIELD]) * 1000))
        kind = str(record.get("kind", "record"))
        written = 0
        for key, value in record.items():
            if key in SKIP_FIELDS or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            self._writer.add_scalar(f"{kind}/{key}", float(value), global_step=step)
            written += 1
        return written

    def write_all(self, records: Iterable[dict[str, Any]]) -> int:
        """Mirror many records (e.g. a whole metrics.jsonl read back with io.read_jsonl); returns scalars written."""
        return sum(self.write(r) for r in records)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> TensorBoardSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
