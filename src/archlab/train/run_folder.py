"""A run's claim on its output folder: one run per folder, and no earlier run replaced without a word.

``claim_run_folder(folder, resume=..., overwrite=...)`` is held for the whole life of a run:

- an exclusive advisory lock (``fcntl.flock``) on ``folder/.lock``, which names its holder (process id and
  host); a second run into the same folder fails at once with a one-line ``UserError`` naming that holder,
  instead of interleaving metrics and mixing checkpoints. The lock goes with the process, however it ends.
- a new run (not ``resume``) into a folder that holds an earlier run's outputs (``final/``, checkpoints,
  ``metrics.jsonl``) is refused unless ``overwrite``, which deletes them first.

The lock is re-entrant within one process (``archlab train`` claims the folder before it loads the data,
``fit`` claims it again); only the outermost claim releases it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from archlab.errors import UserError

LOCK_NAME = ".lock"

_held: dict[Path, int] = {}  # folder -> how many claims of this process hold its lock


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    key = folder.resolve()
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "another process"
            raise UserError(f"--out {str(folder)!r} is in use by another run ({holder}); wait for it to end "
                            "or pass another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _refuse_or_clear(folder: Path, outputs: Sequence[str], overwrite: bool) -> None:
    found = [name for name in outputs if (folder / name).exists()]
    if not found:
        return
    if not overwrite:
        raise UserError(f"--out {str(folder)!r} already holds a run ({', '.join(found)}); pass --resume to "
                        "continue it, --overwrite to replace it, or another --out")
    for name in found:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


@contextmanager
def claim_run_folder(folder: Path, *, outputs: Sequence[str], resume: bool, overwrite: bool) -> Iterator[None]:
    """Hold ``folder`` for one run (created if missing): locked, and free of an earlier run's ``outputs``
    (names inside it) unless the run ``resume``s; ``overwrite`` deletes them instead of refusing."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        if not resume:
            _refuse_or_clear(folder, outputs, overwrite)
        yield
