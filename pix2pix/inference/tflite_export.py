"""TFLite: an export's `tensors` signature (the raw generator) converted with TensorFlow's TFLiteConverter,
float32 or quantized, and checked by running it in the TFLite interpreter and in TensorFlow on the same input.

    pix2pix --mode export --format tflite [--quantize float16|int8]   (modes/export.py: write_tflite)
    benchmarks/tflite_check.py                                         (convert, run, compare; timings)

The converter and the interpreter are TensorFlow's own (`tf.lite`; the interpreter's notice that it
moves to the `ai-edge-litert` package is kept off the output): nothing to install. --quantize:

- none: float32, within TOLERANCE of the SavedModel (as ONNX);
- float16: the weights stored as float16 (half the file); the interpreter computes in float32;
- int8: integer convolutions for phones: the weights int8 (per channel) and the activations int8,
  their ranges calibrated on up to CALIBRATION_IMAGES pictures of the training's images (the
  folder of --input_dir, else the one in the training directory's options.json). Batch norm stays
  float32 (FLOAT_OPS): it normalises with the statistics of the picture itself, computed as the
  model runs, and at the innermost 1x1 level those are a single value whose variance is exactly 0,
  which TFLite's int8 kernels cannot take (the interpreter aborts). Inputs and outputs stay float32,
  so the signature is the SavedModel's. (docs/export.md#tflite: the choice and its measurements.)

A quantized model is refused below MIN_PSNR dB against the SavedModel on the check's input. Nothing
heavy is imported at the top of this module: the command line lists the calibration images before
TensorFlow loads (the export mode's check, modes/catalog/export.py).
"""

import contextlib
import dataclasses
import os
import warnings

from pix2pix.errors import Pix2PixError, error_line
from pix2pix.inference.onnx_export import TOLERANCE, Comparison, compare_outputs, load_tensors, random_inputs
from pix2pix.io.listing import scan_folder
from pix2pix.options.record import Options
from pix2pix.options.stored import read_options_file

TFLITE_FILE = "model.tflite"  # written inside the export directory, beside saved_model.pb
# The lowest PSNR (dB, against the SavedModel's float32 outputs, values in [-1, 1]) a quantized model
# may have on the check's input. Measured (docs/export.md#tflite): float16 90 dB on the tiny test
# models and 80.6 dB on the default one; int8 38-44 dB on the tiny ones and 28.6 dB on the default
# one (int8 rounding of the activations, over 16 convolutions): each floor well below what was measured.
MIN_PSNR = {"float16": 40.0, "int8": 20.0}
CALIBRATION_IMAGES = 32  # at most: int8's activation ranges are measured on these
# int8: the ops of batch norm on the picture's own statistics (mean, variance, 1/sqrt, scale and
# shift), left in float32; everything else (convolutions, activations, concatenation, tanh) is int8.
FLOAT_OPS = ("MEAN", "SQUARED_DIFFERENCE", "RSQRT", "ADD", "SUB", "MUL")
KINDS = {"none": "float32", "float16": "float16 weights", "int8": "int8"}


@dataclasses.dataclass(frozen=True)
class TfliteExport:
    """What write_tflite wrote and how it compared with the SavedModel."""

    quantize: str  # none, float16 or int8
    size: int  # bytes of model.tflite
    comparison: Comparison
    calibration: int = 0  # pictures int8 was calibrated on

    def __str__(self):
        what = f"{TFLITE_FILE} ({KINDS[self.quantize]}, from tensors, {self.size / 1e6:.1f} MB"
        if self.calibration:
            what += f", calibrated on {self.calibration} images"
        if self.quantize == "none":
            return f"{what}): {self.comparison}"
        return (f"{what}): PSNR {self.comparison.psnr:.1f} dB against TensorFlow (largest difference "
                f"{self.comparison.largest:.1e}) on a {self.comparison.input_size} input")


# --------------------------------------------------------------------------- int8's calibration images
def calibration_folder(options: Options) -> str:
    """The folder of --quantize int8's calibration pictures: --input_dir, else the training's (its options.json)."""
    if options.input_dir:
        return options.input_dir
    stored = read_options_file(options.checkpoint).get("input_dir")
    if not stored:
        raise Pix2PixError(f"--quantize int8: calibration needs images, and {options.checkpoint}'s options.json "
                           "names no training folder; give --input_dir (a folder of the model's input images)")
    return stored


def calibration_files(options: Options) -> list:
    """Up to CALIBRATION_IMAGES image files of calibration_folder, spread evenly over its listing (the
    reference's order); a one-line Pix2PixError naming the folder when it is missing or holds none."""
    folder = calibration_folder(options)
    given = "--input_dir" if options.input_dir else f"the training folder (from {options.checkpoint})"
    if not os.path.isdir(folder):
        raise Pix2PixError(f"--quantize int8: {given} {folder} does not exist or is not a directory, so there are "
                           "no calibration images; give --input_dir (a folder of the model's input images)")
    paths = scan_folder(folder).paths
    if not paths:
        raise Pix2PixError(f"--quantize int8: {given} {folder} holds no images to calibrate on; give --input_dir "
                           "(a folder of the model's input images)")
    step = len(paths) / min(len(paths), CALIBRATION_IMAGES)
    return [paths[int(i * step)] for i in range(min(len(paths), CALIBRATION_IMAGES))]


