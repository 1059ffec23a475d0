"""Folders written whole: one builder at a time, built beside their place, swapped in when complete.

Cached models, SFT sets and checkpoints are folders other processes read; none of them may ever
see one half-written.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def build_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``.<name>.lock`` beside ``out`` while the block runs.

    Callers check again inside the block whether ``out`` is complete: another process may have
    built it while this one waited.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def replace_dir(src: Path, out: Path) -> None:
    """Put the complete folder ``src`` at ``out``; an older ``out`` is moved aside first and then
    removed, so a reader finds the old folder or the new one."""
    old = out.with_name(f".{out.name}.replaced")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    src.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def staging_dir(out: Path) -> Iterator[Path]:
    """A fresh folder beside ``out`` to build in; it replaces ``out`` when the block ends without
    error and is removed when it raises."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    # mkdtemp makes the folder 0700; the finished folder is an ordinary one other users may read.
    tmp.chmod(0o777 & ~_umask())
    try:
        yield tmp
        replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
