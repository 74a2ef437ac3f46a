"""Serve mode: the model of --checkpoint behind a local web page and TF Serving's REST API
(pix2pix/serving; docs/security.md for its limits). Starlette and uvicorn (the `serve` extra)
are imported only when it runs."""

import dataclasses

from pix2pix.modes.preparation import prepare
from pix2pix.options.record import Options
from pix2pix.serving.model import find_model_version, served_name
from pix2pix.serving.run import require_web_stack, serve


def serve_mode(options: Options, explicit=None) -> None:
    """`--mode serve`: find the version to serve (TF Serving's numbered exports, or DIR itself),
    prepare its options as infer would, and serve it until SIGTERM (or Ctrl-C)."""
    require_web_stack()
    path, version = find_model_version(options.checkpoint)
    name = served_name(options)
    serve(prepare(dataclasses.replace(options, mode="serve", checkpoint=path), explicit), name, version)


def run(options: Options, explicit=None) -> int:
    serve_mode(options, explicit)
    return 0
