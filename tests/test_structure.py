"""One owner per concept: the run directory, families, budgets, errors; one execution path, no import cycle at all."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ganbench import families
from ganbench.budget import Budget, parse_budget
from ganbench.commands import app
from ganbench.config import ConfigError, load_recipe, make_config
from ganbench.data import DataSpec, load_dataset
from ganbench.io import read_json, read_jsonl
from ganbench.rundir import FINAL, RunDir, Status, best
from ganbench.train import train

PACKAGE = Path(__file__).resolve().parent.parent / "ganbench"
TINY = dict(
    resolution=16, g_width=8, d_width=8, latent_dim=8, batch_size=16, max_images=96, tick_kimg=0.064, device="cpu"
)


def _sources() -> dict[str, str]:
    return {p.relative_to(PACKAGE).as_posix(): p.read_text() for p in PACKAGE.rglob("*.py")}


def test_file_names_status_words_and_families_have_one_owner():
    for path, text in _sources().items():
        if path != "rundir.py":
            assert not re.search(r'"(summary|config|trial)\.json"|"metrics\.jsonl"|"latest\.pt"', text), path
            assert not re.search(r"write_json\([^,]*summary", text), path  # RunDir.write_summary is the writer
        if not path.startswith("families/"):
            assert not re.search(r'family\s*[!=]=|\.family\s+in\s|== "(gan|vae)"', text), path


def test_no_module_imports_the_cli_and_none_is_over_about_400_lines():
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, ganbench.sweep, ganbench.study, ganbench.execution, ganbench.execution.runs, "
            "ganbench.metrics.compare, ganbench.sampling, ganbench.catalogue, ganbench.selftest, ganbench.train, "
            "ganbench.report; print(any(m.startswith('ganbench.commands') for m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"
    sizes = {p: len(t.splitlines()) for p, t in _sources().items()}
    assert max(sizes.values()) <= 430, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]


def test_status_words_and_best_point():
    assert [s.value for s in Status] == ["completed", "diverged", "failed", "interrupted", "running", "locked", "lost"]
    assert Status("diverged") == "diverged" and Status.COMPLETED in FINAL and Status.FAILED not in FINAL
    evals = [
        {"kind": "eval", "kimg": 1.0, "g_steps": 4, "seconds": 1.0, "fid50": 90.0},
        {"kind": "eval", "kimg": 2.0, "g_steps": 8, "seconds": 2.0, "fid50": 70.0},
        {"kind": "eval", "kimg": 3.0, "g_steps": 12, "seconds": 3.0, "fid50": None},
        {"kind": "tick", "kimg": 3.0, "fid50": 1.0},
    ]
    assert best(evals, "fid50") == {"metric": "fid50", "value": 70.0, "kimg": 2.0, "g_steps": 8, "seconds": 2.0}
    assert best(evals, "kid50") is None


def test_families_say_which_hyperparameters_act():
    gan, wgan, vae, rnd = (make_config(load_recipe(v), **TINY) for v in ("dcgan", "wgan-gp", "vae", "random"))
    assert families.get("gan").applies("n_critic", gan) and not families.get("vae").applies("n_critic", vae)
    assert families.get("gan").applies("penalty_weight", wgan) and not families.get("gan").applies(
        "penalty_weight", gan
    )
    clipped = make_config(load_recipe("wgan"), **TINY)  # RMSProp: Adam's betas do not act, momentum does
    assert not families.get("gan").applies("beta1", clipped) and families.get("gan").applies("momentum", clipped)
    assert families.get("gan").applies("beta1", gan) and not families.get("gan").applies("momentum", gan)
    assert families.get("vae").applies("kl_weight", vae) and not families.get("gan").applies("kl_weight", gan)
    assert not any(families.get("random").applies(k, rnd) for k in families.HYPERPARAMETERS)
    assert families.is_baseline("random") and not families.is_baseline("gan") and not families.is_baseline("?")
    with pytest.raises(KeyError, match="Did you mean 'vae'"):
        families.get("vea")


def test_budget_units_including_epochs():
    assert parse_budget("3epochs") == Budget("epochs", 3.0) and parse_budget("1.5 epoch") == Budget("epochs", 1.5)
    assert parse_budget("2kimg") == Budget("img", 2000.0) and str(parse_budget("2kimg")) == "2kimg"
    assert str(parse_budget("3epochs")) == "3epochs" and parse_budget("3epochs").in_images(100) == Budget("img", 300)
    assert parse_budget("10min") == Budget("seconds", 600.0)
    with pytest.raises(ConfigError, match="not understood"):
        parse_budget("3 fortnights")


def test_an_epoch_budget_shows_each_image_that_many_times_on_average_and_records_epochs(tmp_path):
    images = load_dataset(DataSpec("synthetic", resolution=16, max_images=96)).images  # 96 images, batch 16
    cfg = make_config(load_recipe("vae"), **TINY, budget="2epochs")
    summary = train(cfg, tmp_path, images)
    assert summary["kimg"] == pytest.approx(0.192) and summary["epoch"] == pytest.approx(2.0)  # 12 steps of 16
    assert summary["g_steps"] == 12 and summary["budget"] == "2epochs"
    ticks = [r for r in read_jsonl(tmp_path / "metrics.jsonl") if r["kind"] == "tick"]
    assert [round(r["epoch"] * 96) for r in ticks] == [round(r["kimg"] * 1000) for r in ticks]


def test_named_choices_fail_at_plan_time_with_did_you_mean(tmp_path):
    res = CliRunner().invoke(app, ["run", "--dataset", "celebA", "--dry-run", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "unknown dataset 'celebA'. Did you mean 'celeba'?" in res.stderr
    res = CliRunner().invoke(app, ["run", "--set", "family=gna", "--dry-run", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "Did you mean 'gan'?" in res.stderr
    ok = CliRunner().invoke(app, ["run", "--dataset", "celeba", "--dry-run", "--out", str(tmp_path / "o")])
    assert ok.exit_code == 0, ok.output


def test_run_and_sweep_share_one_path_and_one_summary_writer(tmp_path):
    """`ganbench run` plans a sweep with an empty search space: same directories as before, no trial.json."""
    from ganbench.execution.runs import plan_runs

    trials = plan_runs(["dcgan", "random"], [0, 1], tmp_path, dict(TINY, budget="32img"), {})
    assert [t.label for t in trials] == ["dcgan/seed0", "random/seed0", "dcgan/seed1", "random/seed1"]
    assert [t.run_dir for t in trials][:2] == [tmp_path / "dcgan" / "seed0", tmp_path / "random" / "seed0"]
    res = CliRunner().invoke(
        app,
        [
            "run",
            "--variants",
            "random",
            "--no-eval",
            "--out",
            str(tmp_path / "r"),
            *sum(
                (
                    [f"--{k.replace('_', '-')}", str(v)]
                    for k, v in TINY.items()
                    if k in ("resolution", "max_images", "device")
                ),
                [],
            ),
        ],
    )
    assert res.exit_code == 0, res.output
    run = RunDir(tmp_path / "r" / "random" / "seed0")
    assert read_json(run.summary)["status"] == Status.COMPLETED and not run.trial.exists()


def _import_graph() -> dict[str, set[str]]:
    """module -> the ganbench modules it imports, from the source (ast), every import statement counted: at module
    level, inside functions and under `if TYPE_CHECKING:` alike (a cycle hidden in a function is still a cycle in
    the design). `from pkg import name` is an edge to the submodule `pkg.name` when that is a module, else to `pkg`.
    Not counted: the implicit import of a parent package that Python runs before any of its submodules (counting
    it would make every package that imports its own submodules, as the registries do, a cycle)."""
    import ast

    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("ganbench", *path.relative_to(PACKAGE).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            graph[module] |= {t for t in targets if t in modules and t != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_package_has_no_import_cycle():
    graph = _import_graph()
    assert len(graph) > 50 and "ganbench.execution.trial" in graph["ganbench.execution.executors"]  # the graph is read
    assert "ganbench.report.build" in graph["ganbench.report"]  # function-level and TYPE_CHECKING imports count
    assert _cycles(graph) == []
    # the checker finds a cycle where there is one, also through a function-level import
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _owner(module: str) -> str:
    """The top-level owner of a module: a module directly under ganbench/ is its own owner (`ganbench.config`),
    a subpackage is one owner taken as a whole (`ganbench.report.build` -> `ganbench.report`)."""
    return ".".join(module.split(".")[:2])


def _owner_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    owners: dict[str, set[str]] = {}
    for module, targets in graph.items():
        owners.setdefault(_owner(module), set()).update(_owner(t) for t in targets if _owner(t) != _owner(module))
    return owners


def _reach(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for w in graph[todo.pop()] - seen:
            seen.add(w)
            todo.append(w)
    return seen


def test_no_two_top_level_owners_import_each_other():
    """Modules directly under ganbench/ and subpackages taken as a whole form layers: no two of them import each
    other, directly or through others (the module graph has no cycle either, test above). The imports that once ran
    back up the layers stay gone: the config does not reach the metrics (`ganbench fid` reads a run's config to
    sample it), the metrics do not reach the training loop (sampling a run is `ganbench.sampling`'s), the device
    does not reach the families (they pass it the networks to compile), nothing below the commands reaches the
    report (a sweep's table is printed by its command)."""
    owners = _owner_graph(_import_graph())
    assert {"ganbench.config", "ganbench.metrics", "ganbench.execution", "ganbench.sampling"} <= set(owners)
    assert _cycles(owners) == []
    assert {o for o, targets in owners.items() if "ganbench.commands" in targets} == {"ganbench.__main__"}  # the top
    assert "ganbench.metrics" not in _reach(owners, "ganbench.config")
    assert "ganbench.train" not in _reach(owners, "ganbench.metrics")
    assert "ganbench.families" not in _reach(owners, "ganbench.device")
    for below in ("ganbench.sweep", "ganbench.study", "ganbench.execution", "ganbench.metrics"):
        assert "ganbench.report" not in _reach(owners, below), below
    # the owners are read at that granularity: two submodules of different subpackages make one owner edge
    assert _owner_graph(
        {"ganbench.a.x": {"ganbench.b.y"}, "ganbench.b.y": {"ganbench.a.z"}, "ganbench.a.z": set()}
    ) == {
        "ganbench.a": {"ganbench.b"},
        "ganbench.b": {"ganbench.a"},
    }


def _private_uses(sources: dict[str, str]) -> list[str]:
    """'module: name from other' for every private name (dunders aside) that a module of `sources` ({path under
    ganbench/: its source}, as `_sources()` gives them) takes from another ganbench module: `from ganbench... import
    _name`, or `other._name` where `other` is a ganbench module bound by an import (`from ganbench.study import cost`
    ... `cost._label`), at module level or inside functions. A module may use its own private names, never another
    module's."""
    import ast

    private = lambda name: name.startswith("_") and not name.startswith("__")  # noqa: E731
    parts = {path: ("ganbench", *Path(path).with_suffix("").parts) for path in sources}
    modules = {".".join(p[:-1] if p[-1] == "__init__" else p) for p in parts.values()}
    found = []
    for path, source in sources.items():
        module = ".".join(parts[path][:-1] if path.endswith("__init__.py") else parts[path])
        package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
        tree = ast.parse(source)
        bound: dict[str, str] = {}  # a local name -> the module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    bound[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*anchor, *([node.module] if node.module else [])])
                if base.split(".")[0] != "ganbench":
                    continue
                found += [f"{module}: {a.name} from {base}" for a in node.names if private(a.name)]
                bound |= {(a.asname or a.name): f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules}
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and private(node.attr):
                chain, value = [], node.value
                while isinstance(value, ast.Attribute):
                    chain.insert(0, value.attr)
                    value = value.value
                if isinstance(value, ast.Name) and bound.get(value.id, "").split(".")[0] == "ganbench":
                    target = ".".join([bound[value.id], *chain])
                    if target != module:
                        found.append(f"{module}: {node.attr} from {target}")
    return sorted(found)


def test_no_module_imports_another_module_s_private_names():
    sources = _sources()
    assert len(sources) > 50
    assert _private_uses(sources) == []
    # the checker finds each form (from a sibling, through a package, by a full name) and leaves own names alone
    fake = {
        "p/__init__.py": "",
        "p/a.py": "def _own(): pass\ndef f(): return _own()",
        "p/b.py": "from ganbench.p import a\nx = a._own()",
        "p/c.py": "from ganbench.p.a import _own",
        "p/d.py": "import ganbench.p.a\nx = ganbench.p.a._own()",
        "p/e.py": "from . import a\nimport torch\nx = a.f(torch._C)",
    }
    assert _private_uses(fake) == [
        "ganbench.p.b: _own from ganbench.p.a",
        "ganbench.p.c: _own from ganbench.p.a",
        "ganbench.p.d: _own from ganbench.p.a",
    ]


def test_the_metrics_a_config_may_name_are_the_registered_ones():
    """The config names the metrics without importing them (it sits below them); the two lists stay one."""
    from ganbench.config import METRIC_NAMES
    from ganbench.metrics import METRICS

    assert tuple(METRICS.names()) == METRIC_NAMES


def _owner_table() -> dict[str, str]:
    """docs/development.md's owner table as {path under ganbench/ it names: its row}: a row whose first cell names
    a package (`report/`) names that package and the modules its cells name (`build.py`, `figures/forest.py`);
    other rows name the top-level modules in their first cell (`data.py` (+ `faces.py`))."""
    doc = (PACKAGE.parent / "docs" / "development.md").read_text()
    named: dict[str, str] = {}
    for row in (line for line in doc.splitlines() if line.startswith("| `")):
        first = row.split("|")[1]
        packages = [t for t in re.findall(r"`([^`]+)`", first) if t.endswith("/")]
        for package in packages:
            named[f"{package}__init__.py"] = row
            named |= {f"{package}{t}": row for t in re.findall(r"`([\w/]+\.py)`", row)}
        if not packages:
            named |= {t: row for t in re.findall(r"`([\w/]+\.py)`", first)}
    return named


def test_every_module_is_named_in_the_owner_table():
    """Docs follow the code both ways: every module of the package has its owner row, and no row names a module
    that is gone."""
    modules = {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")}
    named = _owner_table()
    assert sorted(modules - set(named)) == []
    assert sorted(set(named) - modules) == []
