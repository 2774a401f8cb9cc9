"""The one training loop: ``fit(task, config, out_dir)``.

Per optimiser step ``s`` (0-based; the step is called ``s + 1`` once done, in metrics and checkpoints):

1. ``batch = task.train_batch(s)``, the global batch; ``task.split`` cuts it into one piece per rank and
   this rank's piece into ``grad_accum`` micro-batches (``task.batch_size`` counts their items).
2. For each player in order, ``steps_per_step`` times (update j > 0 on ``task.train_batch(s, substep=j)``):
   zero its gradients; for every micro-batch, ``task.loss(micro, player)`` under autocast, scaled by
   ``len(micro) / len(batch)`` and backpropagated (so the gradient is that of the global-batch mean), its
   ``LossOutput.logs`` weighted alike; sum gradients, loss and logs over ranks; stop on a non-finite loss
   or gradient norm; clip; set the scheduled learning rate; ``optimizer.step()``.
3. ``task.after_step(s)`` on every rank; then the EMA of the weights, when ``train.ema_decay > 0``.
4. Every ``log_every`` steps a metrics record; every ``eval_every`` an evaluation; every
   ``checkpoint_every`` a checkpoint. At the end: an evaluation, a last checkpoint, and ``OUT/final/``
   (with the EMA weights in ``OUT/final/ema/``).

Exact resume: a checkpoint holds weights, optimiser states, the EMA weights, RNG states and the step;
batches are a function of the step; so the resumed run computes what the uninterrupted one would have.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import torch
import torch.distributed as dist

from archlab.errors import UserError
from archlab.train import checkpoint as ckpt
from archlab.train.config import RunConfig
from archlab.train.distributed import (
    DistContext,
    all_reduce_sum,
    barrier,
    broadcast_parameters,
)
from archlab.train.ema import WeightEMA
from archlab.train.optim import build_optimizer, clip_gradients, lr_factor, set_lr
from archlab.train.parallel import build_engine
from archlab.train.precision import autocast_dtype
from archlab.train.progress import METRICS_NAME, MetricsLog, ProgressBar
from archlab.train.run_folder import claim_run_folder
from archlab.train.task import Player, Task, as_loss_output, map_batch

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
FINAL = "final"
EMA = "ema"
RUN_OUTPUTS = (FINAL, CHECKPOINTS, METRICS_NAME, "tensorboard")  # what a new run refuses to replace silently
# Fields of the run config that a resumed run may change and still end with the uninterrupted run's weights
# (grad_accum and parallel change only the order of float sums); any other change of the data, optim or train
# sections breaks that (--allow-changes accepts it anyway).
RESUME_SAFE = frozenset({"train.progress", "train.log_every", "train.eval_every", "train.eval_batches",
                         "train.checkpoint_every", "train.grad_accum", "train.parallel"})


class NonFiniteLossError(UserError):
    """Training met a non-finite loss or gradient; the message names the step and the last checkpoint."""


@dataclass
class FitResult:
    """What ``fit`` did: the last ``step``, the ``final_dir`` written (None without ``out_dir``) and the
    metric records (``history``, as written to ``metrics.jsonl``)."""

    step: int
    final_dir: Optional[Path] = None
    history: list[dict[str, Any]] = field(default_factory=list)


def resolve_device(name: str, context: DistContext) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{context.local_rank}" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"train.device={name!r} but no CUDA device is available; use train.device=cpu")
    if name == "cuda" and context.enabled:
        return torch.device(f"cuda:{context.local_rank}")
    return torch.device(name)


def _check_players(players: list[Player]) -> None:
    names = [p.name for p in players]
    if not players or len(set(names)) != len(names):
        raise ValueError(f"a task needs at least one player and unique player names, got {names}")
    owner: dict[int, str] = {}
    for player in players:
        for param in player.module.parameters():
            if param.requires_grad and owner.setdefault(id(param), player.name) != player.name:
                raise ValueError(f"a parameter belongs to both player {owner[id(param)]!r} and {player.name!r}")


def exactness_changes(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The dotted fields of the data, optim and train sections that differ between two run configs (as
    ``RunConfig.to_dict``) and break exact resume, as ``"optim.lr 0.01 -> 0.02"``."""
    changes = []
    for section in ("data", "optim", "train"):
        old, new = saved.get(section), current.get(section)
        if not isinstance(old, dict) or not isinstance(new, dict):
            if old != new:
                changes.append(f"{section} (the whole section)")
            continue
        for key in sorted(set(old) | set(new)):
            name = f"{section}.{key}"
            if name not in RESUME_SAFE and old.get(key) != new.get(key):
                changes.append(f"{name} {old.get(key)!r} -> {new.get(key)!r}")
    return changes


