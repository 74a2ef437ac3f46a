"""The ``web_runtime`` operation: onnxruntime-web, the JavaScript runtime of ``--format web`` exports,
fetched once from the npm registry into the user's cache, so that export (and CI's browser tests)
need no network.

    python -m data_prep --operation web_runtime [--output_dir DIR] [--url URL] [--force]

The pinned version, its integrity and the cache's place are in pix2pix/io/web_runtime.py.

1. the tarball arrives in DIR (the cache, $PIX2PIX_CACHE or ~/.cache/pix2pix, unless --output_dir):
   without --url from the npm registry through npm itself (``npm pack onnxruntime-web@VERSION``, into a
   hidden folder there); with --url (a mirror, a file: URL or a local path) through the dataset
   download's machinery (data_prep.download.fetch: streamed into ``DIR/onnxruntime-web-VERSION.tgz.part``,
   resumed with an HTTP Range request after a dropped connection, sizes checked, written without
   following links);
2. its sha512 must be the integrity the registry publishes for that version; other bytes are
   deleted and refused, so a wrong or truncated file never takes the tarball's name;
3. the files the page needs must be readable from it (pix2pix.io.web_runtime.runtime_files);
4. it is renamed to ``DIR/onnxruntime-web-VERSION.tgz``.
"""

import os
import shutil
import subprocess
import tempfile
import time

from data_prep import download
from data_prep.report import Reporter, Summary
from pix2pix.errors import Pix2PixError
from pix2pix.io import web_runtime


def _npm_pack(folder, reporter, max_seconds=0):
    """The pinned tarball fetched by npm into FOLDER; its path. DownloadError (one line) when npm fails."""
    npm = shutil.which("npm")
    spec = "%s@%s" % (web_runtime.PACKAGE, web_runtime.VERSION)
    if npm is None:
        raise download.DownloadError("npm not found: install Node.js (npm), or download %s and pass it as --url "
                                     "(a path or a mirror's URL)" % web_runtime.REGISTRY_URL)
    reporter.message("npm pack %s (from the npm registry)" % spec)
    try:
        result = subprocess.run([npm, "pack", spec, "--pack-destination", folder, "--silent"], capture_output=True,
                                text=True, timeout=max_seconds or None, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise download.DownloadError("npm pack %s took more than --max_download_seconds %g" % (spec, max_seconds)) \
            from None
    path = os.path.join(folder, web_runtime.TARBALL)
    if result.returncode != 0 or not os.path.isfile(path):
        last = (result.stderr.strip().splitlines() or ["exit status %d" % result.returncode])[-1]
        raise download.DownloadError("npm pack %s failed: %s" % (spec, last))
    return path


def _keep_if_pinned(path, destination, source):
    """PATH renamed to DESTINATION if it is the pinned tarball, else deleted and a DownloadError."""
    try:
        web_runtime.check_integrity(path, source)
        web_runtime.runtime_files(path)
    except Pix2PixError as error:
        os.unlink(path)
        raise download.DownloadError("%s; the download was deleted" % error) from None
    try:
        os.replace(path, destination)  # same folder: atomic, so the tarball's name is always a whole file
    except OSError as error:
        raise download.DownloadError("cannot write %s: %s" % (destination, error.strerror or error)) from None


def download_web_runtime(output_dir=None, url=None, force=False, reporter=None, max_seconds=0):
    """Fetch the pinned onnxruntime-web tarball into OUTPUT_DIR (default: the cache); returns a Summary.

    An existing tarball is left alone (skipped) unless FORCE. DownloadError (one line) when the
    download fails or its bytes are not the pinned package's."""
    download.check_max_seconds(max_seconds)
    output_dir = os.path.abspath(output_dir or web_runtime.cache_dir())
    reporter = reporter or Reporter()
    started = time.monotonic()
    summary = Summary("web_runtime", verb="downloaded")
    destination = os.path.join(output_dir, web_runtime.TARBALL)
    if os.path.isfile(destination) and not force:
        reporter.message("%s already exists: left alone (--force downloads it again)" % destination)
        summary.skipped = 1
        return summary
    if url:
        url = download.source_url(web_runtime.PACKAGE, url)
        part = destination + ".part"
        download.fetch_resumably(url, part, reporter, web_runtime.MAX_TARBALL_BYTES, cap_flag=None,
                                 max_seconds=max_seconds)
        _keep_if_pinned(part, destination, url)
    else:
        os.makedirs(output_dir, exist_ok=True)
        folder = tempfile.mkdtemp(prefix=".web_runtime-", dir=output_dir)
        try:
            _keep_if_pinned(_npm_pack(folder, reporter, max_seconds), destination, "npm pack")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    reporter.message("%s %s: %s (%d bytes, integrity checked)"
                     % (web_runtime.PACKAGE, web_runtime.VERSION, destination, os.path.getsize(destination)))
    summary.written = summary.files_written = 1
    summary.seconds = time.monotonic() - started
    return summary
