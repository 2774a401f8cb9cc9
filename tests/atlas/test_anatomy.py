import pytest
import torch
from torch import nn

from archlab.atlas.anatomy import OWN_OPERATIONS, anatomize, representative_model
from archlab.atlas.family_page import GeneratedAnatomy, render_family_page
from archlab.atlas.flow_figure import flow_figure
from archlab.atlas.markdown import split_anatomy


class Demo(nn.Module):
    """embed (4 -> 8), two blocks (8 -> 8) in a ModuleList, a tied matmul in forward, head (8 -> 2)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(4, 8)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(8, 8), nn.ReLU()) for _ in range(2))
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        x = self.embed(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x @ self.blocks[0][0].weight)


def test_flop_shares_sum_to_one_and_each_part_counts_its_own_matmuls():
    model = Demo().train()
    anatomy = anatomize(model, (torch.randn(3, 4),))
    top = {p.name: p for p in anatomy.top_level}
    assert list(top) == ["embed", "blocks", "head", OWN_OPERATIONS]  # call order, the forward's own matmul last
    assert sum(p.share for p in anatomy.top_level) == pytest.approx(1.0)
    assert top["embed"].flops == 2 * 3 * 4 * 8 and top["head"].flops == 2 * 3 * 8 * 2
    assert top["blocks"].flops == 2 * (2 * 3 * 8 * 8) and top[OWN_OPERATIONS].flops == 2 * 3 * 8 * 8
    assert anatomy.flops == sum(p.flops for p in anatomy.top_level)
    members = [p for p in anatomy.parts if p.depth == 2]
    assert [(p.name, p.output, p.params) for p in members] == [("blocks.0", "(3, 8)", 72), ("blocks.1", "(3, 8)", 72)]
    assert top["blocks"].output == "" and top["blocks"].params == 144 and anatomy.params == 40 + 144 + 18
    assert (anatomy.input, anatomy.output) == ("(3, 4)", "(3, 2)")
    assert model.training  # the mode is restored
    assert flow_figure(anatomy).axes  # draws without pyplot


def test_a_real_family_hook_measures_its_model():
    model, inputs, method = representative_model("gnn")
    anatomy = anatomize(model, inputs, method)
    assert sum(p.share for p in anatomy.top_level) == pytest.approx(1.0)
    assert anatomy.output == f"({inputs[0].shape[0]}, {model.config.num_classes})"
    assert representative_model("nosuchfamily") is None


ANATOMY_MD = """# Demo

The mechanism, measured by `demo.kept`; `demo.unknown` is not a claim here. <b>raw</b>

## What maps and what breaks

- **An instinct that fails** (`demo.kept`).
"""


def test_family_page_renders_anatomy_md_and_links_claims(demo_registry, tmp_path):
    from archlab.atlas import run_atlas

    results = [r for r in run_atlas(out=tmp_path).results if r.family == "demo"]
    ids = [r.id for r in results] + ["demo.kept"]
    text = split_anatomy(ANATOMY_MD, ids)
    assert '<a href="demo.html#demo-kept"><code>demo.kept</code></a>' in text.mechanism
    assert "<code>demo.unknown</code>" in text.mechanism and 'href="demo.html#demo-unknown"' not in text.mechanism
    assert "&lt;b&gt;raw&lt;/b&gt;" in text.mechanism and "Demo" not in text.mechanism  # title dropped
    assert "An instinct that fails" in text.maps_and_breaks and "instinct" not in text.mechanism
    model = Demo()
    page = render_family_page("demo", results, description="d", text=text, changes=[], families=["demo"],
                              generated=GeneratedAnatomy(anatomy=anatomize(model, (torch.randn(3, 4),)),
                                                         figure="demo.anatomy.png"))
    order = [page.index(f'<section id="{s}">') for s in ("anatomy", "mechanism", "claims", "maps")]
    assert order == sorted(order)
    assert '<img src="demo.anatomy.png"' in page and "<td>blocks.0</td><td>Sequential</td><td>(3, 8)</td>" in page
    bare = render_family_page("demo", results, description="d", text=None, changes=[], families=["demo"],
                              generated=None)
    assert "has no <code>anatomy.py</code> with <code>representative_model()</code> yet" in bare
    assert bare.count("has not written this part of its <code>anatomy.md</code> yet") == 2
