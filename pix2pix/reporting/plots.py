"""Pictures of a run for people: loss curves (losses.png) and result grids (results.png).

Figures are drawn with matplotlib's object API on an Agg canvas, never through pyplot:
nothing here opens a window, needs a display, or changes the backend of a caller such as
a notebook. PNG files are rendered into memory and written atomically, like every other
file this package writes.

    history = loss_history.read_loss_history("run/losses.csv")   # [{"step", "discrim_loss", ...}, ...]
    plot_losses(history, "run/losses.png")
    plot_results(spread_rows(rows, 16), "test/results.png", base_dir="test", total=len(rows))
The loss history itself (losses.csv) is read and written by reporting/loss_history.py.
"""

import io
import os
import re

import cv2
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pix2pix.io.files import atomic_write_bytes
from pix2pix.reporting.loss_history import LOSS_FIELDS, loss_columns

LOSS_TITLES = {
    "discrim_loss": "discriminator loss",
    "gen_loss_GAN": "generator GAN loss",
    "gen_loss_L1": "generator L1 loss",
    "discrim_loss_GP": "discriminator gradient penalty",
}
# One fixed colour per loss, so the curves look the same in every run (and tests can find them).
LOSS_COLORS = {"discrim_loss": "#1f77b4", "gen_loss_GAN": "#d62728", "gen_loss_L1": "#2ca02c",
               "discrim_loss_GP": "#9467bd"}
OTHER_LOSS_COLOR = "#7f7f7f"
# Runs compared in one panel (plot_loss_comparison): matplotlib's tab10, minus the grey.
RUN_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
              "#bcbd22", "#17becf", "#7f7f7f")

RESULT_KINDS = ("inputs", "outputs", "targets")
RESULT_TITLES = {"inputs": "input", "outputs": "output", "targets": "target"}

DPI = 100
CELL_INCHES = 2.0
NAME_FONT_SIZE = 9
NAME_CHAR_INCHES = 0.075  # average width of a character at NAME_FONT_SIZE points
MAX_NAME_CHARS = 32
# Agg refuses images of 2**16 pixels or more on a side; long result grids get shorter rows instead.
MAX_FIGURE_INCHES = 300.0


