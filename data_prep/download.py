"""The ``download`` operation: the pix2pix datasets, fetched, checked and unpacked safely.

Standard library only (urllib, tarfile, hashlib). Every step can be interrupted:

1. the archive is streamed into ``OUT/NAME.tar.gz.part`` with a progress bar. A
   ``.part`` left by an earlier run is resumed with an HTTP Range request; a server
   that ignores it (answers 200) is downloaded again from the start. The size must
   match what the server announced (Content-Length / Content-Range), otherwise the
   ``.part`` stays for the next run to resume;
   A body larger than ``Limits.max_download_bytes`` (announced or received, so an
   endless body too) is refused and its .part deleted;
2. its sha256 is computed and compared with the expected one (``--sha256``, else
   KNOWN_SHA256); a mismatch deletes the download. It is recorded either way;
3. it is extracted into a hidden temporary folder next to ``OUT/NAME``. The whole
   archive is refused, naming the members, if any member has an absolute path or a
   ``..``, is a device file or FIFO, is a link leaving the folder or a link at the
   top level (``facades -> .`` would make the dataset a dangling link); tarfile's
   "data" filter checks every member again as it is written. More members than
   ``Limits.max_files`` or more bytes than ``Limits.max_extracted_bytes`` stop the
   extraction. ``SOURCE.json`` (URL, sha256, size, date, files per split) goes into
   the folder;
4. the folder is renamed to ``OUT/NAME`` (so there is never a half dataset under
   that name) and the archive is deleted.
"""

import dataclasses
import datetime
import gzip
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

from data_prep.report import Reporter, Summary, UsageError
from pix2pix.io import files as fileio

# The datasets of the pix2pix paper that its authors serve as NAME.tar.gz (Cityscapes is not
# among them: its licence forbids redistribution; see the README for preparing it).
DATASETS = ("facades", "maps", "edges2shoes", "edges2handbags", "night2day")
# The authors' server answers on https as well as on the http their own download scripts still use.
DEFAULT_URL = "https://efrosgans.eecs.berkeley.edu/pix2pix/datasets/%s.tar.gz"
PLAIN_HTTP_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/%s.tar.gz"

# sha256 of each archive as the authors serve it. They publish no checksums and none could be
# found published elsewhere, so none is known yet: every download records the sha256 it got in
# OUT/NAME/SOURCE.json. To pin a dataset, copy a value from a SOURCE.json you trust here (or
# pass it with --sha256); from then on an archive with other bytes is refused.
KNOWN_SHA256 = {name: None for name in DATASETS}

# Archive sizes on the authors' server (2018 listing): facades 29 MB, maps 239 MB, night2day
# 1.9 GB, edges2shoes 2.0 GB, edges2handbags 8.0 GB (about 138,800 files). JPEGs hardly
# compress, so unpacked they take about as much again. The caps leave ample room above that.
DEFAULT_MAX_DOWNLOAD_MB = 16_000
DEFAULT_MAX_EXTRACTED_MB = 32_000
DEFAULT_MAX_FILES = 1_000_000
MB = 1_000_000

CHUNK_BYTES = 1 << 20
TIMEOUT_SECONDS = 60  # per socket operation; --max_download_seconds bounds the whole download
# The largest tar header record (a pax extended header, a GNU long name or link) read: real ones
# hold a path and a few attributes, a few hundred bytes. tarfile reads such a record whole, in
# one read, before any cap can look at it (a 1.5 MB .tar.gz can hold a 1.5 GB record).
MAX_HEADER_RECORD_BYTES = 1 << 20
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


@dataclasses.dataclass(frozen=True)
class Limits:
    """Caps on what one download may take; the flags that raise each are named in the errors."""
    max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_MB * MB
    max_extracted_bytes: int = DEFAULT_MAX_EXTRACTED_MB * MB
    max_files: int = DEFAULT_MAX_FILES
    max_seconds: float = 0  # the whole download's deadline (--max_download_seconds); 0: none


def _in_megabytes(size):
    """A byte count as the --max_*_mb flags take it."""
    return "%g" % (size / MB)


def check_output_dir(output_dir, operation):
    """UsageError unless OUTPUT_DIR is given and is a directory or does not exist yet."""
    if not output_dir:
        raise UsageError("--output_dir is required for --operation %s" % operation)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise UsageError("--output_dir: exists and is not a directory: %s" % output_dir)


