"""One process per output directory: train, test, export and import hold a lock on theirs.

Two runs writing the same folder would interleave checkpoints, options.json and index.html
(or one would rename a directory away under the other). The second one is refused with a
one-line error naming the holder's PID.

How: ``fcntl.flock`` on a small lock file, not an O_EXCL "exists means taken" file. The
kernel drops a flock when its holder dies, however it dies (SIGKILL, a crash, power loss
on a network mount's client), so a lock is never left held by nobody, and no guess from a
PID (reused numbers, a holder on another machine sharing the folder) decides whether a lock
is stale. The holder writes its PID, host, mode and start time into the file only so that
the refusal can name it; a file still holding a PID that nobody locks was left by a run
that ended without cleaning up, and is taken over with a note.

Where: beside the output directory, ``PARENT/.NAME.pix2pix-lock``, because export and import
replace the directory itself (a lock file inside would move away with the old copy, and
would make an empty directory look used). If the parent cannot take a file (say the output
directory is a mount point), the lock file goes inside the directory, ``.pix2pix-lock``.
The file is deleted when the lock is released.
"""

import contextlib
import datetime
import errno
import os
import socket

try:
    import fcntl
except ImportError:  # not POSIX: no locking (the project runs on Linux and macOS)
    fcntl = None

from pix2pix.errors import Pix2PixError

LOCK_SUFFIX = ".pix2pix-lock"
# Errors that mean "this file system does not do flock", not "someone holds it".
_NO_LOCKING = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


def lock_path(output_dir: str, beside: bool = True) -> str:
    """The lock file of OUTPUT_DIR: PARENT/.NAME.pix2pix-lock, or OUTPUT_DIR/.pix2pix-lock."""
    real = os.path.realpath(output_dir)
    parent, name = os.path.split(real)
    if beside and name:
        return os.path.join(parent, "." + name + LOCK_SUFFIX)
    return os.path.join(real, LOCK_SUFFIX)


def _read_holder(descriptor) -> dict:
    """The fields a holder wrote (pid, host, mode, since); {} if none could be read."""
    try:
        os.lseek(descriptor, 0, os.SEEK_SET)
        text = os.read(descriptor, 4096).decode("utf-8", "replace")
    except OSError:
        return {}
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return fields if fields.get("pid", "").isdigit() else {}


def _describe(holder: dict) -> str:
    if not holder:
        return "a process that has not yet written its PID"
    host = holder.get("host", "?")
    where = "" if host == socket.gethostname() else f" on {host}"
    return (f"PID {holder['pid']}{where} (--mode {holder.get('mode', '?')}, "
            f"since {holder.get('since', '?')})")


def _open_locked(path: str, output_dir: str):
    """A descriptor of PATH holding an exclusive flock, or None if flock is not supported here.

    Retries when PATH was deleted or replaced between open and flock (a holder releasing
    deletes it), so the lock held is always the one on the file PATH names.
    """
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(descriptor)
            os.close(descriptor)
            raise Pix2PixError(f"--output_dir: {output_dir} is in use by {_describe(holder)}; wait for "
                               f"it to finish or choose another --output_dir (lock file {path})") from None
        except OSError as err:
            os.close(descriptor)
            if err.errno in _NO_LOCKING:
                return None
            raise
        try:
            same = os.path.samestat(os.fstat(descriptor), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return descriptor
        os.close(descriptor)


def _open_lock_file(output_dir: str):
    """(path, locked descriptor or None) of OUTPUT_DIR's lock, beside it if the parent allows."""
    path = lock_path(output_dir)
    try:
        return path, _open_locked(path, output_dir)
    except OSError as err:
        if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise Pix2PixError(f"--output_dir: cannot create the lock file {path}: {err.strerror}") from None
        if not os.path.isdir(output_dir):
            raise Pix2PixError(f"--output_dir: cannot create the lock file {path}: {err.strerror}") from None
    path = lock_path(output_dir, beside=False)
    try:
        return path, _open_locked(path, output_dir)
    except OSError as err:
        raise Pix2PixError(f"--output_dir: cannot create the lock file {path}: {err.strerror}") from None


@contextlib.contextmanager
def output_lock(output_dir: str, mode: str):
    """Hold the lock of OUTPUT_DIR for the block (see the module docstring).

    Raises Pix2PixError (one line, naming the holder's PID) if another process holds it.
    Prints a note when it takes over the file of a run that ended without releasing it.
    """
    if fcntl is None:
        yield None
        return
    path, descriptor = _open_lock_file(output_dir)
    if descriptor is None:
        print(f"warning: {os.path.dirname(path)} does not support file locks; nothing stops another "
              f"run from writing {output_dir} at the same time", flush=True)
        yield None
        return
    try:
        previous = _read_holder(descriptor)
        if previous:
            print(f"note: taking over the lock of {output_dir} left by {_describe(previous)}, "
                  "which is no longer running", flush=True)
        since = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        record = f"pid={os.getpid()}\nhost={socket.gethostname()}\nmode={mode}\nsince={since}\n"
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, record.encode("utf-8"), 0)
        yield path
    finally:
        # Deleted while still held: a process that opened it meanwhile sees it is gone and retries.
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(descriptor)
