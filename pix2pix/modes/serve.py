"""Serve mode: the model of --checkpoint behind a local web page and TF Serving's REST API
(pix2pix/serving). Starlette and uvicorn (the `serve` extra) are imported only when it runs."""

from pix2pix.options.record import Options
from pix2pix.serving.server import serve_mode


def run(options: Options, explicit=None) -> int:
    serve_mode(options, explicit)
    return 0
