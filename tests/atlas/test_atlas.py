import html
import json
import re

import pytest

from archlab.atlas import RESULT_KEYS, build_atlas, run_atlas
from archlab.lab.runner import run_claim
from archlab.lab.testing import DEMO_FAMILIES, isolated_registry, register_demo_claims

DEMO_IDS = ["demo.fails", "demo.noise-mean", "demo.raises", "extra.constant"]


@pytest.fixture
def demo_registry():
    with isolated_registry(DEMO_FAMILIES):
        register_demo_claims()
        yield


def test_run_atlas_writes_page_results_and_one_png_per_figure(demo_registry, tmp_path):
    seen = []
    results = run_atlas("quick", out=tmp_path, seed=1,
                        on_start=lambda i, n, c: seen.append(("start", i, n, c.id)),
                        on_result=lambda i, n, r: seen.append(("done", i, n, r.id)))

    assert [r.id for r in results] == DEMO_IDS  # families in FAMILIES order, ids sorted within
    assert seen[:2] == [("start", 1, 4, "demo.fails"), ("done", 1, 4, "demo.fails")]
    assert len(seen) == 8
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["demo.noise-mean.png", "extra.constant.png"]

    data = json.loads((tmp_path / "results.json").read_text())
    assert {"claims", "scale", "generated", "versions"} <= set(data)
    assert data["scale"] == "quick" and data["summary"] == {"holds": 2, "total": 4}
    for entry in data["claims"]:
        assert set(RESULT_KEYS) <= set(entry)
        assert entry["scale"] == "quick" and entry["seed"] == 1
    by_id = {e["id"]: e for e in data["claims"]}
    assert by_id["demo.noise-mean"]["holds"] is True and by_id["demo.fails"]["holds"] is False
    assert by_id["demo.raises"]["error"] == "RuntimeError: boom"


def test_index_html_shows_every_claim_and_needs_nothing_online(demo_registry, tmp_path):
    results = run_atlas(out=tmp_path)
    page = (tmp_path / "index.html").read_text()

    assert "<strong>2 / 4</strong> claims hold" in page
    for r in results:
        assert html.escape(r.rule) in page
        assert r.command in page
        assert f'id="{r.id.replace(".", "-")}"' in page
    # statements are escaped, not interpreted
    assert "within 0.2 of &lt;zero&gt; &amp; stays there." in page
    assert "<zero>" not in page
    assert page.count("badge holds") == 2 and page.count(">does not hold<") == 1 and page.count(">error<") == 1
    assert '<img src="demo.noise-mean.png"' in page and '<img src="extra.constant.png"' in page
    assert "RuntimeError: boom" in page
    assert '<section id="family-demo">' in page and '<section id="family-extra">' in page
    assert page.index("family-demo\"><h2>") < page.index("family-extra\"><h2>")
    # offline: no script, no remote resource of any kind
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "http://" not in page and "https://" not in page
    # every image the page references exists beside it
    for src in re.findall(r'<img src="([^"]+)"', page):
        assert (tmp_path / src).is_file()


def test_only_one_family_and_unknown_family(demo_registry, tmp_path):
    results = run_atlas(family="extra", out=tmp_path)
    assert [r.id for r in results] == ["extra.constant"]
    assert "demo.noise-mean" not in (tmp_path / "index.html").read_text()
    with pytest.raises(ValueError, match="family='nosuch'"):
        run_atlas(family="nosuch", out=tmp_path / "other")
    assert not (tmp_path / "other").exists()  # nothing ran


def test_build_atlas_copies_figures_run_elsewhere(demo_registry, tmp_path):
    results = [run_claim("extra.constant", out=tmp_path / "runs")]
    page = build_atlas(results, tmp_path / "site", figures_dir=tmp_path / "runs")
    assert page == tmp_path / "site" / "index.html"
    assert (tmp_path / "site" / "extra.constant.png").is_file()
    assert json.loads((tmp_path / "site" / "results.json").read_text())["claims"][0]["id"] == "extra.constant"


def test_format_value():
    from archlab.atlas.html import format_value

    assert format_value(True) == "yes" and format_value(0.123456) == "0.1235" and format_value(4) == "4"
    assert format_value("NaN") == "NaN"
