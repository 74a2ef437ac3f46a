"""Atomic file writing: a crash never leaves a half-written file (or directory) under its final name."""

import os
import shutil
import tempfile


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write DATA to PATH via a temporary file in the same directory and a rename."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    """Write TEXT (UTF-8) to PATH atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def replace_directory(staging: str, final: str) -> None:
    """Rename the finished directory STAGING to FINAL, replacing whatever FINAL is.

    FINAL never holds a mix of old and new: the old one first moves to a hidden name beside it,
    then STAGING takes FINAL's name (if that fails the old one moves back), and only then is the
    old one deleted. Both must be on the same file system.
    """
    if not os.path.lexists(final):
        os.rename(staging, final)
        return
    aside = tempfile.mkdtemp(prefix="." + os.path.basename(final) + ".old-", dir=os.path.dirname(final) or ".")
    previous = os.path.join(aside, "previous")
    os.rename(final, previous)
    try:
        os.rename(staging, final)
    except BaseException:
        os.rename(previous, final)
        raise
    shutil.rmtree(aside, ignore_errors=True)
