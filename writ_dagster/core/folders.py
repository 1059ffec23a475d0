"""Folders written whole: one builder at a time, built beside their place, swapped in when complete.

Cached models, SFT sets and checkpoints are folders other processes read; none of them may ever
see one half-written.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import shutil
import sys
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
    """Put the complete folder ``src`` at ``out``, so that a reader, or a process killed at any moment,
    finds the old folder or the new one under ``out``, never neither.

    On Linux the two are swapped in one step (``renameat2`` with ``RENAME_EXCHANGE``); elsewhere the
    old folder is moved aside first, and a replace interrupted between the two renames is undone by
    the next one."""
    old = out.with_name(f".{out.name}.replaced")
    if not out.exists() and old.is_dir():  # an earlier replace was interrupted between its renames
        old.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    if out.is_dir() and _exchange(src, out):
        shutil.rmtree(src, ignore_errors=True)  # src now holds the old folder
        return
    if out.exists():
        out.rename(old)
    src.rename(out)
    shutil.rmtree(old, ignore_errors=True)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2``); False where this system or file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:  # a C library older than glibc 2.28
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def umask() -> int:
    """This process's file-creation mask (read without changing it for longer than the call)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def parents_made_for(path: Path) -> Iterator[None]:
    """Create the missing folders above ``path``; if the block raises, remove those of them it left
    empty, so a failed write leaves the tree as it found it."""
    missing = []
    folder = path.parent
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)  # deepest first
        folder = folder.parent
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for made in missing:
            try:
                made.rmdir()
            except OSError:  # not empty (something else wrote there meanwhile) or already gone
                break
        raise


@contextmanager
def staging_dir(out: Path) -> Iterator[Path]:
    """A fresh folder beside ``out`` to build in; it replaces ``out`` when the block ends without
    error and is removed (with any parent folder made for it) when it raises."""
    with parents_made_for(out):
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
        # mkdtemp makes the folder 0700; the finished folder is an ordinary one other users may read.
        tmp.chmod(0o777 & ~umask())
        try:
            yield tmp
            replace_dir(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
