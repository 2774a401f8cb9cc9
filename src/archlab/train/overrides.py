"""``--set section.field=value``: edit nested config dataclasses from the command line.

``apply_overrides(config, ["model.n_layers=4", "optim.lr=3e-4"])`` returns a new config. Each value is
parsed by the type annotation of its field: ``int``, ``float``, ``bool`` (true/false, yes/no, on/off,
1/0), ``str``, ``Literal`` choices, ``Optional[...]`` (``none`` or ``null`` gives None) and tuples
(comma-separated, ``optim.betas=0.9,0.95``). All overrides of one dataclass are applied together, so
validation in ``__post_init__`` sees the final combination (``d_model`` and ``n_heads`` changed at once).
An unknown key, an unparsable value or a combination the config rejects raises ``UserError``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Sequence, Union

from archlab.errors import UserError

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_NONE = {"none", "null"}


def apply_overrides(config: Any, overrides: Sequence[str]) -> Any:
    """Return a copy of the dataclass ``config`` with each ``dotted.key=value`` of ``overrides`` applied."""
    changes: dict[str, Any] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UserError(f"--set {item!r} must look like section.key=value (e.g. optim.lr=3e-4)")
        _insert(config, changes, key.split("."), text.strip(), item)
    return _rebuild(config, changes, prefix="")


def valid_keys(config: Any, prefix: str = "") -> list[str]:
    """Every settable dotted key under ``config`` (sections are expanded into their fields)."""
    keys = []
    for f in _settable_fields(config):
        value = getattr(config, f.name)
        if _is_config(value):
            keys.extend(valid_keys(value, f"{prefix}{f.name}."))
        else:
            keys.append(prefix + f.name)
    return keys


def _is_config(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _settable_fields(config: Any) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(config) if f.init]


def _insert(config: Any, changes: dict[str, Any], parts: list[str], text: str, item: str) -> None:
    """Walk ``parts`` down the config tree, parse ``text`` by the leaf's type, record it in ``changes``."""
    node, prefix = config, ""
    for depth, name in enumerate(parts):
        fields = {f.name: f for f in _settable_fields(node)}
        if name not in fields:
            moved = getattr(node, "MOVED_KEYS", {}).get(name)
            if moved is not None:
                raise UserError(f"--set {item!r}: {prefix + name!r} has moved to {moved}")
            where = f"section {prefix[:-1]!r}" if prefix else "the config"
            choices = ", ".join(valid_keys(node, prefix)) or "(none)"
            raise UserError(f"--set {item!r}: unknown key {prefix + name!r}; valid keys of {where}: {choices}")
        value = getattr(node, name)
        last = depth == len(parts) - 1
        if _is_config(value):
            if last:
                choices = ", ".join(valid_keys(value, f"{prefix}{name}."))
                raise UserError(f"--set {item!r}: {prefix + name!r} is a section; set one of its keys: {choices}")
            changes = changes.setdefault(name, {})
            node, prefix = value, f"{prefix}{name}."
            continue
        if not last:
            raise UserError(f"--set {item!r}: {prefix + name!r} is a value, not a section")
        hint = typing.get_type_hints(type(node)).get(name, Any)
        try:
            changes[name] = parse_value(text, hint, current=value)
        except ValueError as error:
            raise UserError(f"--set {item!r}: bad value for {prefix + name}: {error}") from None
        return


def _rebuild(config: Any, changes: dict[str, Any], prefix: str) -> Any:
    if not changes:
        return config
    updates = {}
    for name, change in changes.items():
        if isinstance(change, dict):
            updates[name] = _rebuild(getattr(config, name), change, f"{prefix}{name}.")
        else:
            updates[name] = change
    try:
        return dataclasses.replace(config, **updates)
    except (ValueError, TypeError) as error:
        where = f" in {prefix[:-1]}" if prefix else ""
        raise UserError(f"--set: invalid value{where}: {error}") from None


def parse_value(text: str, hint: Any, current: Any = None) -> Any:
    """Parse ``text`` as the annotated type ``hint``; raise ``ValueError`` saying what was expected."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or hint is object:
        return text if current is None else parse_value(text, type(current))
    if origin in (Union, types.UnionType):
        if type(None) in args and text.lower() in _NONE:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return parse_value(text, option, current)
            except ValueError as error:
                errors.append(str(error))
        raise ValueError(" or ".join(errors) + (" or none" if type(None) in args else ""))
    if origin is Literal:
        for choice in args:
            if str(choice) == text:
                return choice
        raise ValueError(f"{text!r} is not one of {', '.join(repr(c) for c in args)}")
    if origin is tuple:
        items = [t.strip() for t in text.strip("()[] ").split(",") if t.strip()]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(parse_value(t, args[0]) for t in items)
        if len(items) != len(args):
            raise ValueError(f"{text!r} must be {len(args)} comma-separated values")
        return tuple(parse_value(t, a) for t, a in zip(items, args))
    if hint is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"{text!r} is not a boolean (true/false)")
    if hint is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not an integer") from None
    if hint is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
    if hint is str:
        return text
    raise ValueError(f"fields of type {hint} cannot be set from the command line")
