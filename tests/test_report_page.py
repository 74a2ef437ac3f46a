"""Test mode's index.html as a person uses it: headless Chromium opens a real test-mode page.

The page (reporting/pictures.py) keeps its plain table (the other tests read its cells) and adds,
inline: style, sorting by any column of figures (click its heading; again to reverse; the mean
row stays last) and an enlarged view of a row's pictures (click one; Esc closes). Nothing is
fetched but the page's own pictures. With $PIX2PIX_SCREENSHOT set, the sorted page's screenshot
is copied there.
"""

import csv
import os
import re
import shutil

import pytest

from helpers import BROWSER_WAIT, require_chromium, run_cli, serve_directory, smooth_photo, write_image

require_chromium()
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


# Its module-scoped fixtures are built once: all its tests run on one xdist worker (pytest.ini).
pytestmark = pytest.mark.xdist_group("report_page")


@pytest.fixture(scope="module")
def tested(tmp_path_factory, trained_lab):
    """A test-mode output folder: a 2-step Lab colorization run (conftest's trained_lab) tested on 6
    synthetic photos."""
    import numpy as np

    base = tmp_path_factory.mktemp("report")
    photos = base / "photos"
    photos.mkdir()
    rng = np.random.default_rng(3)
    for i in range(1, 7):
        write_image(photos / f"{i}.png", smooth_photo(rng, 40, 40))
    run_cli("--mode", "test", "--input_dir", photos, "--output_dir", base / "test", "--checkpoint", trained_lab)
    return base / "test"


def column(driver, index):
    return [row.find_elements(By.TAG_NAME, "td")[index].text
            for row in driver.find_elements(By.CSS_SELECTOR, "tr")[1:]]


def test_the_page_is_self_contained_and_keeps_its_plain_table(tested):
    page = (tested / "index.html").read_text()
    assert "<th>name</th><th>input</th><th>output</th><th>target</th><th>l1</th>" in page
    sources = re.findall(r"src='([^']*)'", page)
    assert sources and all(s.startswith("images/") and (tested / s).is_file() for s in sources)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    assert "http:" not in page and "https:" not in page and "<script src" not in page


def test_sorting_by_a_figure_and_enlarging_a_picture_in_chromium(tested, chromium):
    with open(tested / "metrics.csv", newline="") as f:
        l1 = {row["name"]: float(row["l1"]) for row in csv.DictReader(f)}
    url, server = serve_directory(tested)
    try:
        chromium.get(url + "/index.html")
        headings = chromium.find_elements(By.TAG_NAME, "th")
        titles = [h.text.replace("\n", "") for h in headings]
        assert titles[:5] == ["name", "input", "output", "target", "l1"]
        names_before = column(chromium, 0)
        assert names_before[:-1] == ["1", "2", "3", "4", "5", "6"] and names_before[-1] == "mean of 6"

        headings[4].click()  # l1, ascending
        names = column(chromium, 0)
        assert names[:-1] == sorted(l1, key=l1.get) and names[-1] == "mean of 6"
        assert headings[4].get_attribute("aria-sort") == "ascending"
        assert [float(v) for v in column(chromium, 4)[:-1]] == sorted(round(v, 2) for v in l1.values())
        headings[4].click()  # again: descending, the mean row still last
        names = column(chromium, 0)
        assert names[:-1] == sorted(l1, key=l1.get, reverse=True) and names[-1] == "mean of 6"
        headings[0].click()  # by name: numeric names in numeric order
        assert column(chromium, 0) == names_before
        assert headings[1].get_attribute("class") == "picture"  # pictures are no sort key

        shot = tested.parent / "report_page.png"
        assert chromium.save_screenshot(str(shot))
        if os.environ.get("PIX2PIX_SCREENSHOT"):
            shutil.copyfile(shot, os.environ["PIX2PIX_SCREENSHOT"])

        thumbnail = chromium.find_elements(By.CSS_SELECTOR, "td img")[4]  # row 2's output
        small = thumbnail.size["width"]
        thumbnail.click()
        overlay = chromium.find_element(By.ID, "enlarged")
        WebDriverWait(chromium, BROWSER_WAIT).until(lambda d: overlay.is_displayed())
        enlarged = overlay.find_elements(By.CSS_SELECTOR, "figure img")
        assert len(enlarged) == 3  # input | output | target of that row
        assert [f.text for f in overlay.find_elements(By.CSS_SELECTOR, "#enlarged figure figcaption")] == \
            ["input", "output", "target"]
        assert all(e.size["width"] > small for e in enlarged)
        assert enlarged[1].get_attribute("src").endswith("images/2-outputs.png")
        assert "2 (32\u00d732 pixels" in overlay.find_element(By.CSS_SELECTOR, "#enlarged > figcaption").text
        chromium.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
        WebDriverWait(chromium, BROWSER_WAIT).until(lambda d: not overlay.is_displayed())
    finally:
        server.shutdown()