# ------------------------------------------------------------------------------ rendering
def _new_figure(width_inches, height_inches) -> Figure:
    """A Figure on its own Agg canvas: no pyplot, no global figure registry, no display."""
    figure = Figure(figsize=(width_inches, height_inches), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, path) -> str:
    """Render FIGURE to PNG in memory and write it to PATH atomically; returns PATH."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    atomic_write_bytes(path, buffer.getvalue())
    return path


# ----------------------------------------------------------------------------- loss curves
def plot_losses(history, path=None, title="Training losses") -> Figure:
    """Draw the averaged losses over steps, one panel each; save as PNG if PATH is given.

    Separate panels because the L1 loss is an order of magnitude smaller than the other two.
    An empty history (a run stopped before its first progress report) gives the panels
    with a note instead of curves. Returns the Figure; its axes hold one Line2D per loss.
    """
    return _plot_loss_panels({None: history}, path, title)


def plot_loss_comparison(histories, path=None, title="Training losses") -> Figure:
    """HISTORIES {label: history}: the runs' curves over each other, one panel per loss, one
    colour and legend entry per run (pix2pix-reproduce's losses.png). A run without a loss
    has no line in its panel."""
    return _plot_loss_panels(dict(histories), path, title)


def _plot_loss_panels(histories, path, title) -> Figure:
    """The panels of plot_losses for one or more runs ({None: history} for a single run,
    coloured by loss; otherwise coloured by run)."""
    histories = {label: sorted(history, key=lambda r: r["step"]) for label, history in histories.items()}
    names = []
    for history in histories.values():
        names += [name for name in loss_columns(history) if name not in names]
    names = names or list(LOSS_FIELDS[1:])
    figure = _new_figure(7.0, 7.0 * max(len(names), 3) / 3)
    axes = figure.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    run_colors = {label: RUN_COLORS[i % len(RUN_COLORS)] for i, label in enumerate(histories)}
    for ax, name in zip(axes, names):
        ax.set_title(LOSS_TITLES.get(name, name))
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        drawn = 0
        for label, history in histories.items():
            points = [(r["step"], r[name]) for r in history if r.get(name) is not None]
            if not points:
                continue
            # Markers make single points and short runs visible; on long runs they would only clutter.
            color = LOSS_COLORS.get(name, OTHER_LOSS_COLOR) if label is None else run_colors[label]
            ax.plot([p[0] for p in points], [p[1] for p in points], color=color,
                    marker="o" if len(points) <= 30 else None, markersize=3, linewidth=1.5,
                    label=name if label is None else label)
            drawn += 1
        if not drawn:
            ax.text(0.5, 0.5, "no losses recorded yet", ha="center", va="center",
                    transform=ax.transAxes, color="grey")
        elif None not in histories:
            ax.legend(fontsize=7, loc="upper right")
    axes[-1].set_xlabel("step")
    figure.suptitle(title)
    figure.tight_layout()
    if path is not None:
        save_png(figure, path)
    return figure


# ---------------------------------------------------------------------------- result grids
def _resolve(path, base_dir):
    if base_dir is not None and not os.path.isabs(path):
        return os.path.join(base_dir, path)
    return path


def _read_rgb(path):
    """An image file as an RGB uint8 array (grey expanded, alpha dropped)."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"cannot read image {path}")
    return image[:, :, ::-1]


def _show(ax, image):
    ax.imshow(image, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _short_name(name) -> str:
    """NAME as a row label, shortened with an ellipsis past MAX_NAME_CHARS."""
    name = str(name)
    return name if len(name) <= MAX_NAME_CHARS else name[:MAX_NAME_CHARS - 1] + "\u2026"


def _cell_aspect(images) -> float:
    """Height / width of the grid's cells: the median over the images, so photos fill them."""
    ratios = sorted(image.shape[0] / image.shape[1] for image in images)
    if not ratios:
        return 1.0
    return min(max(ratios[len(ratios) // 2], 0.25), 4.0)


def plot_results(rows, path=None, base_dir=None, max_rows=None, title=None, columns=None,
                 total=None) -> Figure:
    """Draw a grid of results, one row per example: input | output | target.

    ROWS are dicts with "name", "inputs", "outputs" and optionally "targets": image paths,
    absolute or relative to BASE_DIR (the rows test mode's save_pictures returns fit as
    they are). The target column is drawn when any row has a target. Only the first
    MAX_ROWS rows are drawn if given (spread_rows picks rows across the whole set instead).
    COLUMNS, {key: title} in order, draws other columns (pix2pix-reproduce's grid: one per
    configuration); a row without a key's picture gets a "no ..." cell. TOTAL: how many
    rows ROWS was chosen from, for the heading. Saves a PNG to PATH if given; returns the
    Figure, whose axes form a (rows x columns) grid.
    """
    rows = list(rows)
    if not rows:
        raise ValueError("plot_results: no results to draw")
    chosen_from = total or len(rows)
    truncated = max_rows is not None and len(rows) > max(1, int(max_rows))
    if truncated:
        rows = rows[:max(1, int(max_rows))]
    titles = dict(columns) if columns else RESULT_TITLES
    kinds = list(titles) if columns else [
        k for k in RESULT_KINDS if k != "targets" or any(row.get("targets") for row in rows)]
    images = [{kind: _read_rgb(_resolve(row[kind], base_dir)) if row.get(kind) else None for kind in kinds}
              for row in rows]
    names = [_short_name(row.get("name", "")) for row in rows]

    # Layout in inches: row labels | cells, under a header with the heading and column titles.
    header, margin, gap = 0.75, 0.1, 0.06  # gap: between cells, as a fraction of a cell
    label_width = 0.2 + NAME_CHAR_INCHES * max(len(name) for name in names)
    cell_width = CELL_INCHES
    cell_height = CELL_INCHES * _cell_aspect([im for row in images for im in row.values() if im is not None])
    # Long grids get shorter rows rather than a picture Agg cannot render.
    cell_height = min(cell_height, (MAX_FIGURE_INCHES - header - margin) / (len(rows) * (1 + gap)))
    width = label_width + len(kinds) * cell_width * (1 + gap) + margin
    height = header + len(rows) * cell_height * (1 + gap) + margin

    figure = _new_figure(width, height)
    grid = figure.subplots(len(rows), len(kinds), squeeze=False)
    figure.subplots_adjust(left=label_width / width, right=1.0 - margin / width, wspace=gap, hspace=gap,
                           top=1.0 - header / height, bottom=margin / height)
    for r, (name, row_images) in enumerate(zip(names, images)):
        for c, kind in enumerate(kinds):
            ax = grid[r, c]
            if row_images[kind] is not None:
                _show(ax, row_images[kind])
            else:
                _show(ax, [[[255, 255, 255]]])
                ax.text(0.5, 0.5, f"no {titles[kind]}", ha="center", va="center",
                        transform=ax.transAxes, color="grey")
            if r == 0:
                ax.set_title(titles[kind], fontsize=NAME_FONT_SIZE if columns else None)
        grid[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=NAME_FONT_SIZE)
    heading = title or "Results"
    if truncated:
        heading += f" (first {len(rows)} of {chosen_from})"
    elif len(rows) < chosen_from:
        heading += f" ({len(rows)} of {chosen_from}, spread over the set)"
    figure.suptitle(heading, y=1.0 - 0.08 / height, va="top")
    if path is not None:
        save_png(figure, path)
    return figure


def spread_rows(rows, count):
    """COUNT of ROWS evenly spread over the whole list, first and last included (all of them
    if there are no more). Test mode's crops of one photo sort together, so a spread shows
    every photo of a held-out set, where the first COUNT would show the first photo only."""
    rows = list(rows)
    if len(rows) <= count:
        return rows
    if count <= 1:
        return rows[:1]
    return [rows[round(i * (len(rows) - 1) / (count - 1))] for i in range(count)]


def _natural_key(name):
    """Sort key putting 'img2' before 'img10' (the order test mode writes numeric names in)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name)]


def result_rows(output_dir):
    """The rows of a test/infer output folder, from its images/NAME-{inputs,outputs,targets}.png.

    Paths are relative to OUTPUT_DIR (pass it as plot_results' base_dir). A row lacks
    "targets" when there is no target image. Sorted with numbers in numeric order.
    """
    images_dir = os.path.join(output_dir, "images")
    if not os.path.isdir(images_dir):
        return []
    files = set(os.listdir(images_dir))
    names = [f[:-len("-inputs.png")] for f in files if f.endswith("-inputs.png")]
    rows = []
    for name in sorted(names, key=_natural_key):
        row = {"name": name}
        for kind in RESULT_KINDS:
            file_name = f"{name}-{kind}.png"
            if file_name in files:
                row[kind] = f"images/{file_name}"
        if "outputs" in row:
            rows.append(row)
    return rows

