"""The atlas's HTML pieces shared by its pages: the style sheet, the page shell, a claim's card, verdict texts.

Every page is static and self-contained (inline CSS, at most a few lines of inline script, no remote resource);
figures are referenced by their relative PNG path, so the folder works offline from ``file://`` and can be copied
anywhere whole. Every piece of text from a claim goes through ``html.escape``. A claim's card shows every seed's
metrics and verdict side by side, then the verdict over the seeds, and what changed since the earlier run.
"""

from __future__ import annotations

from html import escape
from typing import Any

from typing import TYPE_CHECKING

from archlab.atlas.markdown import claim_anchor
from archlab.lab.runner import ClaimResult
from archlab.lab.seeds import ClaimVerdict

if TYPE_CHECKING:
    from archlab.atlas.regressions import Change

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d232a; background: #f6f7f9; }
header, main { max-width: 1100px; margin: 0 auto; padding: 0 1.5rem; }
header { padding-top: 1.5rem; }
h1 { margin-bottom: 0.2rem; }
h2 { border-bottom: 2px solid #d0d5dc; padding-bottom: 0.3rem; margin-top: 2.5rem; }
.meta { color: #5b6470; font-size: 0.9rem; }
.summary { font-size: 1.15rem; margin: 0.8rem 0; }
nav a { margin-right: 1rem; }
.claim { background: #fff; border: 1px solid #d9dee5; border-radius: 8px; padding: 1rem 1.2rem; margin: 1.2rem 0; }
.claim h3 { margin: 0 0 0.4rem 0; font-family: ui-monospace, monospace; font-size: 1rem; }
.statement { font-size: 1.05rem; margin: 0.3rem 0; }
.source { color: #5b6470; font-style: italic; margin: 0.2rem 0 0.8rem 0; }
.evidence { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; align-items: start; }
.rule { background: #f1f3f6; border-radius: 6px; padding: 0.5rem 0.7rem; }
table.metrics { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
table.metrics td, table.metrics th { border-bottom: 1px solid #e6e9ee; padding: 0.2rem 0.4rem; }
table.metrics td.value, table.metrics th.seed { text-align: right; font-family: ui-monospace, monospace; }
table.metrics tr.verdicts td { font-weight: 600; }
table.index { border-collapse: collapse; font-size: 0.9rem; margin: 0.8rem 0; }
table.index td, table.index th { border-bottom: 1px solid #e6e9ee; padding: 0.2rem 0.6rem; text-align: left; }
tr.key td { font-weight: 600; }
.badge { display: inline-block; border-radius: 4px; padding: 0.1rem 0.5rem; font-weight: 600; color: #fff; }
.holds { background: #1f7a3a; }
.fails { background: #b3261e; }
.skipped { background: #7a6a1f; }
.change { background: #fff4d6; border-left: 4px solid #c98a00; padding: 0.4rem 0.7rem; margin: 0.6rem 0; }
.change.broken { background: #fde7e5; border-left-color: #b3261e; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(240px, 1fr)); gap: 0.8rem; margin: 1rem 0; }
.tile { display: block; background: #fff; border: 1px solid #d9dee5; border-radius: 8px; padding: 0.7rem 0.9rem;
        color: inherit; text-decoration: none; }
.tile:hover { border-color: #44546a; }
.tile h3 { margin: 0 0 0.3rem 0; }
.tile p { margin: 0.2rem 0; font-size: 0.9rem; }
table.claims { border-collapse: collapse; font-size: 0.85rem; width: 100%; background: #fff; }
table.claims th { cursor: pointer; text-align: left; background: #eef1f5; user-select: none; }
table.claims td, table.claims th { border-bottom: 1px solid #e6e9ee; padding: 0.25rem 0.45rem; vertical-align: top; }
table.claims td.num { text-align: right; font-family: ui-monospace, monospace; }
table.parts { border-collapse: collapse; font-size: 0.9rem; background: #fff; }
table.parts td, table.parts th { border-bottom: 1px solid #e6e9ee; padding: 0.2rem 0.6rem; text-align: left; }
table.parts td.num { text-align: right; font-family: ui-monospace, monospace; }
table.parts tr.depth2 td:first-child { padding-left: 1.8rem; color: #5b6470; }
input.filter { font-size: 1rem; padding: 0.3rem 0.5rem; width: 22rem; max-width: 100%; margin: 0.5rem 0; }
.note { color: #5b6470; font-style: italic; }
.error { color: #b3261e; font-family: ui-monospace, monospace; white-space: pre-wrap; }
img { max-width: 100%; margin-top: 0.8rem; border: 1px solid #e6e9ee; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 0.6rem; }
code { background: #f1f3f6; padding: 0.15rem 0.35rem; border-radius: 4px; }
.footer { color: #5b6470; font-size: 0.9rem; margin-top: 0.6rem; }
"""


def format_value(value: Any) -> str:
    """A metric as shown to people: 4 significant digits for floats, yes/no for booleans."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def verdict(result: "ClaimResult | ClaimVerdict") -> str:
    """One seed's verdict, or a claim's over its seeds: "holds", "does not hold", "error" or "skipped" (an
    optional package is missing)."""
    if result.error is not None:
        return "error"
    if result.skipped is not None:
        return "skipped"
    return "holds" if result.holds else "does not hold"


def badge(result: ClaimVerdict) -> str:
    css = {"holds": "holds", "skipped": "skipped"}.get(verdict(result), "fails")
    return f'<span class="badge {css}">{escape(verdict(result))}</span>'


def key_metric_text(result: ClaimVerdict) -> str:
    """The key metric at each seed: ``abs_mean = 0.01, 0.03`` (``-`` where a seed has none), or ``""``."""
    if result.key_metric is None:
        return ""
    values = ", ".join(format_value(run.metrics[result.key_metric]) if result.key_metric in run.metrics else "-"
                       for run in result.runs)
    return f"{result.key_metric} = {values}"


def seeds_text(result: ClaimVerdict) -> str:
    """How many seeds the verdict rests on: "rule held at 2 / 3 seeds (needs 2)"."""
    n = len(result.runs)
    return f"rule held at {result.seeds_holding} / {n} {'seed' if n == 1 else 'seeds'} (needs {result.seeds_required})"


def _quorum_text(result: ClaimVerdict) -> str:
    if result.seed_quorum is None:
        return "at every seed"
    k, n = result.seed_quorum
    return f"at &gt;= {k} of every {n} seeds, as the claim states"


def _metrics_table(result: ClaimVerdict) -> str:
    """Metrics down, seeds across; the last row is each seed's verdict."""
    names = list(dict.fromkeys(name for run in result.runs for name in run.metrics))
    if not names:
        return "<p>No metrics were measured.</p>"
    head = "".join(f'<th class="seed">seed {run.seed}</th>' for run in result.runs)
    rows = [f"<tr><th></th>{head}</tr>"]
    for name in names:
        css = ' class="key"' if name == result.key_metric else ""
        cells = "".join(
            f'<td class="value">{escape(format_value(run.metrics[name])) if name in run.metrics else "-"}</td>'
            for run in result.runs
        )
        rows.append(f"<tr{css}><td>{escape(name)}</td>{cells}</tr>")
    cells = "".join(f'<td class="value">{escape(verdict(run))}</td>' for run in result.runs)
    rows.append(f'<tr class="verdicts"><td>verdict</td>{cells}</tr>')
    return '<table class="metrics">' + "".join(rows) + "</table>"


def change_text(change: "Change") -> str:
    """What changed since the earlier run, as HTML: the verdicts, and the key metric's old and new values."""
    parts = []
    if change.verdict_changed:
        parts.append(f"verdict {escape(change.old_verdict)} &rarr; {escape(change.new_verdict)}")
    for move in change.moves:
        parts.append(f"{escape(change.metric or '')} at seed {move.seed}: {escape(format_value(move.old))} &rarr; "
                     f"{escape(format_value(move.new))}")
    return "; ".join(parts)


def claim_card(result: ClaimVerdict, change: "Change | None" = None) -> str:
    """A claim's card: statement, source, rule, each seed's metrics, figures, the changes since the earlier run
    (when ``change`` is given), time and the command that reproduces it."""
    parts = [
        f'<article class="claim" id="{claim_anchor(result.id)}">',
        f'<h3>{escape(result.id)} {badge(result)} '
        f'<span class="meta">{escape(seeds_text(result))}</span></h3>',
        f'<p class="statement">{escape(result.statement)}</p>',
        f'<p class="source">{escape(result.source)}</p>',
        '<div class="evidence">',
        f'<div class="rule"><strong>Rule</strong><br>{escape(result.rule)}<br>'
        f"Across seeds: holds when the rule holds {_quorum_text(result)}.</div>",
        f"<div><strong>Measured</strong>{_metrics_table(result)}</div>",
        "</div>",
    ]
    if change is not None:
        css = "change broken" if change.broken else "change"
        parts.append(f'<p class="{css}"><strong>Changed since the last run:</strong> {change_text(change)}</p>')
    if result.skipped is not None:
        parts.append(f'<p class="note">Skipped: {escape(result.skipped)}</p>')
    if result.error is not None:
        parts.append(f'<p class="error">{escape(result.error)}</p>')
    figures = [
        f'<img src="{escape(run.figure, quote=True)}" alt="{escape(f"{result.id}, seed {run.seed}", quote=True)}">'
        for run in result.runs if run.figure is not None
    ]
    if figures:
        parts.append('<div class="figures">' + "".join(figures) + "</div>")
    seeds = ", ".join(str(seed) for seed in result.seeds)
    parts.append(
        f'<p class="footer">{result.seconds:.1f} s at {escape(result.scale)} scale, '
        f'{"seed" if len(result.runs) == 1 else "seeds"} {seeds}. '
        f"Reproduce: <code>{escape(result.command)}</code></p>"
    )
    parts.append("</article>")
    return "\n".join(parts)


def sortable_table_script(table_class: str) -> str:
    """Inline script: a click on a column head of ``table.<table_class>`` sorts its rows by that column (a cell's
    ``data-sort`` as a number when it has one, else its text), a second click reverses."""
    return """
document.querySelectorAll("table.%s thead th").forEach(function (th, column) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var direction = th.dataset.direction === "up" ? -1 : 1;
    th.dataset.direction = direction === 1 ? "up" : "down";
    function key(row) {
      var cell = row.cells[column];
      return cell.dataset.sort !== undefined ? parseFloat(cell.dataset.sort) : cell.textContent.toLowerCase();
    }
    rows.sort(function (a, b) { var x = key(a), y = key(b); return (x < y ? -1 : x > y ? 1 : 0) * direction; });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
""" % table_class


def page(title: str, body: str, *, script: str = "") -> str:
    """A whole HTML document: ``title``, the shared style sheet, ``body``, and an optional inline script."""
    script_tag = f"\n<script>{script}</script>" if script else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{_CSS}</style>
</head>
<body>
{body}{script_tag}
</body>
</html>
"""
