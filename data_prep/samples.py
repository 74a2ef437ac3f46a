"""The ``samples`` operation: colour photos shipped inside the scikit-image wheel.

Only files that are part of the installed package are used (never
``skimage.data``'s download path), so this works offline. scikit-image is an
optional dependency (the project's ``demo`` extra) and is imported lazily.
"""

import os
import time

from pix2pix.io import files as fileio
from pix2pix.io import images as image_io
from data_prep.report import Reporter, Summary, UsageError

# (output name, file in skimage/data): the colour photographs bundled with
# scikit-image 0.19-0.26. Synthetic images (colorwheel, logo, chessboards)
# and grey ones are left out: they make poor colorization examples.
SAMPLE_PHOTOS = (
    ("astronaut", "astronaut.png"),
    ("chelsea", "chelsea.png"),
    ("coffee", "coffee.png"),
    ("rocket", "rocket.jpg"),
    ("hubble_deep_field", "hubble_deep_field.jpg"),
    ("immunohistochemistry", "ihc.png"),
    ("retina", "retina.jpg"),
    ("motorcycle_left", "motorcycle_left.png"),
)

MISSING_SKIMAGE_MESSAGE = ("--operation samples needs scikit-image, which is not installed; "
                           "install the project's 'demo' extra (pip install -e '.[demo]') "
                           "or scikit-image itself")


def skimage_data_dir():
    """Folder holding scikit-image's bundled data files; UsageError if not installed."""
    try:
        import skimage.data  # noqa: F401  (lazy: optional dependency)
    except ImportError:
        raise UsageError(MISSING_SKIMAGE_MESSAGE) from None
    return os.path.dirname(skimage.data.__file__)


def available_samples():
    """[(name, path)] of the SAMPLE_PHOTOS present in the installed scikit-image."""
    data_dir = skimage_data_dir()
    found = []
    for name, file_name in SAMPLE_PHOTOS:
        path = os.path.join(data_dir, file_name)
        if os.path.isfile(path):
            found.append((name, path))
    return found


def write_samples(output_dir, image_format="png", quality=image_io.DEFAULT_JPEG_QUALITY,
                  overwrite=False, reporter=None):
    """Write the bundled sample photos to ``output_dir`` as NAME.png (RGB, alpha dropped).

    Existing files are kept unless ``overwrite``. Returns a Summary; raises
    UsageError if scikit-image is missing.
    """
    if not output_dir:
        raise UsageError("--output_dir is required for --operation samples")
    if image_format not in image_io.OUTPUT_FORMATS:
        raise UsageError("--format must be one of %s, got %r" % (", ".join(image_io.OUTPUT_FORMATS), image_format))
    reporter = reporter or Reporter()
    started = time.monotonic()
    samples = available_samples()
    if not samples:
        raise UsageError("this scikit-image installation ships none of the sample photos (%s)"
                         % ", ".join(name for name, _ in SAMPLE_PHOTOS))
    os.makedirs(output_dir, exist_ok=True)
    summary = Summary("samples")
    for name, path in samples:
        destination = os.path.join(output_dir, "%s.%s" % (name, image_format))
        if os.path.exists(destination) and not overwrite:
            summary.skipped += 1
            continue
        try:
            image = image_io.read_image(path)
            fileio.atomic_write_bytes(destination, image_io.encode_image(image, image_format, quality))
        except (image_io.ImageError, OSError) as error:
            summary.failed += 1
            summary.failures.append((path, str(error)))
            reporter.file_failed(path, str(error))
            continue
        summary.written += 1
        summary.files_written += 1
    summary.seconds = time.monotonic() - started
    return summary
