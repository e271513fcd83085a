"""Evaluation statistics sized for the GPU they run beside (issue 31, items 6 and 11): the statistics device chosen by
float64 rate, reference-only terms computed once per reference, and the host synchronisations an evaluation costs
on a GPU, counted on an emulated one (tests/emulate.py: every tensor computed on the CPU, syncs recorded)."""

import collections

import pytest
import torch
from emulate import EmulatedCuda, OnGPU
from torch.overrides import TorchFunctionMode

from ganbench.device import statistics_device
from ganbench.metrics.evaluator import METRICS, MetricSettings, compute_metrics
from ganbench.metrics.features import FeatureSet

CPU = torch.device("cpu")
# every registered metric computed from Inception features (modes counts Stacked MNIST's digits on the images)
INCEPTION_METRICS = tuple(m for m in METRICS.names() if METRICS[m].keys)


def _features(n_gen: int, n_ref: int, d: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(20)
    return torch.rand(n_gen, d, generator=g) ** 2, torch.rand(n_ref, d, generator=g) ** 2 * 1.1 + 0.02


# ---------------------------------------------------------------------------------------------------- item 6
@pytest.mark.parametrize(
    "capability, gpu",
    [((9, 0), "H100/H200"), ((8, 0), "A100"), ((7, 0), "V100"), ((8, 6), "A10, RTX 30"), ((8, 9), "L4, RTX 40"),
     ((7, 5), "T4"), ((12, 0), "RTX 50")],
)  # fmt: skip
def test_statistics_run_on_the_gpu_only_where_its_float64_runs_at_full_rate(capability, gpu):
    """GeForce, L4 and A10 run float64 at 1/64 of fp32, T4 at 1/32: statistics_device sent every CUDA GPU's
    statistics there. Now only data-centre GPUs keep them; the others use the host, with the same numbers (float64
    either way) and the features copied to it once per set."""
    full_rate = capability in ((9, 0), (8, 0), (7, 0))
    gen, ref = _features(60, 80)
    cpu = compute_metrics(FeatureSet.from_features(gen), FeatureSet.from_features(ref), MetricSettings(60), ("kid",))
    with EmulatedCuda(capability) as emulated:
        assert statistics_device(torch.device("cuda")).type == ("cuda" if full_rate else "cpu"), gpu
        gen_fs, ref_fs = FeatureSet.from_features(gen.to("cuda")), FeatureSet.from_features(ref.to("cuda"))
        emulated.syncs.clear()
        on_gpu = compute_metrics(gen_fs, ref_fs, MetricSettings(60), ("kid",))
        copied = sorted(s for s in emulated.syncs if s.endswith(", 64) to the host"))  # feature matrices
    assert copied == (
        [] if full_rate else ["copy of a GPU tensor (60, 64) to the host", "copy of a GPU tensor (80, 64) to the host"]
    )
    for key, value in cpu.items():
        assert on_gpu[key] == pytest.approx(value, rel=1e-12), key
    assert statistics_device(torch.device("mps")) == CPU and statistics_device(CPU) == CPU


class CountReferenceProducts(TorchFunctionMode):
    """Counts float64 matrix products of the reference set with itself ((M, D) @ (D, M) blocks, M the reference
    count): the work that depends on the reference alone (k-NN radii, KID's reference kernel, its Gram matrix)."""

    def __init__(self, m: int):
        super().__init__()
        self.m, self.count = m, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("matmul", "__matmul__", "mm") and len(args) == 2:
            a, b = args
            if a.dtype == torch.float64 and a.ndim == b.ndim == 2 and b.shape[1] == self.m and a.shape[0] == self.m:
                self.count += 1
        return func(*args, **(kwargs or {}))


def test_reference_only_terms_are_computed_once_per_reference(monkeypatch, tmp_path):
    """Of an evaluation's float64 work at 2k against a 10k reference, ~3/4 depends on the reference alone, and it
    was redone at every evaluation, for each sample count and again for the EMA of G. Counted here: the
    reference's products with itself are made by the first evaluation only (every registered metric, with a
    curve-point count beside the final one), never by the next two (the EMA, the next curve point)."""
    from test_metrics import FakeInception

    from ganbench.data import DataSpec, load_dataset
    from ganbench.metrics import build_evaluator, inception

    fake = FakeInception()
    monkeypatch.setattr(inception, "build_extractor", lambda *a, **k: fake)
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path))  # no terms stored by an earlier test
    m = 90
    ref = load_dataset(DataSpec("synthetic", resolution=16, max_images=m))
    evaluator = build_evaluator(ref, 60, CPU, batch_size=30, ref_samples=m, metrics=INCEPTION_METRICS)
    counts = []
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        with CountReferenceProducts(m) as products:
            out = evaluator(lambda b, g=g: torch.rand(b, 3, 16, 16, generator=g) * 2 - 1, also=(50,))
        counts.append(products.count)
        assert {"kid60", "kid50", "precision50", "fidinf60", "coverage60"} <= set(out)
    assert counts[0] > 0 and counts[1:] == [0, 0], counts
    made = evaluator.reference.computed
    assert made["kid_term"] == made["gram"] == 1 and made["knn_radius2"] == 2  # k = 3 (pr) and k = 5 (dc)


