"""The ``download`` operation: the pix2pix datasets, fetched, checked and unpacked safely.

Standard library only (urllib, tarfile, hashlib). Every step can be interrupted:

1. the archive is streamed into ``OUT/NAME.tar.gz.part`` with a progress bar. A
   ``.part`` left by an earlier run is resumed with an HTTP Range request; a server
   that ignores it (answers 200) is downloaded again from the start. The size must
   match what the server announced (Content-Length / Content-Range), otherwise the
   ``.part`` stays for the next run to resume;
2. its sha256 is computed (the authors publish no checksums, so it is recorded);
3. it is extracted into a hidden temporary folder next to ``OUT/NAME``. The whole
   archive is refused, naming the members, if any member has an absolute path or a
   ``..``, is a device file or FIFO, or is a link leaving the folder; tarfile's
   "data" filter checks every member again as it is written. ``SOURCE.json``
   (URL, sha256, size, date, files per split) goes into the folder;
4. the folder is renamed to ``OUT/NAME`` (so there is never a half dataset under
   that name) and the archive is deleted.
"""

import datetime
import hashlib
import http.client
import json
import os
import pathlib
import posixpath
import re
import secrets
import shutil
import tarfile
import time
import urllib.error
import urllib.request
import zlib

from pix2pix.io import images as image_io
from data_prep.report import Reporter, Summary, UsageError
from pix2pix.io import files as fileio

# The datasets of the pix2pix paper that its authors serve as NAME.tar.gz (Cityscapes is not
# among them: its licence forbids redistribution; see the README for preparing it).
DATASETS = ("facades", "maps", "edges2shoes", "edges2handbags", "night2day")
DEFAULT_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/%s.tar.gz"

CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60  # per socket operation, not for the whole download
USER_AGENT = "pix2pix-tf2-data_prep"
SOURCE_FILE = "SOURCE.json"
# Unsafe members named in the error line; the rest are counted.
MAX_NAMED_MEMBERS = 5

# tarfile's extraction filters (Python 3.12, back-ported to 3.10.12 and 3.11.4).
_HAS_TAR_FILTERS = hasattr(tarfile, "data_filter")
_DRIVE = re.compile(r"^[A-Za-z]:")


class DownloadError(Exception):
    """The download or the archive failed; the one-line message names the URL or member."""


class UnsafeArchiveError(DownloadError):
    """The archive has members that could write outside its folder; nothing was extracted."""


def source_url(name, url=None):
    """The URL to fetch: ``url`` (a local file path becomes a file: URL) or the authors' server."""
    if not url:
        return DEFAULT_URL % name
    if "://" not in url:
        if not os.path.isfile(url):
            raise UsageError("--url: not a URL (scheme://...) and no such file: %s" % url)
        return pathlib.Path(url).resolve().as_uri()
    return url


# --- fetching ----------------------------------------------------------------

def _reason(error):
    """One line for an OS or network error."""
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return " ".join(text.split())


def _number(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def _content_range(value):
    """(first byte, total size or None) of a Content-Range "bytes A-B/N" (or "bytes */N"), else (None, None)."""
    match = re.match(r"^\s*bytes\s+(\d+|\*)(?:-\d+)?/(\d+|\*)\s*$", value or "")
    if not match:
        return None, None
    return _number(match.group(1)), _number(match.group(2))


def _open(url, offset):
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = "bytes=%d-" % offset
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_SECONDS)


def _start_transfer(url, offset, reporter):
    """Open ``url`` to continue at byte ``offset``.

    Returns (response, offset the body starts at, total size or None); the
    response is None when the .part already holds the whole file.
    """
    try:
        response = _open(url, offset)
    except urllib.error.HTTPError as error:
        total = _content_range(error.headers.get("Content-Range") if error.headers else None)[1]
        error.close()
        if error.code == 416 and offset:  # Range Not Satisfiable: nothing left to send, or a different file
            if total == offset:
                return None, offset, total
            reporter.message("the server cannot resume at byte %d (HTTP 416): downloading from the start" % offset)
            return _start_transfer(url, 0, reporter)
        raise DownloadError("cannot download %s: HTTP %d %s" % (url, error.code, _reason(error.reason))) from None
    except urllib.error.URLError as error:
        raise DownloadError("cannot download %s: %s" % (url, _reason(error.reason))) from None
    except (OSError, http.client.HTTPException) as error:
        raise DownloadError("cannot download %s: %s" % (url, _reason(error))) from None
    except ValueError as error:  # not a URL urllib knows
        raise UsageError("--url: %s" % error) from None
    status = getattr(response, "status", None)  # None for file: URLs
    length = _number(response.headers.get("Content-Length"))
    if offset and status == 206:
        start, total = _content_range(response.headers.get("Content-Range"))
        if start == offset:
            if total is None and length is not None:
                total = offset + length
            return response, offset, total
        response.close()
        reporter.message("the server resumed at the wrong byte (%s instead of %d): downloading from the start"
                         % (start, offset))
        return _start_transfer(url, 0, reporter)
    if offset:
        reporter.message("the server does not resume downloads (it answered %s to a Range request): "
                         "downloading from the start" % (status or "with the whole file"))
    return response, 0, length


