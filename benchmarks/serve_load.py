"""Load test of `pix2pix --mode serve` on loopback: concurrent clients against a --deterministic export.

    .venv/bin/python benchmarks/serve_load.py                       # 8 clients x 25 requests, 256x256 ngf 64
    .venv/bin/python benchmarks/serve_load.py --crop_size 32 --ngf 8 --clients 2 --requests 2   # smoke

Everything goes through the command line, so this process never loads TensorFlow:
1. synthetic colour photos (--photos of --photo_width x --photo_height, PNG) are written;
2. unless --export is given, a Lab colorization model is trained for one step (`--mode train`;
   the weights do not matter) and exported with `--mode export --deterministic`;
3. `--mode infer` writes the reference picture of every photo;
4. `--mode serve --port 0` is started, and --clients threads each send --requests predict
   requests (one photo each, serving_default, {"b64": ...}) as fast as they get answers.
Every answer must be 200 and, decoded, equal to infer's picture pixel for pixel. The server's
resident memory (VmRSS) is sampled every 50 ms. Printed: p50/p95/max latency, requests/s, and
RSS after warm-up / peak / at the end. Exit status 1 if any answer differed or was not 200.
"""

import argparse
import base64
import datetime
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from machine import cpu_name  # noqa: E402


PYTHON = [sys.executable]  # the interpreter of the train, export and infer runs (--python)


