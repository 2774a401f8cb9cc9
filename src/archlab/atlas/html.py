"""The atlas page: one static, self-contained HTML file (inline CSS, no script, no remote resource).

Figures are referenced by their relative PNG path, so the folder works offline in a plain browser and can
be copied anywhere whole. Every piece of text from a claim goes through ``html.escape``.
"""

from __future__ import annotations

from html import escape
from typing import Any, Iterable

from archlab.lab.runner import ClaimResult

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
table.metrics td { border-bottom: 1px solid #e6e9ee; padding: 0.2rem 0.4rem; }
table.metrics td.value { text-align: right; font-family: ui-monospace, monospace; }
tr.key td { font-weight: 600; }
.badge { display: inline-block; border-radius: 4px; padding: 0.1rem 0.5rem; font-weight: 600; color: #fff; }
.holds { background: #1f7a3a; }
.fails { background: #b3261e; }
.error { color: #b3261e; font-family: ui-monospace, monospace; white-space: pre-wrap; }
img { max-width: 100%; margin-top: 0.8rem; border: 1px solid #e6e9ee; }
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


def verdict(result: ClaimResult) -> str:
    if result.error is not None:
        return "error"
    return "holds" if result.holds else "does not hold"


def _anchor(text: str) -> str:
    return escape(text.replace(".", "-"), quote=True)


def _metrics_table(result: ClaimResult) -> str:
    rows = []
    for name, value in result.metrics.items():
        css = ' class="key"' if name == result.key_metric else ""
        rows.append(
            f'<tr{css}><td>{escape(name)}</td><td class="value">{escape(format_value(value))}</td></tr>'
        )
    if not rows:
        return "<p>No metrics were measured.</p>"
    return '<table class="metrics">' + "".join(rows) + "</table>"


def _claim_section(result: ClaimResult) -> str:
    badge_class = "holds" if result.holds else "fails"
    parts = [
        f'<article class="claim" id="{_anchor(result.id)}">',
        f'<h3>{escape(result.id)} <span class="badge {badge_class}">{escape(verdict(result))}</span></h3>',
        f'<p class="statement">{escape(result.statement)}</p>',
        f'<p class="source">{escape(result.source)}</p>',
        '<div class="evidence">',
        f'<div class="rule"><strong>Rule</strong><br>{escape(result.rule)}</div>',
        f"<div><strong>Measured</strong>{_metrics_table(result)}</div>",
        "</div>",
    ]
    if result.error is not None:
        parts.append(f'<p class="error">{escape(result.error)}</p>')
    if result.figure is not None:
        parts.append(f'<img src="{escape(result.figure, quote=True)}" alt="{escape(result.id, quote=True)}">')
    parts.append(
        f'<p class="footer">{result.seconds:.1f} s at {escape(result.scale)} scale, seed {result.seed}. '
        f"Reproduce: <code>{escape(result.command)}</code></p>"
    )
    parts.append("</article>")
    return "\n".join(parts)


def render_html(
    results: Iterable[ClaimResult],
    *,
    families: Iterable[str],
    scale: str,
    generated: str,
    versions: dict[str, str],
) -> str:
    """The whole page: a summary, then one section per family (in ``families`` order) with its claims."""
    results = list(results)
    by_family: dict[str, list[ClaimResult]] = {}
    for result in results:
        by_family.setdefault(result.family, []).append(result)
    order = [f for f in families if f in by_family] + sorted(set(by_family) - set(families))

    n_holds = sum(r.holds for r in results)
    version_text = ", ".join(f"{name} {version}" for name, version in versions.items())
    sections = []
    for family in order:
        claims = by_family[family]
        held = sum(r.holds for r in claims)
        sections.append(
            f'<section id="family-{_anchor(family)}"><h2>{escape(family)} '
            f'<span class="meta">{held} / {len(claims)} hold</span></h2>\n'
            + "\n".join(_claim_section(r) for r in claims)
            + "\n</section>"
        )
    nav = " ".join(f'<a href="#family-{_anchor(f)}">{escape(f)}</a>' for f in order)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>archlab atlas</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>archlab atlas</h1>
<p class="summary"><strong>{n_holds} / {len(results)}</strong> claims hold at {escape(scale)} scale.</p>
<p class="meta">Generated {escape(generated)} with {escape(version_text)}.</p>
<nav>{nav}</nav>
</header>
<main>
{chr(10).join(sections)}
</main>
</body>
</html>
"""
