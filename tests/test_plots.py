"""pix2pix.reporting.plots: losses.csv is crash-safe and resumable; losses.png and results.png are real pictures."""

import math
import os

import cv2
import numpy as np
import pytest

from helpers import smooth_photo, write_image
from pix2pix import plots
from pix2pix.reporting import loss_history


def _record(step):
    """Loss averages that change with the step, on the trainer's scales."""
    return {"step": step, "discrim_loss": 1.3 - 0.2 * math.sin(step / 90),
            "gen_loss_GAN": 0.9 + 0.3 * math.sin(step / 70), "gen_loss_L1": 0.2 * math.exp(-step / 400)}


def _history(steps):
    return [_record(step) for step in steps]


def _read_png(path):
    """The file as a BGR array; fails unless it is a PNG OpenCV can decode."""
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n", path
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return image


def _has_colour(image_bgr, hex_colour, tolerance=40, min_pixels=50):
    """True if at least MIN_PIXELS pixels are within TOLERANCE of HEX_COLOUR (e.g. '#1f77b4')."""
    rgb = np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])
    distance = np.abs(image_bgr[:, :, ::-1].astype(int) - rgb).sum(axis=-1)
    return int((distance < tolerance).sum()) >= min_pixels


# ------------------------------------------------------------------------------- losses.csv
def test_loss_history_round_trips_exactly(tmp_path):
    csv_path = tmp_path / "losses.csv"
    history = _history(range(50, 501, 50))
    for record in history:
        loss_history.append_loss_history(csv_path, record)
    with open(csv_path, encoding="utf-8") as f:
        assert f.readline() == "step,discrim_loss,gen_loss_GAN,gen_loss_L1\n"
    assert loss_history.read_loss_history(csv_path) == history  # floats keep every bit


def test_missing_history_reads_as_empty_and_truncating_it_creates_nothing(tmp_path):
    csv_path = tmp_path / "losses.csv"
    assert loss_history.read_loss_history(csv_path) == []
    assert loss_history.truncate_loss_history(csv_path, 100) == 0
    assert not csv_path.exists()


def test_truncate_drops_rows_after_the_resume_step(tmp_path):
    csv_path = tmp_path / "losses.csv"
    for record in _history(range(50, 501, 50)):
        loss_history.append_loss_history(csv_path, record)
    # A run checkpointed at 300 went on to 500 before it was killed; the resume restarts at 300.
    assert loss_history.truncate_loss_history(csv_path, 300) == 4
    assert [r["step"] for r in loss_history.read_loss_history(csv_path)] == [50, 100, 150, 200, 250, 300]
    assert loss_history.truncate_loss_history(csv_path, 300) == 0


def test_append_replaces_rows_at_and_after_its_step(tmp_path):
    csv_path = tmp_path / "losses.csv"
    for record in _history([50, 100, 150]):
        loss_history.append_loss_history(csv_path, record)
    again = dict(_record(100), gen_loss_L1=0.5)
    loss_history.append_loss_history(csv_path, again)
    assert loss_history.read_loss_history(csv_path) == [_record(50), again]


def test_append_leaves_no_temporary_files_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    csv_path = tmp_path / "losses.csv"
    loss_history.append_loss_history(csv_path, _record(50))
    before = csv_path.read_bytes()

    def crash(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)  # the rename that publishes the new file
    with pytest.raises(OSError):
        loss_history.append_loss_history(csv_path, _record(100))
    assert csv_path.read_bytes() == before
    assert os.listdir(tmp_path) == ["losses.csv"]


