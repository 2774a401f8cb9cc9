"""``archlab train lm --arch moe`` logs its balancing loss and expert load through the generic LM task."""

import math

import torch

from archlab.moe.lm import MoELM, MoELMConfig
from archlab.moe.recipes import moe_recipe
from archlab.train.config import OptimConfig, RunConfig, TrainConfig
from archlab.train.lm_task import TextDataConfig
from archlab.train.loop import fit


def test_the_lm_task_logs_cross_entropy_balancing_loss_and_max_over_mean_load():
    config = RunConfig(model=MoELMConfig(vocab_size=256, max_seq_len=16, d_model=32, n_layers=2, n_heads=4,
                                         n_experts=4, top_k=2, moe_every=1, balance_loss="switch"),
                       data=TextDataConfig(max_bytes=50_000, context=16), optim=OptimConfig(lr=1e-3, warmup_steps=1),
                       train=TrainConfig(steps=2, batch_size=4, grad_accum=2, eval_every=0, eval_batches=1,
                                         checkpoint_every=0, log_every=1, progress=False, device="cpu"))
    torch.manual_seed(0)
    task = moe_recipe().build_task(config)
    out = task.loss(task.train_batch(0), "model")
    load = [layer.router_stats.load.float() for layer in (b.feed_forward.last for b in task.model.blocks)]
    expected = sum(float(x.max() / x.mean()) for x in load) / len(load)
    assert math.isclose(float(out.logs["max_over_mean_load"]), expected, rel_tol=1e-6)
    assert out.logs["aux_loss"].item() > 0
    assert math.isclose((out.logs["ce"] + out.logs["aux_loss"]).item(), out.loss.item(), rel_tol=1e-6)
    for record in fit(task, config).history:
        assert record["max_over_mean_load"] >= 1.0
        assert math.isclose(record["ce"] + record["aux_loss"], record["loss"], rel_tol=1e-5)


def test_a_dense_model_has_no_router_logs():
    model = MoELM(MoELMConfig(vocab_size=256, max_seq_len=8, d_model=16, n_layers=1, n_heads=2, moe_every=0))
    out = model(torch.zeros(1, 8, dtype=torch.long), labels=torch.zeros(1, 8, dtype=torch.long))
    assert out.stats == {}