def check_sha256(value):
    """The lower-case hex digest of a --sha256 value; UsageError unless it is 64 hex digits."""
    if value is None:
        return None
    text = value.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise UsageError("--sha256: expected 64 hexadecimal digits, got %r" % value)
    return text


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


def _too_large(url, size, max_bytes, part_path, cap_flag):
    """The error for a body over the cap; the .part goes (resuming it cannot help). CAP_FLAG
    names the flag that sets the cap, or None for a fixed cap."""
    if os.path.isfile(part_path) and not os.path.islink(part_path):
        os.unlink(part_path)
    if cap_flag is None:
        return DownloadError("the file from %s is larger than the %s MB this download may take (%s); nothing "
                             "was kept" % (url, _in_megabytes(max_bytes), _size_text(size)))
    return DownloadError("the archive from %s is larger than %s %s (%s); nothing was kept "
                         "(raise %s if it should be that large)"
                         % (url, cap_flag, _in_megabytes(max_bytes), _size_text(size), cap_flag))


def _open_part(part_path, append):
    """The .part opened for writing without following a link planted in its place (O_NOFOLLOW):
    appending to a link would write the download into whatever file it points at."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC) | getattr(os, "O_NOFOLLOW", 0)
    try:
        return os.fdopen(os.open(part_path, flags, 0o666), "ab" if append else "wb")
    except OSError as error:
        raise DownloadError("cannot write %s: %s" % (part_path, _reason(error))) from None


def _part_size(part_path):
    """Bytes already in the .part (0 if none); DownloadError if it is a link (never followed)."""
    if os.path.islink(part_path):
        raise DownloadError("%s is a symbolic link; a download never writes through one (remove it and run "
                            "the command again)" % part_path)
    return os.path.getsize(part_path) if os.path.isfile(part_path) else 0


def fetch(url, part_path, reporter, max_bytes=Limits.max_download_bytes, cap_flag="--max_download_mb",
          max_seconds=0):
    """Download ``url`` into ``part_path``, resuming what is there; returns the URL it came from.

    Raises DownloadError with one line (the .part is kept for resuming) when the
    server cannot be reached, answers with an error, the connection ends early or the
    download takes more than ``max_seconds`` (when not 0); a body over ``max_bytes``
    (announced, or counted as it arrives) is refused and the .part deleted.
    """
    deadline = time.monotonic() + max_seconds if max_seconds else None
    offset = _part_size(part_path)
    response, offset, total = _start_transfer(url, offset, reporter)
    if total is not None and total > max_bytes:
        if response is not None:
            response.close()
        raise _too_large(url, total, max_bytes, part_path, cap_flag)
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
        with response, _open_part(part_path, bool(offset)) as handle:
            # read1: whatever has arrived (up to a chunk), so a stalled or interrupted
            # transfer has written everything it received to the .part
            read_some = getattr(response, "read1", response.read)
            try:
                while True:
                    chunk = read_some(CHUNK_BYTES)
                    if not chunk:
                        break
                    received = handle.tell() + len(chunk)
                    if received > max_bytes:  # an endless or lying body: stop before writing past the cap
                        stopped = "cap"
                        break
                    handle.write(chunk)
                    handle.flush()  # on disk as it arrives: what the .part holds is what was received
                    reporter.advance(len(chunk))
                    if deadline is not None and time.monotonic() > deadline:
                        stopped = "deadline"
                        break
            except (OSError, http.client.HTTPException) as error:  # reset, timeout, truncated chunk
                stopped = _reason(error)
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        reporter.finish()
    size = os.path.getsize(part_path)
    if stopped == "cap":
        raise _too_large(url, received, max_bytes, part_path, cap_flag)
    if stopped == "deadline":
        raise DownloadError("download of %s took more than --max_download_seconds %g; stopped after %d bytes, "
                            "which %s keeps: run the same command again to resume"
                            % (url, max_seconds, size, part_path))
    if total is not None and size > total:
        os.unlink(part_path)
        raise DownloadError("%s sent %d bytes but announced %d; the download was deleted, run the command again"
                            % (url, size, total))
    if stopped or (total is not None and size < total):
        raise DownloadError("download of %s stopped after %d of %s bytes (%s); run the same command again to "
                            "resume" % (url, size, total if total is not None else "?",
                                        stopped or "the connection closed early"))
    return final_url


def fetch_resumably(url, part, reporter, max_bytes, plain_http_url=None, cap_flag="--max_download_mb",
                    max_seconds=0):
    """fetch(), saying on Ctrl-C what the .part keeps for the next run; PLAIN_HTTP_URL (the authors'
    server's http address) is suggested when the https one cannot be reached."""
    try:
        return fetch(url, part, reporter, max_bytes, cap_flag, max_seconds)
    except DownloadError as error:
        if plain_http_url and str(error).startswith("cannot download"):
            raise DownloadError("%s (if https is what fails, the authors' server also answers on plain http: "
                                "--url %s, ideally with --sha256)" % (error, plain_http_url)) from None
        raise
    except KeyboardInterrupt:
        if os.path.isfile(part):
            reporter.message("stopped: %s keeps the %d bytes received; run the same command again to resume"
                             % (part, os.path.getsize(part)))
        raise


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


def _is_top_level(name):
    return "/" not in posixpath.normpath(name.replace("\\", "/")).strip("/")


def member_problem(member):
    """Why a tar member is unsafe to extract (it could write outside the folder), or None."""
    name = member.name
    if _is_absolute(name):
        return "absolute path"
    if _has_parent_step(name):
        return "'..' in the path"
    if (member.issym() or member.islnk()) and _is_top_level(name):
        # the dataset folder itself would be a link: after the move it points nowhere (or anywhere)
        return "link at the top level of the archive"
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


def _check_caps(archive_label, members, unpacked, limits):
    """DownloadError naming the flag when the archive passes --max_files or --max_extracted_mb."""
    if members > limits.max_files:
        raise DownloadError("refused the archive from %s: more than --max_files %d entries; extraction stopped "
                            "(raise --max_files if it should hold that many)" % (archive_label, limits.max_files))
    if unpacked > limits.max_extracted_bytes:
        raise DownloadError("refused the archive from %s: it unpacks to more than --max_extracted_mb %s; "
                            "extraction stopped (raise --max_extracted_mb if it should be that large)"
                            % (archive_label, _in_megabytes(limits.max_extracted_bytes)))


class _HeaderRecordCap:
    """The decompressed archive as tarfile reads it, refusing any single read over
    MAX_HEADER_RECORD_BYTES. tarfile reads member data in 16 KB pieces but a pax extended
    header or a GNU long name or link record whole, in one read of the size its header gives:
    this refuses such a record by that size, before anything of it is read or decompressed."""

    def __init__(self, stream, archive_label):
        self.stream, self.archive_label = stream, archive_label

    def read(self, size=-1):
        if size is None or size < 0 or size > MAX_HEADER_RECORD_BYTES:
            raise DownloadError("refused the archive from %s: a tar header record (pax or GNU long name) of "
                                "%s bytes, more than the %d any real archive needs"
                                % (self.archive_label, size if size is not None and size >= 0 else "unbounded",
                                   MAX_HEADER_RECORD_BYTES))
        return self.stream.read(size)

    def seek(self, offset, whence=os.SEEK_SET):
        return self.stream.seek(offset, whence)

    def tell(self):
        return self.stream.tell()


def extract_safely(archive, folder, archive_label, limits=Limits()):
    """Extract the .tar.gz ``archive`` into the empty ``folder``; returns the number of files.

    One pass: members are checked (member_problem) and extracted in order; after
    the first unsafe one nothing more is extracted, but the rest are still
    checked so the error names them all. Each member is counted against
    ``limits`` before it is written. Raises UnsafeArchiveError (the caller
    deletes ``folder``) or DownloadError for an archive that is not a .tar.gz
    or passes a cap.
    """
    refused = []
    files = members = unpacked = 0
    try:
        with gzip.open(archive, "rb") as stream, \
                tarfile.open(fileobj=_HeaderRecordCap(stream, archive_label), mode="r:") as tar:
            for member in tar:
                members += 1
                unpacked += member.size if member.isfile() else 0
                _check_caps(archive_label, members, unpacked, limits)
                problem = member_problem(member)
                if problem is None and not refused:
                    problem = _extract_member(tar, member, folder)
                if problem:
                    refused.append((member.name, problem))
                elif member.isfile():
                    files += 1
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise DownloadError("%s is not a readable .tar.gz archive (%s)" % (archive_label, _reason(error))) from None
    if refused:
        raise UnsafeArchiveError(_refusal_line(archive_label, refused))
    return files


def dataset_root(folder):
    """The dataset inside an extraction folder: its only top-level directory, or the folder itself.

    A link is never taken for the dataset (extract_safely refuses top-level links; this holds
    even without that check), so what is moved into place is a real folder inside ``folder``.
    """
    visible = [entry for entry in os.listdir(folder) if not entry.startswith(".")]
    if len(visible) == 1:
        only = os.path.join(folder, visible[0])
        if os.path.isdir(only) and not os.path.islink(only):
            return only
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


def check_archive_sha256(part, url, expected):
    """The archive's sha256; a mismatch with ``expected`` (when known) deletes it and raises DownloadError."""
    sha256 = file_sha256(part)
    if expected and sha256 != expected:
        os.unlink(part)
        raise DownloadError("the archive from %s has sha256 %s, expected %s; it was deleted and nothing was "
                            "extracted" % (url, sha256, expected))
    return sha256


def _unpack(name, urls, part, output_dir, destination, limits, expected):
    """Check the archive ``part`` against ``expected``, extract it beside ``destination`` and move
    it into place; returns (files, splits, sha256). ``urls``: (asked for, answered from).
    Everything it creates lives in one hidden staging folder in ``output_dir``, which is the
    only thing deleted on failure (besides ``part``)."""
    url, final_url = urls
    sha256 = check_archive_sha256(part, url, expected)
    size = os.path.getsize(part)
    folder = _new_hidden_folder(output_dir, name + ".extracting")
    try:
        try:
            files = extract_safely(part, folder, url, limits)
        except DownloadError:
            os.unlink(part)  # the same bytes would fail the same way: no point resuming them
            raise
        if files == 0:
            os.unlink(part)
            raise DownloadError("the archive from %s holds no files" % url)
        root = dataset_root(folder)
        splits = split_file_counts(root)
        fileio.atomic_write_bytes(os.path.join(root, SOURCE_FILE), _source_record(
            name, url, final_url, sha256, size, splits, files).encode("utf-8"))
        fileio.replace_directory(root, destination)  # an existing one (--force) goes only now
    except OSError as error:
        raise DownloadError("cannot extract into %s: %s" % (output_dir, _reason(error))) from None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    os.unlink(part)
    return files, splits, sha256


def _check_limits(limits):
    for flag, value, shown in (("max_download_mb", limits.max_download_bytes, _in_megabytes),
                               ("max_extracted_mb", limits.max_extracted_bytes, _in_megabytes),
                               ("max_files", limits.max_files, str)):
        if not value > 0:
            raise UsageError("--%s must be positive, got %s" % (flag, shown(value)))
    check_max_seconds(limits.max_seconds)


def check_max_seconds(value):
    """UsageError unless --max_download_seconds is 0 (no deadline) or a positive number."""
    if not (value >= 0 and value != float("inf")):
        raise UsageError("--max_download_seconds must be 0 (no deadline) or a positive number of seconds, "
                         "got %s" % value)


def download_dataset(name, output_dir, url=None, force=False, reporter=None, limits=Limits(), sha256=None):
    """Fetch pix2pix dataset ``name`` into ``output_dir/name`` (see the module docstring).

    An existing ``output_dir/name`` is left alone (Summary.skipped = 1) unless
    ``force``. ``sha256`` pins the archive (else KNOWN_SHA256, when known).
    Raises UsageError for bad parameters and DownloadError (one line naming the
    URL) when the download or the archive fails.
    """
    if name not in DATASETS:
        raise UsageError("--dataset must be one of %s, got %r" % (", ".join(DATASETS), name))
    _check_limits(limits)
    expected = check_sha256(sha256) or KNOWN_SHA256.get(name)
    check_output_dir(output_dir, "download")
    reporter = reporter or Reporter()
    started = time.monotonic()
    summary = Summary("download", verb="downloaded")
    destination = os.path.join(output_dir, name)
    if os.path.lexists(destination) and not force:
        reporter.message("%s already exists: left alone (--force downloads %s again and replaces it)"
                         % (destination, name))
        summary.skipped = 1
        return summary
    authors_server = not url
    url = source_url(name, url)
    part = os.path.join(output_dir, name + ".tar.gz.part")
    final_url = fetch_resumably(url, part, reporter, limits.max_download_bytes,
                                PLAIN_HTTP_URL % name if authors_server else None, max_seconds=limits.max_seconds)
    files, splits, sha256 = _unpack(name, (url, final_url), part, output_dir, destination, limits, expected)
    reporter.message("%s: %d files (%s) in %s; sha256 %s recorded in %s" % (
        name, files, ", ".join("%s %d" % item for item in splits.items()) or "no sub-folders", destination,
        sha256, SOURCE_FILE))
    summary.written = 1
    summary.files_written = files
    summary.seconds = time.monotonic() - started
    return summary
