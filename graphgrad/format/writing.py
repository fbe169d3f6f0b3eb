"""Files written whole or not at all: every file graphgrad writes goes through here.

A write straight into the target leaves a torn file when it fails half-way (a full
disk, a killed process) and the good file that was there is lost. Here the bytes go to
a temporary file beside the target, are flushed to disk, and replace the target in one
``os.replace``; a failure removes the temporary file, leaves the target as it was, and
is one :class:`GraphgradError` line (exit 2 on the command line).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO

from graphgrad.errors import GraphgradError

CHUNK = 1 << 20


def write_atomic(path: str | os.PathLike, data: str | bytes, *, what: str = "write") -> None:
    """Write ``data`` (text as UTF-8) to ``path`` atomically; ``what`` names the option or
    call in the error message (``--save``, ``-o``, ``--junit``).

    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "a.txt"
    >>> write_atomic(out, "one"); write_atomic(out, "two"); out.read_text()
    'two'
    >>> write_atomic(out.parent / "missing" / "b.txt", "x", what="-o")
    Traceback (most recent call last):
    graphgrad.errors.GraphgradError: -o ...: cannot write: No such file or directory; nothing was written
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    try:
        if _special(path):
            _write_through(path, payload)  # a device, a FIFO, /dev/stdout: never replaced
            return
        _replace(target, payload)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        kept = "the old file is unchanged" if target.exists() else "nothing was written"
        raise GraphgradError(f"{what} {os.fspath(path)}: cannot write: {reason}; {kept}") from None


def _replace(target: Path, payload: bytes) -> None:
    mode = stat.S_IMODE(target.stat().st_mode) if target.is_file() else None
    fd, temporary = _create_beside(target)
    try:
        with os.fdopen(fd, "wb") as f:
            _write(f, payload)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _special(path: str | os.PathLike) -> bool:
    """Whether ``path`` (followed through links) exists and is not a regular file."""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _write_through(path: str | os.PathLike, payload: bytes) -> None:
    """Write into a character device, a FIFO or a pipe in place: there is nothing to tear,
    and replacing it with a regular file would break it (``-o /dev/null`` as root)."""
    with open(path, "wb") as f:
        _write(f, payload)


def _create_beside(target: Path) -> tuple[int, str]:
    """A new file in the target's folder (the umask applies, as for any new file)."""
    while True:
        temporary = str(target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temporary
        except FileExistsError:
            continue


def _write(f: BinaryIO, payload: bytes) -> None:
    for start in range(0, len(payload), CHUNK):
        f.write(payload[start : start + CHUNK])
