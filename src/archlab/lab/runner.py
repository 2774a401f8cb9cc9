"""The claim runner: seed, measure, save the figure and a JSON record, never let one claim kill the rest.

``run_claim`` runs one seed; ``archlab run`` and ``archlab atlas`` call it once per seed through
``archlab.lab.seeds.run_claim_seeds``. A claim that raises is recorded as
not holding, with the error message and traceback, so that one broken experiment cannot stop a report; a claim that
lacks an optional package (``archlab.lab.optional``) is recorded as skipped, with the line that installs it.
Metrics are made JSON-safe on the way out (see ``to_jsonable``): tensors and NumPy scalars become plain
numbers and the non-finite floats become the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from archlab.data.streams import seed_everything
from archlab.lab.claim import Claim, Scale
from archlab.lab.optional import missing_optional_package, skip_reason
from archlab.lab.registry import get_claim

logger = logging.getLogger(__name__)


@dataclass
class ClaimResult:
    """One run of one claim: what was claimed, what was measured, and how to reproduce it.

    ``figure`` is the PNG's file name relative to the output folder (``None`` when the claim drew none);
    ``error`` is ``"ExceptionType: message"`` when the claim raised, in which case ``holds`` is False;
    ``skipped`` says which optional package is missing and how to install it (``holds`` False, no error).
    """

    id: str
    family: str
    statement: str
    source: str
    rule: str
    metrics: dict[str, Any]
    holds: bool
    seconds: float
    scale: str
    seed: int
    key_metric: str | None
    figure: str | None
    command: str
    versions: dict[str, str]
    time: str
    error: str | None = None
    traceback: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reproduce_command(claim_id: str, scale: "Scale | str", seed: int) -> str:
    """The exact command line that reruns one claim."""
    return f"archlab run {claim_id} --scale {Scale.parse(scale).value} --seed {seed}"


def versions() -> dict[str, str]:
    """Versions of Python, torch, NumPy and archlab, for the record."""
    import numpy
    import torch

    import archlab

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "archlab": archlab.__version__,
    }


def to_jsonable(value: Any) -> Any:
    """``value`` with tensors, NumPy values, tuples and paths turned into plain JSON types.

    Non-finite floats become ``"NaN"``, ``"Infinity"`` or ``"-Infinity"`` so that the output is strict JSON.
    """
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # torch.Tensor, numpy.ndarray and numpy scalars
        return to_jsonable(value.tolist())
    if hasattr(value, "item"):
        return to_jsonable(value.item())
    raise TypeError(f"cannot store a {type(value).__name__} in a JSON record: {value!r}")


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(to_jsonable(data), indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _prepare_matplotlib() -> None:
    """Draw off-screen unless pyplot is already in use (then keep the user's backend; savefig works on any)."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")


def _pyplot_figures() -> set[int]:
    import matplotlib.pyplot as plt

    return set(plt.get_fignums())


def _close_figures_except(keep: set[int]) -> None:
    import matplotlib.pyplot as plt

    for number in _pyplot_figures() - keep:
        plt.close(number)


def run_claim(
    claim_or_id: "Claim | str",
    scale: "Scale | str" = Scale.QUICK,
    seed: int = 0,
    out: "str | Path | None" = None,
    *,
    stem: str | None = None,
) -> ClaimResult:
    """Run one claim seeded with ``seed`` at ``scale``; save ``<out>/<stem>.png`` and ``<out>/<stem>.json``.

    ``stem`` defaults to the claim's id (``archlab.lab.seeds`` names one file per seed). With ``out=None`` nothing
    is written. Figures the claim opened are closed. Unknown ids raise ``KeyError`` and a
    bad scale ``ValueError``; anything the claim itself raises is recorded in the result instead.
    """
    claim = get_claim(claim_or_id) if isinstance(claim_or_id, str) else claim_or_id
    scale = Scale.parse(scale)
    stem = claim.id if stem is None else stem
    out_dir = Path(out) if out is not None else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)

    _prepare_matplotlib()
    figures_before = _pyplot_figures()
    seed_everything(seed)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    metrics: dict[str, Any] = {}
    details: dict[str, Any] = {}
    holds, key_metric, figure_name, error, trace, skipped = False, None, None, None, None, None
    t0 = time.perf_counter()
    try:
        evidence = claim.measure(scale, seed)
        seconds = time.perf_counter() - t0
        metrics, details = to_jsonable(evidence.metrics), to_jsonable(evidence.details)
        holds, key_metric = evidence.holds, evidence.key
        if evidence.figure is not None and out_dir is not None:
            figure_name = f"{stem}.png"
            evidence.figure.savefig(out_dir / figure_name, dpi=100, bbox_inches="tight")
    except Exception as exc:  # a broken claim is a result (does not hold), not the end of the atlas
        seconds = time.perf_counter() - t0
        holds, figure_name = False, None
        package = missing_optional_package(exc) if isinstance(exc, ImportError) else None
        if package is not None:
            skipped = skip_reason(package)
        else:
            error, trace = f"{type(exc).__name__}: {exc}", traceback.format_exc()
        logger.debug("claim %s raised", claim.id, exc_info=True)
    finally:
        _close_figures_except(figures_before)

    result = ClaimResult(
        id=claim.id,
        family=claim.family,
        statement=claim.statement,
        source=claim.source,
        rule=claim.rule,
        metrics=metrics,
        holds=holds,
        seconds=round(seconds, 3),
        scale=scale.value,
        seed=seed,
        key_metric=key_metric,
        figure=figure_name,
        command=reproduce_command(claim.id, scale, seed),
        versions=versions(),
        time=started,
        error=error,
        traceback=trace,
        details=details,
        skipped=skipped,
    )
    if out_dir is not None:
        write_json(out_dir / f"{stem}.json", result.to_dict())
    return result

