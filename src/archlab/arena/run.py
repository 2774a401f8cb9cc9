"""Running the arena: each architecture matched in size, trained on the same bytes by the one loop, measured,
and its record written as soon as it finishes.

Every architecture gets the same data (``data.path``, or the standard-library corpus), tokens, batch, context,
optimiser and schedule (the ``lm`` recipe's defaults, Kaplan et al. 2020's comparison at equal non-embedding
size and equal tokens), and the precision asked for (float32 unless told). Resume: ``OUT/records/<arch>.json``
holds a finished architecture with the settings it ran under; a rerun skips it, and refuses, naming the field,
when a setting changed. An unfinished one continues from its last checkpoint (``OUT/train/<arch>/seed-N``,
the loop's exact resume).
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
from typing import Any, Optional

import torch

from archlab.arena.matching import match_size
from archlab.arena.measure import decode, prefill_seconds
from archlab.errors import UserError
from archlab.train.loop import fit
from archlab.train.recipe import all_recipes
from archlab.train.task import as_loss_output

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Budget:
    """What every architecture of one arena gets: ``target`` matched parameters, ``steps`` of ``batch_size``
    sequences of ``context`` bytes; the speed columns at ``prefill_context`` and ``decode_contexts``."""

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

    def __post_init__(self) -> None:
        for name in ("target", "steps", "batch_size", "context", "prefill_context", "decode_tokens",
                     "eval_batches"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 1")
        if len(self.decode_contexts) != 2 or min(self.decode_contexts) < 1:
            raise ValueError(f"decode_contexts={self.decode_contexts} must be two contexts >= 1")


BUDGETS = {
    "quick": Budget("quick", target=400_000, steps=150, batch_size=16, context=128, prefill_context=512,
                    decode_contexts=(128, 1024), decode_tokens=16, eval_batches=4, max_bytes=1_000_000),
    "full": Budget("full", target=3_000_000, steps=2000, batch_size=32, context=256, prefill_context=2048,
                   decode_contexts=(1024, 8192), decode_tokens=64, eval_batches=16, max_bytes=20_000_000),
}


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


def _train_one(arch: str, recipe: Any, model_config: Any, config: ArenaConfig, seed: int,
               out: Path) -> dict[str, Any]:
    budget = config.budget
    run = recipe.default_config()
    data = dataclasses.replace(run.data, path=config.data, context=budget.context, max_bytes=budget.max_bytes)
    train = dataclasses.replace(run.train, steps=budget.steps, batch_size=budget.batch_size, seed=seed,
                                precision=config.precision, device="cpu", progress=False,
                                eval_every=0, eval_batches=budget.eval_batches, log_every=max(1, budget.steps // 10),
                                checkpoint_every=max(1, budget.steps // 4))
    run = dataclasses.replace(run, model=model_config, data=data, train=train)
    torch.manual_seed(seed)
    task = recipe.build_task(run)
    every = max(1, budget.steps // 10)
    resume = (out / "checkpoints").is_dir()  # continue an interrupted run; else start (replacing debris)
    result = fit(_with_progress(task, f"{arch} seed {seed}", budget.steps, every), run, out, resume=resume,
                 overwrite=not resume)
    speeds = [r["tokens_per_s"] for r in result.history if "tokens_per_s" in r]
    bpb = [r["val_bpb"] for r in result.history if "val_bpb" in r][-1]
    return {"model": task.model, "val_bpb": bpb, "tokens_per_s": statistics.mean(speeds)}


def run_arch(arch: str, config: ArenaConfig, out: Path) -> dict[str, Any]:
    """Match, train (every seed), and measure one architecture; its record."""
    recipe = all_recipes()["lm"][arch]
    budget = config.budget
    longest = max(budget.prefill_context, max(budget.decode_contexts) + budget.decode_tokens, budget.context)
    fields = {f.name for f in dataclasses.fields(recipe.model_config())}
    overrides = {"max_seq_len": longest} if "max_seq_len" in fields else {}
    match = match_size(arch, recipe, budget.target, **overrides)
    runs = [_train_one(arch, recipe, match.config, config, seed, out / "train" / arch / f"seed-{seed}")
            for seed in range(config.seeds)]
    model = runs[0]["model"].float().cpu()
    bpbs = [r["val_bpb"] for r in runs]
    speed = statistics.mean(r["tokens_per_s"] for r in runs)
    tokens = budget.steps * budget.batch_size * budget.context
    record: dict[str, Any] = {
        "arch": arch, "d_model": match.d_model, "params_matched": match.count.matched,
        "params_non_embedding": match.count.non_embedding, "params_total": match.count.total,
        "val_bpb": statistics.mean(bpbs), "val_bpb_std": statistics.stdev(bpbs) if len(bpbs) > 1 else 0.0,
        "val_bpb_seeds": bpbs, "train_tokens_per_s": speed, "train_seconds": tokens / speed,
        "prefill_context": budget.prefill_context,
        "prefill_seconds": prefill_seconds(model, budget.prefill_context),
    }
    for context in budget.decode_contexts:
        tokens_per_s, nbytes = decode(model, context, budget.decode_tokens)
        record[f"decode_tokens_per_s@{context}"] = tokens_per_s
        record[f"state_bytes@{context}"] = nbytes
    return record


def _check_settings(path: Path, saved: dict[str, Any], current: dict[str, Any]) -> None:
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            _check_settings(path, {f"{key}.{k}": v for k, v in old.items()}, {f"{key}.{k}": v for k, v in new.items()})
        elif old != new and not (isinstance(old, list) and list(new or ()) == old):
            raise UserError(f"{path} was run with {key}={old!r}, not {new!r}; use another --out, or the same "
                            "options to continue it")


def run_arena(config: ArenaConfig, out: Path) -> list[dict[str, Any]]:
    """Every architecture's record (finished ones in ``out/records`` kept), in the order of ``config.archs``."""
    out = Path(out)
    records_dir = out / "records"
    records_dir.mkdir(parents=True, exist_ok=True)
    settings = config.settings()
    records = []
    for arch in config.archs:
        path = records_dir / f"{arch}.json"
        if path.exists():
            saved = json.loads(path.read_text())
            _check_settings(path, saved["settings"], settings)
            logger.info("arena %s: finished in an earlier run, kept (%s)", arch, path)
            records.append(saved["record"])
            continue
        logger.info("arena %s: matching and training", arch)
        record = run_arch(arch, config, out)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"settings": settings, "record": record}, indent=2) + "\n")
        tmp.replace(path)  # a record is whole or absent
        logger.info("arena %s: val bpb %.3f, %.0f tokens/s", arch, record["val_bpb"], record["train_tokens_per_s"])
        records.append(record)
    return records