def _size_text(size):
    return "%d bytes" % size if size < 1e6 else "%.1f MB" % (size / 1e6)


def fetch(url, part_path, reporter):
    """Download ``url`` into ``part_path``, resuming what is there; returns the URL it came from.

    Raises DownloadError with one line (the .part is kept for resuming) when the
    server cannot be reached, answers with an error, or the connection ends early.
    """
    offset = os.path.getsize(part_path) if os.path.isfile(part_path) else 0
    response, offset, total = _start_transfer(url, offset, reporter)
    if response is None:
        return url
    final_url = getattr(response, "url", None) or url
    stopped = None
    size_text = _size_text(total) if total is not None else "size not announced"
    reporter.message("%s %s (%s) into %s" % ("resuming at byte %d:" % offset if offset else "downloading",
                                             url, size_text, part_path))
    os.makedirs(os.path.dirname(part_path) or ".", exist_ok=True)
    reporter.start(total or 0, unit="bytes", done=offset)
    try:
        with response, open(part_path, "ab" if offset else "wb") as handle:
            # read1: whatever has arrived (up to a chunk), so a stalled or interrupted
            # transfer has written everything it received to the .part
            read_some = getattr(response, "read1", response.read)
            try:
                while True:
                    chunk = read_some(CHUNK_BYTES)
                    if not chunk:
                        break
                    handle.write(chunk)
                    handle.flush()  # on disk as it arrives: what the .part holds is what was received
                    reporter.advance(len(chunk))
            except (OSError, http.client.HTTPException) as error:  # reset, timeout, truncated chunk
                stopped = _reason(error)
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        reporter.finish()
    size = os.path.getsize(part_path)
    if total is not None and size > total:
        os.unlink(part_path)
        raise DownloadError("%s sent %d bytes but announced %d; the download was deleted, run the command again"
                            % (url, size, total))
    if stopped or (total is not None and size < total):
        raise DownloadError("download of %s stopped after %d of %s bytes (%s); run the same command again to "
                            "resume" % (url, size, total if total is not None else "?",
                                        stopped or "the connection closed early"))
    return final_url


def file_sha256(path):
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- extracting ----------------------------------------------------------------

def _is_absolute(path):
    return path.startswith(("/", "\\")) or bool(_DRIVE.match(path))


def _has_parent_step(path):
    return ".." in path.replace("\\", "/").split("/")


def member_problem(member):
    """Why a tar member is unsafe to extract (it could write outside the folder), or None."""
    name = member.name
    if _is_absolute(name):
        return "absolute path"
    if _has_parent_step(name):
        return "'..' in the path"
    if member.ischr() or member.isblk():
        return "device file"
    if member.isfifo():
        return "FIFO (named pipe)"
    if member.issym():
        if _is_absolute(member.linkname):
            return "symlink to %s, outside the folder" % member.linkname
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
        if resolved == ".." or resolved.startswith("../"):
            return "symlink to %s leaves the folder" % member.linkname
    if member.islnk() and (_is_absolute(member.linkname) or _has_parent_step(member.linkname)):
        return "hard link to %s leaves the folder" % member.linkname
    return None


def _extract_member(tar, member, folder):
    """Extract one member that passed member_problem; returns a problem string or None."""
    if _HAS_TAR_FILTERS:
        try:
            tar.extract(member, folder, filter="data")  # re-checks against the real folder (link chains)
        except tarfile.FilterError as error:
            return str(error)
        return None
    if member.issym() or member.islnk():
        return "link (this Python's tarfile has no extraction filters to check links safely)"
    tar.extract(member, folder)
    return None


def _refusal_line(archive_label, refused):
    named = ", ".join("%s (%s)" % (name, problem) for name, problem in refused[:MAX_NAMED_MEMBERS])
    more = " and %d more" % (len(refused) - MAX_NAMED_MEMBERS) if len(refused) > MAX_NAMED_MEMBERS else ""
    return "refused the archive from %s: %d unsafe member%s: %s%s; nothing was extracted" % (
        archive_label, len(refused), "" if len(refused) == 1 else "s", named, more)


