"""The ``download_model`` operation: the PyTorch pix2pix's published generators, fetched and checked.

The authors of the PyTorch pix2pix serve five trained generators as
``models-pytorch/NAME.pth`` next to the datasets. ``pix2pix --mode import`` turns
such a file into a training directory of this port. The download reuses the
dataset download's machinery (data_prep.download.fetch):

1. the file is streamed into ``OUT/NAME.pth.part``; a ``.part`` left by an earlier
   run is resumed with an HTTP Range request. A size that differs from the announced
   one keeps nothing final (a short file stays as ``.part`` to resume, a long one is
   deleted); more than ``MAX_MODEL_BYTES`` is refused;
2. its first bytes must be those of a torch.save file (a zip archive or the legacy
   pickle), so an HTML error page answered with status 200 is not taken for weights;
3. its sha256 is compared with ``--sha256`` (else KNOWN_SHA256, when known); a
   mismatch deletes it;
4. it is renamed to ``OUT/NAME.pth`` (never a half file under that name) and
   ``OUT/NAME.source.json`` records the URL, sha256, size and date.
"""

import dataclasses
import datetime
import json
import os
import time

from data_prep import download
from data_prep.report import Reporter, Summary, UsageError
from pix2pix.io import files as fileio

DEFAULT_URL = "https://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/%s.pth"
# The PyTorch repository's script fetches over plain http from the same server.
PLAIN_HTTP_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/%s.pth"

# A 256x256 U-Net generator with ngf 64 is about 218 MB of float32; this leaves room for any
# of the published ones and stops an endless body long before the disk fills.
MAX_MODEL_BYTES = 1_000_000_000

# torch.save writes a zip archive (PyTorch 1.6 and later) or, before, a pickle of protocol 2.
TORCH_FILE_STARTS = (b"PK\x03\x04", b"\x80\x02")


@dataclasses.dataclass(frozen=True)
class PublishedModel:
    """One published generator: what it translates, from which of its dataset's halves."""
    name: str
    dataset: str      # the pix2pix dataset it was trained on (pix2pix-prep --operation download)
    direction: str    # --which_direction on that dataset's A|B pictures
    source: str       # what the input picture shows
    target: str       # what comes out

    def import_flags(self):
        """The flags ``pix2pix --mode import`` needs beyond --checkpoint and --output_dir
        (the network itself is read off the file)."""
        return ["--which_direction", self.direction] if self.direction != "AtoB" else []


# Directions as the PyTorch repository runs them: facades' A is the photo and B the label map;
# maps' A the aerial photo, B the map; night2day's A the night picture; edges2shoes' A the edges.
CATALOGUE = {model.name: model for model in (
    PublishedModel("facades_label2photo", "facades", "BtoA", "facade label map", "photo"),
    PublishedModel("sat2map", "maps", "AtoB", "aerial photo", "map"),
    PublishedModel("map2sat", "maps", "BtoA", "map", "aerial photo"),
    PublishedModel("edges2shoes", "edges2shoes", "AtoB", "shoe edges", "shoe photo"),
    PublishedModel("day2night", "night2day", "BtoA", "daytime photo", "night photo"),
)}
MODEL_NAMES = tuple(CATALOGUE)

# sha256 of each file as the authors serve it. They publish none, so none is known: every
# download records the one it got in OUT/NAME.source.json. Copy a value you trust here (or pass
# --sha256) to pin a model; from then on other bytes are refused.
KNOWN_SHA256 = {name: None for name in MODEL_NAMES}


def model_named(name):
    """The catalogue entry NAME; UsageError listing the names otherwise."""
    if name not in CATALOGUE:
        raise UsageError("--name must be one of %s, got %r" % (", ".join(MODEL_NAMES), name))
    return CATALOGUE[name]


def command_lines(name, models_dir="models", input_dir="pictures"):
    """The commands from the download to translated pictures, one string each."""
    model = model_named(name)
    run = "run_%s" % name
    return [
        "pix2pix-prep --operation download_model --name %s --output_dir %s" % (name, models_dir),
        " ".join(["pix2pix --mode import --checkpoint %s/%s.pth --output_dir %s" % (models_dir, name, run)]
                 + model.import_flags()),
        "pix2pix --mode infer --checkpoint %s --input_dir %s --output_dir %s_out" % (run, input_dir, name),
    ]


def _check_torch_file(part, url):
    """DownloadError (the .part deleted) unless ``part`` starts as a torch.save file does."""
    with open(part, "rb") as handle:
        start = handle.read(4)
    if not start.startswith(TORCH_FILE_STARTS):
        os.unlink(part)
        raise download.DownloadError("%s is not a PyTorch checkpoint (it starts with %r); it was deleted"
                                     % (url, start))


def _check_sha256(part, url, expected):
    sha256 = download.file_sha256(part)
    if expected and sha256 != expected:
        os.unlink(part)
        raise download.DownloadError("the file from %s has sha256 %s, expected %s; it was deleted"
                                     % (url, sha256, expected))
    return sha256


def _source_record(name, url, final_url, sha256, size):
    record = {"model": name, "url": url, "sha256": sha256, "bytes": size,
              "downloaded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if final_url != url:
        record["redirected_to"] = final_url
    return json.dumps(record, indent=2) + "\n"


def download_model(name, output_dir, url=None, force=False, reporter=None, sha256=None, max_seconds=0):
    """Fetch the published generator ``name`` into ``output_dir/name.pth`` (see the module docstring).

    An existing file is left alone (Summary.skipped = 1) unless ``force``. Raises
    UsageError for bad parameters and DownloadError (one line naming the URL) when
    the download fails or its bytes are refused.
    """
    model_named(name)
    download.check_max_seconds(max_seconds)
    expected = download.check_sha256(sha256) or KNOWN_SHA256.get(name)
    download.check_output_dir(output_dir, "download_model")
    reporter = reporter or Reporter()
    started = time.monotonic()
    summary = Summary("download_model", verb="downloaded")
    destination = os.path.join(output_dir, name + ".pth")
    if os.path.lexists(destination) and not force:
        reporter.message("%s already exists: left alone (--force downloads it again and replaces it)" % destination)
        summary.skipped = 1
        return summary
    authors_server = not url
    url = download.source_url(name, url) if url else DEFAULT_URL % name
    part = destination + ".part"
    final_url = download.fetch_resumably(url, part, reporter, MAX_MODEL_BYTES,
                                         PLAIN_HTTP_URL % name if authors_server else None, cap_flag=None,
                                         max_seconds=max_seconds)
    _check_torch_file(part, url)
    sha256 = _check_sha256(part, url, expected)
    size = os.path.getsize(part)
    try:
        os.replace(part, destination)  # same folder: atomic, so NAME.pth is always a whole file
        fileio.atomic_write_text(os.path.join(output_dir, name + ".source.json"),
                                 _source_record(name, url, final_url, sha256, size))
    except OSError as error:
        raise download.DownloadError("cannot write %s: %s" % (destination, error.strerror or error)) from None
    reporter.message("%s: %d bytes in %s; sha256 %s recorded in %s.source.json"
                     % (name, size, destination, sha256, name))
    reporter.message("next: " + command_lines(name, output_dir)[1])
    summary.written = 1
    summary.files_written = 1
    summary.seconds = time.monotonic() - started
    return summary
