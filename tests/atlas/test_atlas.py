import html
import json
import re

import pytest

from archlab.atlas import RESULT_KEYS, build_atlas, run_atlas
from archlab.lab.seeds import run_claim_seeds
from archlab.lab.testing import isolated_registry

DEMO_IDS = ["demo.fails", "demo.noise-mean", "demo.raises", "extra.constant"]


def test_run_atlas_writes_page_results_and_one_png_per_figure(demo_registry, tmp_path):
    seen = []
    results = run_atlas("quick", out=tmp_path, seeds=[1],
                        on_start=lambda i, n, c: seen.append(("start", i, n, c.id)),
                        on_result=lambda i, n, r: seen.append(("done", i, n, r.id))).results

    assert [r.id for r in results] == DEMO_IDS  # families in FAMILIES order, ids sorted within
    assert seen[:2] == [("start", 1, 4, "demo.fails"), ("done", 1, 4, "demo.fails")]
    assert len(seen) == 8
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["demo.noise-mean.png", "extra.constant.png"]

    data = json.loads((tmp_path / "results.json").read_text())
    assert {"claims", "scale", "seeds", "generated", "versions"} <= set(data)
    assert data["scale"] == "quick" and data["seeds"] == [1]
    assert data["summary"]["holds"] == 2 and data["summary"]["total"] == 4
    assert data["summary"]["seconds"] == pytest.approx(sum(e["seconds"] for e in data["claims"]), abs=1e-3)
    for entry in data["claims"]:
        assert set(RESULT_KEYS) <= set(entry)
        assert entry["scale"] == "quick" and entry["seeds"] == [1] and entry["seeds_required"] == 1
        [run] = entry["runs"]  # one seed: its record as ``archlab run ID --seed 1`` writes it
        assert run == json.loads((tmp_path / f"{entry['id']}.json").read_text())
        assert run["seed"] == 1 and run["holds"] == entry["holds"]
    by_id = {e["id"]: e for e in data["claims"]}
    assert by_id["demo.noise-mean"]["holds"] is True and by_id["demo.fails"]["holds"] is False
    assert by_id["demo.raises"]["error"] == "seed 1: RuntimeError: boom"
    assert by_id["demo.raises"]["runs"][0]["error"] == "RuntimeError: boom"


def test_family_pages_show_every_claim_card_and_need_nothing_online(demo_registry, atlas_folder_ok, tmp_path):
    results = run_atlas(out=tmp_path).results
    index = (tmp_path / "index.html").read_text()
    demo = (tmp_path / "demo.html").read_text()
    extra = (tmp_path / "extra.html").read_text()

    assert "<strong>2 / 4</strong> claims hold at quick scale,\nseed 0;" in index
    for r in results:
        page = demo if r.family == "demo" else extra
        assert html.escape(r.rule) in page
        assert r.command in page
        assert f'id="{r.id.replace(".", "-")}"' in page
        assert f'href="{r.family}.html#{r.id.replace(".", "-")}"' in index  # the index links to the card
    # statements are escaped, not interpreted
    assert "within 0.2 of &lt;zero&gt; &amp; stays there." in demo and "<zero>" not in demo + index
    assert demo.count("badge holds") == 1 and demo.count("badge fails") == 2 and extra.count("badge holds") == 1
    assert demo.count('badge fails">does not hold<') == 1 and demo.count('badge fails">error<') == 1
    assert '<img src="demo.noise-mean.png"' in demo and '<img src="extra.constant.png"' in extra
    assert "RuntimeError: boom" in demo
    # tiles: the family, its claims holding out of total
    assert '<a class="tile" href="demo.html"><h3>demo</h3>' in index and "<strong>1 / 3</strong> claims hold" in index
    assert index.index('href="demo.html"><h3>') < index.index('href="extra.html"><h3>')
    pages = atlas_folder_ok(tmp_path)
    assert set(pages) == {"index.html", "demo.html", "extra.html"}


def test_only_one_family_and_unknown_family(demo_registry, tmp_path):
    results = run_atlas(families=["extra"], out=tmp_path).results
    assert [r.id for r in results] == ["extra.constant"]
    assert "demo.noise-mean" not in (tmp_path / "index.html").read_text()
    assert not (tmp_path / "demo.html").exists()
    with pytest.raises(ValueError, match="family='nosuch'"):
        run_atlas(families=["nosuch"], out=tmp_path / "other")
    with pytest.raises(ValueError, match="unknown claim id 'demo.nosuch'"):
        run_atlas(claim_ids=["demo.nosuch"], out=tmp_path / "other")
    assert not (tmp_path / "other").exists()  # nothing ran


def test_build_atlas_copies_figures_run_elsewhere(demo_registry, atlas_folder_ok, tmp_path):
    results = [run_claim_seeds("extra.constant", seeds=[0, 1], out=tmp_path / "runs")]
    page = build_atlas(results, tmp_path / "site", figures_dir=tmp_path / "runs")
    atlas_folder_ok(tmp_path / "site")
    assert page == tmp_path / "site" / "index.html"
    assert (tmp_path / "site" / "extra.constant.seed0.png").is_file()
    assert (tmp_path / "site" / "extra.constant.seed1.png").is_file()
    assert json.loads((tmp_path / "site" / "results.json").read_text())["claims"][0]["id"] == "extra.constant"


