"""Atomic file writing: a crash never leaves a half-written file under its final name."""

import os
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
