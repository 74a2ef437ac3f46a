"""--mode export."""

import os

from pix2pix.inference.onnx_export import require_onnx_tools
from pix2pix.io.web_runtime import find_runtime
from pix2pix.inference.tflite_export import calibration_files
from pix2pix.modes.definition import Mode
from pix2pix.options.record import check_export_format
from pix2pix.options.stored import OPTIONS_FILE, read_options_file


def _check(options) -> None:
    """--format and --quantize agree with the other flags; onnx and web: tf2onnx and onnxruntime
    installed; web: its runtime found; tflite --quantize int8: calibration images found."""
    check_export_format(options)
    if options.format in ("onnx", "web"):
        require_onnx_tools()
    if options.format == "web":
        find_runtime(options.web_runtime)
    stored = os.path.join(options.checkpoint or "", OPTIONS_FILE)
    # A model of data at its own depth is refused by export itself (int8 calibrates on pictures).
    arrays = os.path.isfile(stored) and read_options_file(options.checkpoint).get("data_types")
    if options.format == "tflite" and options.quantize == "int8" and not arrays and (
            options.input_dir or os.path.isfile(stored)):
        calibration_files(options)  # else the checks of --checkpoint answer first


MODE = Mode(
    name="export", order=3, deterministic=True,
    purpose="write a SavedModel that translates photos of any size",
    example="pix2pix --mode export --checkpoint run --output_dir exported",
    needs={"checkpoint": "the training output directory to use", "output_dir": "where the SavedModel goes"},
    check=_check,
    run="pix2pix.modes.export:run")
