"""--mode export."""

from pix2pix.inference.onnx_export import require_onnx_tools
from pix2pix.io.web_runtime import find_runtime
from pix2pix.modes.definition import Mode
from pix2pix.options.record import check_export_format


def _check(options) -> None:
    """--format onnx or web: --deterministic given, tf2onnx and onnxruntime installed; web: its runtime found."""
    if options.format in ("onnx", "web"):
        check_export_format(options)
        require_onnx_tools()
    if options.format == "web":
        find_runtime(options.web_runtime)


MODE = Mode(
    name="export", order=3,
    purpose="write a SavedModel that translates photos of any size",
    example="pix2pix --mode export --checkpoint run --output_dir exported",
    needs={"checkpoint": "the training output directory to use", "output_dir": "where the SavedModel goes"},
    check=_check,
    run="pix2pix.modes.export:run")
