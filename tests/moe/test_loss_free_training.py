"""The loss-free router's bias update runs once per optimiser step, on loads summed over micro-batches and
data-parallel ranks: two gloo ranks end with equal biases, and equal to one process."""

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from archlab.moe.layer import MoELayer
from archlab.moe.routers import BiasBalancedRouter
from archlab.train.config import OptimConfig, RunConfig, TrainConfig
from archlab.train.distributed import DistContext
from archlab.train.loop import fit
from archlab.train.task import Task

WORLD = 2
STEPS = 6


class RoutedModel(nn.Module):
    """``x -> head(x + MoE(x))`` with the loss-free bias-balanced router (top-1 of 4 experts)."""

    def __init__(self) -> None:
        super().__init__()
        self.moe = MoELayer(d_model=8, d_expert=12, n_experts=4, top_k=1, router="bias_balanced",
                            capacity_factor=None, balance_loss="none", bias_gamma=0.05)
        self.head = nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x + self.moe(x).hidden).squeeze(-1)  # (B,)


class RoutedTask(Task):
    """Regress x0 * x1 of shifted Gaussian features through the MoE layer; batch of step s from (seed, s)."""

    def __init__(self, seed: int = 0) -> None:
        torch.manual_seed(seed)
        self.model, self.seed = RoutedModel(), seed

    def train_batch(self, step: int, substep: int = 0):
        g = torch.Generator().manual_seed(1000 * self.seed + step)
        x = torch.randn(16, 8, generator=g) + 1.5  # shifted: routing starts uneven
        return x, x[:, 0] * x[:, 1]

    def loss(self, batch, player: str) -> torch.Tensor:
        x, y = batch
        return (self.model(x) - y).pow(2).mean()


def _config(grad_accum: int = 1) -> RunConfig:
    return RunConfig(model=None, optim=OptimConfig(lr=1e-2, warmup_steps=0),
                     train=TrainConfig(steps=STEPS, batch_size=16, grad_accum=grad_accum, eval_every=0,
                                       checkpoint_every=0, log_every=1, progress=False, device="cpu"))


def _state(task: Task) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in task.model.state_dict().items()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, port: int, grad_accum: int, results) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        task = RoutedTask()
        fit(task, _config(grad_accum), context=DistContext(rank=rank, world_size=WORLD))
        results[rank] = _state(task)
    finally:
        dist.destroy_process_group()


def test_bias_moves_once_per_step_from_the_training_forwards_only():
    torch.manual_seed(0)
    router = BiasBalancedRouter(d_model=4, n_experts=4, top_k=1, gamma=0.1)
    with torch.no_grad():
        router.weight.zero_()
        router.weight[0, 0] = 5.0  # tokens with x0 > 0 all pick expert 0
    x = torch.ones(6, 4)
    router(x)
    router(x)
    assert torch.equal(router.bias, torch.zeros(4))  # forwards only count
    assert router.step_load.tolist() == [12.0, 0.0, 0.0, 0.0]
    assert "step_load" not in dict(router.named_buffers())  # DDP's buffer broadcast must not touch the counts
    router.eval()
    router(x)  # evaluation does not count
    router.train()
    router.after_optimizer_step()
    assert torch.allclose(router.bias, torch.tensor([-0.1, 0.1, 0.1, 0.1]))
    assert router.step_load is None
    router.after_optimizer_step()  # no forward since: no move
    assert torch.allclose(router.bias, torch.tensor([-0.1, 0.1, 0.1, 0.1]))
    assert "step_load" not in router.state_dict()  # checkpoints hold the bias, not the transient counts


def test_accumulation_sums_the_loads_of_the_micro_batches():
    one, four = RoutedTask(), RoutedTask()
    fit(one, _config(grad_accum=1))
    fit(four, _config(grad_accum=4))
    a, b = _state(one), _state(four)
    bias = "moe.router.bias"
    assert a[bias].abs().sum() > 0  # the update ran
    assert torch.equal(a[bias], b[bias])
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5


@pytest.mark.parametrize("grad_accum", [1, 2])  # 2: each rank accumulates two micro-batches (DDP's no_sync)
def test_two_ranks_end_with_equal_biases_and_the_weights_of_one_process(grad_accum):
    reference = RoutedTask()
    fit(reference, _config(grad_accum=WORLD * grad_accum))  # one process, the arithmetic of two ranks
    expected = _state(reference)
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_worker, args=(_free_port(), grad_accum, results), nprocs=WORLD, join=True)
        ranks = [results[r] for r in range(WORLD)]
    bias = "moe.router.bias"
    assert expected[bias].abs().sum() > 0
    assert torch.equal(ranks[0][bias], ranks[1][bias])
    for state in ranks:
        assert set(state) == set(expected)
        assert max(float((state[k] - expected[k]).abs().max()) for k in expected) < 1e-5
