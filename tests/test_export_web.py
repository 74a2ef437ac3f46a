"""--mode export --format web: the page opened in headless Chromium from a static server on 127.0.0.1.
window.pix2pix.translate matches the SavedModel for an A|B model and a Lab model (whose colour
conversion the page does itself), the drawing canvas answers a stroke, float16 weights run (their PSNR
printed), the page loads nothing from another host, and --mode serve --page_dir serves it. The runtime's
download (data_prep --operation web_runtime) is tested against a local server."""

import base64
import io
import json
import os
import tarfile

import numpy as np
import pytest

from helpers import (BROWSER_WAIT, ArchiveServer, ServerProcess, assert_one_line_error, chromium_session, decode_png,
                     export_options, require_chromium, run_cli, serve_directory, smooth_photo, write_image)
from pix2pix.io import web_runtime

require_chromium()
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

pytestmark = pytest.mark.xdist_group("export_web")

TOLERANCE = 1e-3
TRANSLATE = """const done = arguments[arguments.length - 1];
window.pix2pix.ready.then(() => window.pix2pix.translate(new Float32Array(arguments[0]), arguments[1], arguments[2]))
  .then((out) => done({outputs: Array.from(out)}), (err) => done({error: String(err)}));"""


def cached_runtime():
    """The pinned onnxruntime-web tarball in the cache (make install-test puts it there)."""
    path = web_runtime.cached_tarball()
    if not os.path.isfile(path):
        pytest.fail(f"{path} missing: `python -m data_prep --operation web_runtime` (make install-test) fetches it")
    return path


@pytest.fixture(scope="module")
def exports(tmp_path_factory, trained_pairs, served_models):
    """ROOT/pairs (trained_pairs, the sketch canvas) and ROOT/lab (served_models' untrained Lab model, whose
    wild colours reach the gamut handling), each a --format web export."""
    from pix2pix.modes.export import export_mode

    cached_runtime()
    root = tmp_path_factory.mktemp("web")
    export_mode(export_options(trained_pairs, root / "pairs", format="web", drawing="sketch"))
    export_mode(export_options(served_models[0], root / "lab", format="web"))
    return root


@pytest.fixture(scope="module")
def site(exports):
    """(base URL of a static server over the exports, headless Chromium keeping a log of its requests)."""
    base, server = serve_directory(exports)
    with chromium_session(1100, 1000, log_requests=True) as browser:
        yield base, browser
    server.shutdown()
    server.server_close()


def network_photo(height=32, width=64, seed=5):
    return (smooth_photo(np.random.default_rng(seed), height, width) / 127.5 - 1).astype(np.float32)


def page_translate(browser, url, photo):
    browser.get(url)
    height, width, _ = photo.shape
    result = browser.execute_async_script(TRANSLATE, photo.ravel().tolist(), height, width)
    assert "error" not in result, result
    return np.array(result["outputs"], np.float32).reshape(height, width, 3)


_PICTURES = {}  # (export directory, photo's bytes) -> the SavedModel's picture: each export loaded once per photo


def saved_model_picture(export_dir, photo):
    from pix2pix.serving.web_export import saved_model_picture

    key = (str(export_dir), photo.shape, photo.tobytes())
    if key not in _PICTURES:
        _PICTURES[key] = saved_model_picture(str(export_dir), photo)
    return _PICTURES[key]


@pytest.mark.parametrize("name, task", [("pairs", "pairs"), ("lab", "lab")])
def test_the_page_translates_as_the_saved_model(site, exports, name, task):
    base, browser = site
    photo = network_photo()  # 32 x 64: height and width told apart
    picture = page_translate(browser, f"{base}/{name}/web/index.html", photo)
    expected = saved_model_picture(exports / name, photo)
    assert np.abs(picture - expected).max() <= TOLERANCE
    assert picture.min() >= -1 and picture.max() <= 1
    if task == "lab":  # the colour is the model's, the lightness the photo's
        assert np.abs(picture - picture.mean(axis=-1, keepdims=True)).max() > 0.05
        assert browser.execute_script("return window.pix2pix.backend") == "wasm"


