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

# The page around the table: self-contained (no file or network fetched but the pictures), readable
# without its script. The table's own markup stays plain <th>/<td>/<img src='...'> cells (other tools
# and the tests read it); the script adds, in the browser: sorting by any column of figures (click
# its heading; again to reverse; the summary row stays last), and enlarging a picture (click it;
# click or Esc closes). Small pictures (a 32-pixel crop) are shown enlarged with sharp pixels.
_PAGE_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1d2430; background: #f6f7f9; }
h1 { font-size: 1.3em; margin: 0 0 .2em; }
p.hint { color: #5b6575; margin: 0 0 1em; }
table { border-collapse: collapse; background: #fff; box-shadow: 0 1px 3px #0002; }
th, td { padding: .4em .6em; border-bottom: 1px solid #e3e6eb; text-align: right; vertical-align: middle; }
th { position: sticky; top: 0; background: #2b3445; color: #fff; font-weight: 600; max-width: 8em;
     z-index: 1; }
th.picture { text-align: center; }
th.sortable { cursor: pointer; }
th.sortable:hover { background: #3c4a63; }
th[aria-sort=ascending]::after { content: " \\25B2"; }
th[aria-sort=descending]::after { content: " \\25BC"; }
td:first-child, th:first-child { text-align: left; }
tr:nth-child(even) td { background: #fafbfc; }
tr.summary td { font-weight: 600; background: #eef1f5; border-top: 2px solid #2b3445; }
td img { display: block; width: 160px; height: auto; cursor: zoom-in; border-radius: 2px; }
td img.small { image-rendering: pixelated; }
td video { display: block; max-width: 512px; }
#enlarged { position: fixed; inset: 0; margin: 0; background: #000e; display: none; flex-direction: column;
            align-items: center; justify-content: center; gap: 1em; cursor: zoom-out; z-index: 2; }
#enlarged.open { display: flex; }
#enlarged div { display: flex; gap: 1em; justify-content: center; }
#enlarged figure { margin: 0; color: #ccd; text-align: center; }
#enlarged img { width: min(30vw, 80vh, 768px); height: auto; display: block; }
#enlarged figure.clicked img { outline: 2px solid #fff; }
#enlarged img.small { image-rendering: pixelated; }
#enlarged figcaption { color: #fff; }
"""

_PAGE_SCRIPT = """
document.addEventListener("DOMContentLoaded", () => {
  const table = document.querySelector("table");
  if (!table || !table.rows.length) return;
  const header = table.rows[0];
  const body = header.parentNode;
  const number = (text) => (text.trim() === "" || isNaN(Number(text)) ? null : Number(text));
  const dataRows = () => Array.from(table.rows).slice(1).filter((r) => !r.classList.contains("summary"));
  Array.from(header.cells).forEach((cell, column) => {
    if (dataRows().some((r) => r.cells[column] && r.cells[column].querySelector("img, video"))) {
      cell.classList.add("picture");
      return;
    }
    cell.classList.add("sortable");
    cell.innerHTML = cell.innerHTML.replace(/_/g, "_<wbr>");  // long figure names wrap at their parts
    cell.title = "sort by " + cell.textContent;
    cell.addEventListener("click", () => {
      const descending = cell.getAttribute("aria-sort") === "ascending";
      Array.from(header.cells).forEach((c) => c.removeAttribute("aria-sort"));
      cell.setAttribute("aria-sort", descending ? "descending" : "ascending");
      const key = (row) => (row.cells[column] ? row.cells[column].textContent : "");
      const sorted = dataRows().sort((a, b) => {
        const x = number(key(a)), y = number(key(b));
        if ((x === null) !== (y === null) && (key(a).trim() === "" || key(b).trim() === "")) {
          return key(a).trim() === "" ? 1 : -1;  // empty cells last, either way
        }
        const order = x !== null && y !== null ? x - y
          : key(a).localeCompare(key(b), undefined, {numeric: true});
        return descending ? -order : order;
      });
      const summary = table.querySelector("tr.summary");
      sorted.forEach((row) => body.insertBefore(row, summary && summary.parentNode === body ? summary : null));
    });
  });
  // the enlarged view: every picture of the clicked row side by side (input | output | target)
  const overlay = document.createElement("figure");
  overlay.id = "enlarged";
  const pictures = document.createElement("div");
  const caption = document.createElement("figcaption");
  overlay.append(pictures, caption);
  document.body.append(overlay);
  const close = () => overlay.classList.remove("open");
  overlay.addEventListener("click", close);
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") close(); });
  const mark = (img) => img.classList.toggle("small", img.naturalWidth > 0 && img.naturalWidth < 160);
  table.querySelectorAll("td img").forEach((img) => {
    img.complete ? mark(img) : img.addEventListener("load", () => mark(img));
    img.addEventListener("click", () => {
      const row = img.closest("tr");
      pictures.replaceChildren(...Array.from(row.querySelectorAll("td img")).map((each) => {
        const figure = document.createElement("figure"), big = document.createElement("img");
        const label = document.createElement("figcaption");
        big.src = each.src;
        big.className = each.className;
        label.textContent = header.cells[each.closest("td").cellIndex].textContent;
        figure.className = each === img ? "clicked" : "";
        figure.append(big, label);
        return figure;
      }));
      caption.textContent = row.cells[0].textContent + " (" + img.naturalWidth + "\u00d7" +
        img.naturalHeight + " pixels; click or Esc to close)";
      overlay.classList.add("open");
    });
  });
});
"""


def page_start(output_dir) -> str:
    """The page up to its table: title, style, script and a line saying what can be clicked."""
    title = html.escape(f"pix2pix: {os.path.basename(os.path.abspath(output_dir))}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{title}</title>\n"
            f"<style>{_PAGE_STYLE}</style>\n<script>{_PAGE_SCRIPT}</script>\n</head><body>\n"
            f"<h1>{title}</h1><p class='hint'>Click a column heading to sort by it (again to reverse); "
            "click a picture to enlarge it.</p>\n")


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
    head = page_start(output_dir) + "<table><tr>" + "".join(f"<th>{title}</th>" for title, _, _ in columns)
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
