"""Fixtures of the atlas tests: the demo registry, and a checker of a written atlas folder (every page parses,
needs nothing online, and every link and image it references resolves)."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from archlab.lab.testing import DEMO_FAMILIES, isolated_registry, register_demo_claims

VOID = {"meta", "img", "br", "input", "link", "hr", "source", "wbr"}


@pytest.fixture
def demo_registry():
    with isolated_registry(DEMO_FAMILIES):
        register_demo_claims()
        yield


class _Page(HTMLParser):
    """Collects links, images and ids, and checks that every element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.links: list[str] = []
        self.images: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs["src"])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()


def parse_page(path: Path) -> _Page:
    parser = _Page()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    assert parser.stack == [], f"{path.name}: unclosed {parser.stack}"
    return parser


def check_atlas_folder(folder: Path) -> dict[str, _Page]:
    """Parse every page of ``folder``; assert it is offline and that its links (page and anchor) and images exist."""
    pages = {path.name: parse_page(path) for path in sorted(folder.glob("*.html"))}
    for name, page in pages.items():
        text = (folder / name).read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)\\s*=\\s*["']?(https?:)?//""", text), name
        assert "http://" not in text and "https://" not in text, name
        for src in page.images:
            assert (folder / src).is_file(), f"{name}: image {src} is missing"
        for href in page.links:
            target, _, anchor = href.partition("#")
            target_page = pages.get(target or name)
            assert target_page is not None, f"{name}: link {href} to a missing page"
            assert not anchor or anchor in target_page.ids, f"{name}: link {href} to a missing anchor"
    return pages


@pytest.fixture
def atlas_folder_ok():
    return check_atlas_folder
