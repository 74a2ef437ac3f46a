"""Export mode: a trained generator as a SavedModel that translates photos of any size.

    pix2pix --mode export --checkpoint TRAIN_DIR --output_dir EXPORT_DIR [--format onnx|tflite [--quantize Q]]

writes a SavedModel (the format TensorFlow Serving, TFLite and tf2onnx read) whose root is the
ImageTranslator (inference/translator.py: its signatures are described there), with the
training's options.json among its assets. --format onnx adds EXPORT_DIR/model.onnx, its `tensors`
signature converted and checked against it (inference/onnx_export.py); --format tflite adds
EXPORT_DIR/model.tflite the same way, float32 or --quantize float16 or int8 (inference/tflite_export.py).
Export is atomic: the SavedModel (and model.onnx or model.tflite) is written into a temporary
directory next to EXPORT_DIR and renamed into place when complete and checked, so a directory named
EXPORT_DIR is always a finished export (an earlier export there is replaced; a failed one leaves
nothing). --mixed_precision bfloat16 writes a generator that computes in bfloat16 (about 2x faster
on CPUs with native bfloat16), its signatures, inputs, outputs and the Lab conversion float32 as
ever; infer, serve and video use it like any export.
--format web adds EXPORT_DIR/web, a page that runs the generator in the browser (serving/web_export.py).
"""

import gc
import os
import shutil
import tempfile

import tensorflow as tf

from pix2pix.data.arrays import reads_arrays
from pix2pix.errors import UsageError
from pix2pix.inference.onnx_export import ONNX_FILE, OPSET, require_onnx_tools, write_onnx
from pix2pix.inference.tflite_export import calibration_files, write_tflite
from pix2pix.inference.translator import (BASE64_SIGNATURE, FRAME_COLOUR_SIGNATURE, FRAME_PICTURE_SIGNATURE,
                                          SERVING_SIGNATURE, TENSORS_SIGNATURE, load_translator,
                                          renders_photo_shape)
from pix2pix.io.files import check_output_dir, replace_directory
from pix2pix.io.locks import output_lock
from pix2pix.io.web_runtime import find_runtime
from pix2pix.modes.preparation import prepare_for
from pix2pix.options.record import Options
from pix2pix.options.stored import SAVED_MODEL_FILE, save_options
from pix2pix.serving.web_export import WEB_DIR, check_web_task, write_web


def prepare_export_options(options: Options, explicit=None) -> Options:
    """prepare() for export: the model options read from --checkpoint's options.json. Flags that
    only shape the export (deterministic, output_filetype, render_size, mixed_precision) keep their values."""
    return prepare_for("export", options, explicit)


def export(options: Options) -> str:
    """Write the SavedModel for OPTIONS (already prepared) at options.output_dir; returns it."""
    return _export(options)[0]


def _export(options: Options):
    """export(): (the export's path, the check's Comparison with --format onnx, the WebExport with
    --format web, the TfliteExport with --format tflite, else None)."""
    onnx, web, tflite = options.format == "onnx", options.format == "web", options.format == "tflite"
    if reads_arrays(options) and (web or options.quantize == "int8"):
        raise UsageError(f"--format {options.format}{' --quantize int8' if tflite else ''}: the page and int8's "
                         "calibration take 8-bit pictures, and this model reads data at its own depth "
                         "(docs/channels.md); export it as a SavedModel, ONNX, or TFLite in float32 or float16")
    if onnx or web:
        require_onnx_tools()
    if web:
        check_web_task(options)
        runtime = find_runtime(options.web_runtime)
    calibration = calibration_files(options) if tflite and options.quantize == "int8" else ()
    comparison = None
    final = os.path.abspath(options.output_dir)
    if os.path.exists(final):  # new, empty, or an earlier export (replaced)
        check_output_dir(final, reuse=SAVED_MODEL_FILE)
    parent = os.path.dirname(final)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix="." + os.path.basename(final) + ".partial-", dir=parent)
    try:
        with tempfile.TemporaryDirectory() as scratch, output_lock(final, "export"):
            saved = os.path.join(staging, "model")
            _save_translator(options, save_options(options, scratch), saved)
            if onnx:
                # The translator's traced functions sit in reference cycles: freed before tf2onnx, whose
                # conversion of the default generator peaks near 3.7 GB (docs/export.md), they do not add 2.5 GB to it.
                gc.collect()
                comparison = write_onnx(saved, options.crop_size)
            if web:
                gc.collect()  # as for onnx
                name = os.path.basename(os.path.normpath(options.checkpoint))
                comparison = write_web(saved, os.path.join(saved, WEB_DIR), options, name, runtime)
            if tflite:
                gc.collect()  # as for onnx
                comparison = write_tflite(saved, options, calibration)
            replace_directory(saved, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final, comparison


def _save_translator(options: Options, options_file: str, path: str) -> None:
    """The ImageTranslator of OPTIONS as a SavedModel at PATH (the translator is let go on return)."""
    translator = load_translator(options, options_file)
    tf.saved_model.save(translator, path, signatures=translator.signatures())


def export_mode(options: Options, explicit=None) -> str:
    """`--mode export`: read the model options from --checkpoint and write the SavedModel.

    EXPLICIT: the flags given on the command line (see modes/preparation.py)."""
    options = prepare_export_options(options, explicit)
    path, comparison = _export(options)
    what = "dropout off" if options.deterministic else "dropout on, as in training"
    if options.render_size:
        size = f"render_size {options.render_size} (aspect ratio kept)"
    elif renders_photo_shape(options):
        size = f"the photo's shape (--preprocess {options.preprocess})"
    else:
        size = f"{options.crop_size}x{options.crop_size}"
    if options.mixed_precision != "float32":  # inputs, outputs and the Lab conversion stay float32
        size += f", computing in {options.mixed_precision}"
    onnx = f"; {ONNX_FILE} (opset {OPSET}, from {TENSORS_SIGNATURE}): {comparison}" if comparison else ""
    if options.format == "web":
        onnx = f"; web page {os.path.join(path, WEB_DIR)} {comparison}"
    elif options.format == "tflite":
        onnx = f"; {comparison}"
    if reads_arrays(options):  # data at its own depth: arrays in and out (inference/translator.py)
        input_type, target_type = options.data_types.split(",")
        signatures = (f"{SERVING_SIGNATURE} ({options.input_nc} x {input_type} -> {options.output_nc} x "
                      f"{target_type}), {TENSORS_SIGNATURE}")
    else:
        signatures = (f"{SERVING_SIGNATURE}, {BASE64_SIGNATURE}, {TENSORS_SIGNATURE}, {FRAME_COLOUR_SIGNATURE}, "
                      f"{FRAME_PICTURE_SIGNATURE}; {options.output_filetype} output")
    print(f"exported {path}: signatures {signatures}; {what}; generator at {size}{onnx}", flush=True)
    return path


def run(options: Options, explicit=None) -> int:
    export_mode(options, explicit)
    return 0
