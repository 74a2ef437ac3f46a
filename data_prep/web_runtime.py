"""The ``web_runtime`` operation: onnxruntime-web, the JavaScript runtime of ``--format web`` exports,
fetched once from the npm registry into the user's cache, so that export (and CI's browser tests)
need no network.

    python -m data_prep --operation web_runtime [--output_dir DIR] [--url URL] [--force]

The pinned version, its integrity and the cache's place are in pix2pix/io/web_runtime.py. The
download reuses the dataset download's machinery (data_prep.download.fetch: a ``.part`` resumed with
an HTTP Range request, sizes checked, written without following links):

1. the tarball is streamed into ``DIR/onnxruntime-web-VERSION.tgz.part`` (DIR: the cache,
   $PIX2PIX_CACHE or ~/.cache/pix2pix, unless --output_dir);
2. its sha512 must be the integrity the registry publishes for that version; other bytes are
   deleted and refused, so a wrong or truncated file never takes the tarball's name;
3. the files the page needs must be readable from it (pix2pix.io.web_runtime.runtime_files);
4. it is renamed to ``DIR/onnxruntime-web-VERSION.tgz``.
"""

import os
import time

from data_prep import download
from data_prep.report import Reporter, Summary
from pix2pix.errors import Pix2PixError
from pix2pix.io import web_runtime


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
    url = download.source_url(web_runtime.PACKAGE, url) if url else web_runtime.REGISTRY_URL
    part = destination + ".part"
    download.fetch_resumably(url, part, reporter, web_runtime.MAX_TARBALL_BYTES, cap_flag=None,
                             max_seconds=max_seconds)
    try:
        web_runtime.check_integrity(part, url)
        web_runtime.runtime_files(part)
    except Pix2PixError as error:
        os.unlink(part)
        raise download.DownloadError("%s; the download was deleted" % error) from None
    try:
        os.replace(part, destination)  # same folder: atomic, so the tarball's name is always a whole file
    except OSError as error:
        raise download.DownloadError("cannot write %s: %s" % (destination, error.strerror or error)) from None
    reporter.message("%s %s: %s (%d bytes, integrity checked)"
                     % (web_runtime.PACKAGE, web_runtime.VERSION, destination, os.path.getsize(destination)))
    summary.written = summary.files_written = 1
    summary.seconds = time.monotonic() - started
    return summary