def calibration_inputs(paths, options: Options) -> list:
    """The network inputs [1, crop, crop, Ci] of PATHS (training images: A|B pairs, or photos for the
    colorization tasks), as test mode makes them: the task's input side, the whole picture area-resized
    to crop_size (whatever --preprocess the training used: calibration wants values, not shapes)."""
    import tensorflow as tf

    from pix2pix.data.pipeline import load_example

    square = dataclasses.replace(options, preprocess="resize_and_crop")
    inputs = []
    for index, path in enumerate(paths):
        try:
            example = load_example(tf.constant(path), index, 0, square, training=False)
        except (tf.errors.OpError, ValueError) as err:
            raise Pix2PixError(f"--quantize int8: cannot read calibration image {path}: {error_line(err)}") from None
        inputs.append(example["inputs"].numpy()[None])
    return inputs


# --------------------------------------------------------------------------- conversion
def convert(saved_model: str, quantize: str = "none", calibration=()) -> bytes:
    """SAVED_MODEL's `tensors` signature as a TFLite model (signature `tensors`: `inputs` -> `outputs`,
    float32, any batch and size), quantized as QUANTIZE says; int8 calibrates on CALIBRATION (network
    inputs, from calibration_inputs). Pix2PixError if the converter fails."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model, signature_keys=["tensors"])
    try:
        if quantize == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        if quantize != "int8":
            return converter.convert()
        converter.optimizations = [tf.lite.Optimize.DEFAULT]

        def representative():
            for inputs in calibration:
                yield {"inputs": inputs}

        converter.representative_dataset = representative
        # The quantization debugger is TFLite's way to leave chosen ops in float (it converts with
        # calibration, then quantizes all ops but FLOAT_OPS).
        with _interpreter_notice_off():  # the debugger makes interpreters too
            debugger = tf.lite.experimental.QuantizationDebugger(
                converter=converter, debug_dataset=representative,
                debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=list(FLOAT_OPS)))
        return debugger.get_nondebug_quantized_model()
    except Exception as err:  # the converter raises its own kinds (ConverterError...): name the step, on one line
        raise Pix2PixError(f"--format tflite: TFLiteConverter could not convert the tensors signature: "
                           f"{type(err).__name__}: {error_line(err)}") from None


@contextlib.contextmanager
def _interpreter_notice_off():
    """Without tf.lite.Interpreter's notice ("deprecated ... use the ai_edge_litert package"): TensorFlow
    2.21 still has it, and the project's TensorFlow is pinned below 2.22."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated", category=UserWarning)
        yield


def interpreter(content: bytes):
    """A TFLite interpreter (TensorFlow's own) of the model CONTENT."""
    import tensorflow as tf

    with _interpreter_notice_off():
        return tf.lite.Interpreter(model_content=content)


def run_tflite(model, inputs):
    """The `tensors` signature of MODEL (an interpreter) on INPUTS: its `outputs`."""
    return model.get_signature_runner("tensors")(inputs=inputs)["outputs"]


def check(comparison: Comparison, quantize: str) -> None:
    """A Pix2PixError when the TFLite model is too far from the SavedModel: float32 by more than
    TOLERANCE, a quantized one below its MIN_PSNR."""
    where = f"on a seeded {comparison.input_size} input; nothing was written"
    if quantize == "none" and not comparison.largest <= TOLERANCE:  # NaN fails too
        raise Pix2PixError(f"--format tflite: the TFLite model differs from the SavedModel by {comparison.largest:.2e} "
                           f"(more than {TOLERANCE:g}) {where} (export without --format tflite for the SavedModel "
                           "alone)")
    if quantize != "none" and not comparison.psnr >= MIN_PSNR[quantize]:
        raise Pix2PixError(f"--format tflite --quantize {quantize}: the TFLite model's PSNR against the SavedModel is "
                           f"{comparison.psnr:.1f} dB, below the {MIN_PSNR[quantize]:g} dB accepted, {where} "
                           "(try --quantize float16, or none)")


def write_tflite(saved_model: str, options: Options, calibration_paths=()) -> TfliteExport:
    """SAVED_MODEL/model.tflite from its `tensors` signature, quantized as options.quantize says (int8:
    calibrated on CALIBRATION_PATHS, from calibration_files), then checked: both run one seeded
    crop_size x crop_size input (check: a Pix2PixError, and the caller discards the directory)."""
    path = os.path.join(saved_model, TFLITE_FILE)
    calibration = calibration_inputs(calibration_paths, options) if options.quantize == "int8" else ()
    content = convert(saved_model, options.quantize, calibration)
    with open(path, "wb") as handle:
        handle.write(content)
    model, signature = load_tensors(saved_model)
    inputs = random_inputs(signature, options.crop_size)
    comparison = compare_outputs(run_tflite(interpreter(content), inputs), signature, inputs)
    del model  # kept until here (load_tensors)
    check(comparison, options.quantize)
    return TfliteExport(options.quantize, len(content), comparison, len(calibration))

