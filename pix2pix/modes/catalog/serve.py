"""--mode serve."""

from pix2pix.modes.definition import Mode

MODE = Mode(
    name="serve", order=7,
    purpose="a local web page and TensorFlow Serving's REST API over one model",
    example="pix2pix --mode serve --checkpoint exported --port 8501",
    needs={"checkpoint": "a training output directory or a SavedModel written by --mode export"},
    run="pix2pix.modes.serve:run")
