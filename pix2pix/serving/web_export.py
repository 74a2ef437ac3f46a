"""`--format web`: a folder that any static file server opens as a page running the generator in the
browser, with no server behind it (modes/export.py writes it as EXPORT_DIR/web, beside the SavedModel).

    index.html       serving/page.html (--mode serve's page: photo upload and, for sketch and label
                     models, the drawing canvas) with the model's options in it and the two scripts below
    pix2pix-web.js   window.pix2pix: the generator run with onnxruntime-web, and what the SavedModel does
                     around it (the Lab and RGB colorizations' colour conversions) done the same way
    model.onnx       the SavedModel's `tensors` signature (inference/onnx_export.py), checked against
                     TensorFlow before the folder appears; --quantize float16 stores its weights in float16
    ort/             onnxruntime-web's wasm build, copied from the pinned package (io/web_runtime.py)

Nothing is loaded from another host. `pix2pix --mode serve --page_dir EXPORT_DIR/web` serves the folder as
its page (the page then answers without a round trip; the REST API answers as ever).
"""

import dataclasses
import html
import json
import math
import os
import shutil
from types import SimpleNamespace

from pix2pix.data import color
from pix2pix.data.lab_constants import DELTA, RGB_TO_XYZ, WHITE_POINT, XYZ_TO_RGB
from pix2pix.data.tasks import task_for
from pix2pix.errors import Pix2PixError, UsageError
from pix2pix.inference.onnx_export import (CHECK_SEED, ONNX_FILE, TOLERANCE, WEIGHT_ELEMENTS, compare_outputs,
                                           convert, load_tensors, onnx_session, random_inputs)
from pix2pix.io import web_runtime
from pix2pix.models.networks import side_multiple
from pix2pix.serving.app import PAGE_FILE
from pix2pix.serving.protocol import drawing_kind

WEB_DIR = "web"  # inside the export directory
SCRIPT_FILE = "pix2pix-web.js"
RUNTIME_DIR = "ort"
# float16 weights: the largest PSNR loss accepted against the float32 model's output, on the check's
# seeded input (outputs in [-1, 1], peak-to-peak 2). Measured: 60 to 80 dB (docs/export.md).
MIN_FLOAT16_PSNR = 40.0
LUMA_WEIGHTS = (0.2989, 0.5870, 0.1140)  # tf.image.rgb_to_grayscale's (color.luma)


@dataclasses.dataclass(frozen=True)
class WebExport:
    """What write_web made: the model file's size, and the check against TensorFlow."""

    model_bytes: int
    largest: float  # absolute difference from the SavedModel's tensors signature
    psnr: float  # dB against it, outputs in [-1, 1]
    quantize: str

    def __str__(self):
        check = (f"largest difference from TensorFlow {self.largest:.1e}" if self.quantize == "none"
                 else f"weights float16, PSNR {self.psnr:.1f} dB against TensorFlow")
        return f"(model.onnx {self.model_bytes / 1e6:.1f} MB, {check}, onnxruntime-web {web_runtime.VERSION})"


def check_web_task(options) -> None:
    """UsageError unless the page can do what the SavedModel does around the generator for OPTIONS."""
    task = task_for(options)
    if options.task == "lab" and not task.a_to_b:
        raise UsageError("--format web: a Lab model's BtoA direction (ab -> L) is not done in the page; "
                         "export it as a SavedModel or ONNX")
    if options.task not in ("pairs", "lab", "rgb"):
        raise UsageError(f"--format web: the page does the tasks pairs, lab and rgb, not {options.task}")


def page_options(options, name: str) -> dict:
    """What pix2pix-web.js and the page read: the task, sizes, drawing canvas, and color.py's constants."""
    input_channels, output_channels = task_for(options).channels
    return {
        "model_name": name, "task": options.task, "which_direction": options.which_direction,
        "crop_size": options.crop_size, "multiple": side_multiple(options), "netG": options.netG,
        "input_channels": input_channels, "output_channels": output_channels, "output_filetype": "png",
        "deterministic": True, "drawing": drawing_kind(options, name), "quantize": options.quantize,
        "luma_weights": LUMA_WEIGHTS,
        "lab": {"delta": DELTA, "xyz_to_rgb": XYZ_TO_RGB, "white_point": WHITE_POINT,
                "luminance_weights": [row[1] for row in RGB_TO_XYZ],
                "gamut_tolerance": color._GAMUT_TOLERANCE, "gamut_bisections": color._GAMUT_BISECTIONS},
    }


