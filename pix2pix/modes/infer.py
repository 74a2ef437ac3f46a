"""Infer mode: run a trained model over a folder of photos of any size.

    pix2pix --mode infer --checkpoint TRAIN_DIR_OR_SAVEDMODEL --input_dir PHOTOS --output_dir OUT

writes OUT/NAME.png (NAME.jpg with --output_filetype jpeg) for every photo PHOTOS/NAME.EXT,
at the photo's own size, plus OUT/index.html (name, input, output) and OUT/options.json.
JPEGs whose EXIF says they are stored turned or mirrored are turned upright first (as image
viewers show them), so a phone photo comes out the right way up.

Both kinds of --checkpoint run the same code: a training directory is wrapped in the
`ImageTranslator` that export mode saves, a SavedModel directory is loaded and its
`serving_default` signature called. So infer on a training directory gives the pictures
its export would, and each photo's result does not depend on the others in its batch.
"""

import dataclasses
import os
import sys
from typing import Callable, List, NamedTuple, Optional, Sequence

import tensorflow as tf

from pix2pix.data.arrays import paired_folders, reads_arrays, side_mappings
from pix2pix.inference.translator import check_render_pixels
from pix2pix.io.arrays import (ARRAY_EXTENSIONS, check_layout, output_extension, preview, read_array, read_layout,
                               write_array)
from pix2pix.io.images import ImageError, check_pixel_limit, image_size, name_problem, upright
from pix2pix.io.jpeg import orientation as jpeg_orientation  # noqa: F401 (infer's name for it)
from pix2pix.data.pipeline import find_unreadable_images, unusable_images_error
from pix2pix.io.listing import IMAGE_EXTENSIONS, list_image_files, report_skipped, scan_input_dir
from pix2pix.errors import Pix2PixError, error_line
from pix2pix.data.tasks import task_for
from pix2pix.inference.translator import SERVING_SIGNATURE, load_translator
from pix2pix.io.files import atomic_write_bytes
from pix2pix.io.progress import ProgressBar
from pix2pix.modes.preparation import flags_given, prepare
from pix2pix.options.record import Options, check_values
from pix2pix.options.stored import is_saved_model, save_options
from pix2pix.reporting.pictures import file_stem, write_index
from pix2pix.inference import video

PREVIEWS = "previews"  # infer_data's 8-bit previews of data at its own depth, for index.html
PHOTO_EXTENSIONS = IMAGE_EXTENSIONS  # the project's one list (pix2pix.io.listing)
OUTPUT_EXTENSIONS = {"png": ".png", "jpeg": ".jpg"}

# [N] encoded photos -> [N] encoded results
Translate = Callable[[tf.Tensor], tf.Tensor]


class InferredImage(NamedTuple):
    """One row of an infer run: the photo's base name, its path, and the result's path."""

    name: str
    input_path: str
    output_path: str


# ------------------------------------------------------------------------ the photos
def list_photos(input_dir: str) -> List[str]:
    """The photos (PHOTO_EXTENSIONS, any case, not hidden) of INPUT_DIR, in the reference's order
    (numeric names by value); the other files are named on stderr. Photos sharing a name are all
    listed (plan_outputs refuses them: their results would share a file)."""
    return list_image_files(input_dir, PHOTO_EXTENSIONS, purpose="for --mode infer (a folder of photos)",
                            noun="photos", one_per_name=False)


def list_inputs(input_dir: str):
    """(photos, videos, skipped) of INPUT_DIR: the photos as list_photos, the videos
    (.mp4 .avi .mov .mkv .webm), and (path, reason) of every other file, named on stderr; an
    error if there are neither photos nor videos."""
    listing = scan_input_dir(input_dir, PHOTO_EXTENSIONS + video.VIDEO_EXTENSIONS,
                             purpose="for --mode infer (a folder of photos and videos)",
                             noun="photos or videos", one_per_name=False)
    report_skipped(listing, input_dir)
    paths = listing.paths
    return ([p for p in paths if not video.is_video(p)], [p for p in paths if video.is_video(p)], listing.skipped)


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def summary_line(photos: int, videos: int, skipped: int, index: str) -> str:
    """What an infer run wrote: "wrote results for 3 photos and 1 video, skipped 2 files (named above);
    OUT/index.html"."""
    written = _counted(photos, "photo") + (f" and {_counted(videos, 'video')}" if videos else "")
    skipped_files = f", skipped {_counted(skipped, 'file')} (named above)" if skipped else ""
    return f"wrote results for {written}{skipped_files}; {index}"


