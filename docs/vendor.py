"""The JavaScript that the site and the deck need, fetched from the npm registry at build time, never a CDN.

The pages must work offline and make no request beyond the machine that serves them,
so MathJax (the notebooks' formulas) and reveal.js (the deck) are copied next to them.
``npm pack`` fetches one exact version's tarball into ``_build/npm`` (once; later builds
reuse it) and the parts a page loads are unpacked from it.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
from pathlib import Path

# Exact versions: the site and the deck are tested with these.
NPM_PACKAGES = {"mathjax": "3.2.2", "reveal.js": "5.2.1"}
CACHE = Path(__file__).resolve().parents[1] / "_build" / "npm"


def npm_tarball(name: str) -> Path:
    """The tarball of ``name`` at its pinned version, fetched by ``npm pack`` unless already cached.

    Raises:
        ValueError: ``name`` is not one of :data:`NPM_PACKAGES`.
        RuntimeError: npm is missing or could not fetch it (the message says which).
    """
    if name not in NPM_PACKAGES:
        raise ValueError(f"name must be among {list(NPM_PACKAGES)}, got {name!r}")
    tarball = CACHE / f"{name}-{NPM_PACKAGES[name]}.tgz"
    if not tarball.is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed to fetch MathJax and reveal.js (apt-get install npm)")
        CACHE.mkdir(parents=True, exist_ok=True)
        command = [npm, "pack", f"{name}@{NPM_PACKAGES[name]}", "--pack-destination", str(CACHE), "--silent"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0 or not tarball.is_file():
            raise RuntimeError(f"npm pack {name}@{NPM_PACKAGES[name]} failed: {done.stderr.strip()}")
    return tarball


def unpack(name: str, root: str, parts: list[str], destination: Path) -> Path:
    """Copy ``parts`` (files or folders under the package's folder ``root``) of ``name`` into ``destination``.

    ``unpack("mathjax", "es5", ["tex-chtml.js", "input"], dest)`` writes ``dest/tex-chtml.js``
    and ``dest/input/...``. Returns ``destination``, emptied first.
    """
    shutil.rmtree(destination, ignore_errors=True)
    destination.mkdir(parents=True)
    with tarfile.open(npm_tarball(name)) as archive:
        for member in archive.getmembers():
            inside = member.name.removeprefix(f"package/{root}/")
            wanted = any(inside == part or inside.startswith(part + "/") for part in parts)
            if not member.isfile() or inside == member.name or not wanted:
                continue
            source = archive.extractfile(member)
            assert source is not None  # a regular file, checked above
            target = destination / inside
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read())
    return destination
