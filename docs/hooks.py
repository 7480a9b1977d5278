"""mkdocs hook: pages that are files from outside docs/, with their links made right for the site.

README.md, SECURITY.md, CONTRIBUTING.md and the READMEs of charts/placement-webhook/ and certs/ are
written for GitHub, with links relative to where they live (``docs/install.md``, from the root).
The site shows each as a page of its own: a page in docs/ whose whole text is ``--8<-- "PATH"``
(PATH relative to mkdocs.yml) is replaced by PATH's text, with its relative links rebased onto
the site (``docs/install.md`` becomes ``install.md``, ``SECURITY.md`` the page that includes it).
A link to anything else is left as written, so that ``mkdocs build --strict`` reports it.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

INCLUDE = re.compile(r'\A\s*--8<--\s+"([^"]+)"\s*\Z')
LINK = re.compile(r"(\]\()([^)\s]+)(\))")  # an inline link's target: [text](target)
EXTERNAL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:|[#/]")  # a URL, an anchor or an absolute path


def _root(config: Any) -> Path:
    return Path(config["config_file_path"]).resolve().parent


def _included(config: Any) -> dict[str, str]:
    """{repository path of an included file: the docs page that shows it}."""
    docs = Path(config["docs_dir"]).resolve()
    pages = {}
    for page in sorted(docs.rglob("*.md")):
        match = INCLUDE.match(page.read_text(encoding="utf-8"))
        if match:
            pages[posixpath.normpath(match.group(1))] = page.relative_to(docs).as_posix()
    return pages


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any, **kwargs: Any) -> str | None:
    match = INCLUDE.match(markdown)
    if match is None:
        return None  # an ordinary page
    root, source = _root(config), posixpath.normpath(match.group(1))
    docs = Path(config["docs_dir"]).resolve().relative_to(root).as_posix()
    pages = _included(config)
    here = posixpath.dirname(page.file.src_uri) or "."

    def rebase(link: re.Match[str]) -> str:
        target = link.group(2)
        if EXTERNAL.match(target):
            return link.group(0)
        path, hash_, fragment = target.partition("#")
        in_repository = posixpath.normpath(posixpath.join(posixpath.dirname(source), path))
        if in_repository in pages:
            in_site = pages[in_repository]
        elif in_repository.startswith(docs + "/"):
            in_site = in_repository.removeprefix(docs + "/")
        else:
            return link.group(0)  # not part of the site: --strict reports it
        return f"{link.group(1)}{posixpath.relpath(in_site, here)}{hash_}{fragment}{link.group(3)}"

    return LINK.sub(rebase, (root / source).read_text(encoding="utf-8"))