def extract_safely(archive, folder, archive_label):
    """Extract the .tar.gz ``archive`` into the empty ``folder``; returns the number of files.

    One pass: members are checked (member_problem) and extracted in order; after
    the first unsafe one nothing more is extracted, but the rest are still
    checked so the error names them all. Raises UnsafeArchiveError (the caller
    deletes ``folder``) or DownloadError for an archive that is not a .tar.gz.
    """
    refused = []
    files = 0
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                problem = member_problem(member)
                if problem is None and not refused:
                    problem = _extract_member(tar, member, folder)
                if problem:
                    refused.append((member.name, problem))
                elif member.isfile():
                    files += 1
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise DownloadError("%s is not a readable .tar.gz archive (%s)" % (archive_label, _reason(error))) from None
    if refused:
        raise UnsafeArchiveError(_refusal_line(archive_label, refused))
    return files


def dataset_root(folder):
    """The dataset inside an extraction folder: its only top-level directory, or the folder itself."""
    visible = [entry for entry in os.listdir(folder) if not entry.startswith(".")]
    if len(visible) == 1 and os.path.isdir(os.path.join(folder, visible[0])):
        return os.path.join(folder, visible[0])
    return folder


def split_file_counts(root):
    """{sub-folder: number of files below it} for the folders of ``root`` (train, val, test first)."""
    counts = {}
    for entry in sorted(os.listdir(root), key=lambda name: (name not in ("train", "val", "test"), name)):
        path = os.path.join(root, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            counts[entry] = sum(len(files) for _, _, files in os.walk(path))
    return counts


def _new_hidden_folder(parent, label):
    """Create and return PARENT/.LABEL-XXXXXXXX (a fresh name; permissions as for any new folder,
    unlike mkdtemp's private 0700, since it may become the dataset folder itself)."""
    while True:
        path = os.path.join(parent, ".%s-%s" % (label, secrets.token_hex(4)))
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue


def _source_record(name, url, final_url, sha256, size, splits, files):
    record = {"dataset": name, "url": url, "sha256": sha256, "bytes": size, "files": files, "splits": splits,
              "downloaded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if final_url != url:
        record["redirected_to"] = final_url
    return json.dumps(record, indent=2) + "\n"


def _unpack(name, url, final_url, part, output_dir, destination):
    """Extract ``part`` beside ``destination`` and move it into place; returns (files, splits, sha256)."""
    sha256 = file_sha256(part)
    size = os.path.getsize(part)
    folder = _new_hidden_folder(output_dir, name + ".extracting")
    try:
        try:
            files = extract_safely(part, folder, url)
        except DownloadError:
            os.unlink(part)  # the same bytes would fail the same way: no point resuming them
            raise
        if files == 0:
            os.unlink(part)
            raise DownloadError("the archive from %s holds no files" % url)
        root = dataset_root(folder)
        splits = split_file_counts(root)
        image_io.write_bytes_atomically(os.path.join(root, SOURCE_FILE), _source_record(
            name, url, final_url, sha256, size, splits, files).encode("utf-8"))
        fileio.replace_directory(root, destination)  # an existing one (--force) goes only now
    except OSError as error:
        raise DownloadError("cannot extract into %s: %s" % (output_dir, _reason(error))) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    os.unlink(part)
    return files, splits, sha256


def download_dataset(name, output_dir, url=None, force=False, reporter=None):
    """Fetch pix2pix dataset ``name`` into ``output_dir/name`` (see the module docstring).

    An existing ``output_dir/name`` is left alone (Summary.skipped = 1) unless
    ``force``. Raises UsageError for bad parameters and DownloadError (one line
    naming the URL) when the download or the archive fails.
    """
    if name not in DATASETS:
        raise UsageError("--dataset must be one of %s, got %r" % (", ".join(DATASETS), name))
    if not output_dir:
        raise UsageError("--output_dir is required for --operation download")
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise UsageError("--output_dir: exists and is not a directory: %s" % output_dir)
    reporter = reporter or Reporter()
    started = time.monotonic()
    summary = Summary("download", verb="downloaded")
    destination = os.path.join(output_dir, name)
    if os.path.lexists(destination) and not force:
        reporter.message("%s already exists: left alone (--force downloads %s again and replaces it)"
                         % (destination, name))
        summary.skipped = 1
        return summary
    url = source_url(name, url)
    part = os.path.join(output_dir, name + ".tar.gz.part")
    try:
        final_url = fetch(url, part, reporter)
    except KeyboardInterrupt:
        if os.path.isfile(part):
            reporter.message("stopped: %s keeps the %d bytes received; run the same command again to resume"
                             % (part, os.path.getsize(part)))
        raise
    files, splits, sha256 = _unpack(name, url, final_url, part, output_dir, destination)
    reporter.message("%s: %d files (%s) in %s; sha256 %s recorded in %s" % (
        name, files, ", ".join("%s %d" % item for item in splits.items()) or "no sub-folders", destination,
        sha256, SOURCE_FILE))
    summary.written = 1
    summary.files_written = files
    summary.seconds = time.monotonic() - started
    return summary
