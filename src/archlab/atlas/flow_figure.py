"""How a batch flows through a representative model: its top-level parts as boxes in call order, left to right,
each arrow labelled with the shape that passes along it (the input's, then each part's output)."""

from __future__ import annotations

from typing import Any

from archlab.atlas.anatomy import OWN_OPERATIONS, Anatomy, Part


def _output(anatomy: Anatomy, part: Part) -> str:
    """A part's output shape; a container that is never called itself (a ModuleList) passes on its last member's."""
    if part.output:
        return part.output
    members = [p for p in anatomy.parts if p.depth == 2 and p.name.startswith(f"{part.name}.") and p.output]
    return members[-1].output if members else ""


def _label(anatomy: Anatomy, part: Part) -> str:
    members = [p for p in anatomy.parts if p.depth == 2 and p.name.startswith(f"{part.name}.")]
    count = f" x{len(members)}" if not part.output and members else ""
    share = f"\n{part.share:.0%} of FLOPs" if part.share is not None else ""
    return f"{part.name}\n{part.kind}{count}{share}"


def flow_figure(anatomy: Anatomy) -> Any:
    """A matplotlib figure (no pyplot state, so nothing to close) of the chain ``input -> part -> ... -> output``."""
    from matplotlib.figure import Figure

    chain = [p for p in anatomy.top_level if p.name != OWN_OPERATIONS]
    width = 2.6
    fig = Figure(figsize=(max(6.0, width * (len(chain) + 1)), 2.6))
    ax = fig.subplots()
    ax.set_xlim(-0.5, width * (len(chain) + 1))
    ax.set_ylim(-1.4, 1.2)
    ax.axis("off")
    box = {"boxstyle": "round,pad=0.4", "facecolor": "#e8eef7", "edgecolor": "#44546a"}
    ax.text(0.4, 0, f"input\n{anatomy.input}", ha="center", va="center", fontsize=8,
            bbox={**box, "facecolor": "#f1f3f6"})
    shape = anatomy.input
    for i, part in enumerate(chain, start=1):
        x = width * i + 0.4
        ax.annotate("", xy=(x - 0.95, 0), xytext=(x - width + 0.95, 0),
                    arrowprops={"arrowstyle": "->", "color": "#44546a"})
        ax.text(x - width / 2, -0.35, shape, ha="center", va="top", fontsize=7, color="#44546a", wrap=True)
        ax.text(x, 0, _label(anatomy, part), ha="center", va="center", fontsize=8, bbox=box)
        shape = _output(anatomy, part) or shape
    ax.text(width * (len(chain) + 1) - 0.6, -0.9, f"output: {anatomy.output}", ha="right", va="top", fontsize=8)
    ax.set_title(f"{anatomy.model}: one batch through the top-level parts", fontsize=9, loc="left")
    return fig
