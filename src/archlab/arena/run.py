"""Running the arena: each architecture matched in size, trained on the same bytes by the one loop, measured,
and its record written as soon as it finishes.

Every architecture gets the same data (``data.path``, or the standard-library corpus), tokens, batch, context,
optimiser and schedule (the ``lm`` recipe's defaults, Kaplan et al. 2020's comparison at equal non-embedding
size and equal tokens) at its own learning rate (``archlab.arena.learning_rate``: swept in ``full``), and the
precision asked for (float32 unless told). Then a fresh copy of each matched model learns MQAR at the same
fixed budget and learning rate for every architecture (``archlab.arena.recall``), two at a time. Resume:
``OUT/records/<arch>.json`` holds an architecture with the settings it ran under, trained and measured, and
finished once it has its recall columns; a rerun keeps it (running only a missing recall), and refuses, naming
the field, when a setting changed. An unfinished training continues from its last checkpoint
(``OUT/train/<arch>/seed-N``, the loop's exact resume).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from archlab.arena import recall
from archlab.arena.learning_rate import pick, recorded_lr
from archlab.arena.matching import match_size
from archlab.arena.measure import decode, prefill_seconds
from archlab.errors import UserError
from archlab.lab.side_by_side import side_by_side
from archlab.train.loop import fit
from archlab.train.recipe import all_recipes
from archlab.train.task import as_loss_output

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    """What every architecture of one arena gets: ``target`` matched parameters, ``steps`` of ``batch_size``
    sequences of ``context`` bytes; the speed columns at ``prefill_context`` and ``decode_contexts``; the
    learning-rate sweep (``lr_grid``, each rate ``sweep_steps`` steps, then each of ``lr_edge`` in turn while the
    best rate so far is the highest tried; an empty grid takes the recorded rate, ``archlab.arena.learning_rate``);
    MQAR recall after ``recall_steps`` of ``recall_batch_size`` at ``recall_lr``, one rate for every
    architecture (``archlab.arena.recall``)."""

    name: str
    target: int
    steps: int
    batch_size: int
    context: int
    prefill_context: int
    decode_contexts: tuple[int, int]
    decode_tokens: int
    eval_batches: int
    max_bytes: int
    recall_steps: int
    recall_batch_size: int
    lr_grid: tuple[float, ...] = ()
    sweep_steps: int = 0
    lr_edge: tuple[float, ...] = ()
    recall_lr: float = 1e-3

    def __post_init__(self) -> None:
        for name in ("target", "steps", "batch_size", "context", "prefill_context", "decode_tokens",
                     "eval_batches", "recall_steps", "recall_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        if not self.recall_lr > 0:
            raise ValueError(f"recall_lr={self.recall_lr} must be > 0")
        if any(not lr > 0 for lr in self.lr_grid):
            raise ValueError(f"lr_grid={self.lr_grid} must hold learning rates > 0")
        if self.lr_edge and (not self.lr_grid or any(not lr > max(self.lr_grid) for lr in self.lr_edge)):
            raise ValueError(f"lr_edge={self.lr_edge} must hold rates above lr_grid={self.lr_grid}'s highest")
        if self.lr_grid and self.sweep_steps < 1:
            raise ValueError(f"sweep_steps={self.sweep_steps} must be >= 1 when lr_grid={self.lr_grid} is swept")
        if len(self.decode_contexts) != 2 or min(self.decode_contexts) < 1:
            raise ValueError(f"decode_contexts={self.decode_contexts} must be two contexts >= 1")


BUDGETS = {
    "quick": Budget("quick", target=400_000, steps=150, batch_size=16, context=128, prefill_context=2048,
                    decode_contexts=(1024, 8192), decode_tokens=16, eval_batches=4, max_bytes=1_000_000,
                    recall_steps=300, recall_batch_size=32, recall_lr=1e-3),
    "full": Budget("full", target=3_000_000, steps=2000, batch_size=32, context=256, prefill_context=2048,
                   decode_contexts=(1024, 8192), decode_tokens=64, eval_batches=16, max_bytes=20_000_000,
                   recall_steps=1000, recall_batch_size=32, recall_lr=1e-3, lr_grid=(3e-4, 1e-3, 3e-3),
                   sweep_steps=200),
}

SWEEP_GRID = (3e-4, 1e-3, 3e-3)  # the rates ``swept`` tries at any budget
SWEEP_EDGE = (1e-2,)  # tried only when 3e-3, the grid's top, is best


def swept(budget: Budget) -> Budget:
    """``budget`` with a learning-rate sweep at its own sizes: ``SWEEP_GRID`` (and ``SWEEP_EDGE`` when the best
    rate sits at the grid's top), each for ``budget.steps`` steps; a budget that sweeps already is kept. This is
    how ``RECORDED`` (``archlab.arena.learning_rate``) is measured for ``quick``: ``archlab arena lm --budget
    quick --sweep``."""
    if budget.lr_grid:
        return budget
    return dataclasses.replace(budget, lr_grid=SWEEP_GRID, sweep_steps=budget.steps, lr_edge=SWEEP_EDGE)


@dataclass
class ArenaConfig:
    """One arena: the architectures (names of ``lm`` recipes), the budget, ``seeds`` (0 .. N-1), the text
    (``data``: a path, None for the standard-library corpus) and the training precision."""

    archs: tuple[str, ...]
    budget: Budget
    seeds: int = 1
    data: Optional[str] = None
    precision: str = "fp32"

    def __post_init__(self) -> None:
        known = all_recipes().get("lm", {})
        unknown = [a for a in self.archs if a not in known]
        if not self.archs or unknown:
            raise UserError(f"--archs {','.join(self.archs)!r}: {', '.join(unknown) or 'none named'} not an lm "
                            f"architecture; choose from {', '.join(known)}")
        if self.seeds < 1:
            raise UserError(f"--seeds {self.seeds} must be >= 1")
        if self.precision not in ("fp32", "bf16", "auto"):
            raise UserError(f"precision={self.precision!r} must be one of 'fp32', 'bf16', 'auto'")
        if self.data is not None and not Path(self.data).expanduser().exists():
            raise UserError(f"--data {self.data!r} does not exist; pass a text file or a folder of text files")

    def settings(self) -> dict[str, Any]:
        """What a finished record must have been run under to be kept on a rerun."""
        return {"budget": asdict(self.budget), "seeds": self.seeds, "data": self.data, "precision": self.precision}


def _with_progress(task: Any, label: str, steps: int, every: int) -> Any:
    """``task``, its class extended in place so that it logs a progress line (arch, step, loss, ETA) every
    ``every`` steps; the loop looks some methods up on the class, so a wrapper object would not do."""
    base = type(task)

    class WithProgress(base):  # type: ignore[misc, valid-type]
        def loss(self, batch: Any, player: str) -> Any:
            out = super().loss(batch, player)
            if torch.is_grad_enabled():
                self._arena_loss = float(as_loss_output(out).loss.detach())
            return out

        def after_step(self, step: int) -> None:
            super().after_step(step)
            done = step + 1
            if self._arena_first is None:
                self._arena_first, self._arena_began = step, time.perf_counter()
            elif done % every == 0 or done == steps:
                per_step = (time.perf_counter() - self._arena_began) / (step - self._arena_first)
                logger.info("arena %s step %d/%d loss %.4f eta %.0f s", label, done, steps, self._arena_loss,
                            per_step * (steps - done))

    WithProgress.__name__ = WithProgress.__qualname__ = base.__name__
    task.__class__ = WithProgress
    task._arena_first, task._arena_began, task._arena_loss = None, time.perf_counter(), math.nan
    return task


def _run_config(recipe: Any, model_config: Any, config: ArenaConfig, *, seed: int, lr: float, steps: int) -> Any:
    """The recipe's run at the arena's data, batch, schedule and precision, with ``lr`` for ``steps`` steps."""
    budget = config.budget
    run = recipe.default_config()
    data = dataclasses.replace(run.data, path=config.data, context=budget.context, max_bytes=budget.max_bytes)
    train = dataclasses.replace(run.train, steps=steps, batch_size=budget.batch_size, seed=seed,
                                precision=config.precision, device="cpu", progress=False,
                                eval_every=0, eval_batches=budget.eval_batches, log_every=max(1, steps // 10),
                                checkpoint_every=max(1, steps // 4))
    return dataclasses.replace(run, model=model_config, data=data, train=train,
                               optim=dataclasses.replace(run.optim, lr=lr))


def _train_one(label: str, recipe: Any, run: Any, out: Path) -> dict[str, Any]:
    torch.manual_seed(run.train.seed)
    task = recipe.build_task(run)
    steps = run.train.steps
    every = max(1, steps // 10)
    resume = (out / "checkpoints").is_dir()  # continue an interrupted run; else start (replacing debris)
    result = fit(_with_progress(task, label, steps, every), run, out, resume=resume, overwrite=not resume)
    speeds = [r["tokens_per_s"] for r in result.history if "tokens_per_s" in r]
    bpb = [r["val_bpb"] for r in result.history if "val_bpb" in r][-1]
    return {"model": task.model, "val_bpb": bpb, "tokens_per_s": statistics.mean(speeds)}


def choose_lr(arch: str, recipe: Any, model_config: Any, config: ArenaConfig,
              out: Path) -> tuple[dict[str, Any], dict[float, dict[str, Any]]]:
    """``lr``, ``lr_source`` and, when the budget sweeps, ``lr_sweep`` (validation bpb per rate) of ``arch``; and
    the sweep's runs by rate (seed 0, ``sweep_steps`` steps; none without a sweep)."""
    budget = config.budget
    if not budget.lr_grid:
        lr, source = recorded_lr(arch, recipe)
        return {"lr": lr, "lr_source": source}, {}
    runs: dict[float, dict[str, Any]] = {}
    edge = list(budget.lr_edge)
    rates = list(budget.lr_grid)
    while rates:
        lr = rates.pop(0)
        run = _run_config(recipe, model_config, config, seed=0, lr=lr, steps=budget.sweep_steps)
        runs[lr] = _train_one(f"{arch} lr {lr:g}", recipe, run, out / "sweep" / arch / f"lr-{lr:g}")
        logger.info("arena %s sweep: lr %g, val bpb %.4f after %d steps", arch, lr, runs[lr]["val_bpb"],
                    budget.sweep_steps)
        bpbs = {rate: r["val_bpb"] for rate, r in runs.items()}
        if not rates and edge and pick(bpbs) == max(bpbs):
            rates.append(edge.pop(0))  # the best sits at the top edge: try the next rate up
    return ({"lr": pick(bpbs), "lr_source": "sweep", "lr_sweep": {f"{lr:g}": bpb for lr, bpb in bpbs.items()}},
            runs)


def _match(arch: str, recipe: Any, budget: Budget) -> Any:
    """``arch`` matched to ``budget.target``, with room for the longest sequence the arena gives it."""
    longest = max(budget.prefill_context, max(budget.decode_contexts) + budget.decode_tokens, budget.context,
                  recall.SEQ_LEN)
    fields = {f.name for f in dataclasses.fields(recipe.model_config())}
    overrides = {"max_seq_len": longest} if "max_seq_len" in fields else {}
    return match_size(arch, recipe, budget.target, **overrides)


def run_arch(arch: str, config: ArenaConfig, out: Path) -> dict[str, Any]:
    """Match, choose the learning rate, train (every seed), and measure one architecture; its record without the
    recall columns (``recall_job``)."""
    recipe = all_recipes()["lm"][arch]
    budget = config.budget
    match = _match(arch, recipe, budget)
    clock = _Clock()
    lr, sweep_runs = choose_lr(arch, recipe, match.config, config, out)
    sweep_time = clock.lap()
    reused = sweep_runs.get(lr["lr"]) if budget.sweep_steps == budget.steps else None  # the same run as seed 0's
    runs = [reused if seed == 0 and reused is not None else
            _train_one(f"{arch} seed {seed}", recipe,
                       _run_config(recipe, match.config, config, seed=seed, lr=lr["lr"], steps=budget.steps),
                       out / "train" / arch / f"seed-{seed}")
            for seed in range(config.seeds)]
    train_time = clock.lap()
    model = runs[0]["model"].float().cpu()
    bpbs = [r["val_bpb"] for r in runs]
    speed = statistics.mean(r["tokens_per_s"] for r in runs)
    tokens = budget.steps * budget.batch_size * budget.context
    record: dict[str, Any] = {
        "arch": arch, "d_model": match.d_model, "params_matched": match.count.matched,
        "params_non_embedding": match.count.non_embedding, "params_total": match.count.total, **lr,
        "val_bpb": statistics.mean(bpbs), "val_bpb_std": statistics.stdev(bpbs) if len(bpbs) > 1 else 0.0,
        "val_bpb_seeds": bpbs, "train_tokens_per_s": speed, "train_seconds": tokens / speed,
        "prefill_context": budget.prefill_context,
        "prefill_seconds": prefill_seconds(model, budget.prefill_context),
    }
    for context in budget.decode_contexts:
        tokens_per_s, nbytes = decode(model, context, budget.decode_tokens)
        record[f"decode_tokens_per_s@{context}"] = tokens_per_s
        record[f"state_bytes@{context}"] = nbytes
    measure_time = clock.lap()
    logger.info("arena %s: wall / process CPU seconds: sweep %.0f / %.0f, train %.0f / %.0f, measure %.0f / %.0f",
                arch, *sweep_time, *train_time, *measure_time)
    return record


def recall_job(arch: str, config: ArenaConfig) -> Callable[[], dict[str, float]]:
    """The MQAR training of ``arch``'s matched model, untrained, at the budget's recall rate (one rate for every
    architecture), as a job returning its ``recall@k`` columns. The model is built here, from torch's global
    generator seeded 0; the job itself draws only from its own generators (``archlab.arena.recall``), so jobs can
    run side by side."""
    recipe = all_recipes()["lm"][arch]
    budget = config.budget
    match = _match(arch, recipe, budget)
    torch.manual_seed(0)
    fresh = recipe.model_class(match.config)
    run = _run_config(recipe, match.config, config, seed=0, lr=budget.recall_lr, steps=budget.recall_steps)

    def job() -> dict[str, float]:
        wall, cpu = time.perf_counter(), time.thread_time()  # one intra-op thread: the job's ops run in its thread
        columns = recall.train_recall(fresh, run, steps=budget.recall_steps, batch_size=budget.recall_batch_size,
                                      seed=0)
        logger.info("arena %s: recall wall / thread CPU seconds %.0f / %.0f", arch, time.perf_counter() - wall,
                    time.thread_time() - cpu)
        return columns

    return job


class _Clock:
    """Wall and process CPU seconds since the last ``lap``."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def lap(self) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        lap = (wall - self.wall, cpu - self.cpu)
        self.wall, self.cpu = wall, cpu
        return lap


def _check_settings(path: Path, saved: dict[str, Any], current: dict[str, Any]) -> None:
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            _check_settings(path, {f"{key}.{k}": v for k, v in old.items()}, {f"{key}.{k}": v for k, v in new.items()})
        elif old != new and not (isinstance(old, list) and list(new or ()) == old):
            raise UserError(f"{path} was run with {key}={old!r}, not {new!r}; use another --out, or the same "
                            "options to continue it")


RECALL_AT_ONCE = 2  # MQAR trainings run side by side (``archlab.lab.side_by_side``), one intra-op thread each


def _has_recall(record: dict[str, Any]) -> bool:
    return all(f"recall@{k}" in record for k in recall.PAIRS)


def _save(path: Path, settings: dict[str, Any], record: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"settings": settings, "record": record}, indent=2) + "\n")
    tmp.replace(path)  # a record is whole or absent


def run_arena(config: ArenaConfig, out: Path) -> list[dict[str, Any]]:
    """Every architecture's record (finished ones in ``out/records`` kept), in the order of ``config.archs``.

    Each architecture is trained and measured in turn on all the threads, its record saved; then the MQAR
    trainings of those still without recall columns run ``RECALL_AT_ONCE`` at a time, one intra-op thread each,
    each worker taking the next training as its last one ends. On two cores one such training took 1.5-1.7x its
    two-thread time, so two at once finish sooner than all in a row; nothing they measure is a time. A record
    with recall columns is finished."""
    out = Path(out)
    records_dir = out / "records"
    records_dir.mkdir(parents=True, exist_ok=True)
    settings = config.settings()
    records: dict[str, dict[str, Any]] = {}
    for arch in config.archs:
        path = records_dir / f"{arch}.json"
        if path.exists():
            saved = json.loads(path.read_text())
            _check_settings(path, saved["settings"], settings)
            logger.info("arena %s: %s in an earlier run, kept (%s)", arch,
                        "finished" if _has_recall(saved["record"]) else "trained and measured", path)
            records[arch] = saved["record"]
            continue
        logger.info("arena %s: matching and training", arch)
        records[arch] = run_arch(arch, config, out)
        _save(path, settings, records[arch])
        logger.info("arena %s: val bpb %.3f, %.0f tokens/s", arch, records[arch]["val_bpb"],
                    records[arch]["train_tokens_per_s"])
    pending = [arch for arch in config.archs if not _has_recall(records[arch])]
    if pending:
        logger.info("arena: MQAR recall for %s, %d at a time", ", ".join(pending), RECALL_AT_ONCE)

        def finished(arch: str, job: Callable[[], dict[str, float]]) -> Callable[[], None]:
            def run() -> None:
                records[arch].update(job())
                _save(records_dir / f"{arch}.json", settings, records[arch])  # saved as soon as it ends
            return run

        # the models are built here, one after another; the trainings then run RECALL_AT_ONCE at a time
        side_by_side(*(finished(arch, recall_job(arch, config)) for arch in pending), at_once=RECALL_AT_ONCE)
    return [records[arch] for arch in config.archs]