def test_a_run_makes_its_reference_terms_once_over_its_curve_points_and_the_ema(monkeypatch, tmp_path, images):
    """The same through a run: three curve points at 50 images and the final evaluation at 60 (also reporting 50),
    each of G and of its EMA, all against one reference, make each reference-only term once."""
    from test_metrics import FAKE_WEIGHTS, FakeInception
    from tiny import tiny

    from ganbench.data import DataSpec, load_dataset
    from ganbench.execution import Trial
    from ganbench.execution.runner import execute
    from ganbench.io import read_jsonl
    from ganbench.metrics import build_evaluator, inception

    fake = FakeInception()
    monkeypatch.setattr(inception, "build_extractor", lambda *a, **k: fake)
    monkeypatch.setattr(inception, "resolve_weights", lambda *a, **k: FAKE_WEIGHTS)
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    metrics = ("fid", "fidinf", "kid", "pr", "dc")
    ref = load_dataset(DataSpec("synthetic", resolution=16, max_images=90))
    evaluator = build_evaluator(ref, 60, CPU, batch_size=30, ref_samples=90, progress=False, metrics=metrics)
    cfg = tiny(ema_half_life_kimg=0.05, eval_every_kimg=0.032, eval_samples=60, eval_samples_during=50)
    summary = execute(Trial(cfg, tmp_path / "run"), images, {}, evaluator, show_progress=False)
    assert summary["status"] == "completed", summary.get("error")
    evals = [r for r in read_jsonl(tmp_path / "run" / "metrics.jsonl") if r["kind"] == "eval"]
    assert len(evals) == 4 and all({"kid50", "kid50_ema", "coverage50_ema"} <= set(r) for r in evals)
    assert {"kid60", "kid60_ema"} <= set(evals[-1])
    made = evaluator.reference.computed
    assert made["knn_radius2"] == 2 and made["kid_term"] == made["gram"] == made["features64"] == 1, made


