"""Truncated BPTT: contiguous streams, the carried state (continued, detached, reset, saved), exact resume through
the one loop, and ``archlab train lm --arch lstm|gru``."""

import json
import pytest
import torch

from archlab.cli import main
from archlab.data.tokens import TokenDataset
from archlab.errors import UserError
from archlab.rnn.lm import RNNLM, RNNLMConfig
from archlab.rnn.tbptt import TBPTTTask, stream_chunk
from archlab.train.config import OptimConfig, RunConfig, TrainConfig
from archlab.train.distributed import DistContext
from archlab.train.loop import Trainer, fit

B, L = 3, 5


def test_stream_chunks_are_contiguous_and_reset_per_epoch():
    tokens = torch.arange(100)
    seg = 99 // B  # 33 tokens per stream, 6 chunks of 5
    first = [stream_chunk(tokens, batch_size=B, context=L, step=s, seed=0) for s in range(7)]
    for s in range(5):
        inputs, targets, rows, reset = first[s]
        assert torch.equal(targets, inputs + 1) and torch.equal(rows, torch.arange(B))
        assert bool(reset.all()) == (s == 0) and bool(reset.any()) == (s == 0)
        assert torch.equal(first[s + 1][0][:, 0], inputs[:, -1] + 1)  # the next chunk starts where this one ends
    starts = first[0][0][:, 0]
    assert torch.equal(starts - starts[0], torch.arange(B) * seg)
    assert bool(first[6][3].all())  # step 6 opens epoch 1
    again = stream_chunk(tokens, batch_size=B, context=L, step=4, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(again, first[4]))
    with pytest.raises(ValueError, match="too short"):
        stream_chunk(torch.arange(10), batch_size=4, context=5, step=0, seed=0)