def test_bad_history_files_are_reported_with_file_and_line(tmp_path):
    csv_path = tmp_path / "losses.csv"
    csv_path.write_text("loss,step\n1,2\n")
    with pytest.raises(ValueError, match="header"):
        loss_history.read_loss_history(csv_path)
    csv_path.write_text("step,loss,loss\n1,2,3\n")
    with pytest.raises(ValueError, match="header"):
        loss_history.read_loss_history(csv_path)
    csv_path.write_text("step,discrim_loss,gen_loss_GAN,gen_loss_L1\n50,1,2,3\n100,1,x,3\n")
    with pytest.raises(ValueError, match="line 3"):
        loss_history.read_loss_history(csv_path)
    with pytest.raises(ValueError, match="at least one loss"):
        loss_history.append_loss_history(csv_path, {"step": 1})


def test_a_run_with_other_losses_continues_the_file_with_the_union_of_columns(tmp_path):
    """A resumed run whose model reports other losses (e.g. a gradient penalty) keeps the file."""
    csv_path = tmp_path / "losses.csv"
    loss_history.append_loss_history(csv_path, _record(50))
    loss_history.append_loss_history(csv_path, {**_record(100), "discrim_loss_GP": 0.25})
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "step,discrim_loss,gen_loss_GAN,gen_loss_L1,discrim_loss_GP"
    assert lines[1].endswith(",") and lines[2].endswith(",0.25")
    history = loss_history.read_loss_history(csv_path)
    assert history[0]["discrim_loss_GP"] is None and history[1]["discrim_loss_GP"] == 0.25
    figure = plots.plot_losses(history, tmp_path / "losses.png")
    assert [ax.get_ylabel() for ax in figure.axes] == list(plots.LOSS_FIELDS[1:]) + ["discrim_loss_GP"]
    gp_lines = figure.axes[3].get_lines()
    assert len(gp_lines) == 1 and list(gp_lines[0].get_xdata()) == [100]


# ------------------------------------------------------------------------------- losses.png
def test_plot_losses_draws_three_curves_in_their_colours(tmp_path):
    history = _history(range(50, 1001, 50))
    png = tmp_path / "losses.png"
    figure = plots.plot_losses(history, png)

    lines = [line for ax in figure.axes for line in ax.get_lines()]
    assert len(figure.axes) == 3 and len(lines) == 3
    assert sorted(line.get_label() for line in lines) == sorted(plots.LOSS_FIELDS[1:])
    for line in lines:
        assert list(line.get_xdata()) == [r["step"] for r in history]
        assert list(line.get_ydata()) == [r[line.get_label()] for r in history]
    assert all(ax.get_title() for ax in figure.axes)
    assert figure.axes[-1].get_xlabel() == "step"

    image = _read_png(png)
    for colour in (plots.LOSS_COLORS[name] for name in plots.LOSS_FIELDS[1:]):
        assert _has_colour(image, colour), colour


def test_plot_losses_sorts_steps_and_handles_short_and_empty_histories(tmp_path):
    figure = plots.plot_losses(_history([200, 100]), tmp_path / "two.png")
    assert list(figure.axes[0].get_lines()[0].get_xdata()) == [100, 200]

    figure = plots.plot_losses([], tmp_path / "empty.png")
    assert all(not ax.get_lines() for ax in figure.axes)
    image = _read_png(tmp_path / "empty.png")
    assert not any(_has_colour(image, c) for c in plots.LOSS_COLORS.values())


def test_plot_losses_reads_what_training_writes(tmp_path):
    csv_path = tmp_path / "losses.csv"
    for record in _history(range(10, 101, 10)):
        loss_history.append_loss_history(csv_path, record)
    figure = plots.plot_losses(loss_history.read_loss_history(csv_path), tmp_path / "losses.png")
    assert len(figure.axes[2].get_lines()[0].get_xdata()) == 10


