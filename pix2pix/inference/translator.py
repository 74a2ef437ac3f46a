"""The ImageTranslator: a trained generator with everything around it, translating photos of any size.

It is the root object of the SavedModel export mode writes (modes/export.py) and the engine of
infer and serve, so a training directory and its export give the same pictures. Its signatures:

- `serving_default`: `images` [N] encoded PNG/JPEG/GIF/BMP bytes of any size, grey, RGB or
  RGBA -> `outputs` [N] encoded PNG (JPEG with --output_filetype jpeg) at each input's size;
- `base64`: the reference's contract for JSON clients: `input` [N] base64 text of an image
  and `key` [N] -> `output` [N] URL-safe base64 of the encoded result and `key` passed through;
- `tensors`: `inputs` [N, H, W, Ci] float32 in [-1, 1] (H, W multiples of 2**depth) ->
  `outputs` [N, H, W, Co], the raw generator;
- a model of data at its own depth (--input_nc, --output_nc, paired folders: docs/channels.md) has
  `serving_default` of `inputs` [N, H, W, Ci] in its input's sample type (uint8, uint16 or float32) ->
  `outputs` [N, H, W, Co] in its target's, and `tensors`; none of the picture signatures;
- `frame_colour` and `frame_picture`, what video needs (inference/video.py), dropout always off:
  `frame_colour`: `frame` [H, W, 3] uint8 RGB -> `colour` [h, w, Co] float32, the generator's
  output at its working size (the predicted colour of a colorization model, in network units);
  `frame_picture`: `frame` and a `colour` of that shape -> `picture` [H, W, 3] uint8 RGB, the
  frame translated with that colour (infer smooths the colour over time between the two).

The image signatures run the generator at crop_size x crop_size, one image at a time (so a
result never depends on which other images share the request), and bring the result back to
the input's size. With --render_size N (fixed into the export) the generator sees the photo at
its own aspect ratio instead: short side N, long side in proportion, reflection-padded to the
next multiple the generator needs (the padding split evenly and cropped off its output).
Without --render_size the training's --preprocess decides (docs/preprocessing.md): crop and none
run the generator at the photo's own resolution, scale_width and scale_width_and_crop at
--scale_size wide (height in proportion), both padded the same way; resize_and_crop at the
crop_size square. Colorization models keep the input's own full-resolution lightness and only upsample the
predicted colour onto it, so a large photo comes back sharp.
"""

import tensorflow as tf

from pix2pix.errors import Pix2PixError
from pix2pix.data.arrays import from_network_tensor, reads_arrays, side_mappings, to_network_tensor
from pix2pix.data.imaging import decode_rgb, resize, resize_like
from pix2pix.data.pipeline import pad_to, padding_before, scaled_to_width
from pix2pix.models.checkpoints import restore_generator
from pix2pix.models.networks import define_generator, side_multiple
from pix2pix.models.precision import dtype_policy, print_precision_advice
from pix2pix.options.record import Options
from pix2pix.data.tasks import task_for

SERVING_SIGNATURE = "serving_default"
BASE64_SIGNATURE = "base64"
TENSORS_SIGNATURE = "tensors"
FRAME_COLOUR_SIGNATURE = "frame_colour"
FRAME_PICTURE_SIGNATURE = "frame_picture"
JPEG_QUALITY = 80  # the reference's export used quality 80

# Leading bytes of the formats tf.io.decode_image reads. Checked first so that bytes which
# are no image at all fail with a message that says so, not with a decoder's internals.
_MAGIC_NUMBERS = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM")

# Out-of-gamut colours are desaturated by bisection on the chroma scale; 10 halvings leave
# the scale within 0.1% of the largest one that fits, a difference no one can see.


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


# ------------------------------------------------------------------ render geometry
def render_shape(height: int, width: int, render_size: int):
    """(h, w) the photo is resized to for --render_size: the short side RENDER_SIZE, the long side
    in proportion (rounded half to even, as tf.round), never below RENDER_SIZE."""
    if height <= width:
        return render_size, max(render_size, int(round(width * render_size / height)))
    return max(render_size, int(round(height * render_size / width))), render_size


