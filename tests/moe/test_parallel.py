"""Expert parallelism on 2 CPU processes (gloo) equals the single-process layer: outputs and gradients."""

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from archlab.moe.layer import MoELayer

WORLD = 2
SETUPS = [
    dict(n_experts=4, top_k=2, router="topk", capacity_factor=None, n_shared_experts=1),
    dict(n_experts=8, top_k=1, router="switch", capacity_factor=None),
    dict(n_experts=4, top_k=2, router="topk", capacity_factor=None, skewed=True),  # rank 1 gets no rows
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _reference(setup: dict):
    """The whole layer, every rank's tokens (B=2 per rank, L=5), and a fixed output weighting, all seeded."""
    torch.manual_seed(0)
    kwargs = {k: v for k, v in setup.items() if k != "skewed"}
    layer = MoELayer(d_model=8, d_expert=12, balance_loss="none", **kwargs)
    if setup.get("skewed"):
        with torch.no_grad():
            layer.router.weight.zero_()
            layer.router.weight[0, 0] = layer.router.weight[1, 1] = 10.0  # every token to experts 0 and 1
    x = torch.randn(WORLD * 2, 5, 8)
    if setup.get("skewed"):
        x[..., :2] = x[..., :2].abs() + 1
    weight = torch.randn(WORLD * 2, 5, 8)
    return layer, x, weight


def _worker(rank: int, port: int, results) -> None:
    from archlab.moe.parallel import ExpertParallelMoELayer

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        for i, setup in enumerate(SETUPS):
            layer, x, weight = _reference(setup)
            sharded = ExpertParallelMoELayer.from_layer(layer)
            mine = slice(2 * rank, 2 * rank + 2)  # this rank's batch rows
            x_local = x[mine].clone().requires_grad_(True)
            out = sharded(x_local)
            (out.hidden * weight[mine]).sum().backward()
            router_grad = sharded.router.weight.grad.clone()
            dist.all_reduce(router_grad)  # data-parallel sum of the replicated router's gradient
            results[i, rank] = {
                "hidden": out.hidden.detach(),
                "x_grad": x_local.grad,
                "gate_up_grad": sharded.experts.gate_up_proj.grad,
                "down_grad": sharded.experts.down_proj.grad,
                "router_grad": router_grad,
                "first_expert": sharded.first_expert,
                "n_local": sharded.n_local,
            }
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def parallel_results():
    """Every setup run once on 2 spawned processes sharing one gloo group (one start-up for all)."""
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_worker, args=(_free_port(), results), nprocs=WORLD, join=True)
        return dict(results)


@pytest.mark.parametrize("index", range(len(SETUPS)), ids=["top2-shared", "switch-8", "skewed"])
def test_two_process_expert_parallel_equals_single_process(parallel_results, index):
    setup = SETUPS[index]
    layer, x, weight = _reference(setup)
    x = x.clone().requires_grad_(True)
    out = layer(x)
    (out.hidden * weight).sum().backward()
    for rank in range(WORLD):
        r = parallel_results[index, rank]
        mine = slice(2 * rank, 2 * rank + 2)
        shard = slice(r["first_expert"], r["first_expert"] + r["n_local"])
        assert r["n_local"] == setup["n_experts"] // WORLD
        assert torch.allclose(r["hidden"], out.hidden[mine].detach(), atol=1e-5)
        assert torch.allclose(r["x_grad"], x.grad[mine], atol=1e-5)
        assert torch.allclose(r["gate_up_grad"], layer.experts.gate_up_proj.grad[shard], atol=1e-5)
        assert torch.allclose(r["down_grad"], layer.experts.down_proj.grad[shard], atol=1e-5)
        assert torch.allclose(r["router_grad"], layer.router.weight.grad, atol=1e-5)
        if not setup.get("skewed"):
            assert r["gate_up_grad"].abs().sum() > 0  # the shard saw tokens from somewhere
    if setup.get("skewed"):  # rank 1's experts got no rows: zero gradients, and no deadlock in the backward
        assert torch.equal(parallel_results[index, 1]["gate_up_grad"], torch.zeros(2, 24, 8))


def test_needs_an_initialised_process_group():
    from archlab.moe.parallel import ExpertParallelMoELayer

    with pytest.raises(ValueError, match="process group"):
        ExpertParallelMoELayer(d_model=8, d_expert=8, n_experts=4)
