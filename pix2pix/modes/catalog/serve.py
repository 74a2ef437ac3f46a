"""--mode serve."""

import os

from pix2pix.errors import UsageError
from pix2pix.modes.definition import Mode


def _check(options) -> None:
    """--page_dir: a folder with an index.html (a --format web export's web folder)."""
    if options.page_dir and not os.path.isfile(os.path.join(options.page_dir, "index.html")):
        raise UsageError(f"--page_dir: no index.html in {options.page_dir} (give a --format web export's web folder)")


MODE = Mode(
    name="serve", order=7, deterministic=True,
    purpose="a local web page and TensorFlow Serving's REST API over one model",
    example="pix2pix --mode serve --checkpoint exported --port 8501",
    needs={"checkpoint": "a training output directory or a SavedModel written by --mode export"},
    check=_check,
    run="pix2pix.modes.serve:run")