def test_the_drawing_canvas_answers_a_stroke(site):
    base, browser = site
    browser.get(f"{base}/pairs/web/index.html")
    wait = WebDriverWait(browser, BROWSER_WAIT)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
    drawing = browser.find_element(By.ID, "drawing")
    assert drawing.is_displayed() and drawing.get_attribute("data-palette") == "sketch"
    canvas = browser.find_element(By.ID, "canvas")
    width = canvas.size["width"]
    ActionChains(browser).move_to_element_with_offset(canvas, -width // 4, 0).click_and_hold() \
        .move_by_offset(width // 4, 0).move_by_offset(width // 8, width // 8).release().perform()
    wait.until(lambda d: int(d.find_element(By.ID, "drawing").get_attribute("data-results") or 0) >= 1)
    result = browser.find_element(By.ID, "drawing-result")
    assert browser.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]",
                                  result) == [256, 256]
    assert browser.find_element(By.ID, "drawing-status").text == "result, 256×256"
    assert not browser.find_element(By.ID, "errors").text


def test_an_uploaded_photo_is_colorized_at_its_own_size_keeping_its_lightness(site, tmp_path):
    """A 64x48 photo (not the generator's size) dropped on the Lab page: the picture comes back 64x48 with
    the photo's own lightness (8-bit rounding apart), the colour the model's, as the SavedModel does it."""
    import tensorflow as tf

    from pix2pix.data.color import rgb_to_lab

    base, browser = site
    photo = smooth_photo(np.random.default_rng(9), 48, 64)
    browser.get(f"{base}/lab/web/index.html")
    wait = WebDriverWait(browser, BROWSER_WAIT)
    wait.until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
    browser.find_element(By.ID, "files").send_keys(write_image(tmp_path / "photo.png", photo))
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#results .item").get_attribute("data-done"))
    assert browser.find_element(By.CSS_SELECTOR, "#results .item").get_attribute("data-done") == "true"
    source = browser.find_element(By.CSS_SELECTOR, "#results img.result").get_attribute("src")
    picture = decode_png(base64.b64decode(source.split(",", 1)[1]))  # a canvas's PNG: BGRA reversed, ARGB
    assert picture.shape == (48, 64, 4) and (picture[..., 0] == 255).all()  # opaque
    picture = picture[..., 1:]
    lab_photo, lab_picture = (rgb_to_lab(tf.constant(image / 255, tf.float32)).numpy() for image in (photo, picture))
    assert np.abs(lab_picture[..., 0] - lab_photo[..., 0]).mean() < 0.5
    assert np.abs(lab_picture[..., 1:]).mean() > 1  # coloured, not grey


def test_float16_weights_run_in_the_page(site, exports, trained_pairs, capsys):
    """--quantize float16 halves model.onnx; its PSNR against the SavedModel is printed."""
    from pix2pix.modes.export import export_mode
    from pix2pix.inference.onnx_export import psnr
    from pix2pix.serving.web_export import MIN_FLOAT16_PSNR

    base, browser = site
    export_mode(export_options(trained_pairs, exports / "half", format="web", quantize="float16"))
    assert "weights float16, PSNR" in capsys.readouterr().out
    half, full = (os.path.getsize(exports / name / "web" / "model.onnx") for name in ("half", "pairs"))
    assert half < 0.6 * full
    photo = network_photo()
    picture = page_translate(browser, f"{base}/half/web/index.html", photo)
    quality = psnr(float(np.mean((picture - saved_model_picture(exports / "half", photo)) ** 2)))
    print(f"float16 in the page: PSNR {quality:.1f} dB against the SavedModel, model.onnx {half} of {full} bytes")
    assert quality >= MIN_FLOAT16_PSNR


