"""Files on disk, written safely: the project's one atomic writer and one output-directory check.

A crash (or a signal) never leaves a half-written file under its final name: bytes go to a
hidden temporary file beside the target (same file system, so the rename is atomic), are
flushed to disk, and the temporary is renamed over the target. Both pix2pix and data_prep
write through here. No TensorFlow.
"""

import contextlib
import os
import shutil
import tempfile

from pix2pix.errors import Pix2PixError

# Temporary files being written by this process; see remove_unfinished_temporaries.
_unfinished_temporaries = set()


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once: mkstemp creates files as 0600; outputs get what a plain open() would give them.
_FILE_MODE = 0o666 & ~_current_umask()


def remove_unfinished_temporaries():
    """Delete this process's in-progress temporary files (for signal handlers that end the
    process without running ``finally`` blocks)."""
    for temporary in list(_unfinished_temporaries):
        with contextlib.suppress(OSError):
            os.unlink(temporary)


@contextlib.contextmanager
def replacing(path):
    """Yield (descriptor, temporary path) of a new hidden file beside PATH; when the block
    succeeds the file is renamed over PATH, when it fails it is deleted. Until then it is
    listed for remove_unfinished_temporaries."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                                             suffix=".tmp")
    _unfinished_temporaries.add(temporary)
    try:
        yield descriptor, temporary
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    finally:
        _unfinished_temporaries.discard(temporary)


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write DATA to PATH: PATH is then absent, the old file, or the complete new one."""
    with replacing(path) as (descriptor, temporary):
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, _FILE_MODE)


def atomic_write_text(path: str, text: str) -> None:
    """Write TEXT (UTF-8) to PATH atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_copy(source: str, destination: str) -> None:
    """Copy a file (contents and times) so that DESTINATION is never partial."""
    with replacing(destination) as (descriptor, temporary):
        os.close(descriptor)
        shutil.copy2(source, temporary)


def check_output_dir(path: str, flag: str = "output_dir", reuse: str = "any") -> None:
    """Refuse an output directory that cannot be used, naming FLAG; create it if missing.

    REUSE says what an existing directory may hold: "any" (training writes beside what is
    there), "empty", or a file name (e.g. "saved_model.pb": an earlier result of the same
    kind, which the new one replaces). Nothing is created when the check fails.
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise Pix2PixError(f"--{flag}: {path} exists and is not a directory")
    if os.path.isdir(path) and reuse != "any" and os.listdir(path):
        if reuse == "empty":
            raise Pix2PixError(f"--{flag}: {path} already exists and is not an empty directory")
        if not os.path.isfile(os.path.join(path, reuse)):
            raise Pix2PixError(f"--{flag}: {path} is not empty and holds no earlier result "
                               f"({reuse}); choose a new directory (the result replaces the "
                               "whole directory)")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise Pix2PixError(f"--{flag}: cannot create {path}: {err.strerror}") from None
    if not os.access(path, os.W_OK):
        raise Pix2PixError(f"--{flag}: {path} is not writable")


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
