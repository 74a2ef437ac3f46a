"""Export mode: a trained generator as a SavedModel that translates photos of any size.

`pix2pix --mode export --checkpoint TRAIN_DIR --output_dir EXPORT_DIR` writes a SavedModel
(the format TensorFlow Serving, TFLite and tf2onnx read) with three signatures:

- `serving_default`: `images` [N] encoded PNG/JPEG/GIF/BMP bytes of any size, grey, RGB or
  RGBA -> `outputs` [N] encoded PNG (JPEG with --output_filetype jpeg) at each input's size;
- `base64`: the reference's contract for JSON clients: `input` [N] base64 text of an image
  and `key` [N] -> `output` [N] URL-safe base64 of the encoded result and `key` passed through;
- `tensors`: `inputs` [N, H, W, Ci] float32 in [-1, 1] (H, W multiples of 2**depth) ->
  `outputs` [N, H, W, Co], the raw generator.

The image signatures run the generator at crop_size x crop_size, one image at a time (so a
result never depends on which other images share the request), and bring the result back to
the input's size. Colorization models keep the input's own full-resolution lightness and only
upsample the predicted colour onto it, so a large photo comes back sharp (see `ImageTranslator`).

Export is atomic: the SavedModel is written into a temporary directory next to EXPORT_DIR and
renamed into place, so a directory named EXPORT_DIR is always a finished export.
"""

import dataclasses
import os
import shutil
import tempfile

import tensorflow as tf

from pix2pix.errors import Pix2PixError
from pix2pix.fileio import check_output_dir, replace_directory
from pix2pix.imaging import decode_rgb, resize
from pix2pix.model import restore_generator
from pix2pix.networks import define_generator, side_multiple
from pix2pix.options import SAVED_MODEL_FILE, Options, prepare, save_options
from pix2pix.tasks import task_for

SERVING_SIGNATURE = "serving_default"
BASE64_SIGNATURE = "base64"
TENSORS_SIGNATURE = "tensors"
JPEG_QUALITY = 80  # the reference's export used quality 80

# Leading bytes of the formats tf.io.decode_image reads. Checked first so that bytes which
# are no image at all fail with a message that says so, not with a decoder's internals.
_MAGIC_NUMBERS = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")

# Out-of-gamut colours are desaturated by bisection on the chroma scale; 10 halvings leave
# the scale within 0.1% of the largest one that fits, a difference no one can see.


# --------------------------------------------------------------------------- options
def prepare_export_options(options: Options, explicit=None) -> Options:
    """options.prepare() for export: the model options read from --checkpoint's options.json.

    Flags that only shape the export (deterministic, output_filetype) keep their values.
    """
    return prepare(dataclasses.replace(options, mode="export"), explicit)


# --------------------------------------------------------------------- image helpers
def decode_image(contents, index, field="images"):
    """Encoded bytes (scalar string) -> [H, W, 3] float32 RGB in [0, 1].

    Grey is expanded to RGB and alpha dropped (as the reference's export did). Bytes that
    are not PNG, JPEG, GIF or BMP fail with an InvalidArgumentError saying which image
    (FIELD and position INDEX in the batch) could not be decoded.
    """
    known = tf.reduce_any([tf.strings.substr(contents, 0, len(magic)) == magic
                           for magic in _MAGIC_NUMBERS])
    # A common mistake: base64 text of a PNG ("iVBOR...") or JPEG ("/9j/...") sent as bytes.
    looks_base64 = tf.strings.regex_full_match(tf.strings.substr(contents, 0, 5), r"iVBOR|/9j/.")
    hint = tf.where(looks_base64, " (this is base64 text: decode it first, or use the "
                                  "base64 signature)", "")
    check = tf.debugging.Assert(known, [
        f"{field}: could not decode image", index,
        "of the batch: not PNG, JPEG, GIF or BMP data", hint])
    with tf.control_dependencies([check]):
        return decode_rgb(contents)


def encode_image(rgb, filetype):
    """[H, W, 3] float RGB in [0, 1] -> scalar string, PNG or JPEG (quality 80)."""
    pixels = tf.image.convert_image_dtype(tf.clip_by_value(rgb, 0.0, 1.0), tf.uint8, saturate=True)
    if filetype == "jpeg":
        return tf.io.encode_jpeg(pixels, quality=JPEG_QUALITY)
    return tf.io.encode_png(pixels)


def decode_base64(text):
    """Base64 text (any shape) -> bytes. Standard and URL-safe alphabets, padded or not.

    Also tolerates line breaks (as `base64` the command writes) and a `data:...;base64,`
    prefix (as browsers produce).
    """
    text = tf.strings.regex_replace(text, r"^data:[^,]*,", "")
    text = tf.strings.regex_replace(text, r"\s", "")
    text = tf.strings.regex_replace(text, r"\+", "-")  # tf.io.decode_base64 reads URL-safe only
    text = tf.strings.regex_replace(text, "/", "_")
    return tf.io.decode_base64(text)


