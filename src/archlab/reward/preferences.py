"""Preference data in JSONL: one ``{"prompt": ..., "chosen": ..., "rejected": ...}`` object per line.

The format of Anthropic's HH-RLHF and of TRL's reward trainer (``chosen`` and ``rejected`` completions of one
``prompt``). ``read_preferences`` reads such a file with errors that name the line number and what is wrong
there (not JSON, not an object, a missing field, a field that is not a string); blank lines are skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from archlab.errors import UserError

FIELDS = ("prompt", "chosen", "rejected")


@dataclass(frozen=True)
class Preference:
    """One comparison: the ``chosen`` completion of ``prompt`` was preferred to the ``rejected`` one."""

    prompt: str
    chosen: str
    rejected: str


def parse_preference(line: str, *, where: str) -> Preference:
    """One JSONL line as a ``Preference``; ``where`` (``"prefs.jsonl line 3"``) starts every error message."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise UserError(f"{where}: not valid JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(record, dict):
        raise UserError(f"{where}: expected a JSON object with fields {', '.join(FIELDS)}, got {type(record).__name__}")
    for name in FIELDS:
        if name not in record:
            raise UserError(f"{where}: missing field {name!r} (each line needs {', '.join(FIELDS)})")
        if not isinstance(record[name], str):
            raise UserError(f"{where}: field {name!r} must be a string, got {type(record[name]).__name__}")
    return Preference(record["prompt"], record["chosen"], record["rejected"])


def read_preferences(path: str | Path) -> list[Preference]:
    """Every record of the JSONL file at ``path``, in order; ``UserError`` naming the line of a bad one."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"preference file {str(path)!r} does not exist")
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                records.append(parse_preference(line, where=f"{path.name} line {number}"))
    if not records:
        raise UserError(f"{path} holds no preference records")
    return records


def write_preferences(path: str | Path, records: list[Preference]) -> Path:
    """Write ``records`` as JSONL (one object per line, UTF-8); returns the path."""
    path = Path(path)
    lines = [json.dumps({"prompt": r.prompt, "chosen": r.chosen, "rejected": r.rejected}) for r in records]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path
