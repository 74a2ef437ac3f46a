"""Headless Chromium (Debian's chromium + chromium-driver, given to Selenium by path so Selenium
Manager never downloads a driver) and a static file server on 127.0.0.1, for the pages pix2pix
writes to disk (infer's and test's index.html)."""

import functools
import http.server
import os
import shutil
import tempfile
import threading

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WAIT = 180  # seconds: the machine is shared


def require_chromium():
    """Skip the calling test module without Chromium (fail under CI, which installs it)."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if missing:
        reason = (f"{' and '.join(missing)} not installed (apt-get install -y chromium chromium-driver; "
                  ".ci/run does)")
        if os.environ.get("CI"):
            raise RuntimeError(reason)
        pytest.skip(reason, allow_module_level=True)
    pytest.importorskip("selenium.webdriver")


def start_chromium(width=1200, height=900):
    """A headless Chromium driver; the caller quits it. Returns (driver, profile directory)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="pix2pix-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--mute-audio",
                 "--autoplay-policy=no-user-gesture-required", "--disable-dev-shm-usage",
                 f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    driver.set_script_timeout(WAIT)
    return driver, profile


@pytest.fixture
def chromium():
    driver, profile = start_chromium()
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test's output stays readable
        pass


def serve_directory(directory):
    """Serve DIRECTORY on 127.0.0.1 (a free port) in a thread; returns (base URL, server to shut down)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}", server
