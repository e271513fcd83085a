"""One document, two renderings: Markdown for a code host (relative image links) and a self-contained HTML page.

The HTML page opens from disk with no server and no network: images are base64 data URIs, the style sheet is
inline, and there is no script. The report is written as a list of blocks, so both pages always say the same.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Para:
    text: str
    lead: bool = False  # the verdict: set apart in HTML, bold in Markdown
    note: bool = False  # a line under a table or figure: small print in HTML


@dataclass
class Bullets:
    items: list[str]
    warn: bool = False  # shown as a warning box in HTML


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Figure:
    file: str  # relative to the report folder
    alt: str


@dataclass
class Gallery:
    items: list[tuple[str | None, str]]  # (file relative to the report folder, or None when missing; caption)


@dataclass
class Code:
    summary: str
    text: str


@dataclass
class Details:
    summary: str
    blocks: list  # folded: <details> in HTML and in Markdown (which GitHub renders)


Block = Heading | Para | Bullets | Table | Figure | Gallery | Code | Details
GALLERY_COLUMNS = 4


# ---------------------------------------------------------------------------------------------------- Markdown
def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ") or " "


def markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out.append(f"{'#' * b.level} {b.text}")
        elif isinstance(b, Para):
            out.append(f"**{b.text}**" if b.lead else b.text)
        elif isinstance(b, Bullets):
            out.append("\n".join(f"- {'**warning:** ' if b.warn else ''}{item}" for item in b.items))
        elif isinstance(b, Table):
            lines = [
                "| " + " | ".join(_md_cell(h) for h in b.header) + " |",
                "|" + "|".join("---" for _ in b.header) + "|",
            ]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            out.append("\n".join(lines))
        elif isinstance(b, Figure):
            out.append(f"![{b.alt}]({b.file})")
        elif isinstance(b, Gallery):  # a table puts the grids side by side on a code host
            cells = [(f"![{_md_cell(c)}]({f})" if f else "*(no image)*") + f"<br>{_md_cell(c)}" for f, c in b.items]
            cells += [" "] * (-len(cells) % GALLERY_COLUMNS)
            lines = ["|" + " |" * GALLERY_COLUMNS, "|" + "---|" * GALLERY_COLUMNS]
            lines += [
                "| " + " | ".join(cells[i : i + GALLERY_COLUMNS]) + " |" for i in range(0, len(cells), GALLERY_COLUMNS)
            ]
            out.append("\n".join(lines))
        elif isinstance(b, Code):
            out.append(
                f"<details><summary>{html.escape(b.summary, quote=False)}</summary>\n\n```\n{b.text}\n```\n\n</details>"
            )
        elif isinstance(b, Details):
            out.append(
                f"<details><summary>{html.escape(b.summary, quote=False)}</summary>\n\n{markdown(b.blocks).rstrip()}"
                "\n\n</details>"
            )
    return "\n\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------------- HTML
CSS = """
body { font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1400px; padding: 0 1.5em; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.7em; border-bottom: 1px solid #d0d7de; padding-bottom: .3em; }
h2 { font-size: 1.35em; border-bottom: 1px solid #d0d7de; padding-bottom: .2em; margin-top: 1.8em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .86em; margin: .6em 0; }
th, td { border: 1px solid #d0d7de; padding: .3em .55em; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
tr:nth-child(even) td { background: #fbfcfd; }
ul.warn { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 6px; padding: .6em 1.2em .6em 2.2em; }
img { max-width: 100%; height: auto; }
figure { margin: 1em 0; }
.gallery { display: flex; flex-wrap: wrap; gap: 1em; }
.gallery figure { margin: 0; width: 280px; }
.gallery img { width: 280px; image-rendering: pixelated; }
figcaption { font-size: .85em; color: #57606a; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; font-size: .82em; }
p.verdict { font-size: 1.08em; background: #f6f8fa; border-left: 4px solid #0969da; padding: .7em 1em;
            margin: .8em 0 1em; }
details.fold { border: 1px solid #d0d7de; border-radius: 6px; padding: .4em 1em; margin: 1em 0; }
details.fold > summary { font-weight: 600; cursor: pointer; }
p.note { font-size: .85em; color: #57606a; margin-top: -.2em; }
"""


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _html_block(b: Block, root: Path) -> str:
    def e(text) -> str:
        return html.escape(str(text))

    if isinstance(b, Heading):
        return f"<h{b.level}>{e(b.text)}</h{b.level}>"
    if isinstance(b, Para):
        cls = ' class="verdict"' if b.lead else ' class="note"' if b.note else ""
        return f"<p{cls}>{e(b.text)}</p>"
    if isinstance(b, Bullets):
        items = "".join(f"<li>{e(i)}</li>" for i in b.items)
        cls = ' class="warn"' if b.warn else ""
        return f"<ul{cls}>{items}</ul>"
    if isinstance(b, Table):
        head = "".join(f"<th>{e(h)}</th>" for h in b.header)
        body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in b.rows)
        return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    if isinstance(b, Figure):
        return f'<figure><img src="{_data_uri(root / b.file)}" alt="{e(b.alt)}"></figure>'
    if isinstance(b, Gallery):
        figs = []
        for file, caption in b.items:
            img = f'<img src="{_data_uri(root / file)}" alt="{e(caption)}">' if file else "<p>(no image)</p>"
            figs.append(f"<figure>{img}<figcaption>{e(caption)}</figcaption></figure>")
        return f'<div class="gallery">{"".join(figs)}</div>'
    if isinstance(b, Code):
        return f"<details><summary>{e(b.summary)}</summary><pre>{e(b.text)}</pre></details>"
    if isinstance(b, Details):
        inner = "\n".join(_html_block(x, root) for x in b.blocks)
        return f'<details class="fold"><summary>{e(b.summary)}</summary>\n{inner}\n</details>'
    raise TypeError(f"unknown block {b!r}")


def html_page(title: str, blocks: list[Block], root: Path) -> str:
    """A complete page; `root` is the folder the blocks' image files are relative to."""
    body = "\n".join(_html_block(b, root) for b in blocks)
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