# ----------------------------------------------------------------------- the module
class ImageTranslator(tf.Module):
    """A restored generator with everything around it: the exported SavedModel's root.

    Also used directly by infer mode, so `--mode infer` on a training directory gives
    the same pictures as the exported model.
    """

    def __init__(self, generator, options: Options, options_file=None):
        """GENERATOR: the keras U-Net for OPTIONS; OPTIONS_FILE: an options.json to keep as an asset."""
        super().__init__(name="pix2pix")
        # The SavedModel holds the tf.Variables under the Keras 3 variables (weights and
        # dropout's random state), not the Keras model: with the Keras objects attached,
        # TFLite's converter froze garbage (NaN) instead of the weights. A closure keeps the
        # model callable without tracking it.
        self.generator_variables = [variable.value for variable in generator.variables]
        self._keras_generator = lambda inputs, training: generator(inputs, training=training)
        self.options = options
        if options_file is not None:
            self.options_file = tf.saved_model.Asset(options_file)
        input_channels, _ = options.channels
        self.tensors = tf.function(self._tensors, input_signature=[
            tf.TensorSpec([None, None, None, input_channels], tf.float32, name="inputs")])
        self.serve = tf.function(self._serve, input_signature=[
            tf.TensorSpec([None], tf.string, name="images")])
        self.serve_base64 = tf.function(self._serve_base64, input_signature=[
            tf.TensorSpec([None], tf.string, name="input"),
            tf.TensorSpec([None], tf.string, name="key")])

    def signatures(self):
        """{signature name: tf.function} for tf.saved_model.save."""
        return {SERVING_SIGNATURE: self.serve, BASE64_SIGNATURE: self.serve_base64,
                TENSORS_SIGNATURE: self.tensors}

    # ------------------------------------------------------------ the generator
    def generate(self, inputs):
        """[N, H, W, Ci] in [-1, 1] -> [N, H, W, Co] in [-1, 1].

        Batch statistics always; dropout on unless the model was exported --deterministic
        (the reference runs the generator at test time exactly as in training).
        """
        return self._keras_generator(inputs, training=not self.options.deterministic)

    def _tensors(self, inputs):
        multiple = side_multiple(self.options)
        size = tf.shape(inputs)[1:3]
        tf.debugging.assert_equal(
            size % multiple, tf.zeros_like(size),
            message=f"inputs: height and width must be multiples of {multiple} "
                    f"(what --netG {self.options.netG} needs at this crop size)")
        return {"outputs": self.generate(inputs)}

    # ------------------------------------------------------------- one photo
    def translate(self, rgb):
        """One photo [H, W, 3] RGB in [0, 1] -> the model's picture [H, W, 3] RGB in [0, 1].

        The generator sees the photo resized to crop_size x crop_size (on its own: a batch of
        one, so its batch statistics are its own); the task brings the picture back to H x W.
        """
        return task_for(self.options).translate(rgb, self._at_crop_size)

    def _at_crop_size(self, full_inputs):
        """[H, W, Ci] network inputs -> [crop, crop, Co] network outputs."""
        crop = self.options.crop_size
        return self.generate(resize(full_inputs, crop, crop)[tf.newaxis])[0]

    def translate_encoded(self, images, field="images"):
        """[N] encoded images -> [N] encoded results (PNG or JPEG), each at its own size.

        FIELD names the input in error messages.
        """
        def one(element):
            contents, index = element
            return encode_image(self.translate(decode_image(contents, index, field)),
                                self.options.output_filetype)

        indices = tf.range(tf.size(images))
        return tf.map_fn(one, (images, indices), fn_output_signature=tf.string)

    # ------------------------------------------------------------ signatures
    def _serve(self, images):
        return {"outputs": self.translate_encoded(images)}

    def _serve_base64(self, encoded, key):
        tf.debugging.assert_equal(tf.size(encoded), tf.size(key),
                                  message="input and key must have the same length")
        outputs = self.translate_encoded(decode_base64(encoded), field="input")
        return {"output": tf.io.encode_base64(outputs, pad=True), "key": tf.identity(key)}


# ------------------------------------------------------------------------ the mode
def load_translator(options: Options, options_file=None) -> ImageTranslator:
    """An ImageTranslator with the generator restored from options.checkpoint (prepared options)."""
    generator = define_generator(options)
    restored = restore_generator(generator, options.checkpoint)
    print(f"loaded {restored}", flush=True)
    return ImageTranslator(generator, options, options_file)


def export(options: Options) -> str:
    """Write the SavedModel for OPTIONS (already prepared) at options.output_dir; returns it."""
    final = os.path.abspath(options.output_dir)
    if os.path.exists(final):  # new, empty, or an earlier export (replaced)
        check_output_dir(final, reuse=SAVED_MODEL_FILE)
    parent = os.path.dirname(final)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix="." + os.path.basename(final) + ".partial-", dir=parent)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            options_file = save_options(options, scratch)
            translator = load_translator(options, options_file)
            saved = os.path.join(staging, "model")
            tf.saved_model.save(translator, saved, signatures=translator.signatures())
        replace_directory(saved, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def export_mode(options: Options, explicit=None) -> str:
    """`--mode export`: read the model options from --checkpoint and write the SavedModel.

    EXPLICIT: the flags given on the command line (see options.prepare)."""
    options = prepare_export_options(options, explicit)
    path = export(options)
    what = "dropout off" if options.deterministic else "dropout on, as in training"
    print(f"exported {path}: signatures {SERVING_SIGNATURE}, {BASE64_SIGNATURE}, "
          f"{TENSORS_SIGNATURE}; {options.output_filetype} output; {what}", flush=True)
    return path
