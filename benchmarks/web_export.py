"""--format web in headless Chromium: size, load time, ms per picture and PSNR, per model size and --quantize.

    python benchmarks/web_export.py [--ngf 64,16] [--quantize none,float16] [--runs 5] [--size 256]

Builds an untrained Lab model at crop 256 for each --ngf (video_speed.untrained_run; speed and size do not
depend on the weights, PSNR hardly), exports each as `--format web` with each --quantize, serves the exports
on 127.0.0.1 and opens each page in a fresh headless Chromium (Debian's chromium and chromedriver, as the
tests drive it). Per export: model.onnx's size and the whole folder's, the page's load time (from its
script starting to onnxruntime-web's session being ready: model download, WebAssembly compile, session
creation; window.pix2pix.loadSeconds), the median time of window.pix2pix.translate on a --size x --size
photo (Lab conversion in the page included; one warm-up run first) and the PSNR of its picture against the
SavedModel's (serving/web_export.saved_model_picture; pictures in [-1, 1], peak-to-peak 2). Prints a
Markdown table (docs/export.md has the one measured here). Needs the runtime in the cache
(`python -m data_prep --operation web_runtime`).
"""

import argparse
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))  # helpers: Chromium and a static server
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from helpers import BROWSER_WAIT, chromium_session, serve_directory, smooth_photo  # noqa: E402
from machine import cpu_name  # noqa: E402
from video_speed import untrained_run  # noqa: E402

TIMED = """const done = arguments[arguments.length - 1], photo = new Float32Array(arguments[0]);
const [size, runs] = [arguments[1], arguments[2]];
window.pix2pix.ready.then(async () => {
  let picture = await window.pix2pix.translate(photo, size, size);  // warm-up
  const times = [];
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    picture = await window.pix2pix.translate(photo, size, size);
    times.push(performance.now() - started);
  }
  done({load: window.pix2pix.loadSeconds, times, backend: window.pix2pix.backend, picture: Array.from(picture)});
}).catch((err) => done({error: String(err)}));"""


def folder_bytes(folder):
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(folder) for name in names)


def measure(url, photo, runs):
    """(load seconds, [ms per picture], backend, picture) of the page at URL in a fresh Chromium."""
    with chromium_session() as browser:
        browser.set_script_timeout(max(BROWSER_WAIT, 60 * runs))
        browser.get(url)
        size = photo.shape[0]
        result = browser.execute_async_script(TIMED, photo.ravel().tolist(), size, runs)
    if "error" in result:
        raise SystemExit(f"{url}: {result['error']}")
    return result["load"], result["times"], result["backend"], np.array(result["picture"]).reshape(photo.shape)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ngf", default="64,16")
    parser.add_argument("--quantize", default="none,float16")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()

    from pix2pix.modes.export import export_mode
    from pix2pix.options.record import Options
    from pix2pix.inference.onnx_export import psnr
    from pix2pix.serving.web_export import saved_model_picture

    photo = (smooth_photo(np.random.default_rng(0), args.size, args.size) / 127.5 - 1).astype(np.float32)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        base, server = serve_directory(scratch)
        try:
            for ngf in map(int, args.ngf.split(",")):
                run = untrained_run(os.path.join(scratch, f"run{ngf}"), ngf)
                for quantize in args.quantize.split(","):
                    name = f"ngf{ngf}-{quantize}"
                    export = os.path.join(scratch, name)
                    export_mode(Options(mode="export", checkpoint=run, output_dir=export, format="web",
                                        quantize=quantize))
                    web = os.path.join(export, "web")
                    load, times, backend, picture = measure(f"{base}/{name}/web/index.html", photo, args.runs)
                    quality = psnr(float(np.mean((picture - saved_model_picture(export, photo)) ** 2)))
                    rows.append((ngf, quantize, os.path.getsize(os.path.join(web, "model.onnx")) / 1e6,
                                 folder_bytes(web) / 1e6, load, statistics.median(times), min(times), max(times),
                                 backend, quality))
                    print(f"{name}: done", file=sys.stderr, flush=True)
        finally:
            server.shutdown()
            server.server_close()
    print(f"untrained Lab U-Net, {args.size}x{args.size}, headless Chromium ({cpu_name()}), "
          f"median of {args.runs} runs after one warm-up\n")
    print("| ngf | weights | model.onnx MB | folder MB | load s | ms per picture (min-max) | backend | PSNR dB |")
    print("|---|---|---|---|---|---|---|---|")
    for ngf, quantize, model_mb, total_mb, load, median, low, high, backend, quality in rows:
        weights = "float32" if quantize == "none" else quantize
        print(f"| {ngf} | {weights} | {model_mb:.1f} | {total_mb:.1f} | {load:.2f} | "
              f"{median:.0f} ({low:.0f}-{high:.0f}) | {backend} | {quality:.1f} |")


if __name__ == "__main__":
    main()
