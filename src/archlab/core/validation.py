"""Range and choice checks for config dataclasses and layer constructors, with one wording everywhere.

Each check raises ``ValueError`` naming the field, its value and the rule (``vocab_size=0 must be >= 1``).
``source`` is a config object (fields read with ``getattr``) or a mapping of names to values (for a layer
constructor's arguments, e.g. ``dict(d_model=d_model, d_state=d_state)``); ``names`` picks the fields to
check, and with a mapping and no names every entry is checked. Fields are checked in the order given, so
the first bad one is reported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any


def _items(source: Any, names: tuple[str, ...]) -> Iterable[tuple[str, Any]]:
    if not names:
        if not isinstance(source, Mapping):
            raise TypeError("name the fields to check, or pass a mapping of names to values")
        return source.items()
    if isinstance(source, Mapping):
        return ((name, source[name]) for name in names)
    return ((name, getattr(source, name)) for name in names)


def _suffix(note: str) -> str:
    return f" {note}" if note else ""


def _finite(value: Any) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def check_at_least(source: Any, minimum: int, *names: str, note: str = "") -> None:
    """``{name}={value} must be >= {minimum}`` (then `` {note}``, if given) unless every field is >= ``minimum``
    and finite."""
    for name, value in _items(source, names):
        if not value >= minimum:
            raise ValueError(f"{name}={value} must be >= {minimum}{_suffix(note)}")
        if not _finite(value):
            raise ValueError(f"{name}={value} must be >= {minimum} and finite{_suffix(note)}")


def check_optional_at_least(source: Any, minimum: int, *names: str, default: str | None = None) -> None:
    """As ``check_at_least`` for fields where ``None`` stands for a default (skipped); with ``default`` the
    message ends `` (or None for {default})``."""
    note = f"(or None for {default})" if default is not None else ""
    for name, value in _items(source, names):
        if value is not None and not value >= minimum:
            raise ValueError(f"{name}={value} must be >= {minimum}{_suffix(note)}")
        if value is not None and not _finite(value):
            raise ValueError(f"{name}={value} must be >= {minimum} and finite{_suffix(note)}")


def check_positive(source: Any, *names: str) -> None:
    """``{name}={value} must be > 0`` unless every field is > 0 and finite (a NaN or an infinity fails too)."""
    for name, value in _items(source, names):
        if not value > 0:
            raise ValueError(f"{name}={value} must be > 0")
        if not _finite(value):
            raise ValueError(f"{name}={value} must be > 0 and finite")


def check_choices(source: Any, choices: Mapping[str, Iterable[str]], *, quote: bool = False) -> None:
    """``{name}={value!r} is not one of a, b`` unless each field of ``choices`` is among its allowed strings;
    ``quote=True`` lists them as ``'a', 'b'``."""
    for name, value in _items(source, tuple(choices)):
        allowed = tuple(choices[name])
        if value not in allowed:
            listed = ", ".join(repr(a) if quote else a for a in allowed)
            raise ValueError(f"{name}={value!r} is not one of {listed}")


def check_divisible(source: Any, name: str, divisor: str) -> None:
    """``{name}={value} must be divisible by {divisor}={value}`` unless field ``divisor`` divides field ``name``."""
    (_, value), (_, by) = _items(source, (name, divisor))
    if value % by:
        raise ValueError(f"{name}={value} must be divisible by {divisor}={by}")