def plan_outputs(paths: Sequence[str], output_dir: str, extension: str) -> List[InferredImage]:
    """One row per photo: OUTPUT_DIR/NAME + EXTENSION. Refuses clashes before any work starts."""
    rows, by_output = [], {}
    inputs = {os.path.realpath(p) for p in paths}
    for path in paths:
        name = file_stem(path)
        output_path = os.path.join(output_dir, name + extension)
        if output_path in by_output:
            raise Pix2PixError(f"--input_dir: {by_output[output_path]} and {path} would both be "
                               f"written as {output_path}; rename one of them")
        if os.path.realpath(output_path) in inputs:
            raise Pix2PixError(f"--output_dir: writing {output_path} would overwrite an input "
                               "photo; choose a different output directory")
        by_output[output_path] = path
        rows.append(InferredImage(name, path, output_path))
    return rows


def check_render_limit(contents: bytes, source: str, options: Options) -> None:
    """With --render_size or a --preprocess that keeps the photo's shape: refuse, naming SOURCE, a photo
    (size from its header) that would give the generator more than --max_render_pixels pixels; the
    exported graph checks it again."""
    from pix2pix.inference.translator import check_render_pixels  # it says when the size follows the photo's
    width, height = check_pixel_limit(contents, source, options.max_pixels)
    check_render_pixels(height, width, options, source)


def check_photos(paths: Sequence[str], max_pixels: int = Options.max_pixels) -> None:
    """Stop with a clear error naming every photo that does not decode (the pre-flight check;
    one whose size cannot be read from its header is not decoded at all), or, before anything
    is decoded, the first one over MAX_PIXELS."""
    unreadable = []
    for path in paths:
        with open(path, "rb") as f:  # only the headers are read: a huge file is not read whole
            try:
                image_size(f)
            except ImageError as err:
                unreadable.append((path, str(err)))
                continue
            check_pixel_limit(f, path, max_pixels)
    skipped = {path for path, _ in unreadable}
    problems = unreadable + find_unreadable_images([p for p in paths if p not in skipped], paired=False)
    if problems:
        problems.sort(key=lambda problem: paths.index(problem[0]))
        raise unusable_images_error(problems, len(paths),
                                    "Remove or fix them (or pass --skip_preflight to start anyway).",
                                    noun="photos")


# ------------------------------------------------------------------------ the model
def load_model(options: Options, explicit=None):
    """(prepared options, translate function) for --checkpoint, a SavedModel or a training dir."""
    options, translate, _ = _load_model(options, explicit)
    return options, translate


def _load_model(options: Options, explicit=None):
    """load_model, and the loaded object itself (a SavedModel or an ImageTranslator, for video)."""
    asked_dropout = "deterministic" in flags_given(options, explicit)
    options = prepare(dataclasses.replace(options, mode="infer"), explicit)
    directory = options.checkpoint
    if is_saved_model(directory):
        try:
            loaded = tf.saved_model.load(directory)
            serve = loaded.signatures[SERVING_SIGNATURE]
        except (KeyError, ValueError, OSError, tf.errors.OpError) as err:
            raise Pix2PixError(f"--checkpoint: cannot load the SavedModel in {directory}: "
                               f"{error_line(err)}") from None
        print(f"loaded {directory}", flush=True)
        if not options.deterministic and not asked_dropout:
            print(f"note: {directory} was exported with dropout on (--nodeterministic), so the same photo "
                  "gives different colours each time; export it again without that flag for one answer",
                  flush=True)
        if reads_arrays(options):  # data at its own depth: arrays in and out (inference/translator.py)
            return options, lambda inputs: serve(inputs=inputs)["outputs"], loaded
        return options, lambda images: serve(images=images)["outputs"], loaded
    translator = load_translator(options)
    return options, lambda images: translator.serve(images)["outputs"], translator