# ------------------------------------------------------------------------------ results.png
@pytest.fixture
def results_dir(tmp_path):
    """A test-mode output folder: images/NAME-{inputs,outputs,targets}.png for names 1, 2, 10."""
    rng = np.random.default_rng(3)
    for name in ("10", "2", "1"):
        colour = smooth_photo(rng, 32, 32)
        grey = np.repeat(cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=-1)
        os.makedirs(tmp_path / "images", exist_ok=True)
        write_image(tmp_path / "images" / f"{name}-inputs.png", grey)
        write_image(tmp_path / "images" / f"{name}-outputs.png", colour // 2)
        write_image(tmp_path / "images" / f"{name}-targets.png", colour)
    return tmp_path


def _grid_shape(figure):
    return figure.axes[0].get_subplotspec().get_gridspec().get_geometry()


def test_result_rows_lists_a_test_output_folder_in_numeric_order(results_dir):
    rows = plots.result_rows(results_dir)
    assert [row["name"] for row in rows] == ["1", "2", "10"]
    assert rows[0] == {"name": "1", "inputs": "images/1-inputs.png", "outputs": "images/1-outputs.png",
                       "targets": "images/1-targets.png"}
    assert plots.result_rows(results_dir / "nothing") == []


def test_plot_results_has_one_row_per_example(results_dir):
    rows = [dict(row, name=f"example{i}") for i, row in enumerate(plots.result_rows(results_dir))]
    sizes = []
    for count in (1, 2, 3):
        png = results_dir / f"results{count}.png"
        figure = plots.plot_results(rows[:count], png, base_dir=results_dir)
        assert _grid_shape(figure) == (count, 3)
        assert [ax.get_title() for ax in figure.axes[:3]] == ["input", "output", "target"]
        assert [figure.axes[3 * r].get_ylabel() for r in range(count)] == [f"example{r}" for r in range(count)]
        height, width = _read_png(png).shape[:2]
        sizes.append((height, width))
    # Same width; the picture grows by one row of cells per example.
    assert sizes[0][1] == sizes[1][1] == sizes[2][1]
    assert sizes[0][0] < sizes[1][0] < sizes[2][0]
    assert np.isclose(sizes[2][0] - sizes[1][0], sizes[1][0] - sizes[0][0], atol=2)


def test_plot_results_shows_the_images_themselves(results_dir):
    rows = [{"name": "only", "inputs": "images/1-inputs.png", "outputs": "images/1-outputs.png",
             "targets": str(results_dir / "images" / "1-targets.png")}]  # relative and absolute
    figure = plots.plot_results(rows, base_dir=results_dir)
    shown = figure.axes[2].get_images()[0].get_array()
    expected = cv2.imread(str(results_dir / "images" / "1-targets.png"))[:, :, ::-1]
    assert np.array_equal(np.asarray(shown), expected)


def test_plot_results_without_targets_has_two_columns_and_max_rows_limits(results_dir):
    rows = [{k: v for k, v in row.items() if k != "targets"} for row in plots.result_rows(results_dir)]
    figure = plots.plot_results(rows, results_dir / "results.png", base_dir=results_dir, max_rows=2)
    assert _grid_shape(figure) == (2, 2)
    assert [ax.get_title() for ax in figure.axes[:2]] == ["input", "output"]
    assert "first 2 of 3" in figure.texts[0].get_text()
    _read_png(results_dir / "results.png")


def test_plot_results_reports_missing_images_and_empty_rows(results_dir):
    with pytest.raises(FileNotFoundError, match="nope-outputs.png"):
        plots.plot_results([{"name": "x", "inputs": "images/1-inputs.png", "outputs": "images/nope-outputs.png"}],
                           base_dir=results_dir)
    with pytest.raises(ValueError, match="no results"):
        plots.plot_results([])


def test_long_result_grids_get_shorter_rows_instead_of_an_unrenderable_picture(results_dir, monkeypatch):
    # Agg cannot render 2**16 pixels on a side; the cap (300 inches at 100 dpi) keeps below it.
    assert plots.MAX_FIGURE_INCHES * plots.DPI < 2 ** 16
    monkeypatch.setattr(plots, "MAX_FIGURE_INCHES", 10.0)
    rows = plots.result_rows(results_dir) * 3  # 9 rows of 2-inch cells would need 18 inches
    figure = plots.plot_results(rows, results_dir / "long.png", base_dir=results_dir)
    assert _grid_shape(figure) == (9, 3)
    assert figure.get_figheight() <= 10.0 + 1.0
    _read_png(results_dir / "long.png")


def test_cells_follow_the_photos_shape_and_long_names_are_shortened(tmp_path):
    wide = tmp_path / "wide.png"
    write_image(wide, smooth_photo(np.random.default_rng(4), 40, 120))
    name = "a_photo_with_a_name_much_longer_than_any_label_should_be"
    figure = plots.plot_results([{"name": name, "inputs": str(wide), "outputs": str(wide)}],
                                tmp_path / "wide-results.png")
    ax = figure.axes[0]
    box = ax.get_window_extent()  # the cell, in pixels
    assert box.width > 2.5 * box.height  # a 3:1 photo fills a 3:1 cell, not a letterboxed square
    label = ax.get_ylabel()
    assert label.startswith("a_photo_with") and label.endswith("\u2026") and len(label) <= plots.MAX_NAME_CHARS
    _read_png(tmp_path / "wide-results.png")


def test_spread_rows_covers_the_whole_set_first_and_last_included():
    rows = [{"name": f"photo{p}_c{c}"} for p in range(3) for c in range(16)]  # 3 photos, sorted
    chosen = plots.spread_rows(rows, 16)
    assert len(chosen) == 16 and chosen[0] is rows[0] and chosen[-1] is rows[-1]
    assert {row["name"].split("_")[0] for row in chosen} == {"photo0", "photo1", "photo2"}
    assert sum(row["name"].startswith("photo1") for row in chosen) >= 4  # evenly, not all at the ends
    assert plots.spread_rows(rows[:5], 16) == rows[:5]
    assert plots.spread_rows(rows, 1) == rows[:1]


def test_plot_results_draws_the_columns_it_is_given_and_says_it_was_spread(results_dir):
    rows = plots.result_rows(results_dir)
    table = [{"name": row["name"], "inputs": row["inputs"], "run_a": row["outputs"], "targets": row["targets"]}
             for row in rows[:2]]
    figure = plots.plot_results(table, base_dir=results_dir, total=3,
                                columns={"inputs": "input", "run_a": "run_a", "run_b": "run_b", "targets": "target"})
    assert _grid_shape(figure) == (2, 4)
    assert [ax.get_title() for ax in figure.axes[:4]] == ["input", "run_a", "run_b", "target"]
    assert "no run_b" in [text.get_text() for text in figure.axes[2].texts]  # a run without this picture
    assert "2 of 3, spread over the set" in figure.texts[0].get_text()


def test_loss_comparison_draws_one_line_per_run_in_each_panel(tmp_path):
    histories = {"l1": [{"step": 10, "discrim_loss": 1.0, "gen_loss_GAN": 0.5, "gen_loss_L1": 0.2},
                        {"step": 20, "discrim_loss": 0.9, "gen_loss_GAN": 0.6, "gen_loss_L1": 0.1}],
                 "wgan": [{"step": 10, "discrim_loss": -1.0, "gen_loss_GAN": 0.5, "gen_loss_L1": 0.3,
                           "discrim_loss_GP": 0.01}]}
    figure = plots.plot_loss_comparison(histories, tmp_path / "losses.png")
    panels = {ax.get_ylabel(): ax for ax in figure.axes}
    assert set(panels) == {"discrim_loss", "gen_loss_GAN", "gen_loss_L1", "discrim_loss_GP"}
    assert [line.get_label() for line in panels["discrim_loss"].get_lines()] == ["l1", "wgan"]
    assert [line.get_label() for line in panels["discrim_loss_GP"].get_lines()] == ["wgan"]
    colours = {line.get_color() for line in panels["gen_loss_L1"].get_lines()}
    assert len(colours) == 2
    _read_png(tmp_path / "losses.png")