def test_format_value():
    from archlab.atlas.html import format_value

    assert format_value(True) == "yes" and format_value(0.123456) == "0.1235" and format_value(4) == "4"
    assert format_value("NaN") == "NaN"


def _index_rows(page: str) -> dict[str, tuple[str, str]]:
    """The index's claims table: claim id -> (verdict, seeds)."""
    rows = re.findall(r'<tr><td><a href="[^"]+">([^<]+)</a></td><td>[^<]*</td><td><span class="badge \w+">([^<]+)'
                      r'</span>.*?<td>([^<]*)</td></tr>', page)
    return {claim_id: (verdict, seeds) for claim_id, verdict, seeds in rows}


def _card_seeds(page: str) -> dict[str, str]:
    """Each card on a family page: claim id -> its seeds text."""
    return dict(re.findall(r'<h3>([a-z0-9.-]+) <span class="badge[^<]+</span> <span class="meta">([^<]+)</span>', page))


def test_several_seeds_card_shows_each_seed_and_index_the_seed_count(demo_registry, atlas_folder_ok, tmp_path):
    results = run_atlas(out=tmp_path, seeds=[0, 1, 2]).results
    index = (tmp_path / "index.html").read_text()
    page = (tmp_path / "demo.html").read_text()

    assert "claims hold at quick scale,\n3 seeds (0, 1, 2);" in index
    assert _index_rows(index) == {
        "demo.fails": ("does not hold", "0, 1, 2"),
        "demo.noise-mean": ("holds", "0, 1, 2"),
        "demo.raises": ("error", "0, 1, 2"),
        "extra.constant": ("holds", "0, 1, 2"),
    }
    assert _card_seeds(page) == {
        "demo.fails": "rule held at 0 / 3 seeds (needs 3)",
        "demo.noise-mean": "rule held at 3 / 3 seeds (needs 3)",
        "demo.raises": "rule held at 0 / 3 seeds (needs 3)",
    }
    card = page[page.index('<article class="claim" id="demo-noise-mean">'):]
    card = card[:card.index("</article>")]
    assert '<th class="seed">seed 0</th><th class="seed">seed 1</th><th class="seed">seed 2</th>' in card
    by_id = {r.id: r for r in results}
    for run in by_id["demo.noise-mean"].runs:  # each seed's own key metric is on its card
        assert f'<td class="value">{run.metrics["abs_mean"]:.4g}</td>' in card
        assert f'<img src="demo.noise-mean.seed{run.seed}.png"' in card
    assert '<tr class="verdicts"><td>verdict</td>' + '<td class="value">holds</td>' * 3 in card
    assert "Reproduce: <code>archlab run demo.noise-mean --scale quick --seeds 0,1,2</code>" in card
    assert "seed 0: RuntimeError: boom; seed 1: RuntimeError: boom; seed 2: RuntimeError: boom" in page

    data = json.loads((tmp_path / "results.json").read_text())
    assert data["seeds"] == [0, 1, 2] and data["summary"]["holds"] == 2 and data["summary"]["total"] == 4
    entry = next(e for e in data["claims"] if e["id"] == "demo.noise-mean")
    assert [run["seed"] for run in entry["runs"]] == [0, 1, 2]
    assert [run["metrics"]["abs_mean"] for run in entry["runs"]] == [
        run.metrics["abs_mean"] for run in by_id["demo.noise-mean"].runs]
    assert len({run["metrics"]["abs_mean"] for run in entry["runs"]}) == 3  # three draws, not one thrice
    assert entry == json.loads((tmp_path / "demo.noise-mean.json").read_text())
    for seed in (0, 1, 2):  # each seed's record and figure beside the verdict, under its own name
        record = json.loads((tmp_path / f"demo.noise-mean.seed{seed}.json").read_text())
        assert record == entry["runs"][seed] and record["figure"] == f"demo.noise-mean.seed{seed}.png"
    atlas_folder_ok(tmp_path)


def test_index_says_when_a_verdict_rests_on_a_quorum(tmp_path):
    from archlab.lab.claim import Evidence
    from archlab.lab.registry import claim

    with isolated_registry(("demo",)):
        @claim("demo.even-seeds", statement="s", source="x", rule="seed is even, at >= 2 of 3 seeds",
               seed_quorum=(2, 3))
        def even(scale, seed):
            return Evidence(metrics={"seed_is_even": seed % 2 == 0}, holds=seed % 2 == 0)

        run_atlas(out=tmp_path, seeds=[0, 1, 2])
    page = (tmp_path / "demo.html").read_text()
    assert _index_rows((tmp_path / "index.html").read_text()) == {"demo.even-seeds": ("holds", "0, 1, 2")}
    assert _card_seeds(page) == {"demo.even-seeds": "rule held at 2 / 3 seeds (needs 2)"}
    assert "Across seeds: holds when the rule holds at &gt;= 2 of every 3 seeds, as the claim states." in page
    assert json.loads((tmp_path / "results.json").read_text())["claims"][0]["seed_quorum"] == [2, 3]


def test_run_atlas_rejects_a_bad_seed_list_before_running(demo_registry, tmp_path):
    for seeds, fragment in (([], "seeds=[]"), ([0, 0], "repeat"), (["1"], "must be ints")):
        with pytest.raises(ValueError, match=re.escape(fragment)):
            run_atlas(out=tmp_path / "never", seeds=seeds)
    assert not (tmp_path / "never").exists()
