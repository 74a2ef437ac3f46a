"""docs/drawing_page.png: the drawing page of --mode serve with a sketch drawn on it by the pointer.

Usage: drawing_screenshot.py CHECKPOINT OUTPUT.png

CHECKPOINT is any edges -> photo training directory or export. The picture in the docs came from
a small one trained on edges of scikit-image's sample photos, in about 5 minutes on 2 CPU cores:

    pix2pix-prep --operation samples --output_dir photos
    pix2pix-prep --operation colorize --singles --input_dir photos --output_dir crops --size 72 \\
        --crops_per_image 40 --val_region 0.2 --seed 1
    pix2pix-prep --operation edges --input_dir crops/train --output_dir edges
    pix2pix-prep --operation combine --input_dir edges --b_dir crops/train --output_dir pairs
    pix2pix --mode train --input_dir pairs --output_dir edges2photos --crop_size 64 --scale_size 72 \\
        --ngf 32 --ndf 32 --batch_size 4 --max_steps 2000 --seed 1
    python tests/scripts/drawing_screenshot.py edges2photos docs/drawing_page.png

The server and Chromium are the ones the tests use (tests/helpers.py); the strokes are real
pointer input (Selenium's actions), as a person would draw them.
"""

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from helpers import BROWSER_WAIT, ServerProcess, chromium_session  # noqa: E402

CANVAS = 256  # the page's canvas, in its own pixels
BRUSH = 5


def circle(cx, cy, radius, start=0.0, end=2 * math.pi, steps=36):
    return [(cx + radius * math.cos(start + (end - start) * i / steps),
             cy + radius * math.sin(start + (end - start) * i / steps)) for i in range(steps + 1)]


# A cat's face, as the TF1 demo's edges2cats invited: head, ears, eyes, nose, whiskers.
STROKES = [
    circle(128, 140, 80, math.radians(-60), math.radians(240)),
    [(88, 72), (70, 24), (116, 62)], [(140, 62), (186, 24), (168, 72)],
    circle(98, 128, 13), circle(158, 128, 13),
    [(118, 160), (128, 170), (138, 160), (118, 160)], [(128, 170), (128, 184)],
    [(112, 168), (60, 160)], [(112, 176), (62, 186)], [(144, 168), (196, 160)], [(144, 176), (194, 186)],
]


def draw(browser, strokes):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    canvas = browser.find_element(By.ID, "canvas")
    scale = canvas.size["width"] / CANVAS
    for stroke in strokes:
        (x, y), *rest = stroke
        chain = ActionChains(browser, duration=10).move_to_element_with_offset(
            canvas, round((x - CANVAS / 2) * scale), round((y - CANVAS / 2) * scale)).click_and_hold()
        for next_x, next_y in rest:
            chain.move_by_offset(round((next_x - x) * scale), round((next_y - y) * scale))
            x, y = x + round((next_x - x) * scale) / scale, y + round((next_y - y) * scale) / scale
        chain.release().perform()


def main(checkpoint, output):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server = ServerProcess("--checkpoint", checkpoint, "--drawing", "sketch", "--deterministic")
    try:
        with chromium_session(1100, 960) as browser:
            browser.get(server.url + "/")
            wait = WebDriverWait(browser, BROWSER_WAIT)
            wait.until(lambda d: d.find_element(By.ID, "drawing").is_displayed())
            # 5 canvas pixels: about one pixel once the drawing is scaled to a 64-pixel model's input,
            # as thin as the edges it learnt from
            browser.execute_script("document.getElementById('brush').value = arguments[0]", BRUSH)
            draw(browser, STROKES)

            def results(driver):
                return int(driver.find_element(By.ID, "drawing").get_attribute("data-results") or 0)

            wait.until(lambda d: results(d) >= 1)
            before = results(browser)
            browser.find_element(By.ID, "translate").click()  # the whole drawing, surely the last answer
            wait.until(lambda d: results(d) > before)
            browser.execute_script("document.activeElement.blur(); window.scrollTo(0, 0)")
            assert browser.save_screenshot(output), output
            print(f"wrote {output}")
    finally:
        server.kill()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
