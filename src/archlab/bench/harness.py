"""The side-by-side harness: archlab and a peer library on the same inputs, in the same process.

Each repeat calls both sides once and alternates which goes first (archlab, peer, then peer, archlab, ...)
so that drift on a shared machine (clock boost, caches, other tenants) falls on both alike. The report is
the median time of each side and ``speedup = peer_median / archlab_median``: above 1 archlab is faster.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from archlab.lab.runner import versions, write_json

SIDES = ("archlab", "peer")


@dataclass
class BenchResult:
    """Times of both sides (seconds per call, in call order per side) and what was measured with them.

    ``work`` is the amount of work one call does, in ``unit`` (e.g. tokens), so that throughput is
    ``work / median``. ``order`` lists the sides in the order they were timed.
    """

    name: str
    archlab_times: list[float]
    peer_times: list[float]
    order: list[str]
    work: float = 1.0
    unit: str = "calls"
    device: str = "cpu"
    peer: str = ""
    target: float | None = None
    config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    time: str = ""

    @property
    def archlab_median(self) -> float:
        return statistics.median(self.archlab_times)

    @property
    def peer_median(self) -> float:
        return statistics.median(self.peer_times)

    @property
    def speedup(self) -> float:
        """``peer_median / archlab_median``: how many times faster archlab is (below 1: slower)."""
        return self.peer_median / self.archlab_median

    @property
    def archlab_throughput(self) -> float:
        return self.work / self.archlab_median

    @property
    def peer_throughput(self) -> float:
        return self.work / self.peer_median

    @property
    def meets_target(self) -> bool | None:
        return None if self.target is None else self.speedup >= self.target

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            archlab_median=self.archlab_median,
            peer_median=self.peer_median,
            speedup=self.speedup,
            speedup_means="peer_median / archlab_median; above 1 archlab is faster",
            archlab_throughput=self.archlab_throughput,
            peer_throughput=self.peer_throughput,
            throughput_unit=f"{self.unit}/s",
            meets_target=self.meets_target,
        )
        return data

    def save(self, path: "str | Path") -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, self.to_dict())
        return path


def compare(
    name: str,
    archlab_fn: Callable[[], Any],
    peer_fn: Callable[[], Any],
    *,
    repeats: int = 5,
    warmup: int = 1,
    setup: Callable[[str], Any] | None = None,
    sync: Callable[[], Any] | None = None,
    timer: Callable[[], float] = time.perf_counter,
    work: float = 1.0,
    unit: str = "calls",
    device: str = "cpu",
    peer: str = "",
) -> BenchResult:
    """Time ``archlab_fn`` and ``peer_fn`` side by side: ``warmup`` untimed calls each, then ``repeats``
    timed rounds in alternating order.

    ``setup(side)`` runs untimed before every call (``side`` is ``"archlab"`` or ``"peer"``); ``sync()``
    runs inside the timed region after every call (``torch.cuda.synchronize`` on a GPU).
    """
    if repeats < 1:
        raise ValueError(f"repeats={repeats} must be at least 1")
    if warmup < 0:
        raise ValueError(f"warmup={warmup} must not be negative")
    fns = {"archlab": archlab_fn, "peer": peer_fn}

    def call(side: str) -> float:
        if setup is not None:
            setup(side)
        start = timer()
        fns[side]()
        if sync is not None:
            sync()
        return timer() - start

    for _ in range(warmup):
        for side in SIDES:
            call(side)
    times: dict[str, list[float]] = {side: [] for side in SIDES}
    order: list[str] = []
    for i in range(repeats):
        for side in SIDES if i % 2 == 0 else SIDES[::-1]:
            times[side].append(call(side))
            order.append(side)
    return BenchResult(
        name=name,
        archlab_times=times["archlab"],
        peer_times=times["peer"],
        order=order,
        work=work,
        unit=unit,
        device=device,
        peer=peer,
        versions=versions(),
        time=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
