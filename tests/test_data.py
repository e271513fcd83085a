"""Loaders: the built-in synthetic set, folders with bad files, the CelebA layout, and the decode cache."""

import numpy as np
import pytest
import torch
from PIL import Image

from ganbench.data import DataError, DataSpec, decode, load_dataset


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_synthetic_is_deterministic_and_prefix_stable(cache):
    a = load_dataset(DataSpec("synthetic", resolution=32, max_images=1200))
    assert a.images.dtype == torch.uint8 and a.images.shape == (1200, 3, 32, 32)
    for p in cache.glob("datasets/*"):
        p.unlink()  # regenerate from scratch: same pixels
    b = load_dataset(DataSpec("synthetic", resolution=32, max_images=1200))
    assert torch.equal(a.images, b.images)
    small = load_dataset(DataSpec("synthetic", resolution=32, max_images=300))
    assert torch.equal(small.images, a.images[:300])


def test_synthetic_has_structure_and_splits_differ(cache):
    train = load_dataset(DataSpec("synthetic", resolution=32, max_images=500)).images.float()
    test = load_dataset(DataSpec("synthetic", resolution=32, max_images=500, split="test")).images.float()
    assert not torch.equal(train, test)
    # faces are centred: the middle of the image differs from the corners on average, and images vary
    centre, corner = train[:, :, 12:20, 12:20].mean(), train[:, :, :4, :4].mean()
    assert abs(centre - corner) > 5
    assert train.std(0).mean() > 20
    # the two draws share their statistics (mean image close)
    assert (train.mean(0) - test.mean(0)).abs().mean() < 6
    # real structure: neighbouring pixels are strongly correlated (i.i.d. noise would give ~0)
    a, b = train[..., :-1].flatten(), train[..., 1:].flatten()
    assert torch.corrcoef(torch.stack([a, b]))[0, 1] > 0.8


def test_synthetic_grayscale(cache):
    x = load_dataset(DataSpec("synthetic", resolution=16, channels=1, max_images=10)).images
    assert x.shape == (10, 1, 16, 16)


def _write_images(folder, n, size=(40, 30), mode="RGB"):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(arr).convert(mode).save(folder / f"{i:06d}.jpg" if mode == "RGB" else folder / f"{i:06d}.png")


def test_folder_with_corrupt_grayscale_rgba_and_nested_files(cache, tmp_path, capsys):
    root = tmp_path / "imgs"
    _write_images(root / "a", 12)
    _write_images(root / "b" / "deep", 2, mode="L")
    rgba = Image.new("RGBA", (20, 20), (255, 0, 0, 0))  # fully transparent red -> white on composite
    rgba.save(root / "b" / "transparent.png")
    (root / "notes.jpg").write_bytes(b"this is not an image")
    good = root / "a" / "000000.jpg"
    (root / "truncated.jpg").write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    ds = load_dataset(DataSpec("folder", root=str(root), resolution=16, split="all"))
    assert ds.images.shape == (15, 3, 16, 16)
    assert ds.protocol["skipped"] == 2 and ds.protocol["files"] == 17
    assert any("notes.jpg" in s for s in ds.protocol["skipped_examples"])
    assert any("truncated.jpg" in s for s in ds.protocol["skipped_examples"])
    assert "skipped 2 unreadable" in capsys.readouterr().err
    files = sorted(p for p in root.rglob("*") if p.suffix in (".jpg", ".png"))
    white = [
        i
        for i, p in enumerate(f for f in files if f.name not in ("notes.jpg", "truncated.jpg"))
        if p.name == "transparent.png"
    ][0]
    assert ds.images[white].float().mean() > 250


