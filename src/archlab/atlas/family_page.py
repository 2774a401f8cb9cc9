"""A family's page, ``<family>.html``, in the order a reader meets it:

1. its anatomy, generated from the code (``archlab.atlas.anatomy``): a representative model at quick scale, its
   parts with output shape, parameter count and share of the forward FLOPs, and a figure of a batch flowing
   through it;
2. the mechanism, the family's own words (its ``anatomy.md`` up to "What maps and what breaks");
3. its claims, as cards;
4. what maps and what breaks (the rest of ``anatomy.md``), each point linked to the claim that measures it.

A family without the anatomy hook or without ``anatomy.md`` gets its page without that section and a note.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

from archlab.atlas.anatomy import HOOK_FUNCTION, HOOK_MODULE, Anatomy
from archlab.atlas.html import claim_card, page
from archlab.atlas.markdown import AnatomyText
from archlab.lab.seeds import ClaimVerdict

if TYPE_CHECKING:
    from archlab.atlas.regressions import Change


@dataclass
class GeneratedAnatomy:
    """What the anatomy hook gave: the measured ``anatomy`` and its flow figure's file name, or the ``error``
    the hook or the measurement raised."""

    anatomy: Anatomy | None = None
    figure: str | None = None
    error: str | None = None


def family_description(family: str) -> str:
    """The first paragraph of the family package's docstring, on one line (``""`` when there is none)."""
    if importlib.util.find_spec(f"archlab.{family}") is None:
        return ""
    doc = importlib.import_module(f"archlab.{family}").__doc__ or ""
    return " ".join(doc.strip().split("\n\n")[0].split())


def _count(n: int) -> str:
    return f"{n:,}"


def _anatomy_section(family: str, generated: GeneratedAnatomy | None) -> str:
    head = '<section id="anatomy"><h2>Anatomy</h2>'
    if generated is None:
        return (f'{head}<p class="note">No generated anatomy: the {escape(family)} family has no '
                f"<code>{escape(HOOK_MODULE)}.py</code> with <code>{escape(HOOK_FUNCTION)}()</code> yet.</p></section>")
    if generated.error is not None:
        return (f'{head}<p class="note">The representative model could not be measured:</p>'
                f'<p class="error">{escape(generated.error)}</p></section>')
    a = generated.anatomy
    rows = "".join(
        f'<tr class="depth{p.depth}"><td>{escape(p.name)}</td><td>{escape(p.kind)}</td>'
        f"<td>{escape(p.output) + (f' (x{p.calls} calls)' if p.calls > 1 else '')}</td>"
        f'<td class="num">{_count(p.params)}</td>'
        f'<td class="num">{"-" if p.share is None else f"{p.share:.1%}"}</td></tr>'
        for p in a.parts)
    figure = (f'<img src="{escape(generated.figure, quote=True)}" alt="{escape(family, quote=True)}: how a batch '
              'flows through the representative model">') if generated.figure else ""
    return (f"{head}<p>A representative <strong>{escape(a.model)}</strong> at quick scale, measured on one input "
            f"of shape <code>{escape(a.input)}</code>: {_count(a.params)} parameters, {_count(a.flops)} forward "
            f"FLOPs (matrix products and convolutions, torch's FLOP counter), output "
            f"<code>{escape(a.output)}</code>.</p>"
            '<table class="parts"><thead><tr><th>part</th><th>module</th><th>output</th><th>parameters</th>'
            f"<th>share of FLOPs</th></tr></thead><tbody>{rows}</tbody></table>{figure}</section>")


def _text_section(family: str, section_id: str, title: str, html: str | None) -> str:
    if not html:
        html = (f'<p class="note">The {escape(family)} family has not written this part of its '
                "<code>anatomy.md</code> yet.</p>")
    return f'<section id="{section_id}"><h2>{escape(title)}</h2>{html}</section>'


def render_family_page(
    family: str,
    results: list[ClaimVerdict],
    *,
    description: str,
    generated: GeneratedAnatomy | None,
    text: AnatomyText | None,
    changes: list["Change"],
    families: list[str],
) -> str:
    """``<family>.html``: anatomy, mechanism, claims, what maps and what breaks; ``families`` for the navigation."""
    change_by_id = {c.id: c for c in changes}
    held = sum(r.holds for r in results)
    nav = " ".join(f'<a href="{escape(f, quote=True)}.html">{escape(f)}</a>' for f in families if f != family)
    cards = "\n".join(claim_card(r, change_by_id.get(r.id)) for r in results)
    body = f"""<header>
<p class="meta"><a href="index.html">archlab atlas</a> &middot; {nav}</p>
<h1>{escape(family)}</h1>
<p class="summary">{escape(description)}</p>
<p class="meta"><strong>{held} / {len(results)}</strong> claims hold &middot;
<a href="#anatomy">anatomy</a> <a href="#mechanism">mechanism</a> <a href="#claims">claims</a>
<a href="#maps">what maps and what breaks</a></p>
</header>
<main>
{_anatomy_section(family, generated)}
{_text_section(family, "mechanism", "Mechanism", text.mechanism if text else None)}
<section id="claims"><h2>Claims</h2>
{cards}
</section>
{_text_section(family, "maps", "What maps and what breaks", text.maps_and_breaks if text else None)}
</main>"""
    return page(f"archlab atlas: {family}", body)