# ---------------------------------------------------------------------------- run
def _translate_batch(batch: Sequence[InferredImage], translate: Translate,
                     max_pixels: int, options: Optional[Options] = None) -> List[bytes]:
    """The encoded results for BATCH; a failure names the photo that caused it."""
    contents = []
    for row in batch:
        with open(row.input_path, "rb") as f:
            photo = f.read()
        check_pixel_limit(photo, row.input_path, max_pixels)
        if options is not None:
            check_render_limit(photo, row.input_path, options)
        contents.append(upright(photo, row.input_path, max_pixels))
    try:
        return list(translate(tf.constant(contents)).numpy())
    except tf.errors.OpError as err:
        if len(batch) == 1:
            raise Pix2PixError(f"--input_dir: cannot process {batch[0].input_path}: "
                               f"{error_line(err, prefer=('could not decode', 'Invalid'))}") from None
    for row in batch:  # find the culprit (only reached after a failure, e.g. --skip_preflight)
        _translate_batch([row], translate, max_pixels, options)
    raise AssertionError("a batch failed but none of its photos alone did")


def translate_photos(rows: Sequence[InferredImage], translate: Translate, batch_size: int,
                     progress: Optional[ProgressBar] = None,
                     max_pixels: int = Options.max_pixels, options: Optional[Options] = None) -> None:
    """Run TRANSLATE over the photos of ROWS, BATCH_SIZE at a time; write each result atomically.
    OPTIONS (if given) adds the --render_size pixel check."""
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        for row, result in zip(batch, _translate_batch(batch, translate, max_pixels, options)):
            atomic_write_bytes(row.output_path, result)
        if progress is not None:
            progress.update(start + len(batch))


INFER_COLUMNS = (("name", "name", False), ("input", "input", True), ("output", "output", True))


def write_infer_index(output_dir: str, rows: Sequence[InferredImage]) -> str:
    """Write OUTPUT_DIR/index.html: a table of name, input, output (paths relative to it)."""
    def relative(path):
        try:
            return os.path.relpath(os.path.abspath(path), os.path.abspath(output_dir))
        except ValueError:  # another drive on Windows
            return os.path.abspath(path)

    table = [{"name": row.name, "input": relative(row.input_path), "output": relative(row.output_path)}
             for row in rows]
    return write_index(output_dir, table, columns=INFER_COLUMNS, image_style="max-width: 512px")


def infer_mode(options: Options, explicit_flag_names=None) -> List[InferredImage]:
    """`--mode infer`; returns one InferredImage row per photo and video, in order.

    EXPLICIT_FLAG_NAMES: the flags given on the command line (to tell a --deterministic or
    --output_filetype asked of a SavedModel from the defaults); None if unknown.
    """
    check_values(options)  # the Python API's options, before the model's are read (the CLI checked them)
    if not options.output_dir:
        raise Pix2PixError("--output_dir: is required")
    if reads_arrays(prepare(dataclasses.replace(options, mode="infer"), explicit_flag_names)):
        return infer_data(options, explicit_flag_names)
    paths, videos, skipped = list_inputs(options.input_dir)
    badly_named = [path for path in paths + videos if name_problem(path)]  # with or without the pre-flight
    if badly_named:
        more = f" (and {len(badly_named) - 1} more)" if len(badly_named) > 1 else ""
        raise Pix2PixError(f"{badly_named[0]}: {name_problem(badly_named[0])}{more}")
    if paths and not options.skip_preflight:  # before the model loads: a bad photo is named in a moment
        check_photos(paths, options.max_pixels)
    options, translate, loaded = _load_model(options, explicit_flag_names)
    options = dataclasses.replace(options, mode="infer")
    rows = plan_outputs(paths, options.output_dir, OUTPUT_EXTENSIONS[options.output_filetype])
    video_rows = plan_video_outputs(videos, paths + videos, options.output_dir, options.video_codec,
                                    taken={row.output_path for row in rows})
    model = video.frame_model(loaded, options.checkpoint) if videos else None

    os.makedirs(options.output_dir, exist_ok=True)
    save_options(options, options.output_dir)
    if paths:
        progress = ProgressBar(len(rows))
        try:
            translate_photos(rows, translate, options.batch_size, progress, options.max_pixels, options)
        finally:
            progress.close()
    failures, done_videos = [], []
    if videos:
        print(f"videos: dropout off (a new random mask per frame would flicker); {video.audio_plan()}", flush=True)
        if options.temporal_smoothing:
            print(f"videos: temporal smoothing {options.temporal_smoothing:g} of the predicted colour, "
                  f"reset at scene cuts (--scene_cut {options.scene_cut:g})", flush=True)
    for row in video_rows:
        result = video.translate_video(row.input_path, row.output_path, model, options,
                                       colorization=task_for(options).is_colorization)
        if result.ok:
            print(video.describe(result), flush=True)
        else:
            kept = (f"; the {result.frames} frames written are kept in {result.output_path}"
                    if os.path.exists(result.output_path) else "")
            failures.append(result.error + kept)
            print(f"error: {failures[-1]}", file=sys.stderr, flush=True)
        if os.path.exists(result.output_path):  # a video that could not be opened has no row
            done_videos.append(row._replace(output_path=result.output_path))
    all_rows = rows + done_videos
    index = write_infer_index(options.output_dir, all_rows)
    print(summary_line(len(rows), len(videos) - len(failures), len(skipped), index), flush=True)
    if failures:
        raise Pix2PixError(f"{len(failures)} of {len(videos)} videos failed: " + "; ".join(failures))
    return all_rows


