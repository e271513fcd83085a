"""The TensorBoard sink: records written, then read back from the event file; a clear error without the package."""

import math
import sys

import pytest

from ganbench.io import append_jsonl, read_jsonl
from ganbench.tensorboard import TensorBoardMissing, TensorBoardSink

pytest.importorskip("tensorboard")  # a dev dependency; the sink itself is an optional extra


def read_scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_tick_and_eval_records_round_trip(tmp_path):
    records = [
        {"kind": "tick", "tick": 1, "kimg": 1.024, "g_steps": 16, "loss_d": 1.25, "loss_g": 0.5, "diversity": None},
        {"kind": "tick", "tick": 2, "kimg": 2.048, "g_steps": 32, "loss_d": 1.0, "loss_g": float("nan")},
        {"kind": "eval", "kimg": 2.048, "fid500": 312.5, "note": "text is skipped", "flag": True},
        {"kind": "start", "config": {"lr": 1}},  # no kimg: skipped
    ]
    metrics = tmp_path / "metrics.jsonl"
    for r in records:
        append_jsonl(metrics, r)
    with TensorBoardSink(tmp_path / "tb") as sink:  # live: the records as the loop holds them
        assert [sink.write(r) for r in records] == [4, 4, 1, 0]
    with TensorBoardSink(tmp_path / "tb_from_file") as sink:  # afterwards, from the file (NaN was written as null)
        assert sink.write_all(read_jsonl(metrics)) == 4 + 3 + 1
    assert read_scalars(tmp_path / "tb_from_file")["tick/loss_g"] == [(1024, 0.5)]
    got = read_scalars(tmp_path / "tb")
    assert set(got) == {"tick/tick", "tick/g_steps", "tick/loss_d", "tick/loss_g", "eval/fid500"}
    assert got["tick/loss_d"] == [(1024, 1.25), (2048, 1.0)]
    assert got["tick/g_steps"] == [(1024, 16.0), (2048, 32.0)]
    assert got["eval/fid500"] == [(2048, 312.5)]
    assert got["tick/loss_g"][0] == (1024, 0.5) and math.isnan(got["tick/loss_g"][1][1])  # divergence shows


def test_missing_tensorboard_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import now fails as if not installed
    with pytest.raises(TensorBoardMissing, match=r"pip install 'ganbench\[tensorboard\]'") as e:
        TensorBoardSink(tmp_path / "tb")
    assert "\n" not in str(e.value) and not (tmp_path / "tb").exists()
