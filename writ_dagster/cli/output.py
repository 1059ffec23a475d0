"""Where an export's ``--out`` points, and writing it there without ever replacing a special file.

A regular file is replaced whole (written beside it, then renamed), so a reader never sees half of
it. A symlink is written through: the link stays and the file it names gets the export, which is
what a user who keeps ``latest.json -> exports/…`` expects (replacing the link would silently cut
it loose). A FIFO, a device or a socket is written into, as a shell redirection would; renaming a
regular file over it would destroy it (``--out /dev/null`` run as root).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from writ_dagster.cli.errors import BadInput
from writ_dagster.core.folders import parents_made_for, umask

_SFT_FILES = {"train.parquet", "validation.parquet", "README.md"}
_SFT_MARK = "train.parquet"  # every export-sft folder has it


def _real(target: str, flag: str = "--out") -> Path:
    """``target`` with every symlink resolved; an empty path is refused (it would mean the current folder)."""
    if not target.strip():
        raise BadInput(f"{flag} must name a path (or - for stdout), got an empty one")
    return Path(os.path.realpath(Path(target).expanduser()))


def write_out_file(text: str, target: str) -> Path:
    """Write ``text`` to the file ``target`` names (see the module docstring); returns the path written.

    Nothing is left beside it when writing fails; an OSError becomes a one-line :class:`BadInput`.
    """
    out = _real(target)
    try:
        try:
            mode = out.stat().st_mode
        except FileNotFoundError:
            mode = None
        if mode is not None and stat.S_ISDIR(mode):
            raise BadInput(f"--out {target!r} is a folder; name a file in it")
        if mode is not None and not stat.S_ISREG(mode):
            with open(out, "w") as fh:  # FIFO, device: written into, never replaced
                fh.write(text)
            return out
        with parents_made_for(out):  # a failed write removes the folders it made, too
            fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
            try:
                with os.fdopen(fd, "w") as fh:
                    fh.write(text)
                # mkstemp makes 0600; the export keeps the old file's mode, or gets what the umask allows.
                os.chmod(tmp, stat.S_IMODE(mode) if mode is not None else 0o666 & ~umask())
                os.replace(tmp, out)  # a reader never sees half a file
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
    except OSError as exc:
        raise BadInput(f"cannot write {out}: {exc.strerror or exc}") from None
    return out


def sft_out_dir(target: str) -> Path:
    """The folder ``export-sft --out`` writes into, checked: an empty path, a file, or a folder that
    holds anything but an earlier export is refused, since the export replaces the folder whole."""
    out = _real(target)
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {target!r} is not a folder")
    if out == Path.cwd().resolve() or out.parent == out:
        raise BadInput(f"--out {target!r} is the current or the root folder; name a new or empty folder")
    if out.is_dir():
        try:
            names = sorted(p.name for p in out.iterdir())
        except OSError as exc:
            raise BadInput(f"cannot read {out}: {exc.strerror or exc}") from None
        others = [name for name in names if name not in _SFT_FILES]
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise BadInput(
                f"--out {target!r} holds other files ({shown}); name a new or empty folder, "
                "or one an earlier export-sft wrote"
            )
        if names and _SFT_MARK not in names:  # a user's own README.md alone is no earlier export
            raise BadInput(
                f"--out {target!r} holds {', '.join(names)} but no {_SFT_MARK}, so no earlier "
                "export-sft wrote it; name a new or empty folder"
            )
    return out