def test_the_page_loads_nothing_from_another_host(site):
    base, browser = site
    browser.get_log("performance")  # what earlier tests loaded
    page_translate(browser, f"{base}/lab/web/index.html", network_photo())
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    loaded = {url.rsplit("/", 1)[-1] for url in urls}
    assert {"index.html", "pix2pix-web.js", "ort.wasm.min.js", "ort-wasm-simd-threaded.mjs",
            "ort-wasm-simd-threaded.wasm", "model.onnx"} <= loaded
    assert [url for url in urls if not url.startswith((base + "/", "data:", "blob:"))] == []


def test_serve_page_dir_serves_the_page_that_runs_in_the_browser(site, exports):
    _, browser = site
    server = ServerProcess("--checkpoint", exports / "pairs", "--page_dir", exports / "pairs" / "web")
    try:
        photo = network_photo()
        picture = page_translate(browser, server.url + "/", photo)
        assert np.abs(picture - saved_model_picture(exports / "pairs", photo)).max() <= TOLERANCE
        log = "\n".join(server.log_lines())
        assert "GET /model.onnx" in log and ":predict" not in log
    finally:
        server.kill()


@pytest.mark.parametrize("flags, words", [
    (("--quantize", "int8"), ("--quantize", "float16")),
    (("--web_runtime", "/nonexistent/ort.tgz"), ("--web_runtime", "/nonexistent/ort.tgz"))])
def test_usage_errors(tmp_path, trained_pairs, flags, words):
    result = run_cli("--mode", "export", "--format", "web", "--checkpoint", trained_pairs, "--output_dir",
                     tmp_path / "out", *flags, check=False)
    assert_one_line_error(result, 2, *words)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ the runtime's download
def fake_runtime_tarball() -> bytes:
    """A tarball laid out like onnxruntime-web's, with the pinned version named, but other bytes."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as archive:
        for member in web_runtime.RUNTIME_FILES:
            body = (f'{{"name": "onnxruntime-web", "version": "{web_runtime.VERSION}"}}' if member == "package.json"
                    else "// not the real runtime").encode()
            info = tarfile.TarInfo("package/" + member)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    return data.getvalue()


def test_the_runtime_download_refuses_other_bytes(tmp_path):
    from data_prep.download import DownloadError
    from data_prep.web_runtime import download_web_runtime

    with ArchiveServer({"/ort.tgz": fake_runtime_tarball()}) as server:
        with pytest.raises(DownloadError, match="not onnxruntime-web 1.31.1 as the npm registry publishes it"):
            download_web_runtime(tmp_path, url=server.url("/ort.tgz"))
    assert os.listdir(tmp_path) == []  # nothing kept, not even the .part


def test_the_runtime_download_resumes_and_names_only_a_whole_file(tmp_path):
    """The connection drops halfway: no tarball, the .part kept; the command run again resumes it."""
    from data_prep.download import DownloadError
    from data_prep.web_runtime import download_web_runtime

    with open(cached_runtime(), "rb") as handle:
        tarball = handle.read()
    with ArchiveServer({"/ort.tgz": tarball}, drop_first=True) as server:
        with pytest.raises(DownloadError, match="stopped after"):
            download_web_runtime(tmp_path, url=server.url("/ort.tgz"))
        assert os.listdir(tmp_path) == [web_runtime.TARBALL + ".part"]
        result = run_cli("--operation", "web_runtime", "--output_dir", tmp_path, "--url", server.url("/ort.tgz"),
                         module="data_prep")
        assert server.requests[-1][1] == f"bytes={len(tarball) // 2}-"
    assert "integrity checked" in result.stderr
    assert os.listdir(tmp_path) == [web_runtime.TARBALL]
    assert web_runtime.integrity_of(tmp_path / web_runtime.TARBALL) == web_runtime.INTEGRITY


def test_the_runtime_download_without_npm_says_what_to_do(tmp_path, monkeypatch):
    """Without --url the registry is asked through npm; with no npm on PATH, one line says what else works."""
    from data_prep.download import DownloadError
    from data_prep.web_runtime import download_web_runtime

    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DownloadError, match=r"npm not found: install Node.js \(npm\), or download .* as --url"):
        download_web_runtime(tmp_path / "cache")
    assert not (tmp_path / "cache" / web_runtime.TARBALL).exists()
