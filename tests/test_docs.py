"""The README is a front page a newcomer finishes, and every relative link and image in it and in docs/ resolves:
the file exists, and a `#anchor` names a heading of the target (GitHub's slugs)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    ROOT / "benchmarks" / "README.md",
    ROOT / "results" / "README.md",
]
README_LINES = 200

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HTML = re.compile(r"""<(?:img|a)\b[^>]*\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.I)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"`|\*\*|__|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or "", heading.strip())
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's slug in a Markdown file, with GitHub's -1, -2 suffixes for repeated headings."""
    seen: dict[str, int] = {}
    out = set()
    for line in _FENCE.sub("", path.read_text()).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[str]:
    """Relative link and image targets of a page, outside code blocks and code spans."""
    text = _CODE.sub("", _FENCE.sub("", path.read_text()))
    targets = _LINK.findall(text) + _HTML.findall(text)
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I)]  # http:, mailto:, data:


def broken(page: Path) -> list[str]:
    out = []
    for target in links(page):
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            out.append(f"{page.name}: {target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            out.append(f"{page.name}: {target} (no heading '#{anchor}' in {dest.name})")
    return out


def test_github_slugs():
    assert slug("The README's first command") == "the-readmes-first-command"
    assert slug("The study: which objectives differ on real faces (CelebA 32x32, CPU)") == (
        "the-study-which-objectives-differ-on-real-faces-celeba-32x32-cpu"
    )
    assert slug("Sweeps (Ray)") == "sweeps-ray" and slug("`ganbench report` pages") == "ganbench-report-pages"
    assert slug("Protocol, method and provenance") == "protocol-method-and-provenance"


def test_the_checker_finds_a_missing_file_and_a_missing_anchor(tmp_path):
    (tmp_path / "b.md").write_text("# Title\n\n## A section\n\n## A section\n")
    page = tmp_path / "a.md"
    page.write_text(
        "[ok](b.md#a-section) [twice](b.md#a-section-1) [self](#here) ![img](missing.png)\n"
        "[bad anchor](b.md#nope) `[in code](gone.md)` [web](https://example.org/x)\n\n# Here\n\n"
        "```\n[in a block](gone.md)\n```\n"
    )
    assert broken(page) == ["a.md: missing.png (no such file)", "a.md: b.md#nope (no heading '#nope' in b.md)"]


def test_every_relative_link_and_image_resolves():
    assert len(PAGES) >= 10 and all(p.is_file() for p in PAGES), PAGES
    found = [t for page in PAGES for t in links(page)]
    assert len(found) > 40  # the pages do link to each other and to the results
    problems = [b for page in PAGES for b in broken(page)]
    assert not problems, "\n".join(problems)


def test_the_readme_is_a_front_page():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= README_LINES
    for command in (
        "python3 -m pip install -q uv && uv run ganbench run --variants dcgan,wgan-gp,vae,random && uv run "
        "ganbench report results/synthetic-32",
        "python3 -m pip install -q uv && uv run --all-extras pytest -q",
    ):  # the two commands, verbatim
        assert command in text
    headings = re.findall(r"^## (.*)$", text, re.M)
    assert headings[0] == "The answer"  # one delimited section, replaced when a new study lands
    answer = text.split("## The answer", 1)[1].split("\n## ", 1)[0]
    assert "<!-- end of the answer -->" in answer and "![" in answer and "| rank |" in answer
    assert "What it does not show" in answer
    docs = {p.name for p in (ROOT / "docs").glob("*.md")}
    assert {"protocol.md", "faults.md", "speed.md", "gpu.md", "sweeps.md", "development.md"} <= docs
    assert all(f"docs/{name}" in text for name in docs)  # every page is reachable from the front page


def test_every_shipped_variant_is_listed_where_a_reader_looks_for_it():
    """README's layout and docs/variants.md's variant table name exactly the recipes in variants/ (the baselines
    `random` and `real` included), and no page calls the random floor an untrained G: it is uniform pixel noise."""
    recipes = {p.stem for p in (ROOT / "variants").glob("*.toml")}
    assert {"dcgan", "vae", "random", "real"} <= recipes
    layout = (ROOT / "README.md").read_text().split("\nvariants/", 1)[1].split("\nbenchmarks/", 1)[0]
    assert set(re.findall(r"[\w-]+", layout)) >= recipes, sorted(recipes - set(re.findall(r"[\w-]+", layout)))
    page = (ROOT / "docs" / "variants.md").read_text()
    table = page.split("| variant | objective", 1)[1].split("\n\n", 1)[0]
    assert set(re.findall(r"^\| `([\w-]+)` \|", table, re.M)) == recipes
    for path in PAGES:
        assert not re.search(r"untrained (G|generator)", path.read_text(), re.I), path