def weights_to_float16(path: str) -> None:
    """Store the ONNX model's float32 weights (initializers of more than WEIGHT_ELEMENTS elements) in
    float16, each followed by a Cast back to float32: half the file, the same float32 arithmetic."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(path)
    graph, kept, casts = model.graph, [], []
    for weight in graph.initializer:
        if weight.data_type != TensorProto.FLOAT or math.prod(weight.dims) <= WEIGHT_ELEMENTS:
            kept.append(weight)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(weight).astype(np.float16), weight.name + "/float16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [weight.name], to=TensorProto.FLOAT,
                                      name=weight.name + "/to_float32"))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, path)


def write_web(saved_model: str, folder: str, options, name: str, runtime: str) -> WebExport:
    """FOLDER (new) as the web page of the SavedModel at SAVED_MODEL, for OPTIONS (prepared), named NAME
    in the page; RUNTIME: onnxruntime-web's .tgz or folder. Pix2PixError when the model in the folder
    differs from the SavedModel by more than TOLERANCE (float16: a PSNR below MIN_FLOAT16_PSNR)."""
    files = web_runtime.runtime_files(runtime)  # read first: a bad --web_runtime fails before converting
    os.makedirs(os.path.join(folder, RUNTIME_DIR))
    path = os.path.join(folder, ONNX_FILE)
    model, signature = load_tensors(saved_model)
    convert(signature, path)
    if options.quantize == "float16":
        weights_to_float16(path)
    inputs = random_inputs(signature, options.crop_size, seed=CHECK_SEED)
    comparison = compare_outputs(onnx_session(path).run(["outputs"], {"inputs": inputs})[0], signature, inputs)
    del model  # kept until here (load_tensors)
    largest, quality = comparison.largest, comparison.psnr
    size = "x".join(map(str, inputs.shape))
    if options.quantize == "none" and not largest <= TOLERANCE:  # NaN fails too
        raise Pix2PixError(f"--format web: the ONNX model differs from the SavedModel by {largest:.2e} "
                           f"(more than {TOLERANCE:g}) on a seeded {size} input; nothing was written")
    if options.quantize == "float16" and not quality >= MIN_FLOAT16_PSNR:
        raise Pix2PixError(f"--format web --quantize float16: PSNR {quality:.1f} dB against the SavedModel on a "
                           f"seeded {size} input, below {MIN_FLOAT16_PSNR:g} dB; nothing was written "
                           "(export without --quantize)")
    for file_name, data in files.items():
        with open(os.path.join(folder, RUNTIME_DIR, file_name), "wb") as handle:
            handle.write(data)
    shutil.copyfile(os.path.join(os.path.dirname(PAGE_FILE), SCRIPT_FILE), os.path.join(folder, SCRIPT_FILE))
    with open(os.path.join(folder, "index.html"), "w", encoding="utf-8") as handle:
        handle.write(page_html(page_options(options, name)))
    return WebExport(os.path.getsize(path), largest, quality, options.quantize)


def saved_model_picture(saved_model: str, photo):
    """What the SavedModel at SAVED_MODEL makes of PHOTO ([H, W, 3] RGB in [-1, 1], H and W multiples of the
    generator's): its task's translate around its `tensors` signature, [H, W, 3] in [-1, 1]. What
    window.pix2pix.translate(PHOTO, H, W) gives in the page (tests/test_export_web.py, benchmarks/web_export.py)."""
    import tensorflow as tf

    from pix2pix.options.stored import read_options_file

    stored = read_options_file(os.path.join(saved_model, "assets"))
    task = task_for(SimpleNamespace(task=stored["task"], which_direction=stored["which_direction"]))
    model = tf.saved_model.load(saved_model)
    tensors = model.signatures["tensors"]
    picture = task.translate(tf.constant((photo + 1) / 2, tf.float32),
                             lambda inputs: tensors(inputs=inputs[tf.newaxis])["outputs"][0])
    return picture.numpy() * 2 - 1


def page_html(page: dict) -> str:
    """serve's page with the model's options and the in-page runtime in it (relative paths only)."""
    with open(PAGE_FILE, encoding="utf-8") as handle:
        text = handle.read()
    embedded = json.dumps(page).replace("<", "\\u003c")  # never closes the script element
    scripts = (f'<script id="pix2pix-options" type="application/json">{embedded}</script>\n'
               f'<script src="{RUNTIME_DIR}/ort.wasm.min.js"></script>\n<script src="{SCRIPT_FILE}"></script>')
    return text.replace("{{MODEL_NAME}}", html.escape(page["model_name"], quote=True)) \
        .replace("<!--{{LOCAL_RUNTIME}}-->", scripts)
