"""``make site``: the course as static HTML in ``_build/site``, built offline.

Stages the sources in ``_build/site-src`` (the pages in ``docs/``, the guide's pages under
``docs/`` there too, the notebooks, the committed figures, the README, the benchmark results;
a link to a README that the site leaves out is pointed at the page that shows it), writes the
three generated pages
(the gallery, from ``figures/README.md``; the benchmark results, from
``benchmarks/results.csv``; the family tree, from ``docs/family.csv``:
see ``docs/family.py``), vendors MathJax from the npm registry into ``_static``, and
runs Sphinx, which executes every notebook (myst-nb). The notebooks run in the staged
copy, so what they write lands in ``_build``, never in the repository.

Usage: ``python docs/build_site.py [--out _build/site]``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

from family import family_page
from vendor import unpack

from blocks.bench import format_measurements, read_csv

REPOSITORY = Path(__file__).resolve().parents[1]
BUILD = REPOSITORY / "_build"
PAGES = ("conf.py", "index.md", "api.md", "solutions.md")  # the hand-written pages in docs/
# The guide: hand-written pages that the README links as docs/<name>.md, so they are staged under
# docs/ too, where the README's links (and theirs to ../notebooks/, ../figures/) find them.
TOPICS = ("install.md", "usage.md", "proofs.md", "speed.md", "compiler.md", "training.md", "audit.md", "teachers.md")
# The MathJax parts a page with formulas loads: the combined TeX-to-HTML component, its extensions,
# fonts, menu and accessibility pieces (not the speech engine, which nothing here enables).
MATHJAX_PARTS = ["tex-chtml.js", "input", "output", "ui", "a11y", "adaptors"]
# figures/README.md's table rows: | `name.{svg,pdf,png}` | what it shows | drawn by |
_FIGURE_ROW = re.compile(r"^\| `(?P<name>\w+)\.\{svg,pdf,png\}` \| (?P<caption>.+?) \| (?P<drawn_by>.*?) \|$")


def gallery_page(figures_readme: str) -> str:
    """The gallery: every figure of ``figures/README.md``'s table, with its caption and downloads."""
    lines = [
        "# Gallery of the lecture figures",
        "",
        "Every figure is drawn by the package from real modules and weights (`make figures`), as SVG, PDF",
        "and PNG. Slide variants (16:9, text at least 18 pt) are written by `python -m blocks figures --slides`",
        "and used in the lecture deck (`make slides`).",
        "",
    ]
    rows = [match for line in figures_readme.splitlines() if (match := _FIGURE_ROW.match(line))]
    if not rows:
        raise ValueError("figures_readme must list the figures in its table, found none")
    for row in rows:
        name = row["name"]
        downloads = " · ".join(f"{{download}}`{fmt.upper()} <figures/{name}.{fmt}>`" for fmt in ("svg", "pdf", "png"))
        lines += [
            f"## {name}",
            "",
            f"```{{figure}} figures/{name}.png",
            f":alt: {name}",
            ":width: 100%",
            "",
            row["caption"],
            "```",
            "",
            f"Download: {downloads}. Drawn by {row['drawn_by']}.",
            "",
        ]
    return "\n".join(lines)


def benchmarks_page(results_csv: Path) -> str:
    """The committed benchmark run: where it ran, every measurement, the figure, and the method."""
    rows, shared = read_csv(results_csv)
    return "\n".join(
        [
            "# Benchmark results",
            "",
            f"The committed run of `python -m blocks bench` (`benchmarks/results.csv`): {shared['machine']},"
            f" {shared['device']}, torch {shared['torch']}, {shared['dtype']}, {shared['threads']} threads,"
            f" batch {shared['batch']}, blocks on {shared['size']}x{shared['size']} inputs, {shared['warmup']}"
            " warm-up rounds. Ratios are medians (min–max) of per-round ratios.",
            "",
            "```{figure} figures/speed_vs_cardinality.png",
            ":alt: speed_vs_cardinality",
            ":width: 100%",
            "",
            "Time of forms (a), a-fused and (b) over form (c)'s, per cardinality at equal FLOPs.",
            "```",
            "",
            "## Every measurement",
            "",
            format_measurements(rows),
            "",
            "```{include} benchmarks/README.md",
            ":start-line: 2",
            ":heading-offset: 1",
            "```",
            "",
        ]
    )


BADGE = re.compile(r"\[!\[([^\]]*)\]\((https?://[^)]*)\)\]\(([^)]*)\)")  # [![text](image URL)](link)


def unbadged(text: str) -> str:
    """``text`` with every badge image (Colab's, Binder's: fetched from their sites) turned into a plain link."""
    return BADGE.sub(lambda m: f"[{m[1]}]({m[3]})", text)


# A README that the site leaves out (conf.py's exclude_patterns) -> the site page that shows it. Links to
# them are written to work on GitHub, [text](../benchmarks/README.md#anchor); the site's go to the page.
SITE_PAGE_OF = {"README.md": "index.md", "benchmarks/README.md": "benchmarks.md", "figures/README.md": "gallery.md"}
_README_LINK = re.compile(
    rf"\]\((?P<up>(?:\.\./)*)(?P<readme>{'|'.join(map(re.escape, SITE_PAGE_OF))})(?P<anchor>#[^)]*)?\)"
)


def site_links(text: str) -> str:
    """``text`` with every link to a README the site leaves out pointed at the site page that shows it."""
    return _README_LINK.sub(lambda m: f"]({m['up']}{SITE_PAGE_OF[m['readme']]}{m['anchor'] or ''})", text)


def stage(source: Path) -> None:
    """Copy what the site is built from into ``source`` and write the generated pages."""
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    for page in PAGES:
        shutil.copy2(REPOSITORY / "docs" / page, source / page)
    shutil.copy2(REPOSITORY / "README.md", source / "README.md")
    (source / "docs").mkdir()
    for page in TOPICS:
        (source / "docs" / page).write_text(site_links((REPOSITORY / "docs" / page).read_text()))
    for folder in ("notebooks", "figures", "benchmarks"):
        shutil.copytree(REPOSITORY / folder, source / folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.rmtree(source / "figures" / "slides", ignore_errors=True)  # slide variants: not the site's
    for page in [source / "README.md", *source.glob("notebooks/**/*.ipynb")]:
        page.write_text(unbadged(page.read_text()))
    (source / "README.md").write_text(site_links((source / "README.md").read_text()))
    (source / "gallery.md").write_text(gallery_page((REPOSITORY / "figures" / "README.md").read_text()))
    (source / "benchmarks.md").write_text(benchmarks_page(REPOSITORY / "benchmarks" / "results.csv"))
    (source / "family.md").write_text(family_page(REPOSITORY / "docs" / "family.csv"))
    unpack("mathjax", "es5", MATHJAX_PARTS, source / "_static" / "mathjax")


def main(argv: list[str] | None = None) -> int:
    from sphinx.cmd.build import build_main  # the docs extra: only when building

    parser = argparse.ArgumentParser(prog="python docs/build_site.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=BUILD / "site", help="where the HTML goes (default _build/site)")
    args = parser.parse_args(argv)
    source = BUILD / "site-src"
    stage(source)
    shutil.rmtree(args.out, ignore_errors=True)
    status = build_main(["-b", "html", "-d", str(BUILD / "doctrees"), "--keep-going", str(source), str(args.out)])
    if status == 0:
        print(f"site: {args.out / 'index.html'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
