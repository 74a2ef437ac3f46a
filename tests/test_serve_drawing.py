"""The drawing page of --mode serve, in headless Chromium: a pairs model named like the
catalogue's facades_label2photo gets the facade label colours (--drawing auto); a stroke drawn
with the pointer, then one drawn with the keyboard, each comes back as the model's picture; undo
and the sketch canvas work. A screenshot is written to the test's temporary directory, and also
to the path in $PIX2PIX_SCREENSHOT when set (docs/drawing_page.png, with a trained model, is made
by tests/scripts/drawing_screenshot.py).
"""

import base64
import os
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest

from helpers import (BROWSER_WAIT, REPO, SCRIPTS, ServerProcess, chromium_session, cli_env, decode_png,
                     forkserver_env, make_run, require_chromium)
from pix2pix.serving.protocol import drawing_kind

require_chromium()
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

pytestmark = pytest.mark.xdist_group("serve_drawing")

WINDOW_BLUE = [0, 117, 255]  # the "window" label colour
BACKGROUND_BLUE = [0, 6, 217]


@pytest.mark.parametrize("name, flag, kind", [
    ("facades_label2photo", "auto", "labels"), ("edges2shoes", "auto", "sketch"), ("my_sketches", "auto", "sketch"),
    ("sat2map", "auto", "off"), ("color", "auto", "off"), ("sat2map", "sketch", "sketch"),
    ("facades", "off", "off")])
def test_drawing_canvas_follows_the_flag_or_the_model_name(name, flag, kind):
    assert drawing_kind(SimpleNamespace(drawing=flag), name) == kind


@pytest.fixture(scope="module")
def drawing_server(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("drawing") / "facades_label2photo", task="pairs",
                   which_direction="BtoA", deterministic=True)
    process = ServerProcess("--checkpoint", run)
    process.checkpoint = run
    yield process
    process.kill()


def canvas_pixel(browser, x, y):
    return browser.execute_script(
        "return Array.from(document.getElementById('canvas').getContext('2d')"
        ".getImageData(arguments[0], arguments[1], 1, 1).data.slice(0, 3))", x, y)


def results_count(browser):
    return int(browser.find_element(By.ID, "drawing").get_attribute("data-results") or 0)


def test_drawing_page_translates_pointer_and_keyboard_strokes(drawing_server, tmp_path):
    with chromium_session(1100, 1000) as browser:
        browser.get(drawing_server.url + "/")
        wait = WebDriverWait(browser, BROWSER_WAIT)
        wait.until(lambda d: d.find_element(By.ID, "drawing").is_displayed())
        drawing = browser.find_element(By.ID, "drawing")
        assert drawing.get_attribute("data-palette") == "labels"
        labels = browser.find_elements(By.CSS_SELECTOR, "#labels input[name=label]")
        assert len(labels) == 12
        assert canvas_pixel(browser, 5, 5) == BACKGROUND_BLUE

        # a stroke with the pointer, in the "window" colour, across the middle of the canvas
        browser.find_element(By.CSS_SELECTOR, "#labels input[value='#0075ff']").click()
        canvas = browser.find_element(By.ID, "canvas")
        width = canvas.size["width"]  # shown at up to 512 px: 256 canvas pixels
        ActionChains(browser).move_to_element_with_offset(canvas, -width // 4, 0).click_and_hold() \
            .move_by_offset(width // 8, 0).move_by_offset(width // 8, 0).move_by_offset(width // 8, 0) \
            .release().perform()
        assert canvas_pixel(browser, 96, 128) == WINDOW_BLUE
        assert canvas_pixel(browser, 128, 128) == WINDOW_BLUE
        wait.until(lambda d: results_count(d) >= 1)
        result = browser.find_element(By.ID, "drawing-result")
        assert browser.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]",
                                      result) == [256, 256]
        picture = decode_png(base64.b64decode(result.get_attribute("src").split(",", 1)[1]))
        assert picture.shape == (256, 256, 3) and picture.std() > 0
        assert any(":predict 200" in line for line in drawing_server.lines)

        # undo brings back the empty canvas, and is itself translated
        before = results_count(browser)
        browser.find_element(By.TAG_NAME, "body").send_keys(Keys.CONTROL, "z")
        assert canvas_pixel(browser, 128, 128) == BACKGROUND_BLUE
        wait.until(lambda d: results_count(d) > before)

        # the keyboard alone: Tab reaches the canvas, Space lowers the pen, arrows draw, Space lifts it
        browser.find_element(By.ID, "drawing-title").click()
        for _ in range(40):
            ActionChains(browser).send_keys(Keys.TAB).perform()
            if browser.switch_to.active_element.get_attribute("id") == "canvas":
                break
        assert browser.switch_to.active_element.get_attribute("id") == "canvas"
        before = results_count(browser)
        browser.switch_to.active_element.send_keys(" ", *[Keys.ARROW_DOWN] * 4, " ")
        assert canvas_pixel(browser, 128, 140) == WINDOW_BLUE  # the cursor starts at the centre
        wait.until(lambda d: results_count(d) > before)

        shot = tmp_path / "drawing_page.png"
        assert browser.save_screenshot(str(shot))
        if os.environ.get("PIX2PIX_SCREENSHOT"):
            shutil.copyfile(shot, os.environ["PIX2PIX_SCREENSHOT"])

        # the sketch canvas: white, a black pen, no label colours
        Select(browser.find_element(By.ID, "palette-kind")).select_by_value("sketch")
        assert canvas_pixel(browser, 5, 5) == [255, 255, 255]
        assert not browser.find_element(By.ID, "labels").is_displayed()
        ActionChains(browser).move_to_element_with_offset(canvas, 0, -width // 4).click_and_hold() \
            .move_by_offset(0, width // 8).release().perform()
        assert canvas_pixel(browser, 128, 80) == [0, 0, 0]


def test_the_docs_screenshot_script_draws_and_gets_an_answer(drawing_server, tmp_path):
    """tests/scripts/drawing_screenshot.py (which made docs/drawing_page.png) still runs: it starts
    its own server with --drawing sketch over the module's model and draws its cat (forked from this
    worker's CLI fork server, as the module's own server is)."""
    shot = tmp_path / "drawing_page.png"
    script = os.path.join(SCRIPTS, "drawing_screenshot.py")
    result = subprocess.run([sys.executable, script, str(drawing_server.checkpoint), str(shot)],
                            capture_output=True, text=True, env=cli_env(**forkserver_env()), cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert f"wrote {shot}" in result.stdout
    assert decode_png(shot.read_bytes()).shape[1] >= 1000