def padded_shape(height: int, width: int, render_size: int, multiple: int):
    """(H', W') the generator sees for --render_size: render_shape rounded up to MULTIPLE."""
    h, w = render_shape(height, width, render_size)
    return -(-h // multiple) * multiple, -(-w // multiple) * multiple


def renders_photo_shape(options: Options) -> bool:
    """True when the generator sees photos at their own aspect ratio: --render_size, or a
    --preprocess other than resize_and_crop (the crop_size square)."""
    return bool(options.render_size) or options.preprocess != "resize_and_crop"


def working_shape(height: int, width: int, options: Options):
    """(h, w) a photo of HEIGHT x WIDTH is resized to before the padding, when renders_photo_shape:
    --render_size's shape, scale_width's, or the photo's own (crop, none)."""
    if options.render_size:
        return render_shape(height, width, options.render_size)
    if options.preprocess.startswith("scale_width"):
        return scaled_to_width(height, width, options.scale_size, options.crop_size)
    return height, width


def check_render_pixels(height: int, width: int, options: Options, source: str) -> None:
    """Refuse, naming SOURCE, a photo or video frame of HEIGHT x WIDTH that the generator would see
    with more than --max_render_pixels pixels (at --render_size or the --preprocess shape)."""
    if not renders_photo_shape(options):
        return
    multiple = side_multiple(options)
    h, w = (-(-side // multiple) * multiple for side in working_shape(height, width, options))
    if h * w > options.max_render_pixels:
        at = (f"--render_size {options.render_size}" if options.render_size
              else f"--preprocess {options.preprocess}")
        raise Pix2PixError(f"{source}: {width}x{height} at {at} gives the "
                           f"generator {w}x{h} = {w * h:,} pixels, over the limit of "
                           f"{options.max_render_pixels:,} (--max_render_pixels)")


def _render_shape_tf(size, render_size):
    """render_shape on a [2] int32 tensor (height, width) -> [2] int32."""
    short = tf.reduce_min(size)
    scaled = tf.cast(tf.round(tf.cast(size, tf.float64) * render_size / tf.cast(short, tf.float64)), tf.int32)
    return tf.maximum(tf.where(size == short, render_size, scaled), render_size)


# ----------------------------------------------------------------------- the module
def _traced(method, input_signature):
    """METHOD as a tf.function for a signature, without autograph: the signatures branch only
    through tf.cond, tf.map_fn and asserts, and autograph's conversion of them and of the
    generator's layers was about 40% of an export's CPU time."""
    return tf.function(method, input_signature=input_signature, autograph=False)


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
        input_channels, output_channels = task_for(options).channels
        self.tensors = _traced(self._tensors, input_signature=[
            tf.TensorSpec([None, None, None, input_channels], tf.float32, name="inputs")])
        self.data = reads_arrays(options)
        if self.data:  # data at its own depth: arrays of its channels and type in and out, nothing else
            self.mappings = side_mappings(options)
            self.serve = _traced(self._serve_data, input_signature=[
                tf.TensorSpec([None, None, None, input_channels], self.mappings[0].sample_type, name="inputs")])
            return
        self.serve = _traced(self._serve, input_signature=[
            tf.TensorSpec([None], tf.string, name="images")])
        self.serve_base64 = _traced(self._serve_base64, input_signature=[
            tf.TensorSpec([None], tf.string, name="input"),
            tf.TensorSpec([None], tf.string, name="key")])
        self.frame_colour = _traced(self._frame_colour, input_signature=[
            tf.TensorSpec([None, None, 3], tf.uint8, name="frame")])
        self.frame_picture = _traced(self._frame_picture, input_signature=[
            tf.TensorSpec([None, None, 3], tf.uint8, name="frame"),
            tf.TensorSpec([None, None, output_channels], tf.float32, name="colour")])

    def signatures(self):
        """{signature name: tf.function} for tf.saved_model.save."""
        if self.data:
            return {SERVING_SIGNATURE: self.serve, TENSORS_SIGNATURE: self.tensors}
        return {SERVING_SIGNATURE: self.serve, BASE64_SIGNATURE: self.serve_base64,
                TENSORS_SIGNATURE: self.tensors, FRAME_COLOUR_SIGNATURE: self.frame_colour,
                FRAME_PICTURE_SIGNATURE: self.frame_picture}

    # ------------------------------------------------------------ the generator
    def generate(self, inputs, dropout=None):
        """[N, H, W, Ci] in [-1, 1] -> [N, H, W, Co] in [-1, 1].

        Batch statistics always; dropout on unless the model was exported --deterministic
        (the reference runs the generator at test time exactly as in training), or DROPOUT
        says otherwise (video frames: always off).
        """
        if dropout is None:
            dropout = not self.options.deterministic
        return self._keras_generator(inputs, training=dropout)

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
        return task_for(self.options).translate(rgb, self._at_working_size)

    def _at_working_size(self, full_inputs, dropout=None):
        """[H, W, Ci] network inputs -> [h, w, Co] network outputs: crop x crop, or the photo's
        aspect ratio (working_shape) with --render_size or a --preprocess that keeps it."""
        if renders_photo_shape(self.options):
            return self._at_render_size(full_inputs, dropout)
        crop = self.options.crop_size
        return self.generate(resize(full_inputs, crop, crop)[tf.newaxis], dropout)[0]

    def _at_render_size(self, full_inputs, dropout=None):
        """Resize to working_shape, reflection-pad each side up to the generator's multiple (split
        evenly, the extra pixel after), generate, crop the padding off."""
        options = self.options
        multiple = side_multiple(options)
        size = tf.shape(full_inputs)[:2]
        if options.render_size:
            shape = _render_shape_tf(size, options.render_size)
        else:
            shape = tf.stack(working_shape(size[0], size[1], options))
        padded = (shape + multiple - 1) // multiple * multiple
        limit = options.max_render_pixels
        at = f"render_size {options.render_size}" if options.render_size else f"preprocess {options.preprocess}"
        check = tf.debugging.assert_less_equal(
            tf.cast(padded[0], tf.int64) * tf.cast(padded[1], tf.int64), tf.constant(limit, tf.int64),
            message=f"images: at {at} the generator would see more than {limit} pixels (max_render_pixels)")
        with tf.control_dependencies([check]):
            own_resolution = not options.render_size and options.preprocess in ("crop", "none")
            inputs = tf.identity(full_inputs) if own_resolution else resize(full_inputs, shape[0], shape[1])
        before = padding_before(padded, shape)
        inputs = pad_to(inputs, padded[0], padded[1])
        outputs = self.generate(inputs[tf.newaxis], dropout)[0]
        return outputs[before[0]:before[0] + shape[0], before[1]:before[1] + shape[1]]

    # ------------------------------------------------------------ video frames
    def _frame_colour(self, frame):
        """[H, W, 3] uint8 RGB -> the generator's output [h, w, Co] at its working size, dropout off."""
        captured = []

        def generate(full_inputs):
            captured.append(self._at_working_size(full_inputs, dropout=False))
            return captured[-1]

        task_for(self.options).translate(tf.image.convert_image_dtype(frame, tf.float32), generate)
        return {"colour": captured[0]}

    def _frame_picture(self, frame, colour):
        """FRAME translated with the generator output COLOUR (from frame_colour, perhaps smoothed)."""
        rgb = tf.image.convert_image_dtype(frame, tf.float32)
        picture = task_for(self.options).translate(rgb, lambda _: colour)
        pixels = tf.image.convert_image_dtype(tf.clip_by_value(picture, 0.0, 1.0), tf.uint8, saturate=True)
        return {"picture": pixels}

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

    def _serve_data(self, inputs):
        """[N, H, W, Ci] samples of the input's type -> [N, H, W, Co] of the target's, each image on its
        own at the generator's working size and brought back to H x W (data at its own depth)."""
        input_mapping, output_mapping = self.mappings

        def one(image):
            values = to_network_tensor(input_mapping, image)
            outputs = tf.clip_by_value(resize_like(self._at_working_size(values), values), -1.0, 1.0)
            return from_network_tensor(output_mapping, outputs)

        return {"outputs": tf.map_fn(one, inputs, fn_output_signature=tf.as_dtype(output_mapping.sample_type))}

    def _serve_base64(self, encoded, key):
        tf.debugging.assert_equal(tf.size(encoded), tf.size(key),
                                  message="input and key must have the same length")
        outputs = self.translate_encoded(decode_base64(encoded), field="input")
        return {"output": tf.io.encode_base64(outputs, pad=True), "key": tf.identity(key)}


# ------------------------------------------------------------------------ the mode
def load_translator(options: Options, options_file=None) -> ImageTranslator:
    """An ImageTranslator with the generator restored from options.checkpoint (prepared options).

    With --mixed_precision bfloat16 (or float16) the generator computes in that dtype; its weights,
    inputs and outputs, and everything around it (decoding, Lab conversion, resizing), stay float32."""
    print_precision_advice(options)
    with dtype_policy(options.mixed_precision):
        generator = define_generator(options)
    restored = restore_generator(generator, options.checkpoint)
    print(f"loaded {restored}", flush=True)
    return ImageTranslator(generator, options, options_file)
