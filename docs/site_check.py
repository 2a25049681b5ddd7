"""``make site-check``: open the built site and deck in a real headless browser and check what a student sees.

Serves ``_build`` from a local static server on 127.0.0.1 and drives Debian's Chromium
(``/usr/bin/chromium``) with Playwright; Playwright's own browser download is never used.
Every request that would leave 127.0.0.1 is blocked and reported. Checked:

* every page of the site loads, and every ``<img>`` on it has loaded (``naturalWidth > 0``);
* no console error, no page error, no failed request, no response of 400 or more;
* no executed notebook cell shows an error or a traceback;
* every internal link resolves: its file exists, and so does the element its ``#fragment`` names;
* the search page finds "cardinality";
* every slide of the deck fits its 1920 x 1080 px without overflow, with no text under 36 px (18 pt);
* screenshots of the home page, one notebook page and one slide go to ``_build/screenshots``.

Usage: ``python docs/site_check.py [--build _build]``; exit status 1 if anything is wrong.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

from playwright.sync_api import Page, Route, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

REPOSITORY = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOST = "127.0.0.1"
SLIDE_SIZE = {"width": 1920, "height": 1080}
MIN_SLIDE_TEXT_PX = 36  # 18 pt on a 1920 x 1080 slide, where 1 pt = 2 px
LOAD_TIMEOUT_MS = 30_000
# What myst-nb renders for a cell that raised, and what Python prints for any traceback.
ERROR_OUTPUTS = ".output.traceback, .output.error, .cell_output .traceback"
TRACEBACK_TEXT = "Traceback (most recent call last)"
CELL_OUTPUTS = ".cell_output"  # what an executed notebook cell printed or showed


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the checker reports what matters."""


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 at a free port for the duration; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer((HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{HOST}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class Checker:
    """Collects problems while pages are visited; every page shares one browser context."""

    def __init__(self, build: Path, base: str) -> None:
        self.build, self.base = build, base
        self.problems: list[str] = []
        self.counts = {"pages": 0, "images": 0, "links": 0, "slides": 0}
        self._ids: dict[Path, set[str]] = {}

    def watch(self, page: Page) -> None:
        """Report the page's console errors, script errors, failed requests and error responses."""
        page.on(
            "console", lambda m: m.type == "error" and self.problems.append(f"console error on {page.url}: {m.text}")
        )
        page.on("pageerror", lambda e: self.problems.append(f"script error on {page.url}: {e}"))
        page.on("requestfailed", lambda r: self._request_failed(page, r.url, r.failure or ""))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status} for {r.url}"))

    def _add(self, problem: str) -> None:
        self.problems.append(problem)

    def _request_failed(self, page: Page, url: str, failure: str) -> None:
        if urlsplit(url).hostname == HOST:  # those leaving 127.0.0.1 are reported by block_outside
            self.problems.append(f"request failed on {page.url}: {url} ({failure})")

    def block_outside(self, route: Route) -> None:
        """Let requests to 127.0.0.1 through; block and report every other one."""
        url = route.request.url
        if urlsplit(url).hostname == HOST or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.problems.append(f"request leaving {HOST}: {url}")
            route.abort()

    def open(self, page: Page, url: str) -> None:
        page.goto(url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
        self.counts["pages"] += 1

    def check_images(self, page: Page) -> None:
        """Every <img> has loaded, the lazy ones too."""
        page.evaluate("() => document.querySelectorAll('img').forEach(img => { img.loading = 'eager'; })")
        page.wait_for_function("() => [...document.images].every(img => img.complete)", timeout=LOAD_TIMEOUT_MS)
        broken = page.evaluate("() => [...document.images].filter(i => !(i.naturalWidth > 0)).map(i => i.src)")
        self.counts["images"] += page.evaluate("() => document.images.length")
        self.problems += [f"image not loaded on {page.url}: {src}" for src in broken]

    def check_cells(self, page: Page) -> None:
        """No executed cell shows an error or a traceback."""
        if page.locator(ERROR_OUTPUTS).count():
            self.problems.append(f"a cell shows an error on {page.url}")
        outputs = page.locator(CELL_OUTPUTS).all_inner_texts()  # docstrings' doctest examples may show one
        if any(TRACEBACK_TEXT in text for text in outputs):
            self.problems.append(f"a traceback is shown on {page.url}")

    def _ids_of(self, path: Path) -> set[str]:
        if path not in self._ids:
            self._ids[path] = set(re.findall(r'\bid="([^"]+)"', path.read_text(errors="replace")))
        return self._ids[path]

    def check_links(self, page: Page) -> None:
        """Every link to a page of this site names an existing file, and an existing id if it has a fragment."""
        hrefs = page.evaluate("() => [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))")
        for href in hrefs:
            url = urljoin(page.url, href)
            if not url.startswith(self.base):
                continue  # another site: never requested here
            self.counts["links"] += 1
            parts = urlsplit(url)
            target = self.build / unquote(parts.path.removeprefix(urlsplit(self.base).path))
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                self.problems.append(f"broken link on {page.url}: {href}")
            elif parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in self._ids_of(target):
                self.problems.append(f"broken anchor on {page.url}: {href}")

    def check_search(self, page: Page, site: str) -> None:
        self.open(page, urljoin(site, "search.html?q=cardinality"))
        results = page.locator("#search-results li")
        try:
            results.first.wait_for(timeout=LOAD_TIMEOUT_MS)
        except PlaywrightTimeout:
            self.problems.append("search for 'cardinality' found nothing")
            return
        print(f"search: 'cardinality' found on {results.count()} pages")

    def check_slides(self, page: Page, deck: str, screenshot: Path) -> None:
        """Every slide fits 1920 x 1080 px with no text under 36 px; one figure slide is photographed."""
        self.open(page, deck)
        page.wait_for_function("() => window.Reveal && Reveal.isReady()", timeout=LOAD_TIMEOUT_MS)
        self.check_images(page)
        total = page.evaluate("() => Reveal.getTotalSlides()")
        for index in range(total):
            page.evaluate(f"() => Reveal.slide({index})")
            report = page.evaluate(
                """(minPx) => {
                const slide = Reveal.getCurrentSlide(), box = slide.getBoundingClientRect(), scale = Reveal.getScale();
                const out = [...slide.querySelectorAll('*')].filter(e => {
                    const r = e.getBoundingClientRect();
                    return r.left < box.left - 1 || r.right > box.left + 1920 * scale + 1
                        || r.top < box.top - 1 || r.bottom > box.top + 1080 * scale + 1;
                }).map(e => e.tagName + ' ' + (e.textContent || e.getAttribute('src') || '').slice(0, 40));
                const small = [...slide.querySelectorAll('*')].filter(e =>
                    [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())
                    && parseFloat(getComputedStyle(e).fontSize) < minPx
                ).map(e => e.textContent.trim().slice(0, 40) + ' (' + getComputedStyle(e).fontSize + ')');
                return {id: slide.id || String(Reveal.getIndices().h), scale, out, small,
                        scroll: slide.scrollHeight > 1080 + 1 || slide.scrollWidth > 1920 + 1};
            }""",
                MIN_SLIDE_TEXT_PX,
            )
            where = f"slide {index + 1} ({report['id']})"
            if report["out"] or report["scroll"]:
                self.problems.append(f"{where} overflows its 1920x1080: {report['out']}")
            if report["small"]:
                self.problems.append(f"{where} has text under {MIN_SLIDE_TEXT_PX} px: {report['small']}")
            self.counts["slides"] += 1
            if index == 1:
                page.screenshot(path=str(screenshot))


def site_pages(site: Path) -> list[Path]:
    """Every HTML page of the built site, the search page last (it is checked on its own)."""
    return sorted(site.rglob("*.html"), key=lambda p: (p.name == "search.html", str(p)))


def run(build: Path) -> int:
    site, deck, shots = build / "site", build / "slides" / "index.html", build / "screenshots"
    for needed, target in ((site / "index.html", "make site"), (deck, "make slides")):
        if not needed.is_file():
            print(f"{needed} is missing: run `{target}` first", file=sys.stderr)
            return 1
    shots.mkdir(parents=True, exist_ok=True)
    notebook_page = site / "notebooks" / "01_three_forms.html"
    with serve(build) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        checker = Checker(build, base)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.route("**/*", checker.block_outside)
        page = context.new_page()
        checker.watch(page)
        for path in site_pages(site):
            url = urljoin(base, str(path.relative_to(build)))
            checker.open(page, url)
            checker.check_images(page)
            checker.check_cells(page)
            checker.check_links(page)
            if path == site / "index.html":
                page.screenshot(path=str(shots / "home.png"))
            if path == notebook_page:
                page.screenshot(path=str(shots / "notebook.png"), full_page=False)
        checker.check_search(page, urljoin(base, "site/"))
        slides = browser.new_context(viewport=SLIDE_SIZE)
        slides.route("**/*", checker.block_outside)
        slide_page = slides.new_page()
        checker.watch(slide_page)
        checker.check_slides(slide_page, urljoin(base, "slides/index.html"), shots / "slide.png")
        browser.close()
    counts = ", ".join(f"{n} {what}" for what, n in checker.counts.items())
    if checker.problems:
        print("\n".join(checker.problems), file=sys.stderr)
        print(f"site-check: {len(checker.problems)} problems ({counts})", file=sys.stderr)
        return 1
    print(f"site-check: all good ({counts}); screenshots in {shots}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python docs/site_check.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", type=Path, default=REPOSITORY / "_build", help="the build folder (default _build)")
    return run(parser.parse_args(argv).build)


if __name__ == "__main__":
    sys.exit(main())
