"""``archlab bench --precision``: lm-train runs both sides under the same bf16 autocast; a benchmark without the
option refuses it."""

import pytest
import torch

from archlab.bench.registry import run_benchmark
from archlab.errors import UserError
from archlab.transformer.bench import CONFIGS, build_archlab, make_batches, make_optimizer, make_train_step


def _matmul_dtypes(precision):
    cfg = CONFIGS["tiny"]
    torch.manual_seed(0)
    model, loss_fn = build_archlab(cfg)
    seen = []
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module.register_forward_hook(lambda m, args, out: seen.append(out.dtype))
    step = make_train_step(model, loss_fn, make_optimizer(model, cfg), make_batches(cfg), 1, precision)
    step()
    return set(seen), {p.dtype for p in model.parameters()}


def test_bf16_train_step_runs_the_matmuls_in_bf16_and_keeps_fp32_weights():
    assert _matmul_dtypes("fp32") == ({torch.float32}, {torch.float32})
    assert _matmul_dtypes("bf16") == ({torch.bfloat16}, {torch.float32})


def test_lm_train_tiny_in_bf16():
    pytest.importorskip("transformers")
    result = run_benchmark("lm-train", size="tiny", repeats=1, out=None, precision="bf16")
    assert result.config["precision"] == "bf16" and len(result.archlab_times) == 1
    with pytest.raises(UserError, match="precision='fp16'"):
        run_benchmark("lm-train", size="tiny", repeats=1, out=None, precision="fp16")


def test_a_benchmark_without_the_option_refuses_it():
    with pytest.raises(UserError, match="'rnn-lstm' has no precision option"):
        run_benchmark("rnn-lstm", size="tiny", repeats=1, out=None, precision="bf16")
