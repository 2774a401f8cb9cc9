"""The atlas's ``index.html``: one tile per family, what changed since the last run, and a table of every claim.

A tile gives the family's name (linked to its page), a one-line description (the first paragraph of the family
package's docstring), its claims holding out of total and their time. The table has one row per claim (id
linked to its card, statement, verdict, key metric against its rule, seconds, seeds); a click on a column head
sorts by it (numbers as numbers), the box above filters rows by any text in them. The script is inline, a few
lines of plain JavaScript, so the page works offline from ``file://``.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from archlab.atlas.html import (badge, change_text, format_value, key_metric_text, page, sortable_table_script,
                                verdict)
from archlab.atlas.markdown import claim_href
from archlab.lab.seeds import ClaimVerdict

if TYPE_CHECKING:
    from archlab.atlas.regressions import Change

SORT_AND_FILTER = sortable_table_script("claims") + """
document.getElementById("filter").addEventListener("input", function (event) {
  var query = event.target.value.toLowerCase();
  document.querySelectorAll("table.claims tbody tr").forEach(function (row) {
    row.hidden = row.textContent.toLowerCase().indexOf(query) < 0;
  });
});
"""


def _tile(family: str, description: str, claims: list[ClaimVerdict]) -> str:
    held = sum(r.holds for r in claims)
    seconds = sum(r.seconds for r in claims)
    return (f'<a class="tile" href="{escape(family, quote=True)}.html"><h3>{escape(family)}</h3>'
            f"<p>{escape(description)}</p>"
            f"<p><strong>{held} / {len(claims)}</strong> claims hold &middot; {seconds:.1f} s</p></a>")


def _row(result: ClaimVerdict, change: "Change | None") -> str:
    metric = key_metric_text(result)
    seeds = ", ".join(str(seed) for seed in result.seeds)
    mark = f'<br><span class="change">{change_text(change)}</span>' if change is not None else ""
    return (f'<tr><td><a href="{claim_href(result.id)}">{escape(result.id)}</a></td>'
            f"<td>{escape(result.statement)}</td>"
            f"<td>{badge(result)}{mark}</td>"
            f"<td>{escape(metric)}<br><span class=\"meta\">rule: {escape(result.rule)}</span></td>"
            f'<td class="num" data-sort="{result.seconds}">{result.seconds:.1f}</td>'
            f"<td>{escape(seeds)}</td></tr>")


def _changes(changes: list["Change"]) -> str:
    if not changes:
        return ""
    items = "".join(
        f'<li class="{"change broken" if c.broken else "change"}"><a href="{claim_href(c.id)}">{escape(c.id)}</a>: '
        f"{change_text(c)}</li>" for c in changes)
    return f"<h2>Changed since the last run</h2><ul>{items}</ul>"


def _arena_link(href: str | None) -> str:
    if href is None:
        return ""
    return (f'<p class="meta"><a href="{escape(href)}">The arena</a>: every language-model architecture trained '
            "at a matched size on the same bytes, ranked on quality, speed, memory and recall.</p>\n")


def render_index(
    results: list[ClaimVerdict],
    *,
    families: list[str],
    descriptions: dict[str, str],
    changes: list["Change"],
    scale: str,
    seeds: list[int],
    generated: str,
    versions: dict[str, str],
    arena: str | None = None,
) -> str:
    """The index page for ``results``: tiles for ``families`` (those with results, in that order), the changes,
    and the claims table; a link to the arena's page at the relative address ``arena`` when given."""
    by_family: dict[str, list[ClaimVerdict]] = {}
    for result in results:
        by_family.setdefault(result.family, []).append(result)
    tiles = "".join(_tile(f, descriptions.get(f, ""), by_family[f]) for f in families if f in by_family)
    change_by_id = {c.id: c for c in changes}
    rows = "".join(_row(r, change_by_id.get(r.id)) for r in results)
    n_holds = sum(r.holds for r in results)
    skipped = sum(verdict(r) == "skipped" for r in results)
    skipped_text = f", {skipped} skipped" if skipped else ""
    total = sum(r.seconds for r in results)
    version_text = ", ".join(f"{name} {version}" for name, version in versions.items())
    seeds_line = f"seed {seeds[0]}" if len(seeds) == 1 else f"{len(seeds)} seeds ({', '.join(map(str, seeds))})"
    body = f"""<header>
<h1>archlab atlas</h1>
<p class="summary"><strong>{n_holds} / {len(results)}</strong> claims hold{skipped_text} at {escape(scale)} scale,
{escape(seeds_line)}; {format_value(total / 60)} minutes of claim time.</p>
<p class="meta">Generated {escape(generated)} with {escape(version_text)}.</p>
{_arena_link(arena)}</header>
<main>
<div class="tiles">{tiles}</div>
{_changes(changes)}
<h2>Every claim</h2>
<input id="filter" class="filter" type="search" placeholder="filter: an id, a word, a verdict">
<table class="claims">
<thead><tr><th>claim</th><th>statement</th><th>verdict</th><th>key metric and rule</th><th>seconds</th><th>seeds</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</main>"""
    return page("archlab atlas", body, script=SORT_AND_FILTER)