def infer_data(options: Options, explicit_flag_names=None) -> List[InferredImage]:
    """infer_mode for a model of data at its own depth (docs/channels.md): every file of --input_dir (or of
    its A/ folder, B/ for BtoA, when it holds paired folders) of the model's input channels and sample type
    -> OUTPUT_DIR/NAME.png (8/16 bits, 1, 3 or 4 channels) or NAME.tif at the file's size, in the targets'
    type and channels; previews/ holds 8-bit previews for index.html. A file of other channels or type
    is refused by name before the model runs."""
    options, translate, _ = _load_model(options, explicit_flag_names)
    options = dataclasses.replace(options, mode="infer")
    input_dir = options.input_dir
    if paired_folders(input_dir):
        input_dir = os.path.join(input_dir, "A" if options.which_direction == "AtoB" else "B")
    paths = list_image_files(input_dir, ARRAY_EXTENSIONS, purpose="for --mode infer", noun="image or .npy files",
                             one_per_name=False)
    input_mapping, output_mapping = side_mappings(options)
    for path in paths:  # headers only: sizes, channels and types checked before anything is decoded
        try:
            layout = read_layout(path, options.max_pixels)
        except ImageError as err:
            raise Pix2PixError(f"{path}: {err}") from None
        check_layout(path, layout, options.input_nc, input_mapping.sample_type, "input")
        check_render_pixels(layout.height, layout.width, options, path)
    rows = plan_outputs(paths, options.output_dir, output_extension(output_mapping.sample_type, options.output_nc))
    os.makedirs(os.path.join(options.output_dir, PREVIEWS), exist_ok=True)
    save_options(options, options.output_dir)
    progress = ProgressBar(len(rows))
    previews = []
    try:
        for done, row in enumerate(rows, 1):
            try:
                samples = read_array(row.input_path, options.max_pixels)
                result = translate(tf.constant(samples[tf.newaxis]))[0].numpy()
            except (ImageError, tf.errors.OpError) as err:
                raise Pix2PixError(f"--input_dir: cannot process {row.input_path}: {error_line(err)}") from None
            write_array(row.output_path, result)
            shown = []
            for kind, array, mapping in (("input", samples, input_mapping), ("output", result, output_mapping)):
                shown.append(os.path.join(options.output_dir, PREVIEWS, f"{row.name}-{kind}.png"))
                write_array(shown[-1], preview(array, mapping))
            previews.append(InferredImage(row.name, *shown))
            progress.update(done)
    finally:
        progress.close()
    index = write_infer_index(options.output_dir, previews)
    print(summary_line(len(rows), 0, 0, index), flush=True)
    return rows


def plan_video_outputs(videos: Sequence[str], all_inputs: Sequence[str], output_dir: str, codec: str,
                       taken=()) -> List[InferredImage]:
    """One row per video: OUTPUT_DIR/NAME.mp4 (extension from CODEC), NAME.EXT.mp4 when another
    input shares the stem. Refuses an output that would overwrite an input or another output."""
    names = video.output_names(videos, all_inputs, video.output_extension(codec))
    inputs = {os.path.realpath(p) for p in all_inputs}
    rows = []
    for path, name in zip(videos, names):
        output_path = os.path.join(output_dir, name)
        if os.path.realpath(output_path) in inputs:
            raise Pix2PixError(f"--output_dir: writing {output_path} would overwrite an input "
                               "video; choose a different output directory")
        if output_path in taken:
            raise Pix2PixError(f"--input_dir: {path} would be written as {output_path}, which "
                               "another input's result takes; rename one of them")
        rows.append(InferredImage(file_stem(path), path, output_path))
    return rows


def run(options: Options, explicit=None) -> int:
    infer_mode(options, explicit)
    return 0
