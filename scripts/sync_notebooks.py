"""Write every lab's Colab badge and install cell from the one repository URL in pyproject.toml.

``python scripts/sync_notebooks.py`` rewrites cells 1 and 2 where they differ; ``--check`` only lists the labs that
differ and exits 1 if any do (tests/test_install.py runs the same check).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LABS = REPO / "labs"
BRANCH = "main"
CLONE_DIR = "/content/workbook"
BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"


def repo_url(pyproject: Path = REPO / "pyproject.toml") -> str:
    """The repository URL: ``[project.urls] Repository`` in pyproject.toml, a GitHub address."""
    match = re.search(r'^\[project\.urls\][^\[]*?^Repository\s*=\s*"([^"]+)"', pyproject.read_text(), re.M | re.S)
    if not match:
        raise ValueError(f"{pyproject} has no Repository under [project.urls]; add Repository = \"https://github.com/OWNER/NAME\"")
    url = match.group(1).rstrip("/")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise ValueError(f"Repository URL {url!r} must be https://github.com/OWNER/NAME: Colab opens notebooks from GitHub")
    return url


def badge(url: str, notebook: str) -> str:
    """The markdown of the Open-in-Colab badge for ``labs/<notebook>``."""
    path = url.removeprefix("https://github.com/")
    return f"[![Open In Colab]({BADGE_IMAGE})](https://colab.research.google.com/github/{path}/blob/{BRANCH}/labs/{notebook})"


def install_cell(url: str) -> str:
    """Three lines: a no-op outside Colab; on Colab scripts/colab_setup.sh clones or updates and installs."""
    setup = f"{{CLONE}}/scripts/colab_setup.sh"
    return "\n".join([
        "# Install cell: on Colab it clones (or updates) the workbook and installs what the labs need "
        "(scripts/colab_setup.sh); elsewhere it does nothing.",
        f'import subprocess, sys; REPO_URL, CLONE = "{url}", "{CLONE_DIR}"',
        f'if "google.colab" in sys.modules: subprocess.run(["bash", "-c", f"test -f {setup} || '
        f'(rm -rf {{CLONE}} && git clone -q --depth 1 {{REPO_URL}} {{CLONE}}); '
        f'bash {setup} {{REPO_URL}} {{CLONE}} {{sys.executable}}"], check=True); sys.path.insert(0, CLONE)',
    ])


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def synced(book: dict, name: str, url: str) -> dict:
    """A copy of the notebook with the badge (cell 1) and the install cell (cell 2) as generated."""
    cells = book["cells"]
    title, install = "".join(cells[0]["source"]), "".join(cells[1]["source"])
    if cells[0]["cell_type"] != "markdown" or not BADGE.search(title):
        raise ValueError(f"{name}: cell 1 must be the markdown title cell with an Open In Colab badge")
    if cells[1]["cell_type"] != "code" or "install" not in install.lower():
        raise ValueError(f"{name}: cell 2 must be the install cell (a code cell)")
    new = json.loads(json.dumps(book))
    new["cells"][0]["source"] = _lines(BADGE.sub(lambda _: badge(url, name), title))
    new["cells"][1]["source"] = _lines(install_cell(url))
    return new


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="list the labs that differ and exit 1; change nothing")
    args = ap.parse_args(argv)
    url, stale = repo_url(), []
    for path in sorted(LABS.glob("[0-9][0-9]_*.ipynb")):
        book = json.loads(path.read_text(encoding="utf-8"))
        new = synced(book, path.name, url)
        if new != book:
            stale.append(path.name)
            if not args.check:
                path.write_text(json.dumps(new, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    verb = "differ from" if args.check else "rewritten from"
    print(f"{len(stale)} lab(s) {verb} {url}: {', '.join(stale) or 'none'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
