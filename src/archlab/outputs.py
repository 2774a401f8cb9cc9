"""The output folder of a command, checked before any work: ``check_output_dir(path, option)``.

Every command that writes (``train``, ``run``, ``atlas``, ``bench``, ``sample``) checks its folder first, so a
path that cannot hold the results fails in a second with one line, not after the data is loaded or a
benchmark has run. A folder that does not exist yet is fine when the nearest existing folder above it can
be written: the command creates it.
"""

from __future__ import annotations

import os
from pathlib import Path

from archlab.errors import UserError


def check_output_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """``path`` as a ``Path`` when it is, or can become, a writable folder; else a one-line ``UserError`` naming
    ``option``: an empty path, an existing file, a path under a file, a folder that cannot be written."""
    text = os.fspath(path)
    if not text.strip():
        raise UserError(f"{option} {text!r} is empty; name the folder to write into")
    folder = Path(text).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{option} {text!r} is a file, not a folder; pass a folder")
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{option} {text!r} lies under {str(existing)!r}, which is a file; pass a folder elsewhere")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{option} {text!r} cannot be written: {str(existing)!r} is read-only; pass another folder")
    return folder