def cli(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    result = subprocess.run([PYTHON[0], "-m", "pix2pix", *map(str, args)], capture_output=True, text=True,
                            env=env, cwd=REPO)
    if result.returncode != 0:
        sys.exit(f"pix2pix {' '.join(map(str, args[:2]))} failed:\n{result.stderr[-3000:]}")
    return result


def write_photos(directory, count, width, height, seed=0):
    """COUNT smooth colourful photos (gradients and discs), PNG."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    paths = []
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    for i in range(count):
        image = np.stack([np.sin(3 * x + 2 * y + p) for p in rng.random(3) * 6.28], axis=-1) * 0.4 + 0.5
        for _ in range(4):
            cy, cx, r = rng.random(3) * [height, width, max(height, width) / 3]
            image[(y * max(height, width) - cy) ** 2 + (x * max(height, width) - cx) ** 2 < r ** 2] = rng.random(3)
        path = os.path.join(directory, f"photo{i}.png")
        cv2.imwrite(path, (np.clip(image, 0, 1) * 255).astype(np.uint8))
        paths.append(path)
    return paths


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Server:
    def __init__(self, export, max_queue):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pix2pix", "--mode", "serve", "--checkpoint", export, "--port", "0",
             "--max_queue", str(max_queue), "--model_name", "model"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=REPO)
        self.port = None
        for line in self.process.stdout:
            if line.startswith("page: "):
                self.port = int(line.rsplit(":", 1)[1].strip("/\n"))
                break
        if self.port is None:
            sys.exit("the server did not start")
        self.log_lines = 0
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for _ in self.process.stdout:
            self.log_lines += 1

    def predict(self, body: bytes):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            connection.request("POST", "/v1/models/model:predict", body=body,
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def stop(self):
        self.process.terminate()
        return self.process.wait(120)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=25, help="per client")
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--photo_width", type=int, default=320)
    parser.add_argument("--photo_height", type=int, default=240)
    parser.add_argument("--crop_size", type=int, default=256)
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--max_queue", type=int, default=16)
    parser.add_argument("--export", help="a --deterministic export to serve (default: make one)")
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter of the train, export and infer runs (default: this one; the "
                             "server, whose memory is measured, always runs under this one)")
    parser.add_argument("--work_dir", help="where to put photos, model and references (default: a temp dir)")
    args = parser.parse_args()
    PYTHON[0] = args.python

    work = args.work_dir or tempfile.mkdtemp(prefix="serve_load-")
    photo_dir = os.path.join(work, "photos")
    paths = write_photos(photo_dir, args.photos, args.photo_width, args.photo_height)
    export = args.export
    if export is None:
        train = os.path.join(work, "train")
        cli("--mode", "train", "--task", "lab", "--input_dir", photo_dir, "--output_dir", train, "--max_steps", 1,
            "--crop_size", args.crop_size, "--scale_size", args.crop_size, "--ngf", args.ngf, "--ndf", args.ngf,
            "--seed", 1, "--summary_freq", 0, "--progress_freq", 0)
        export = os.path.join(work, "export")
        cli("--mode", "export", "--checkpoint", train, "--output_dir", export, "--deterministic")
    with open(os.path.join(export, "assets", "options.json"), encoding="utf-8") as f:
        stored = json.load(f)
    if not stored.get("deterministic"):
        sys.exit(f"{export} was not exported with --deterministic: its answers cannot be compared")
    reference_dir = os.path.join(work, "infer")
    cli("--mode", "infer", "--checkpoint", export, "--input_dir", photo_dir, "--output_dir", reference_dir)
    references = [cv2.imread(os.path.join(reference_dir, os.path.basename(p)), cv2.IMREAD_UNCHANGED) for p in paths]
    bodies = []
    for path in paths:
        with open(path, "rb") as f:
            bodies.append(json.dumps({"instances": [{"b64": base64.b64encode(f.read()).decode()}]}).encode())

    server = Server(export, args.max_queue)
    status, _ = server.predict(bodies[0])  # warm-up (not counted)
    warm_rss = rss_mb(server.process.pid)
    samples, done = [], threading.Event()

    def sample():
        while not done.is_set():
            value = rss_mb(server.process.pid)
            if value is not None:
                samples.append(value)
            time.sleep(0.05)

    latencies, failures, lock = [], [], threading.Lock()

    def client(c):
        for r in range(args.requests):
            i = (c * args.requests + r) % len(bodies)
            start = time.perf_counter()
            status, answer = server.predict(bodies[i])
            seconds = time.perf_counter() - start
            problem = None
            if status != 200:
                problem = f"HTTP {status}: {answer[:200]!r}"
            else:
                data = base64.b64decode(json.loads(answer)["predictions"][0]["b64"])
                picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
                reference = references[i]
                if picture is None or picture.shape != reference.shape or not np.array_equal(picture, reference):
                    problem = f"photo{i}: the picture differs from --mode infer's"
            with lock:
                latencies.append(seconds)
                if problem:
                    failures.append(problem)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    end_rss = rss_mb(server.process.pid)
    code = server.stop()

    total = len(latencies)
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive") if total > 1 else latencies * 99
    load = "/".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()}-core {cpu_name()}, {datetime.date.today().isoformat()}, load average {load}")
    print(f"model: Lab colorization, crop {stored['crop_size']}, ngf {stored['ngf']}, --deterministic export; "
          f"photos {args.photo_width}x{args.photo_height} PNG, one per request (serving_default, b64)")
    print(f"load: {args.clients} clients x {args.requests} requests = {total}, --max_queue {args.max_queue}")
    print(f"latency: p50 {quantiles[49] * 1000:.0f} ms, p95 {quantiles[94] * 1000:.0f} ms, "
          f"max {max(latencies) * 1000:.0f} ms")
    print(f"throughput: {total / wall:.2f} requests/s ({wall:.1f} s wall)")
    print(f"server RSS: {warm_rss:.0f} MB after warm-up, peak {max(samples or [warm_rss]):.0f} MB, "
          f"{end_rss:.0f} MB at the end")
    print(f"answers: {total - len(failures)}/{total} HTTP 200 and identical to --mode infer's pixels; "
          f"server exit status after SIGTERM {code}")
    for problem in failures[:10]:
        print(f"  {problem}")
    sys.exit(1 if failures or code != 0 or status != 200 else 0)


if __name__ == "__main__":
    main()
