"""Tasks: what a data mode means, described once.

A task says how many channels its two sides (A and B) have, how one image file becomes
network inputs and targets, how network tensors become pictures people look at, and how an
exported model translates one photo of any size. Options, data, visuals and export ask the
task; nothing else branches on the data mode.

    pairs   one file holds A | B side by side (the reference's default)
    lab     one colour photo: A = L (1 channel, L/50 - 1), B = ab (2 channels, ab/110)
            (the reference's --lab_colorization)
    rgb     one colour photo: A = luma (1 channel), B = RGB (ours: --rgb_colorization)

`which_direction` BtoA swaps the sides; the Task base class does that for every task.
Network values are in [-1, 1]; pictures are float RGB in [0, 1].

Adding a task: subclass Task in a new module (or here), fill in the four methods below and
register it with `@register_task("name")`; `--task name` selects it (docs/extending.md).
"""

from typing import Callable, Dict, Optional, Tuple, Type

import tensorflow as tf

from pix2pix.data import color
from pix2pix.data.imaging import grey_to_rgb, resize_like
from pix2pix.errors import UsageError
from pix2pix.options.registry import Registry

TASKS: Dict[str, Type["Task"]] = {}


def _check_task(options, task) -> None:
    """Video smoothing is for colorizations alone (Options.validate runs this with --task's table)."""
    if options.temporal_smoothing and options.mode == "infer" and not task(options.which_direction).is_colorization:
        raise UsageError(f"--temporal_smoothing: only applies to colorization models (task lab or rgb, AtoB); "
                         f"this one is task {options.task} {options.which_direction}, whose video is "
                         "translated frame by frame")


# --task's table, for Options.validate: the same dict as TASKS
TASK_TABLE = Registry("task", flag="task", check=_check_task, entries=TASKS)

# [H, W, Ci] network inputs at the photo's size -> [h, w, Co] network outputs at the
# generator's working size (export decides that size: crop_size x crop_size by default).
Generate = Callable[[tf.Tensor], tf.Tensor]


def register_task(name: str):
    """Class decorator: make a Task subclass available as --task NAME."""
    def register(cls):
        cls.name = name
        TASKS[name] = cls
        return cls
    return register


class Task:
    """One data mode. Subclasses set SIDE_CHANNELS and implement the methods marked so."""

    name = "?"
    SIDE_CHANNELS: Tuple[int, int] = (3, 3)  # channels of side A and side B
    PAIRED = False  # True when one file holds both sides (A|B): needs a width of 2 or more
    # Colorization: the input picture (lightness drawn as grey) is the do-nothing prediction,
    # which test mode scores beside the model as a baseline (Task.baseline).
    GREY_INPUT_BASELINE = False

    def __init__(self, which_direction: str = "AtoB"):
        self.a_to_b = which_direction == "AtoB"

    # ----------------------------------------------------------- for subclasses
    def split_sides(self, image):
        """[H, W, 3] RGB in [0, 1] (one decoded file) -> (A, B) in [-1, 1]."""
        raise NotImplementedError

    def side_pictures(self, a, b):
        """Network A [N, H, W, Ca] and B [N, H, W, Cb] that belong together -> (picture of A,
        picture of B), each [N, H, W, 3] RGB in [0, 1]."""
        raise NotImplementedError

    def translate_a_to_b(self, rgb, generate: Generate):
        """One photo [H, W, 3] in [0, 1] taken as side A -> the picture of the predicted B at [H, W]."""
        raise NotImplementedError

    def translate_b_to_a(self, rgb, generate: Generate):
        """One photo taken as side B -> the picture of the predicted A at [H, W]."""
        raise NotImplementedError

    # ------------------------------------------------------------------ derived
    @property
    def channels(self) -> Tuple[int, int]:
        """(input channels, target channels) of the networks."""
        a, b = self.SIDE_CHANNELS
        return (a, b) if self.a_to_b else (b, a)

    def split(self, image):
        """[H, W, 3] RGB in [0, 1] -> (inputs, targets) in [-1, 1]."""
        a, b = self.split_sides(image)
        return (a, b) if self.a_to_b else (b, a)

    def pictures(self, inputs, targets, outputs) -> Dict[str, tf.Tensor]:
        """{"inputs", "targets", "outputs"}: [N, H, W, 3] float RGB in [0, 1] for people.

        Each picture is drawn with what it belongs with: a colorization's output colour on
        the input's lightness, for example.
        """
        inputs, targets, outputs = (tf.cast(t, tf.float32) for t in (inputs, targets, outputs))
        if self.a_to_b:
            input_picture, target_picture = self.side_pictures(inputs, targets)
            _, output_picture = self.side_pictures(inputs, outputs)
        else:
            target_picture, input_picture = self.side_pictures(targets, inputs)
            output_picture, _ = self.side_pictures(outputs, inputs)
        return {"inputs": input_picture, "targets": target_picture, "outputs": output_picture}

    @property
    def is_colorization(self) -> bool:
        """True for a model that predicts colour from lightness (a colorization task, AtoB)."""
        return self.GREY_INPUT_BASELINE and self.a_to_b

    @property
    def baseline(self) -> Optional[str]:
        """What test mode scores the input picture as ("grey": a colorization's input, the
        prediction of no colour at all), or None when the input is no prediction of the target."""
        return "grey" if self.GREY_INPUT_BASELINE and self.a_to_b else None

    def translate(self, rgb, generate: Generate):
        """One photo [H, W, 3] RGB in [0, 1] -> the model's picture [H, W, 3] RGB in [0, 1]."""
        if self.a_to_b:
            return self.translate_a_to_b(rgb, generate)
        return self.translate_b_to_a(rgb, generate)


