"""The page at / in a real browser: headless Chromium (Debian's chromium + chromium-driver, given
to Selenium by path, so Selenium Manager never tries to download a driver).

Opens the page, reaches the file chooser with the keyboard, uploads a grey photo, waits for the
result and checks its size and that it has colour; a photo dropped on the page is translated too;
a file that is no image shows its error on the page. A screenshot is written to the test's temporary
directory, and also to the path in $PIX2PIX_SCREENSHOT when set (docs/serve_page.png was made that way).
"""

import base64
import os
import shutil

import numpy as np
import pytest

from helpers import BROWSER_WAIT, chromium_session, decode_png, require_chromium, smooth_photo, write_image
from pix2pix.reporting.metrics import colourfulness

require_chromium()
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

# Its module-scoped fixtures are built once: all its tests run on one xdist worker (pytest.ini).
pytestmark = pytest.mark.xdist_group("serve_browser")


@pytest.fixture
def browser():
    """Chromium at the size docs/serve_page.png was taken at."""
    with chromium_session(1100, 1150) as driver:
        yield driver


def test_page_uploads_a_photo_and_shows_its_colorized_result(browser, server, tmp_path):
    rgb = smooth_photo(np.random.default_rng(7), 96, 128)
    grey = np.repeat(rgb.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    photo = write_image(tmp_path / "street.png", grey)
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("these are notes, not a picture")

    browser.get(server.url + "/")
    wait = WebDriverWait(browser, BROWSER_WAIT)
    wait.until(lambda d: "Lab colorization" in d.find_element(By.ID, "model").text)
    info = browser.find_element(By.ID, "model").text
    assert "32×32" in info and "PNG" in info and "version 2" in info
    assert not browser.find_element(By.ID, "drawing").is_displayed()  # a colorization model: no canvas

    # the keyboard reaches the file chooser first
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "files"

    browser.find_element(By.ID, "files").send_keys(photo)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "li.item[data-done]"))
    item = browser.find_element(By.CSS_SELECTOR, "li.item")
    assert item.get_attribute("data-done") == "true", item.text
    result = item.find_element(By.CSS_SELECTOR, "img.result")
    size = browser.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", result)
    assert size == [128, 96]  # the photo's own size
    source = result.get_attribute("src")
    assert source.startswith("data:image/png;base64,")
    picture = decode_png(base64.b64decode(source.split(",", 1)[1]))
    assert picture.shape == (96, 128, 3)
    assert colourfulness(grey) == 0 and colourfulness(picture) > 5  # grey in, colour out
    link = item.find_element(By.CSS_SELECTOR, "a.download")
    assert link.get_attribute("download") == "street-pix2pix.png" and link.get_attribute("href") == source

    # dropped on the page instead of chosen (a drop event carrying a file, as a drag from the desktop)
    dropped = smooth_photo(np.random.default_rng(8), 48, 64)
    with open(write_image(tmp_path / "dropped.png", dropped), "rb") as f:
        dropped_b64 = base64.b64encode(f.read()).decode()
    browser.execute_script("""
        const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], "dropped.png", {type: "image/png"}));
        document.getElementById("drop").dispatchEvent(
            new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));""", dropped_b64)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "li.item[data-done]")) == 2)
    second = browser.find_elements(By.CSS_SELECTOR, "li.item")[1]
    assert second.get_attribute("data-done") == "true" and "dropped.png" in second.text
    assert browser.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]",
                                  second.find_element(By.CSS_SELECTOR, "img.result")) == [64, 48]

    browser.find_element(By.ID, "files").send_keys(str(not_an_image))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "li.item[data-done]")) == 3)
    failed = browser.find_elements(By.CSS_SELECTOR, "li.item")[2]
    assert failed.get_attribute("data-done") == "failed"
    assert "not a decodable image" in failed.text
    assert "notes.png" in browser.find_element(By.ID, "errors").text

    shot = tmp_path / "serve_page.png"
    assert browser.save_screenshot(str(shot))
    if os.environ.get("PIX2PIX_SCREENSHOT"):
        shutil.copyfile(shot, os.environ["PIX2PIX_SCREENSHOT"])
    assert decode_png(shot.read_bytes()).shape[1] >= 800