def test_folder_errors(cache, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(DataSpec("folder", root=str(tmp_path / "nope")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_dataset(DataSpec("folder", root=str(tmp_path / "empty")))
    bad = tmp_path / "bad"
    bad.mkdir()
    for i in range(3):
        (bad / f"{i}.png").write_bytes(b"junk")
    with pytest.raises(DataError, match=r"none of the 3 files.*0.png"):
        load_dataset(DataSpec("folder", root=str(bad), split="all"))
    with pytest.raises(DataError, match="--data"):
        load_dataset(DataSpec("folder", root=""))


def _celeba_layout(root, n=10, partition=True):
    img = root / "img_align_celeba"
    img.mkdir(parents=True)
    rng = np.random.default_rng(1)
    names = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    for name in names:
        Image.fromarray(rng.integers(0, 255, (218, 178, 3), dtype=np.uint8)).save(img / name)
    if partition:
        lines = [f"{name} {0 if i < 6 else (1 if i < 8 else 2)}" for i, name in enumerate(names)]
        (root / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")


def test_celeba_layout_with_partition_file(cache, tmp_path):
    _celeba_layout(tmp_path / "celeba")
    train = load_dataset(DataSpec("celeba", root=str(tmp_path / "celeba"), resolution=32, split="train"))
    test = load_dataset(DataSpec("celeba", root=str(tmp_path / "celeba"), resolution=32, split="test"))
    assert len(train) == 6 and len(test) == 2
    assert train.protocol["crop"] == 160 and "list_eval_partition" in train.protocol["split"]


def test_celeba_layout_without_partition_file_uses_all(cache, tmp_path):
    _celeba_layout(tmp_path / "celeba", partition=False)
    ds = load_dataset(DataSpec("celeba", root=str(tmp_path / "celeba"), resolution=32, crop=108))
    assert len(ds) == 10 and "no list_eval_partition" in ds.protocol["split"] and ds.protocol["crop"] == 108
    with pytest.raises(DataError, match="img_align_celeba"):
        load_dataset(DataSpec("celeba", root=str(tmp_path)))


def test_decode_cache_is_reused_and_keyed_by_preprocessing(cache, tmp_path, monkeypatch):
    _write_images(tmp_path / "imgs", 5)
    first = load_dataset(DataSpec("folder", root=str(tmp_path / "imgs"), resolution=16))

    def boom(*a, **k):
        raise AssertionError("decoded again instead of using the cache")

    monkeypatch.setattr(decode, "decode_image", boom)
    again = load_dataset(DataSpec("folder", root=str(tmp_path / "imgs"), resolution=16))
    assert torch.equal(first.images, again.images)
    with pytest.raises(AssertionError, match="decoded again"):  # another resolution is another key
        load_dataset(DataSpec("folder", root=str(tmp_path / "imgs"), resolution=32))


def test_cifar_without_files_never_downloads(cache, tmp_path):
    with pytest.raises(DataError, match="never downloads"):
        load_dataset(DataSpec("cifar10", root=str(tmp_path)))


def test_unknown_data_set_lists_choices():
    with pytest.raises(KeyError, match="celeba"):
        load_dataset(DataSpec("celebA"))


def test_real_celeba_subset(cache, celeba_root):
    ds = load_dataset(DataSpec("celeba", root=str(celeba_root), resolution=32, max_images=64))
    assert ds.images.shape == (64, 3, 32, 32) and ds.protocol["skipped"] == 0
    assert 60 < ds.images.float().mean() < 200


def test_celeba_without_partition_file_uses_the_official_id_ranges(cache, tmp_path):
    """CelebA's partition is contiguous in the ids: train <= 162770 < val <= 182637 < test. Without the file, the
    splits come from the file names, so a held-out reference never overlaps the training images."""
    img = tmp_path / "celeba" / "img_align_celeba"
    img.mkdir(parents=True)
    ids = [1, 162_770, 162_771, 182_637, 182_638, 202_599]
    for i in ids:
        Image.fromarray(np.full((218, 178, 3), i % 255, dtype=np.uint8)).save(img / f"{i:06d}.jpg")
    root = str(tmp_path / "celeba")
    sizes = {
        s: len(load_dataset(DataSpec("celeba", root=root, resolution=16, split=s)))
        for s in ("train", "val", "test", "heldout", "all")
    }
    assert sizes == {"train": 2, "val": 2, "test": 2, "heldout": 4, "all": 6}
    train = load_dataset(DataSpec("celeba", root=root, resolution=16, split="train"))
    assert "official CelebA id ranges" in train.protocol["split"]
    (img / "renamed.jpg").write_bytes((img / "000001.jpg").read_bytes())  # not an id: no split can be derived
    with pytest.raises(DataError, match="list_eval_partition"):
        load_dataset(DataSpec("celeba", root=root, resolution=16, split="heldout"))


def test_heldout_is_the_test_split_of_the_built_in_data(cache):
    a = load_dataset(DataSpec("synthetic", resolution=16, max_images=20, split="heldout")).images
    b = load_dataset(DataSpec("synthetic", resolution=16, max_images=20, split="test")).images
    assert torch.equal(a, b)


def test_the_reference_comes_from_eval_split_uncapped(cache, monkeypatch):
    """eval_split=heldout: the evaluator's reference images are the held-out split, not the (capped) training set."""
    import ganbench.metrics as metrics_mod
    from ganbench.config import Config
    from ganbench.execution import runner

    seen = {}
    monkeypatch.setattr(
        metrics_mod, "build_evaluator", lambda ref, n, device, weights="", **options: seen.setdefault("ref", ref)
    )
    store: dict = {}
    cfg = Config(resolution=16, max_images=30, eval_split="heldout", device="cpu")
    train, _ = runner.shared_inputs(cfg, True, store)
    assert len(train) == 30 and len(seen["ref"]) == 10_000 and seen["ref"].protocol["split"] == "test"
    seen.clear()
    runner.shared_inputs(Config(resolution=16, max_images=30, device="cpu"), True, store)  # default: the train set
    assert seen["ref"] is train


# ---------------------------------------------------------------------------------------------------- folder splits
def test_folder_split_rule_is_pinned_and_keeps_the_declared_fractions():
    from ganbench.data.folder import FRACTIONS, split_of

    # pinned values: a change of the rule would move users' files between splits
    assert [split_of(f"{i}.png") for i in (3, 5, 9)] == ["train", "test", "val"]
    names = [f"img{i:05d}.jpg" for i in range(20_000)]
    shares = {s: sum(split_of(n) == s for n in names) / len(names) for s, _ in FRACTIONS}
    for split, share in FRACTIONS:
        assert abs(shares[split] - share) < 0.01, (split, shares)


def test_folder_splits_partition_the_files_and_adding_files_moves_none(cache, tmp_path):
    from ganbench.data.folder import split_files

    root = tmp_path / "own"
    _write_images(root / "a", 40)
    _write_images(root / "b", 20, size=(30, 30))

    def members(split):
        return {p.relative_to(root).as_posix() for p in split_files(DataSpec("folder", root=str(root), split=split))}

    before = {s: members(s) for s in ("train", "val", "test", "heldout", "all")}
    assert before["train"] | before["val"] | before["test"] == before["all"] and len(before["all"]) == 60
    assert not (before["train"] & before["heldout"]) and before["heldout"] == before["val"] | before["test"]
    assert not (before["val"] & before["test"]) and before["val"] and before["test"]
    _write_images(root / "c", 30)  # a user adds images: every earlier file stays where it was
    after = {s: members(s) for s in ("train", "val", "test")}
    for split in ("train", "val", "test"):
        assert before[split] <= after[split]
    ds = load_dataset(DataSpec("folder", root=str(root), resolution=16, split="val"))
    assert len(ds) == len(after["val"])
    assert ds.protocol["split_fractions"] == {"train": 0.8, "val": 0.1, "test": 0.1}
    assert "adding files never moves" in ds.protocol["split_rule"]
    train = load_dataset(DataSpec("folder", root=str(root), resolution=16))  # the default split is train
    assert len(train) == len(after["train"])


def test_folder_with_no_image_in_a_split_says_so(cache, tmp_path):
    _write_images(tmp_path / "few", 2)  # 000000.jpg and 000001.jpg: both train by the rule
    with pytest.raises(DataError, match="falls in split 'test'.*use split 'all'"):
        load_dataset(DataSpec("folder", root=str(tmp_path / "few"), split="test"))


# ---------------------------------------------------------------------------------------------------- pre-flight
def test_check_source_finds_the_source_without_decoding(cache, tmp_path, monkeypatch):
    from ganbench.data import check_source

    def boom(*a, **k):
        raise AssertionError("the pre-flight check decoded an image")

    monkeypatch.setattr(decode, "decode_image", boom)
    _write_images(tmp_path / "imgs", 30)
    for split in ("train", "val", "heldout", "all"):
        assert check_source(DataSpec("folder", root=str(tmp_path / "imgs"), split=split)) is None
    check_source(DataSpec("synthetic", split="test"))
    _celeba_layout(tmp_path / "celeba")
    check_source(DataSpec("celeba", root=str(tmp_path / "celeba"), split="test"))
    failures = [
        (DataSpec("folder", root=str(tmp_path / "nope")), "does not exist"),
        (DataSpec("folder", root=""), "--data"),
        (DataSpec("celebA"), "unknown data set 'celebA'. Did you mean 'celeba'"),
        (DataSpec("synthetic", split="val"), "no split 'val'"),
        (DataSpec("synthetic", split="dev"), "unknown split 'dev'"),
        (DataSpec("celeba", root=str(tmp_path)), "img_align_celeba"),
        (DataSpec("cifar10", root=str(tmp_path)), "never downloads"),
        (DataSpec("mnist", root=str(tmp_path), split="all"), "no split 'all'"),
    ]
    for spec, why in failures:
        with pytest.raises(DataError, match=why) as e:
            check_source(spec)
        assert "\n" not in str(e.value)


def test_a_missing_folder_error_names_its_origin_and_survives_pickling():
    """A Ray worker's error crosses processes: the message and its origin come back whole."""
    import pickle

    from ganbench.data import DATA_OPTION, MissingFolder

    plain = MissingFolder("/no/such", "folder")
    assert plain.origin == DATA_OPTION and str(plain).endswith("check --data")
    moved = plain.at("[data] data in s.toml")
    assert str(moved) == "data folder '/no/such' does not exist (or is not a folder): check [data] data in s.toml"
    again = pickle.loads(pickle.dumps(moved))
    assert isinstance(again, DataError) and str(again) == str(moved) and again.origin == moved.origin
    assert str(MissingFolder("", "celeba")) == "the celeba data set needs a folder: pass --data PATH"
    assert str(MissingFolder("", "celeba", "[data] data in s.toml")).endswith("folder: set [data] data in s.toml")


# ---------------------------------------------------------------------------------------------------- content hash
def test_each_loaded_split_carries_a_content_hash_of_its_pixels(cache):
    import hashlib

    spec = DataSpec("synthetic", resolution=16, max_images=40)
    a = load_dataset(spec)
    expected = hashlib.sha256(a.images.numpy().tobytes()).hexdigest()
    assert a.content_sha256() == expected and a.sha256 == expected
    again = load_dataset(spec)  # from the cache: the stored hash, not a recomputation
    assert "cache" in again.protocol and again.sha256 == expected
    assert a.content_sha256(10) == hashlib.sha256(a.images[:10].numpy().tobytes()).hexdigest() != expected
    assert "sha256" not in a.protocol  # the protocol (and every cache key built from it) is unchanged


def test_list_reads_the_data_sets_summaries_from_their_entries():
    from typer.testing import CliRunner

    from ganbench.commands import app
    from ganbench.data import DATASETS

    res = CliRunner().invoke(app, ["list", "--json"])
    import json

    entries = json.loads(res.stdout)["datasets"]
    assert [e["name"] for e in entries] == DATASETS.names()
    assert all(e["summary"] == DATASETS[e["name"]].summary and e["summary"] for e in entries)


def test_a_batch_checks_each_data_set_and_split_once_before_any_trial_starts(cache, tmp_path, monkeypatch):
    """A sweep or study on a missing folder stops with one line before its first trial, instead of failing every
    trial with the same DataError; each distinct (data set, split) is checked once."""
    from ganbench.config import load_recipe, make_config
    from ganbench.data import datasets
    from ganbench.execution import Trial, executors, run_trials
    from ganbench.execution.executors import ExecOptions

    def trials(root):
        settings = dict(dataset="folder", data=str(root), resolution=16, eval_split="test", device="cpu")
        return [
            Trial(make_config(load_recipe(v), seed=s, **settings), tmp_path / "out" / v / f"seed{s}", "recipe", {}, ())
            for v in ("dcgan", "vae")
            for s in (0, 1)
        ]

    with pytest.raises(DataError, match="does not exist") as e:
        run_trials("local", trials(tmp_path / "gone"), ExecOptions(show_progress=False))
    assert "\n" not in str(e.value) and not (tmp_path / "out").exists()  # no trial started
    checked = []
    monkeypatch.setattr(datasets, "check_source", lambda spec: checked.append((spec.name, spec.split)))
    monkeypatch.setitem(executors.EXECUTORS._entries, "local", lambda trials, opts: iter(()))  # runs nothing
    run_trials("local", trials(tmp_path / "gone"), ExecOptions(show_progress=False))
    assert sorted(checked) == [("folder", "test"), ("folder", "train")]
