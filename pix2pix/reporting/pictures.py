"""Turning network tensors into pictures people look at: RGB images, PNG files, index.html.

Used by training (display_freq, summaries) and by test mode, so both show the same thing.
"""

import html
import os
import pathlib
import re
import urllib.parse

import tensorflow as tf

from pix2pix.io.files import atomic_write_bytes, atomic_write_text
from pix2pix.options.record import Options
from pix2pix.data.tasks import task_for

KINDS = ("inputs", "outputs", "targets")


def to_display(inputs, targets, outputs, options: Options):
    """{"inputs", "targets", "outputs"} as [N, H, W', 3] uint8 RGB, ready to save.

    The task draws each picture (tasks.Task.pictures); W' follows aspect_ratio.
    """
    pictures = task_for(options).pictures(inputs, targets, outputs)
    return {kind: _to_uint8(image, options.aspect_ratio) for kind, image in pictures.items()}


def _to_uint8(images, aspect_ratio):
    """Resize bicubically to H x round(H * aspect_ratio) if asked, then to uint8."""
    if aspect_ratio != 1.0:
        height = images.shape[1]
        images = tf.image.resize(images, [height, int(round(height * aspect_ratio))], method="bicubic")
    return tf.image.convert_image_dtype(tf.clip_by_value(images, 0.0, 1.0), tf.uint8, saturate=True)


def probabilities_to_uint8(predictions):
    """[N, h, w, 1] discriminator probabilities -> uint8 images for summaries."""
    return tf.image.convert_image_dtype(tf.cast(predictions, tf.float32), tf.uint8, saturate=True)


def file_stem(path) -> str:
    """'dir/123.jpg' (str or bytes) -> '123'."""
    if isinstance(path, bytes):
        path = path.decode("utf-8")
    return os.path.splitext(os.path.basename(path))[0]


def save_pictures(output_dir, names, pictures, prefix=""):
    """Write output_dir/images/PREFIXNAME-KIND.png for each name and kind; returns the rows.

    Each row is {"name", "inputs", "outputs", "targets"} with paths relative to output_dir.
    """
    rows = []
    for i, name in enumerate(names):
        row = {"name": name}
        for kind in KINDS:
            relative = f"images/{prefix}{name}-{kind}.png"
            png = tf.io.encode_png(pictures[kind][i]).numpy()
            atomic_write_bytes(os.path.join(output_dir, relative), png)
            row[kind] = relative
        rows.append(row)
    return rows


_TABLE_END = "</table></body></html>\n"


PAIR_COLUMNS = (("name", "name", False), ("input", "inputs", True),
                ("output", "outputs", True), ("target", "targets", True))
STEP_COLUMN = (("step", "step", False),)


_VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


def file_url(path) -> str:
    """The URL of a file for an index.html beside it: PATH relative to the page, each segment
    percent-encoded, so that a name like "http:host.jpg" stays a relative file (not a remote
    URL) and "#", "?", spaces or line breaks in names do not cut it short. An absolute path
    (only when no relative one exists, e.g. another Windows drive) becomes a file: URL."""
    text = str(path)
    if os.path.isabs(text):
        return pathlib.Path(text).as_uri()
    return urllib.parse.quote(text.replace(os.sep, "/"), safe="/")


def _media_cell(path, style) -> str:
    """An image cell: <img>, or <video controls> for a video file (infer's videos)."""
    source = html.escape(file_url(path))
    if str(path).lower().endswith(_VIDEO_SUFFIXES):
        return f"<td><video src='{source}' controls muted{style}></video></td>"
    return f"<td><img src='{source}'{style}></td>"


def write_index(output_dir, rows, columns=PAIR_COLUMNS, append=False, image_style="", footer=None):
    """Write output_dir/index.html: a table with one row per dict of ROWS.

    COLUMNS are (heading, key, is_image): an image cell shows row[key] (a path relative to
    output_dir), any other cell its text. FOOTER, a dict, adds a last row of text (a summary;
    cells for keys it lacks and for image columns stay empty). With APPEND the rows are added
    to an existing index (training's display_freq); the file is always rewritten whole and atomically.
    """
    path = os.path.join(output_dir, "index.html")
    head = "<html><body><table><tr>" + "".join(f"<th>{title}</th>" for title, _, _ in columns)
    head += "</tr>\n"
    body = ""
    if append and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            existing = f.read()
        head, body = "", re.sub(re.escape(_TABLE_END) + r"\s*$", "", existing)
    style = f" style='{image_style}'" if image_style else ""
    for row in rows:
        cells = "".join(_media_cell(row[key], style) if is_image
                        else f"<td>{html.escape(str(row[key]))}</td>" for _, key, is_image in columns)
        body += f"<tr>{cells}</tr>\n"
    if footer is not None:
        cells = "".join(f"<td>{html.escape(str(footer[key]))}</td>" if key in footer and not is_image
                        else "<td></td>" for _, key, is_image in columns)
        body += f"<tr class='summary'>{cells}</tr>\n"
    atomic_write_text(path, head + body + _TABLE_END)
    return path
