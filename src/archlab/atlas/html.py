"""The atlas page: one static, self-contained HTML file (inline CSS, no script, no remote resource).

Figures are referenced by their relative PNG path, so the folder works offline in a plain browser and can
be copied anywhere whole. Every piece of text from a claim goes through ``html.escape``. The page opens with an
index (each claim's verdict and the number of seeds it rests on); each claim's card shows every seed's metrics
and verdict side by side, then the verdict over the seeds.
"""

from __future__ import annotations

from html import escape
from typing import Any, Iterable

from archlab.lab.runner import ClaimResult
from archlab.lab.seeds import ClaimVerdict

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
    """One seed's verdict, or a claim's over its seeds: "holds", "does not hold" or "error"."""
    if result.error is not None:
        return "error"
    return "holds" if result.holds else "does not hold"


def _anchor(text: str) -> str:
    return escape(text.replace(".", "-"), quote=True)


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


def _claim_section(result: ClaimVerdict) -> str:
    badge_class = "holds" if result.holds else "fails"
    parts = [
        f'<article class="claim" id="{_anchor(result.id)}">',
        f'<h3>{escape(result.id)} <span class="badge {badge_class}">{escape(verdict(result))}</span> '
        f'<span class="meta">{escape(seeds_text(result))}</span></h3>',
        f'<p class="statement">{escape(result.statement)}</p>',
        f'<p class="source">{escape(result.source)}</p>',
        '<div class="evidence">',
        f'<div class="rule"><strong>Rule</strong><br>{escape(result.rule)}<br>'
        f"Across seeds: holds when the rule holds {_quorum_text(result)}.</div>",
        f"<div><strong>Measured</strong>{_metrics_table(result)}</div>",
        "</div>",
    ]
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


def _index(results: list[ClaimVerdict]) -> str:
    """One row per claim: its verdict and the seeds it rests on, linked to its card."""
    rows = [
        f'<tr><td><a href="#{_anchor(r.id)}">{escape(r.id)}</a></td><td>{escape(verdict(r))}</td>'
        f"<td>{escape(seeds_text(r))}</td></tr>"
        for r in results
    ]
    return ('<table class="index"><tr><th>claim</th><th>verdict</th><th>seeds</th></tr>'
            + "".join(rows) + "</table>")


def render_html(
    results: Iterable[ClaimVerdict],
    *,
    families: Iterable[str],
    scale: str,
    seeds: list[int],
    generated: str,
    versions: dict[str, str],
) -> str:
    """The whole page: a summary and an index, then one section per family (in ``families`` order) with its
    claims' cards."""
    results = list(results)
    by_family: dict[str, list[ClaimVerdict]] = {}
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
    seeds_line = f"seed {seeds[0]}" if len(seeds) == 1 else f"{len(seeds)} seeds ({', '.join(map(str, seeds))})"
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
<p class="summary"><strong>{n_holds} / {len(results)}</strong> claims hold at {escape(scale)} scale,
{escape(seeds_line)}.</p>
<p class="meta">Generated {escape(generated)} with {escape(version_text)}.</p>
<nav>{nav}</nav>
{_index(results)}
</header>
<main>
{chr(10).join(sections)}
</main>
</body>
</html>
"""
