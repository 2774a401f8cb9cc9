"""The arena's outputs: ``results.json`` (one record per architecture), ``index.html`` (a table sortable by any
column, plain inline script as the atlas's, no external assets) and two figures: bits per byte against
training time with the Pareto front marked, and decoding-state bytes against context."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from archlab.atlas.html import page, sortable_table_script

FIGURES = ("bpb_vs_time.png", "memory_vs_context.png")


def columns(records: list[dict[str, Any]]) -> list[str]:
    """The table's columns: every key of the records with a single value (not the per-seed list, not the
    sweep's rates), in first-seen order."""
    keys: list[str] = []
    for record in records:
        keys += [k for k in record if k not in keys and not isinstance(record[k], (list, dict))]
    return keys


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both coordinates (lower is better on each)."""
    return [i for i, (x, y) in enumerate(points)
            if not any((u <= x and v <= y) and (u < x or v < y) for j, (u, v) in enumerate(points) if j != i)]


def _cell(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"<td>{escape(str(value))}</td>"
    text = f"{value:,}" if isinstance(value, int) else f"{value:.4g}"
    return f'<td class="num" data-sort="{value}">{text}</td>'


def _figures(records: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    points = [(r["train_seconds"], r["val_bpb"]) for r in records]
    front = pareto_front(points)
    for i, (record, (x, y)) in enumerate(zip(records, points)):
        ax.scatter(x, y, color="tab:red" if i in front else "tab:gray", zorder=3)
        ax.annotate(record["arch"], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ordered = sorted(points[i] for i in front)
    ax.plot([p[0] for p in ordered], [p[1] for p in ordered], color="tab:red", lw=1, label="Pareto front")
    ax.set(xlabel="training time (s)", ylabel="validation bits per byte", title="quality against training time")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / FIGURES[0], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for record in records:
        contexts = sorted(int(k.split("@")[1]) for k in record if k.startswith("state_bytes@"))
        ax.plot(contexts, [record[f"state_bytes@{c}"] for c in contexts], marker="o", label=record["arch"])
    ax.set(xscale="log", yscale="log", xlabel="context (tokens)", ylabel="decoding state (bytes per sequence)",
           title="decoding memory against context")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / FIGURES[1], dpi=100)
    plt.close(fig)


def write_report(records: list[dict[str, Any]], settings: dict[str, Any], out: Path) -> Path:
    """Write ``results.json``, the figures and ``index.html`` into ``out``; the page's path."""
    out = Path(out)
    (out / "results.json").write_text(json.dumps({"settings": settings, "records": records}, indent=2) + "\n")
    _figures(records, out)
    keys = columns(records)
    head = "".join(f"<th>{escape(k)}</th>" for k in keys)
    rows = "".join("<tr>" + "".join(_cell(r.get(k, "")) for k in keys) + "</tr>\n" for r in records)
    budget = settings["budget"]
    grid = ", ".join(f"{lr:g}" for lr in budget["lr_grid"])
    lr_text = f"the best of {grid} in a {budget['sweep_steps']}-step sweep" if grid else "recorded, or the recipe's"
    body = (f"<h1>archlab arena: lm</h1>\n<p>{len(records)} architectures at {budget['target']:,} matched "
            f"non-embedding parameters (MoE: active), {budget['steps']} steps of {budget['batch_size']} x "
            f"{budget['context']} bytes, precision {escape(settings['precision'])}, {settings['seeds']} seed(s), "
            f"data {escape(str(settings['data'] or 'the standard-library corpus'))}; each at its own lr "
            f"({lr_text}). recall@k: MQAR query accuracy at k key-value pairs after {budget['recall_steps']} steps of "
            f"{budget['recall_batch_size']} sequences of 64 at lr {budget.get('recall_lr', 1e-3):g}. "
            "Click a column to sort.</p>\n"
            f'<table class="arena"><thead><tr>{head}</tr></thead><tbody>\n{rows}</tbody></table>\n'
            + "".join(f'<p><img src="{name}" alt="{name}"></p>\n' for name in FIGURES))
    path = out / "index.html"
    path.write_text(page("archlab arena", body, script=sortable_table_script("arena")))
    return path