def _unique_params(module: torch.nn.Module) -> list[torch.nn.Parameter]:
    seen, params = set(), []
    for p in module.parameters():
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            params.append(p)
    return params


class Trainer:
    """The state of one run; ``fit`` is the public entry point."""

    def __init__(self, task: Task, config: RunConfig, out_dir: Optional[Path], context: DistContext) -> None:
        carried = sorted(task.state_dict())
        if carried and context.enabled:  # refused before any work, not at the first checkpoint
            raise UserError(f"{type(task).__name__} carries state from step to step ({', '.join(carried)}: e.g. a "
                            "recurrent hidden state), which data-parallel training does not split across processes "
                            "yet; train it in one process, without torchrun")
        self.task, self.config, self.context = task, config, context
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.train_cfg = config.train
        self.device = resolve_device(config.train.device, context)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.amp_dtype = autocast_dtype(config.train.precision, self.device)
        task.model.to(self.device)
        broadcast_parameters(task.model, context)
        self.parallel = build_engine(task, config.train.parallel, context, self.device)  # before the optimisers
        self.players = task.players()
        _check_players(self.players)
        self.optim_cfgs = {p.name: p.optim or config.optim for p in self.players}
        self.params = {p.name: _unique_params(p.module) for p in self.players}
        self.optimizers = {p.name: build_optimizer(p.module, self.optim_cfgs[p.name]) for p in self.players}
        if config.train.ema_decay > 0 and config.train.parallel == "fsdp" and context.enabled:
            raise UserError("train.ema_decay > 0 with train.parallel=fsdp is not supported: the average would "
                            "hold shards; use train.parallel=ddp or train.ema_decay=0")
        self.ema = WeightEMA(task.model, config.train.ema_decay) if config.train.ema_decay > 0 else None
        self.last_checkpoint: Optional[Path] = None
        self.allow_changes = False
        self.history: list[dict[str, Any]] = []

    @property
    def checkpoint_root(self) -> Optional[Path]:
        return None if self.out_dir is None else self.out_dir / CHECKPOINTS

    # --- resume ------------------------------------------------------------------------------------

    def _resume_from(self, resume: Union[bool, str, Path]) -> Optional[Path]:
        root = self.checkpoint_root
        if resume is False or resume is None:
            return None
        if resume is True or resume == "latest":
            if root is None:
                raise UserError("resume needs an output directory (--out) to look for checkpoints in")
            found = ckpt.latest_checkpoint(root)
            if found is None and any(root.glob("step-*")):
                raise UserError(f"--resume: no checkpoint in {root} verifies (the warnings above say why); start "
                                "again with --overwrite")
            if found is None:
                logger.warning("--resume: no complete checkpoint in %s; starting from step 0", root)
            return found
        return Path(resume)

    def _load(self, folder: Path) -> int:
        state = ckpt.read_trainer_state(folder)
        saved_model = state.get("config", {}).get("model")
        current = self.config.to_dict()["model"]
        if saved_model is not None and current != saved_model:
            changed = (sorted(k for k in current if saved_model.get(k) != current[k])
                       if isinstance(current, dict) and isinstance(saved_model, dict) else ["(the whole section)"])
            raise UserError(f"checkpoint {folder} was trained with another model config (differs in "
                            f"{', '.join('model.' + k for k in changed)}); pass the same --arch and --set")
        if state.get("seed") != self.train_cfg.seed:
            raise UserError(f"checkpoint {folder} was trained with seed {state.get('seed')}, not "
                            f"{self.train_cfg.seed}; pass --seed {state.get('seed')} to resume it")
        changes = exactness_changes(state.get("config", {}), self.config.to_dict())
        if changes and not self.allow_changes:
            raise UserError(f"checkpoint {folder} was trained with other settings ({'; '.join(changes)}), which "
                            "break exact resume; pass the same options, or --allow-changes to continue anyway")
        if changes:
            logger.warning("resuming with changed settings (%s): the run will not match an uninterrupted one",
                           "; ".join(changes))
        with self.parallel.full_state(self.optimizers):
            state, task_state = ckpt.load_checkpoint(folder, model=self.task.model, optimizers=self.optimizers)
        self.task.load_state_dict(task_state)
        if self.ema is not None:
            ema = ckpt.load_ema(folder)
            if ema is None:
                raise UserError(f"checkpoint {folder} holds no EMA weights, but train.ema_decay="
                                f"{self.train_cfg.ema_decay}; resume with train.ema_decay=0 or start a new run")
            self.ema.load_state_dict(ema)
        ckpt.restore_rng_state(state["rng"])
        self.last_checkpoint = folder
        logger.info("resumed from %s at step %d", folder, state["step"])
        return int(state["step"])

    # --- one step ----------------------------------------------------------------------------------

    def _autocast(self):
        if self.amp_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.amp_dtype)

    def _to_device(self, batch):
        return map_batch(batch, lambda t: t.to(self.device, non_blocking=True))

    def _stop(self, what: str, value: float, step: int) -> None:
        where = (f"the last good checkpoint is {self.last_checkpoint}" if self.last_checkpoint is not None
                 else "no checkpoint was written before it")
        raise NonFiniteLossError(f"{what} is {value} at step {step}; training stopped ({where}); "
                                 "try a lower optim.lr or optim.grad_clip")

    def _local_pieces(self, batch, parts: int) -> list:
        """This rank's share of the global ``batch`` (``task.split`` into one piece per rank), cut into
        ``parts`` micro-batches (none when the rank gets no items)."""
        world = self.context.world_size
        shards = [batch] if world == 1 else self._split(batch, world)
        if self.context.rank >= len(shards):
            return []
        return self._split(shards[self.context.rank], parts)

    def _items(self, batch) -> int:
        """``task.batch_size(batch)``, looked up on the class: many tasks keep their batch size as an
        instance attribute of that name, which would hide the method."""
        return type(self.task).batch_size(self.task, batch)

    def _split(self, batch, parts: int) -> list:
        return type(self.task).split(self.task, batch, parts)

    def _sum_over_ranks(self, sums: dict[str, torch.Tensor]) -> dict[str, float]:
        """Each named float64 scalar summed over ranks (rank 0 names the keys: it always holds items)."""
        keys = sorted(sums)
        if self.context.enabled:
            shared = [keys]
            dist.broadcast_object_list(shared, src=0)
            keys = shared[0]
        if not keys:
            return {}
        zero = torch.zeros((), dtype=torch.float64, device=self.device)
        totals = all_reduce_sum(torch.stack([sums.get(k, zero) for k in keys]), self.context)
        return {k: float(v) for k, v in zip(keys, totals)}

    def _player_update(self, player: Player, batch, step: int, lr: float) -> dict[str, float]:
        """One update of ``player`` on the global ``batch``: its loss, logged scalars and gradient norm."""
        n_global = self._items(batch)
        optimizer = self.optimizers[player.name]
        optimizer.zero_grad(set_to_none=True)
        sums: dict[str, torch.Tensor] = {"loss": torch.zeros((), dtype=torch.float64, device=self.device)}
        pieces = self._local_pieces(batch, self.train_cfg.grad_accum)
        for micro in self.parallel.micro_batches(player, self.params[player.name], pieces):  # then syncs gradients
            micro = self._to_device(micro)
            weight = self._items(micro) / n_global
            with self._autocast():
                out = as_loss_output(self.task.loss(micro, player.name))
            (out.loss * weight).backward()
            for key, value in {**out.logs, "loss": out.loss}.items():
                value = torch.as_tensor(value, device=self.device).detach().double() * weight
                sums[key] = sums[key] + value if key in sums else value
        values = self._sum_over_ranks(sums)
        suffix = "" if len(self.players) == 1 else f"_{player.name}"
        if not math.isfinite(values["loss"]):
            self._stop(f"loss{suffix}", values["loss"], step + 1)
        grad_norm = clip_gradients(self.params[player.name], self.optim_cfgs[player.name].grad_clip)
        if not math.isfinite(grad_norm):
            self._stop(f"gradient norm{suffix}", grad_norm, step + 1)
        set_lr(optimizer, lr)
        optimizer.step()
        return {**values, "grad_norm": grad_norm}

    def train_step(self, step: int) -> dict[str, float]:
        """Run optimiser step ``step`` (0-based) for every player, then ``task.after_step``; return its metrics.

        A player with ``steps_per_step = k`` updates k times: on the step's batch, then on
        ``task.train_batch(step, substep=j)`` for j = 1 .. k-1. Its loss and logs are the mean over its updates,
        its ``grad_norm`` that of the last one.
        """
        batch = self.task.train_batch(step)
        metrics: dict[str, Any] = {}
        logs: dict[str, float] = {}
        single = len(self.players) == 1
        for player in self.players:
            cfg = self.optim_cfgs[player.name]
            lr = cfg.lr * lr_factor(step, total_steps=self.train_cfg.steps, warmup_steps=cfg.warmup_steps,
                                    min_lr_ratio=cfg.min_lr_ratio, schedule=cfg.schedule)
            k = player.steps_per_step
            updates = [self._player_update(player, batch if j == 0 else self.task.train_batch(step, substep=j),
                                           step, lr) for j in range(k)]
            suffix = "" if single else f"_{player.name}"
            for key in updates[0]:
                value = updates[-1][key] if key == "grad_norm" else sum(u[key] for u in updates) / k
                metrics[f"{key}{suffix}"] = value
                if key not in ("loss", "grad_norm"):
                    logs[f"{key}{suffix}"] = value
            metrics[f"lr{suffix}"] = lr
        self.task.after_step(step)
        if self.ema is not None:
            self.ema.update(self.task.model)
        metrics["_tokens"] = self.task.batch_tokens(batch)
        metrics["_logs"] = logs
        return metrics

    # --- evaluation --------------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """The task's evaluation metrics, averaged over the evaluation set (weighted by batch size)."""
        model = self.task.model
        was_training = model.training
        model.eval()
        sums: dict[str, torch.Tensor] = {}
        count = torch.zeros((), dtype=torch.float64, device=self.device)
        for batch in self.task.eval_batches():
            for local in self._local_pieces(batch, 1):
                n = self._items(local)
                with self._autocast():
                    values = self.task.evaluate(self._to_device(local))
                for key, value in values.items():
                    sums[key] = sums.get(key, 0) + value.detach().double() * n
                count += n
        model.train(was_training)
        totals = self._sum_over_ranks({**sums, "": count}) if sums or self.context.enabled else {}
        return {k: v / totals[""] for k, v in totals.items() if k}

    # --- saving ------------------------------------------------------------------------------------

    def save_checkpoint(self, step: int) -> None:
        if self.checkpoint_root is None:
            return
        task_state = self.task.state_dict()
        if task_state and self.context.enabled:
            raise ValueError("task state with more than one process is not supported yet")
        extra = {"seed": self.train_cfg.seed, "world_size": self.context.world_size,
                 "data": {"next_step": step, "rule": "the batch of step s is task.train_batch(s)"},
                 "config": self.config.to_dict()}
        with self.parallel.full_state(self.optimizers):  # every rank: FSDP gathers the shards
            if self.context.is_main:
                self.last_checkpoint = ckpt.save_checkpoint(
                    self.checkpoint_root, step, write_model=self._write_model_weights,
                    optimizers=self.optimizers, task_state=task_state, extra=extra,
                    ema=None if self.ema is None else self.ema.state_dict())
        if not self.context.is_main:
            self.last_checkpoint = ckpt.checkpoint_dir(self.checkpoint_root, step)
        barrier(self.context)

    def _write_model_weights(self, folder: Path) -> None:
        self.task.save_model(folder)

    def save_final(self) -> Optional[Path]:
        if self.out_dir is None:
            return None
        final = self.out_dir / FINAL
        tmp = self.out_dir / f".tmp-{FINAL}-{os.getpid()}"
        with self.parallel.full_state(self.optimizers):  # every rank: FSDP gathers the shards
            if self.context.is_main:
                shutil.rmtree(tmp, ignore_errors=True)
                self.task.save_model(tmp)
                if self.ema is not None:
                    with self.ema.swapped_into(self.task.model):
                        self.task.save_model(tmp / EMA)
        if self.context.is_main:
            (tmp / "run_config.json").write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
            shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)
            logger.info("final model written: %s", final)
        barrier(self.context)
        return final

    # --- the loop ----------------------------------------------------------------------------------

    def fit(self, resume: Union[bool, str, Path] = False, *, overwrite: bool = False,
            allow_changes: bool = False) -> FitResult:
        self.allow_changes = allow_changes
        if self.out_dir is None or not self.context.is_main:
            return self._fit(resume)
        with claim_run_folder(self.out_dir, outputs=RUN_OUTPUTS, resume=bool(resume), overwrite=overwrite):
            return self._fit(resume)

    def _fit(self, resume: Union[bool, str, Path]) -> FitResult:
        cfg = self.train_cfg
        folder = self._resume_from(resume)
        start = 0 if folder is None else self._load(folder)
        if start > cfg.steps:
            raise UserError(f"the checkpoint is at step {start}, past train.steps={cfg.steps}; raise --steps")
        main = self.context.is_main
        log = MetricsLog(self.out_dir if main else None, resume_step=start if folder is not None else None)
        if main and self.out_dir is not None:
            ckpt.remove_partial_checkpoints(self.checkpoint_root)
            for debris in self.out_dir.glob(f".tmp-{FINAL}-*"):
                shutil.rmtree(debris, ignore_errors=True)
            (self.out_dir / "run_config.json").write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        bar = ProgressBar(cfg.steps, start=start, enabled=main and cfg.progress)
        self.task.model.train()
        window_tokens, window_time = 0, 0.0
        step = start
        try:
            for step in range(start + 1, cfg.steps + 1):
                began = time.perf_counter()
                metrics = self.train_step(step - 1)
                window_time += time.perf_counter() - began
                window_tokens += metrics.pop("_tokens")
                logs = metrics.pop("_logs")
                record: dict[str, Any] = {}
                if cfg.log_every and (step % cfg.log_every == 0 or step == cfg.steps):
                    record.update(metrics, tokens_per_s=window_tokens / max(window_time, 1e-9))
                    window_tokens, window_time = 0, 0.0
                if (cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.steps:
                    record.update(self.evaluate())
                if record:
                    self.history.append({"step": step, **record})
                    log.write(step, record)
                bar.update(step, loss=metrics.get("loss"), tokens_per_s=record.get("tokens_per_s"), logs=logs)
                if cfg.checkpoint_every and (step % cfg.checkpoint_every == 0 or step == cfg.steps):
                    self.save_checkpoint(step)
            final = self.save_final()
        finally:
            bar.close()
            log.close()
        return FitResult(step=step, final_dir=final, history=self.history)


def fit(
    task: Task,
    config: RunConfig,
    out_dir: Optional[Union[str, Path]] = None,
    *,
    resume: Union[bool, str, Path] = False,
    overwrite: bool = False,
    allow_changes: bool = False,
    context: Optional[DistContext] = None,
) -> FitResult:
    """Train ``task`` as ``config`` says; write metrics, checkpoints and ``final/`` under ``out_dir``.

    ``resume=True`` continues from the newest complete checkpoint in ``out_dir`` (from step 0 when there is
    none); a path resumes from that checkpoint. A new run into a folder that holds an earlier run's outputs is
    refused unless ``overwrite=True``, which deletes them; the folder is locked while the run lasts
    (``archlab.train.run_folder``). A resume whose data, optim or train sections differ from the checkpoint's
    in a field outside ``RESUME_SAFE`` is refused unless ``allow_changes=True``. ``context`` is the data-parallel group (one process by default).
    """
    trainer = Trainer(task, config, None if out_dir is None else Path(out_dir), context or DistContext())
    return trainer.fit(resume, overwrite=overwrite, allow_changes=allow_changes)