def _to01(values):
    return (values + 1.0) / 2.0


def _network_rgb_picture(values):
    """[..., C] in [-1, 1] -> [..., 3] in [0, 1]: the first three channels, or the first repeated as grey
    (1 channel, or 2: data beyond RGB is previewed so)."""
    values = _to01(values)
    return values[..., :3] if values.shape[-1] >= 3 else grey_to_rgb(values[..., :1])


@register_task("pairs")
class Pairs(Task):
    """A|B pairs: the left half of each file is A, the right half B (split at width // 2)."""

    SIDE_CHANNELS = (3, 3)
    PAIRED = True

    def with_channels(self, input_nc: int, output_nc: int) -> "Pairs":
        """This task with networks of INPUT_NC -> OUTPUT_NC channels (--input_nc, --output_nc)."""
        self.SIDE_CHANNELS = (input_nc, output_nc) if self.a_to_b else (output_nc, input_nc)
        return self

    def split_sides(self, image):
        half = tf.shape(image)[1] // 2
        return image[:, :half, :] * 2 - 1, image[:, half:, :] * 2 - 1

    def side_pictures(self, a, b):
        return _network_rgb_picture(a), _network_rgb_picture(b)

    def _translate(self, rgb, generate):
        # Image in, image out, resized back (nothing to keep at full resolution).
        outputs = _to01(generate(rgb * 2.0 - 1.0))
        return tf.clip_by_value(resize_like(outputs, rgb), 0.0, 1.0)

    translate_a_to_b = translate_b_to_a = _translate


@register_task("lab")
class LabColorization(Task):
    """The reference's --lab_colorization: A = L / 50 - 1, B = (a, b) / 110.

    Pictures: L with its ab converted back to RGB; L alone is drawn as Lab(L, 0, 0), a neutral
    grey of that lightness (the reference saved (L + 1) / 2 as grey levels instead; README,
    "Faithfulness and differences").
    """

    SIDE_CHANNELS = (1, 2)
    GREY_INPUT_BASELINE = True

    def split_sides(self, image):
        return color.lab_to_network(color.rgb_to_lab(image))

    def side_pictures(self, a, b):
        def lab_picture(ab):
            return color.lab_to_rgb(color.network_to_lab(a, ab))
        return lab_picture(tf.zeros_like(b)), lab_picture(b)

    def translate_a_to_b(self, rgb, generate):
        """L -> ab: the photo's own full-resolution L with the predicted ab upsampled onto it."""
        luminance, lightness = color.luminance_and_lightness(rgb)
        ab = generate(lightness / 50.0 - 1.0)  # L as split_sides feeds it
        ab = tf.clip_by_value(resize_like(ab, rgb), -1.0, 1.0) * 110.0
        return color.colorize_keeping_luminance(luminance, ab)

    def translate_b_to_a(self, rgb, generate):
        """ab -> L: a grey picture of the predicted L, as test mode shows it."""
        _, ab = self.split_sides(rgb)
        lightness = generate(ab)
        grey, _ = self.side_pictures(lightness, tf.concat([lightness, lightness], axis=-1))
        return tf.clip_by_value(resize_like(grey, rgb), 0.0, 1.0)


@register_task("rgb")
class RgbColorization(Task):
    """Ours (--rgb_colorization): A = luma (1 channel), B = the RGB photo."""

    SIDE_CHANNELS = (1, 3)
    GREY_INPUT_BASELINE = True

    def split_sides(self, image):
        return color.luma(image) * 2 - 1, image * 2 - 1

    def side_pictures(self, a, b):
        return _network_rgb_picture(a), _network_rgb_picture(b)

    def translate_a_to_b(self, rgb, generate):
        """Luma -> RGB: the photo's own full-resolution luma plus the predicted chroma upsampled."""
        photo_luma = color.luma(rgb)
        outputs = _to01(generate(photo_luma * 2.0 - 1.0))
        chroma = outputs - color.luma(outputs)
        return color.add_chroma_within_gamut(photo_luma, resize_like(chroma, rgb))

    def translate_b_to_a(self, rgb, generate):
        """RGB -> luma: a grey picture of the predicted luma."""
        outputs = _to01(generate(rgb * 2.0 - 1.0))
        return tf.clip_by_value(resize_like(grey_to_rgb(outputs), rgb), 0.0, 1.0)


def task_for(options) -> Task:
    """The Task OPTIONS select (options.task, already validated; the pairs task with --input_nc and
    --output_nc channels)."""
    task = TASKS[options.task](options.which_direction)
    channels = (getattr(options, "input_nc", 3), getattr(options, "output_nc", 3))
    return task.with_channels(*channels) if channels != (3, 3) else task
