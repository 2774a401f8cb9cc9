import json
import math

import pytest
import torch

from archlab.transformer.bench import CONFIGS, build_archlab, build_peer, make_batches
from archlab.bench.registry import run_benchmark

pytest.importorskip("transformers")


def test_flops_per_token_formula_pinned():
    cfg = CONFIGS["default"]
    assert (cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.context, cfg.batch_size) == (256, 4, 8, 256, 16)
    matrices = 4 * (4 * 256**2 + 2 * 256 * 1024) + 256 * 8192  # blocks + output projection
    assert matrices == 5_242_880
    assert cfg.flops_per_token == 6 * matrices + 6 * 4 * 256 * 256 == 33_030_144


def test_same_configuration_same_parameter_count():
    for size in ("tiny", "default"):
        cfg = CONFIGS[size]
        archlab, _ = build_archlab(cfg)
        peer, _ = build_peer(cfg)
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        assert count(archlab) == count(peer)


def test_batches_are_seeded_next_token_pairs():
    cfg = CONFIGS["tiny"]
    a, b = make_batches(cfg, seed=1), make_batches(cfg, seed=1)
    assert len(a) == cfg.n_batches
    for (x, y), (x2, y2) in zip(a, b):
        assert x.shape == y.shape == (cfg.batch_size, cfg.context)
        assert torch.equal(x, x2) and torch.equal(y, y2)
        assert torch.equal(x[:, 1:], y[:, :-1])


def test_tiny_run_end_to_end(tmp_path):
    result = run_benchmark("lm-train", size="tiny", repeats=2, out=tmp_path)

    data = json.loads((tmp_path / "lm-train.json").read_text())
    assert data["name"] == "lm-train" and data["target"] == 1.2 and data["unit"] == "tokens"
    assert len(data["archlab_times"]) == len(data["peer_times"]) == 2
    assert data["work"] == CONFIGS["tiny"].tokens_per_step
    assert data["speedup"] == pytest.approx(result.peer_median / result.archlab_median)
    extra = data["extra"]
    assert extra["archlab_parameters"] == extra["peer_parameters"]
    for side in ("archlab", "peer"):
        assert 0 < extra[f"{side}_mfu"] < 1.5
        assert extra[f"{side}_flops"] == pytest.approx(data[f"{side}_throughput"] * extra["flops_per_token"])
        # both start near the uniform loss: the same task, freshly initialised
        assert abs(extra[f"{side}_initial_loss"] - math.log(256)) < 0.5