def test_the_small_reference_terms_are_kept_on_disk_beside_the_reference_features(monkeypatch, tmp_path):
    """Another process against the same reference (`ganbench fid` again, a study's next worker or Ray trial) made
    the reference's k-NN radii and KID term again (M^2 D flops each). They are kept beside the cached reference
    features now: a new evaluator loads them and gets the same metrics, bit for bit; terms stored for other features
    (the features file rebuilt from other pixels or on another device) are made afresh, never trusted."""
    import numpy as np
    from test_metrics import FAKE_WEIGHTS, FakeInception

    from ganbench.data import DataSpec, load_dataset
    from ganbench.metrics import build_evaluator, inception

    fake = FakeInception()
    monkeypatch.setattr(inception, "build_extractor", lambda *a, **k: fake)
    monkeypatch.setattr(inception, "resolve_weights", lambda *a, **k: FAKE_WEIGHTS)
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path))
    ref = load_dataset(DataSpec("synthetic", resolution=16, max_images=90))

    def evaluate():  # a process of its own: a new evaluator, the reference features read from their cache file
        evaluator = build_evaluator(ref, 60, CPU, batch_size=30, ref_samples=90, progress=False, metrics=("kid", "pr"))
        g = torch.Generator().manual_seed(0)
        return evaluator(lambda b: torch.rand(b, 3, 16, 16, generator=g) * 2 - 1), evaluator.reference

    first, made = evaluate()
    again, loaded = evaluate()
    assert made.computed == {"features64": 1, "kid_term": 1, "knn_radius2": 1} and not made.loaded
    assert loaded.loaded == {"kid_term": 1, "knn_radius2": 1} and loaded.computed == {"features64": 1}
    assert again == first
    stored = sorted(p.name for p in tmp_path.rglob("*.terms/*.npz"))
    assert stored == ["kid_term-200-2020-cpu-v1.npz", "knn_radius2-3-cpu-v1.npz"], stored

    (cache,) = tmp_path.rglob("refstats/*.npz")  # the features file rebuilt with other features under its key
    with np.load(cache) as z:
        parts = dict(z)
    np.savez(cache, **(parts | {"features": parts["features"] * 1.01}))
    _, remade = evaluate()
    assert remade.computed == made.computed and not remade.loaded


# ---------------------------------------------------------------------------------------------------- item 11
def test_the_emulated_gpu_counts_every_kind_of_host_sync():
    """The emulator missed float()/int() reads, host data made into GPU tensors, boolean-mask indexing (its result's
    size is read back) and cuSOLVER's eigensolvers (their info flag is read back): each is one sync now."""
    with EmulatedCuda() as gpu:
        x = torch.rand(8, 8, device="cuda")
        assert isinstance(x, OnGPU)
        float(x.sum()), int(x.sum())
        torch.as_tensor([1, 2, 3], device="cuda")
        x[x > 0.5]
        torch.linalg.eigvalsh(x @ x.T)
        torch.linalg.eigh(x @ x.T)
        torch.nonzero(x)
        y = x * 2  # no sync: queued work
        y[torch.arange(3, device="cuda")]  # no sync: an index tensor already on the GPU
    kinds = collections.Counter(s.split(" of a GPU tensor")[0] for s in gpu.syncs)
    assert kinds == {
        "__float__": 1,
        "__int__": 1,
        "copy to the GPU from pageable memory": 1,
        "__getitem__": 1,
        "linalg_eigvalsh": 1,
        "linalg_eigh": 1,
        "nonzero": 1,
    }, gpu.syncs


def test_an_evaluations_statistics_cost_a_few_host_syncs_on_a_gpu():
    """FID-infinity at N = 200 stalled the host 550 times (220 index copies, 110 eigensolves, 110 boolean masks,
    110 float reads), which the emulator reported as 0. Now its index sets go over in one copy, each of its 10
    subset sizes is one batched eigensolve, and the FIDs are read once; every other metric reads its result once
    or twice. Per metric, with the reference's terms made afresh (an evaluator keeps them: fewer after the first):
    FID's covariance route copies the two covariances and solves twice; KID copies its resampling weights; c2st
    copies both feature sets to the host for scipy."""
    gen, ref = _features(200, 200)
    with EmulatedCuda() as gpu:
        gen_fs, ref_fs = FeatureSet.from_features(gen.to("cuda")), FeatureSet.from_features(ref.to("cuda"))
        syncs = {}
        for name in INCEPTION_METRICS:
            gpu.syncs.clear()
            compute_metrics(gen_fs, ref_fs, MetricSettings(200), (name,))
            syncs[name] = len(gpu.syncs)
    assert syncs == {"fid": 5, "fidinf": 12, "kid": 4, "pr": 1, "dc": 1, "c2st": 2}, (syncs, gpu.syncs)