def _data(n=400, seed=0):
    g = torch.Generator().manual_seed(seed)
    return TokenDataset(train=torch.randint(0, 16, (n,), generator=g), val=torch.randint(0, 16, (n // 2,), generator=g),
                        vocab_size=16)


def _task(cell="lstm", seed=0, eval_batches=3):
    torch.manual_seed(seed)
    model = RNNLM(RNNLMConfig(vocab_size=16, cell=cell, d_model=6, hidden_size=8, n_layers=2))
    return TBPTTTask(model, _data(), batch_size=B, context=L, seed=seed, eval_batches=eval_batches)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_data_parallel_training_is_refused_before_the_first_step(cell, tmp_path):
    """The carried hidden state is one per stream of the global batch; DDP would need each rank to keep its own
    rows and checkpoint them, so ``torchrun --arch lstm|gru`` stops before any work instead."""
    task = _task(cell)
    config = RunConfig(model=task.model.config, train=TrainConfig(steps=2, batch_size=B, device="cpu"))
    with pytest.raises(UserError, match="TBPTTTask carries state from step to step.*without torchrun"):
        Trainer(task, config, tmp_path, DistContext(rank=0, world_size=2))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_state_is_carried_and_detached(cell):
    task = _task(cell)
    b0, b1 = task.train_batch(0), task.train_batch(1)
    task.loss(b0, "model")
    assert task.state.h.grad_fn is None and not task.state.h.requires_grad
    assert (task.state.c is None) == (cell == "gru")
    loss1 = task.loss(b1, "model")
    # the same as the model over both chunks at once, read on the second
    joined = torch.cat((b0[0], b1[0]), dim=1)
    with torch.no_grad():
        whole = task.model(joined).logits[:, L:]
    ref = torch.nn.functional.cross_entropy(whole.flatten(0, 1), b1[1].flatten())
    assert float(loss1.detach()) == pytest.approx(float(ref), rel=1e-5)
    # and the gradient stops at the chunk boundary: it equals one from an explicitly detached start
    grads = torch.autograd.grad(loss1, list(task.model.parameters()))
    fresh = _task(cell)
    fresh.model.load_state_dict(task.model.state_dict())
    start = fresh.model.init_state(B)
    with torch.no_grad():
        fresh.model(b0[0], state=start)
    start.detach_()
    loss_ref = fresh.model(b1[0], labels=b1[1], state=start).loss
    for g, r in zip(grads, torch.autograd.grad(loss_ref, list(fresh.model.parameters()))):
        torch.testing.assert_close(g, r, rtol=0, atol=1e-6)


def test_micro_batches_update_their_own_rows_and_reset_zeroes():
    task = _task()
    inputs, targets, rows, reset = task.train_batch(1)
    task.state.h = torch.ones_like(task.state.h)
    task.loss((inputs[:1], targets[:1], rows[:1], reset[:1]), "model")
    assert not torch.equal(task.state.h[:, 0], torch.ones_like(task.state.h[:, 0]))
    assert torch.equal(task.state.h[:, 1:], torch.ones_like(task.state.h[:, 1:]))
    # on an epoch's first chunk the carried state is ignored: the loss equals a start from zeros
    first = task.train_batch(0)
    loss_carried = task.loss(first, "model")
    with torch.no_grad():
        ref = task.model(first[0], labels=first[1]).loss
    assert float(loss_carried.detach()) == pytest.approx(float(ref), rel=1e-6)


def test_evaluation_carries_its_own_state_over_the_validation_streams():
    task = _task(eval_batches=3)
    carried_before = task.state.h.clone()
    batches = list(task.eval_batches())
    assert len(batches) == 3
    with torch.no_grad():
        losses = [task.evaluate(b)["val_loss"] for b in batches]
        joined = torch.cat([b[0] for b in batches], dim=1)  # (B, 3L) contiguous validation streams
        logits = task.model(joined).logits
    targets = torch.cat([b[1] for b in batches], dim=1)
    ref = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
    assert float(torch.stack(losses).mean()) == pytest.approx(float(ref), rel=1e-5)
    assert torch.equal(task.state.h, carried_before)  # training state untouched


@pytest.mark.slow
def test_fit_resumes_exactly_with_the_carried_state(tmp_path):
    config = RunConfig(model=RNNLMConfig(vocab_size=16, d_model=6, hidden_size=8, n_layers=1),
                       optim=OptimConfig(lr=1e-2, warmup_steps=1),
                       train=TrainConfig(steps=6, batch_size=B, eval_every=3, eval_batches=2,
                                         checkpoint_every=3, log_every=1, device="cpu", progress=False))

    def run(out, resume=False):
        task = _task()
        fit(task, config, out, resume=resume)
        return task

    straight = run(tmp_path / "a")
    middle = tmp_path / "a" / "checkpoints" / "step-0000003"
    assert (middle / "task_state.safetensors").exists()
    resumed = run(tmp_path / "b", resume=middle)  # steps 4..6 again, from the step-3 checkpoint
    assert not torch.equal(resumed.state.h, _task().state.h)
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)
    assert torch.equal(straight.state.h, resumed.state.h) and torch.equal(straight.state.c, resumed.state.c)
    bad = _task()
    with pytest.raises(ValueError, match="expected"):
        bad.load_state_dict({"h": torch.zeros(1, 2, 8), "c": torch.zeros(1, 2, 8)})


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["lstm", "gru"])
def test_archlab_train_lm_arch(arch, tmp_path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("".join(f"def f{i}(x):\n    return x * {i}  # brown fox\n" for i in range(150)))
    out = tmp_path / arch
    tiny = ["--set", "model.d_model=8", "--set", "model.hidden_size=16", "--set", "model.n_layers=1",
            "--set", "data.context=16", "--set", "train.batch_size=4", "--set", "train.eval_batches=2",
            "--set", "train.checkpoint_every=2", "--set", "train.eval_every=2", "--quiet"]
    assert main(["train", "lm", "--arch", arch, "--data", str(corpus), "--steps", "4", "--out", str(out), *tiny]) == 0
    saved = json.loads((out / "final" / "config.json").read_text())
    assert saved["archlab_class"] == "archlab.rnn.lm:RNNLM" and saved["config"]["cell"] == arch
    assert (out / "checkpoints" / "step-0000004" / "task_state.safetensors").exists()
    capsys.readouterr()
    assert main(["sample", "lm", "--ckpt", str(out), "--prompt", "def ", "--tokens", "8"]) == 0
    assert capsys.readouterr().out.startswith("def ")
    assert main(["train", "lm", "--arch", arch, "--data", str(corpus), "--out", str(tmp_path / "x"), *tiny,
                 "--set", "train.batch_size=400"]) == 2
    assert "too few" in capsys.readouterr().err
