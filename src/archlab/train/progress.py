"""What a run shows and records: a rich progress bar, ``metrics.jsonl``, and TensorBoard when installed.

``MetricsLog`` appends one JSON object per line to ``OUT/metrics.jsonl`` (``step`` plus the numbers of
that step: ``loss``, ``lr``, ``tokens_per_s``, ``grad_norm``, the task's logged scalars, evaluation metrics
such as ``val_loss``).
On resume, lines past the resumed step (written after the checkpoint, before the kill) are dropped, so
the file reads as one uninterrupted run. Only rank 0 writes; other ranks get a disabled log and bar.

``ProgressBar`` shows step, loss, the task's logged scalars (``LossOutput.logs``), tokens/s and time
remaining; it is off when stderr is not a terminal or when the run asks for no progress
(``train.progress=false``). It draws on ``stderr_console()``, the one rich console on stderr, through which
``archlab train`` also sends its log lines, so that a line logged mid-run prints above the bar instead of
breaking it.
"""

from __future__ import annotations

import functools
import json
import logging
import math
from pathlib import Path
from typing import Any, Mapping, Optional

logger = logging.getLogger(__name__)

METRICS_NAME = "metrics.jsonl"


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no nan/inf; keep it readable
    return value


class MetricsLog:
    """Appends metric records to ``directory / metrics.jsonl`` (and TensorBoard when it imports)."""

    def __init__(self, directory: Optional[Path], *, resume_step: Optional[int] = None) -> None:
        self.path = None if directory is None else Path(directory) / METRICS_NAME
        self._writer = None
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            self.path.write_text("")
        else:
            self._truncate_after(resume_step)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(self.path.parent / "tensorboard"))
        except Exception:  # tensorboard is optional: not installed, or an incompatible version
            self._writer = None

    def _truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a kill
            if isinstance(record, dict) and record.get("step", 0) <= step:
                kept.append(line)
        self.path.write_text("".join(line + "\n" for line in kept))

    def write(self, step: int, metrics: Mapping[str, Any]) -> None:
        if self.path is None or not metrics:
            return
        record = {"step": step, **{k: _json_number(v) for k, v in metrics.items()}}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self._writer is not None:
            for key, value in metrics.items():
                if isinstance(value, (int, float)):
                    self._writer.add_scalar(key, value, step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def read_metrics(directory: Path) -> list[dict[str, Any]]:
    """The records of ``directory / metrics.jsonl``."""
    path = Path(directory) / METRICS_NAME
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@functools.lru_cache(maxsize=None)
def stderr_console() -> Any:
    """The one rich ``Console`` on stderr shared by the progress bar and the log lines of a run."""
    from rich.console import Console

    return Console(stderr=True)


class ProgressBar:
    """A rich progress bar over optimiser steps showing loss and tokens/s; a no-op when disabled."""

    def __init__(self, total: int, *, start: int = 0, enabled: bool = True, description: str = "train",
                 console: Any = None) -> None:
        self._progress = None
        if not enabled:
            return
        console = console or stderr_console()
        if not console.is_terminal:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[logs]}"),
            TextColumn("{task.fields[speed]} tok/s"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(description, total=total, completed=start, loss="-", speed="-",
                                            logs="")

    def update(self, step: int, *, loss: Optional[float] = None, tokens_per_s: Optional[float] = None,
               logs: Optional[Mapping[str, float]] = None) -> None:
        if self._progress is None:
            return
        fields = {}
        if logs:
            fields["logs"] = " ".join(f"{k} {v:.4g}" for k, v in logs.items())
        if loss is not None:
            fields["loss"] = f"{loss:.4f}"
        if tokens_per_s is not None:
            fields["speed"] = f"{tokens_per_s:,.0f}"
        self._progress.update(self._task, completed=step, **fields)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
