"""A family's ``anatomy.md`` as HTML: the mechanism, and "what maps and what breaks", each claim id linked to its card.

The file beside a family's ``claims.py`` is CommonMark, rendered with markdown-it-py (the parser rich installs), raw
HTML in it escaped. A level-2 heading "What maps and what breaks" splits it: what comes before is the mechanism,
what follows is the list the page shows after the claims. An inline-code claim id (`` `moe.batch-dependence` ``)
becomes a link to that claim's card on its family's page when the claim is in the atlas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Iterable

import archlab

MAPS_HEADING = re.compile(r"^##\s+what maps and what breaks\s*$", re.IGNORECASE | re.MULTILINE)
_CODE = re.compile(r"<code>([a-z0-9]+\.[a-z0-9][a-z0-9-]*)</code>")


@dataclass
class AnatomyText:
    """The two parts of ``anatomy.md``, as HTML (``""`` where the file has no such part)."""

    mechanism: str
    maps_and_breaks: str


def anatomy_path(family: str) -> Path:
    return Path(archlab.__file__).parent / family / "anatomy.md"


def claim_href(claim_id: str) -> str:
    """Where a claim's card is: ``<family>.html#<anchor>``."""
    family = claim_id.split(".", 1)[0]
    return f"{family}.html#{claim_anchor(claim_id)}"


def claim_anchor(claim_id: str) -> str:
    return escape(claim_id.replace(".", "-"), quote=True)


def render_markdown(text: str, claim_ids: Iterable[str] = ()) -> str:
    """CommonMark to HTML (raw HTML escaped), linking every inline-code id in ``claim_ids`` to its card."""
    from markdown_it import MarkdownIt

    known = set(claim_ids)
    rendered = MarkdownIt("commonmark", {"html": False}).render(text)

    def link(match: re.Match) -> str:
        claim_id = match.group(1)
        if claim_id not in known:
            return match.group(0)
        return f'<a href="{claim_href(claim_id)}">{match.group(0)}</a>'

    return _CODE.sub(link, rendered)


def _drop_title(text: str) -> str:
    """The file without its level-1 title (the page has its own)."""
    return re.sub(r"\A\s*#\s[^\n]*\n", "", text)


def split_anatomy(text: str, claim_ids: Iterable[str] = ()) -> AnatomyText:
    """``anatomy.md``'s text without its title, split at "What maps and what breaks" and rendered."""
    text = _drop_title(text)
    ids = list(claim_ids)
    split = MAPS_HEADING.search(text)
    if split is None:
        return AnatomyText(render_markdown(text, ids), "")
    return AnatomyText(render_markdown(text[:split.start()], ids), render_markdown(text[split.end():], ids))


def family_anatomy_text(family: str, claim_ids: Iterable[str] = ()) -> AnatomyText | None:
    """The family's ``anatomy.md`` split and rendered, or None when the family has none."""
    path = anatomy_path(family)
    return split_anatomy(path.read_text(encoding="utf-8"), claim_ids) if path.is_file() else None
