"""The tests' shared helpers, one of each: running the CLIs, synthetic photos, image files (plain,
hand-made PNG/JPEG byte strings: palette, decompression bomb, EXIF orientation), tiny saved runs,
the serve subprocess and its HTTP client. Fixtures live in conftest.py; test modules import from
here (`from helpers import ...`; pytest.ini puts tests/ on sys.path), never from each other.
"""

import atexit
import base64
import contextlib
import fcntl
import functools
import hashlib
import http.client
import http.server
import importlib.util
import io
import json
import locale
import os
import pathlib
import signal
import socket
import struct
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib

import cv2
import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(REPO, "tests")
SCRIPTS = os.path.join(TESTS, "scripts")  # the scripts tests run (tests/scripts)

# The tiny network every CLI test trains: seconds per run on a busy 2-core machine.
TINY = ["--crop_size", "32", "--scale_size", "36", "--ngf", "8", "--ndf", "8"]

CLI_TIMEOUT = 600  # seconds: a generous bound on any one CLI run of a test


# ----------------------------------------------------------------------------------- processes
def cli_env(extra_paths=(), **variables):
    """The environment of a child: this checkout first on PYTHONPATH (EXTRA_PATHS before it),
    TensorFlow's C++ INFO lines off, VARIABLES added."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **variables)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, extra_paths), REPO])
    return env


def default_sigint():
    """preexec_fn for a child a test will interrupt: SIGINT at its default disposition, whatever
    the test runner's process left it at (an ignored SIGINT is inherited, and Python then never
    raises KeyboardInterrupt), so the child sees Ctrl-C as it would from a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli_command(*args, module="pix2pix"):
    return [sys.executable, "-m", module, *map(str, args)]


def run_cli(*args, module="pix2pix", check=True, timeout=CLI_TIMEOUT, cwd=REPO, extra_paths=(), env=None, **popen):
    """Run `python -m MODULE ARGS` in a subprocess (always with a timeout); the CompletedProcess
    (text). CHECK: a non-zero exit fails the test, showing both streams. ENV: the child's
    environment (default cli_env(EXTRA_PATHS)).

    `pix2pix` and `pix2pix.commands.reproduce` runs (and the rows reproduce runs) are forked from
    this worker's CLI fork server (tests/scripts/cli_forkserver.py: the same command in a
    process of its own, without the interpreter's start-up and imports); runs with other paths or
    Popen arguments, and every run under PIX2PIX_TEST_FRESH_CLI=1, start a fresh interpreter."""
    command = cli_command(*args, module=module)
    if module in FORKED_MODULES and not extra_paths and not popen and _CLI_FORKSERVER.usable():
        result = _CLI_FORKSERVER.run(module, command, cwd, timeout, env or cli_env())
    else:
        result = subprocess.run(command, capture_output=True, text=True, env=env or cli_env(extra_paths),
                                timeout=timeout, cwd=cwd, **popen)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


FORKED_MODULES = ("pix2pix", "pix2pix.commands.reproduce")  # cli_forkserver.MODULES


class _CliForkServer:
    """The client of tests/scripts/cli_forkserver.py, started on first use in each test worker and
    stopped with it."""

    def __init__(self):
        self.process = None
        self.socket_path = None
        self.launcher = None
        self.failed = False

    def usable(self) -> bool:
        """True when runs can be forked; a server that cannot start means fresh interpreters (said once)."""
        if self.failed or os.environ.get("PIX2PIX_TEST_FRESH_CLI", "") not in ("", "0"):
            return False
        if self.process is None and os.environ.get(FORKSERVER_VARIABLE):  # a test's script: its worker's server
            self.socket_path = os.environ[FORKSERVER_VARIABLE]
            self.launcher = os.path.join(os.path.dirname(self.socket_path), "python")
            return True
        if self.process is None or self.process.poll() is not None:
            self.failed = not self._start()
        return not self.failed

    def _start(self) -> bool:
        folder = tempfile.mkdtemp(prefix="pix2pix-cli-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        self.socket_path = os.path.join(folder, "socket")
        # pix2pix-reproduce's sys.executable: its rows' `python -m pix2pix` go to the server too.
        self.launcher = os.path.join(folder, "python")
        with open(self.launcher, "w", encoding="utf-8") as f:
            f.write(f'#!/bin/sh\nexec "{sys.executable}" -S "{os.path.join(SCRIPTS, "cli_forkclient.py")}" '
                    f'"{self.socket_path}" "$@"\n')
        os.chmod(self.launcher, 0o755)
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(SCRIPTS, "cli_forkserver.py"), self.socket_path],
            stdout=subprocess.PIPE, text=True, env=cli_env(), cwd=REPO)
        atexit.register(self._stop, self.process)
        if self.process.stdout.readline().strip() == "ready":
            return True
        print(f"tests: the CLI fork server did not start (exit {self.process.wait()}); every CLI run starts "
              "a fresh interpreter", file=sys.stderr)
        return False

    @staticmethod
    def _stop(process):
        process.kill()
        process.wait()

    def _connect(self, module, command, cwd, env, fds):
        """Send the request for COMMAND (`python -m MODULE ARGS`) with FDS as its stdin, stdout and
        stderr; (the connection, which will carry the exit status, the forked child's pid)."""
        if module is None:  # `python SCRIPT ARGS`
            request = {"script": str(command[1]), "args": command[2:], "cwd": str(cwd), "env": env}
        else:  # `python -m MODULE ARGS`
            request = {"module": module, "args": command[3:], "cwd": str(cwd), "env": env}
        if module == "pix2pix.commands.reproduce":
            request["executable"] = self.launcher
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            connection.connect(self.socket_path)
            socket.send_fds(connection, [json.dumps(request).encode() + b"\n"], fds)
            stream = connection.makefile("r")
            return connection, stream, int(stream.readline())
        except BaseException:
            connection.close()
            raise

    def run(self, module, command, cwd, timeout, env) -> subprocess.CompletedProcess:
        """COMMAND (`python -m MODULE ARGS`) in a child of the server, in ENV; as subprocess.run would give it."""
        with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr, \
                open(os.devnull, "rb") as stdin:
            connection, stream, pid = self._connect(module, command, cwd, env,
                                                    [stdin.fileno(), stdout.fileno(), stderr.fileno()])
            with connection:
                connection.settimeout(timeout)
                try:
                    returncode = int(stream.readline())
                except TimeoutError:  # socket.timeout is TimeoutError
                    os.kill(pid, signal.SIGKILL)
                    raise subprocess.TimeoutExpired(command, timeout) from None
            outputs = []
            for output in (stdout, stderr):
                output.seek(0)
                with open(output.fileno(), encoding=locale.getpreferredencoding(False), newline=None,
                          closefd=False) as f:
                    outputs.append(f.read())  # text=True's decoding: universal newlines
        return subprocess.CompletedProcess(command, returncode, *outputs)

    def start(self, module, command, cwd, env) -> "ForkedProcess":
        """COMMAND (`python -m MODULE ARGS`, or `python SCRIPT ARGS` when MODULE is None) in a child
        of the server, running in the background; its Popen-like handle."""
        return ForkedProcess(self, module, command, cwd, env)


class ForkedProcess:
    """A run forked from the CLI fork server with the part of subprocess.Popen's interface the
    tests use (text mode, stdout and stderr piped, stdin /dev/null): pid (the run's own process,
    so signals and /proc/PID reach it directly), stdout, stderr, returncode, poll, wait,
    send_signal, terminate, kill, communicate. The exit status comes from the server, which
    reaps the child."""

    def __init__(self, server, module, command, cwd, env):
        self.args = command
        self.returncode = None
        self._ended = threading.Event()
        pipes = [os.pipe(), os.pipe()]
        try:
            with open(os.devnull, "rb") as stdin:
                self._connection, stream, self.pid = server._connect(
                    module, command, cwd, env, [stdin.fileno(), pipes[0][1], pipes[1][1]])
        except BaseException:
            for fd in (*pipes[0], *pipes[1]):
                os.close(fd)
            raise
        for _, write_end in pipes:
            os.close(write_end)  # the child holds its own copies: EOF here once it has gone
        self.stdout, self.stderr = (open(read_end, encoding=locale.getpreferredencoding(False))
                                    for read_end, _ in pipes)
        threading.Thread(target=self._wait_for_status, args=(stream,), daemon=True).start()

    def _wait_for_status(self, stream):
        with self._connection:
            try:
                self.returncode = int(stream.readline())
            except (OSError, ValueError):  # the server went (its worker is ending)
                self.returncode = -signal.SIGKILL
        self._ended.set()

    def poll(self):
        return self.returncode

    def wait(self, timeout=None):
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def send_signal(self, number):
        if self.returncode is None:
            os.kill(self.pid, number)

    def terminate(self):
        self.send_signal(signal.SIGTERM)

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout=None):
        """(stdout, stderr) read to the end, once the run has ended."""
        outputs = [None, None]

        def read(index, stream):
            outputs[index] = stream.read()

        readers = [threading.Thread(target=read, args=item, daemon=True)
                   for item in enumerate((self.stdout, self.stderr))]
        for reader in readers:
            reader.start()
        self.wait(timeout)
        for reader in readers:
            reader.join(timeout)
        return tuple(outputs)


_CLI_FORKSERVER = _CliForkServer()


FORKSERVER_VARIABLE = "PIX2PIX_TEST_CLI_FORKSERVER"


def forkserver_env() -> dict:
    """The variables that let a script a test runs (which imports helpers) fork its CLI runs and
    servers from this worker's fork server, instead of starting a fork server of its own."""
    return {FORKSERVER_VARIABLE: _CLI_FORKSERVER.socket_path} if _CLI_FORKSERVER.usable() else {}


def forked_python() -> str:
    """An interpreter path whose `-m pix2pix ARGS` runs are forked from this worker's CLI fork server
    (its launcher, tests/scripts/cli_forkclient.py), for scripts that run the CLI themselves; the real
    interpreter where runs are not forked."""
    return _CLI_FORKSERVER.launcher if _CLI_FORKSERVER.usable() else sys.executable


def main_in_process(main, argv) -> subprocess.CompletedProcess:
    """A command's MAIN(ARGV) run in this process, for a command its own checks refuse before anything
    runs: the CompletedProcess run_cli would give (its exit status, returned or raised as SystemExit,
    and what it printed). absl's flags are the process's, so they are parsed afresh before and after."""
    from pix2pix.commands.flags import FLAGS

    stdout, stderr = io.StringIO(), io.StringIO()
    FLAGS.unparse_flags()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            status = main(argv)
    except SystemExit as exit:
        status = exit.code
    finally:
        FLAGS.unparse_flags()
    return subprocess.CompletedProcess(argv, status, stdout.getvalue(), stderr.getvalue())


def run_mode(**flags) -> None:
    """The mode FLAGS give (`pix2pix --NAME VALUE ...` without the command line) run in this process,
    as the command line runs it once its flags are parsed (pix2pix.modes.run, these flags explicit),
    for a run whose command line is not what is tested: no forked run's TensorFlow start of its own."""
    from pix2pix import modes
    from pix2pix.options.record import Options

    assert modes.run(Options(**{name: str(value) for name, value in flags.items()}), set(flags)) == 0


# data_prep's tests look at failures as often as successes: its runs are not checked by default.
run_prep = functools.partial(run_cli, module="data_prep", check=False)


def start_cli(*args, module="pix2pix", interruptible=False, env=None, fresh=False):
    """`python -m MODULE ARGS` started in the background (stdout and stderr piped, text); the
    Popen. INTERRUPTIBLE: the child gets SIGINT at its default (see default_sigint).

    `pix2pix` and `pix2pix.commands.reproduce` runs (and the rows reproduce runs) are forked from the
    worker's CLI fork server (a ForkedProcess: the run's own pid, pipes, signals and exit status;
    SIGINT at Python's default handler, as INTERRUPTIBLE gives a fresh interpreter); FRESH (or
    PIX2PIX_TEST_FRESH_CLI=1) starts a fresh interpreter, for a test whose subject is the
    interpreter's start-up."""
    return _background(module, cli_command(*args, module=module), REPO, env or cli_env(),
                       fork=module in FORKED_MODULES and not fresh,
                       preexec_fn=default_sigint if interruptible else None)


def start_script(script, *args):
    """`python SCRIPT ARGS` (a benchmark or test script whose subject is not the interpreter's
    start-up) in the background, forked from the worker's CLI fork server where it runs (a fresh
    interpreter otherwise); the Popen (or ForkedProcess), stdout and stderr piped, text."""
    return _background(None, [sys.executable, str(script), *map(str, args)], REPO, cli_env())


def run_script(script, *args, timeout=CLI_TIMEOUT) -> subprocess.CompletedProcess:
    """`python SCRIPT ARGS` run to its end as start_script starts it: forked where the fork server runs
    (a tests/scripts wrapper of the CLI, or a script that configures devices or TF1's graph mode first:
    the server never starts TensorFlow's runtime); the CompletedProcess (text), unchecked."""
    process = start_script(script, *args)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _background(module, command, cwd, env, fork=True, preexec_fn=None):
    """COMMAND (`python -m MODULE ARGS`, or `python SCRIPT ARGS` when MODULE is None) in the
    background, stdout and stderr piped, text: forked from the worker's CLI fork server when FORK and
    the server runs (a ForkedProcess), else a fresh interpreter (a Popen, with PREEXEC_FN)."""
    if fork and _CLI_FORKSERVER.usable():
        return _CLI_FORKSERVER.start(module, command, cwd, env)
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
                            preexec_fn=preexec_fn)


def wait_until(predicate, what, timeout=120, poll=0.05):
    """Poll PREDICATE until it is true; fail the test naming WHAT after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def run_measuring_peak(command, record_dir):
    """Run COMMAND (a list) under /usr/bin/time with this checkout's environment; (the
    CompletedProcess (text), the process's peak resident memory in MB). RECORD_DIR keeps the record."""
    record = tempfile.NamedTemporaryFile(dir=record_dir, suffix=".maxrss", delete=False).name
    result = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", record, *map(str, command)], capture_output=True,
                            text=True, env=cli_env(), cwd=REPO, timeout=CLI_TIMEOUT)
    with open(record) as f:
        return result, int(f.read().split()[-1]) / 1024


def assert_one_line_error(result, code, *words, prefix="pix2pix"):
    """RESULT (a CompletedProcess) ended with exit status CODE and printed exactly one line on stderr,
    `PREFIX: error: ...`, holding each of WORDS; the line."""
    lines = result.stderr.splitlines()
    assert result.returncode == code, (result.returncode, result.stderr)
    assert len(lines) == 1 and lines[0].startswith(f"{prefix}: error: "), result.stderr
    for word in words:
        assert str(word) in lines[0], (word, lines[0])
    return lines[0]


def assert_clean_failure(result):
    """A run that must fail without a traceback."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr


def load_benchmark(name):
    """benchmarks/NAME.py as a module, loaded by its path (benchmarks/ is scripts, not a package,
    and is kept off sys.path so its module names cannot shadow anything)."""
    path = os.path.join(REPO, "benchmarks", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -------------------------------------------------------------------------------------- photos
def smooth_photo(rng, height, width):
    """A colourful, smooth synthetic 'photo' (gradients plus a few blobs), uint8 RGB."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    phase = rng.random(3) * 6.28
    image = np.stack([np.sin(3 * x + 2 * y + p) for p in phase], axis=-1) * 0.4 + 0.5
    for _ in range(3):
        cy, cx, r = rng.random(3) * [height, width, max(height, width) / 3]
        mask = (np.mgrid[0:height, 0:width][0] - cy) ** 2 + (np.mgrid[0:height, 0:width][1] - cx) ** 2 < r ** 2
        image[mask] = rng.random(3)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def synthetic_photo(height, width, seed=0):
    """A smooth, colourful RGB image with one filled circle: photo-like enough for resizing and
    edge tests, and different for every seed (the data_prep tests' photo)."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0.0, 1.0, height)[:, None]
    cols = np.linspace(0.0, 1.0, width)[None, :]
    phase = rng.uniform(0, 2 * np.pi, size=3)
    channels = [127 + 100 * np.sin(3 * rows + 2 * cols + p) for p in phase]
    image = np.clip(np.dstack(channels), 0, 255).astype(np.uint8)
    colour = tuple(int(c) for c in rng.integers(0, 255, size=3))
    centre = (int(rng.integers(width // 4, 3 * width // 4)), int(rng.integers(height // 4, 3 * height // 4)))
    cv2.circle(image, centre, max(2, min(height, width) // 5), colour, -1)
    return np.ascontiguousarray(image)


def write_ab_pairs(directory, count=5, size=40, seed=0):
    """COUNT SIZExSIZE A|B pairs named 1.png ..: B is the colour-inverted A."""
    rng = np.random.default_rng(seed)
    os.makedirs(directory, exist_ok=True)
    for i in range(1, count + 1):
        a = smooth_photo(rng, size, size)
        write_image(os.path.join(directory, f"{i}.png"), np.concatenate([a, 255 - a], axis=1))
    return directory


# --------------------------------------------------------------------------------- image files
def _to_opencv_order(rgb):
    if rgb.ndim == 3 and rgb.shape[2] == 3:
        return rgb[:, :, ::-1]
    if rgb.ndim == 3 and rgb.shape[2] == 4:
        return rgb[:, :, [2, 1, 0, 3]]
    return rgb


def write_image(path, rgb, quality=95):
    """Save an RGB (or grey, RGBA, 16-bit) array with OpenCV, format from the extension; the path."""
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if str(path).lower().endswith((".jpg", ".jpeg")) else []
    assert cv2.imwrite(str(path), np.ascontiguousarray(_to_opencv_order(rgb)), params), path
    return str(path)


def read_rgb(path, exact=False):
    """A file as RGB uint8. EXACT: the file must hold exactly that (8-bit, 3 channels), which
    is how data_prep's outputs are checked; otherwise OpenCV converts whatever it holds."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED if exact else cv2.IMREAD_COLOR)
    assert image is not None, path
    if exact:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, (path, image.shape, image.dtype)
    return np.ascontiguousarray(image[:, :, ::-1])


def encode_png(rgb) -> bytes:
    ok, data = cv2.imencode(".png", np.ascontiguousarray(_to_opencv_order(rgb)))
    assert ok
    return data.tobytes()


def decode_png(data: bytes):
    """PNG (or any) bytes -> the array as stored, colour channels in RGB order."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None, data[:16]
    return image[:, :, ::-1] if image.ndim == 3 else image


def png_photos(count=4, height=48, width=40, seed=3):
    """COUNT PNG byte strings of smooth photos, each a little larger than the one before."""
    rng = np.random.default_rng(seed)
    return [encode_png(smooth_photo(rng, height + 8 * i, width + 4 * i)) for i in range(count)]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _png_chunk(kind, payload):
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def palette_png_bytes(indices, palette):
    """An 8-bit palette PNG (colour type 3): indices (H, W) uint8, palette [(r, g, b), ...]."""
    height, width = indices.shape
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    raw = b"".join(b"\x00" + indices[row].tobytes() for row in range(height))  # filter 0 per row
    plte = b"".join(bytes(colour) for colour in palette)
    return (PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"PLTE", plte)
            + _png_chunk(b"IDAT", zlib.compress(raw)) + _png_chunk(b"IEND", b""))


def bomb_png_bytes(width=40000, height=40000, pixel_data=True, end=True):
    """A PNG whose header (IHDR, correct CRC) claims WIDTHxHEIGHT RGB pixels: a decompression
    bomb of a few dozen bytes. PIXEL_DATA adds a little real compressed data (a few zero rows);
    without END the file stops right after the header."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = PNG_SIGNATURE + _png_chunk(b"IHDR", header)
    if pixel_data:
        data += _png_chunk(b"IDAT", zlib.compress(b"\x00" * (1 + 3 * min(width, 4096)) * 4))
    return data + (_png_chunk(b"IEND", b"") if end else b"")


def exif_jpeg(rgb, orientation, little_endian=False, make_tag=False, quality=100):
    """JPEG bytes of RGB with an EXIF APP1 segment holding Orientation; MAKE_TAG puts a Make
    tag first, as cameras write, so a reader has to walk the IFD rather than read entry one."""
    order = "<" if little_endian else ">"
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    jpeg = encoded.tobytes()
    entries = [struct.pack(order + "HHIHH", 0x0112, 3, 1, orientation, 0)]
    if make_tag:
        entries.insert(0, struct.pack(order + "HHI4s", 0x010F, 2, 4, b"cam\0"))
    tiff = (b"II*\0" if little_endian else b"MM\0*") + struct.pack(order + "I", 8)
    tiff += struct.pack(order + "H", len(entries)) + b"".join(entries) + struct.pack(order + "I", 0)
    payload = b"Exif\0\0" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def tree_hashes(directory):
    """{relative path: sha256} of every file below DIRECTORY (hidden files included)."""
    hashes = {}
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                hashes[os.path.relpath(path, directory)] = hashlib.sha256(handle.read()).hexdigest()
    return hashes


# --------------------------------------------------------------------------------- saved runs
def make_run(directory, crop_size=32, **model_options):
    """A training output directory (options.json + checkpoint model-1) holding untrained weights.

    Faster than training; an untrained generator's colours are wild, which is what the
    gamut handling needs to be tested against.
    """
    import tensorflow as tf

    from pix2pix.models.pix2pix_model import Pix2Pix
    from pix2pix.models.checkpoints import CHECKPOINT_PREFIX
    from pix2pix.options.record import Options
    from pix2pix.options.stored import save_options

    options = Options(mode="train", output_dir=str(directory), crop_size=crop_size, ngf=8, ndf=8,
                      seed=1, **model_options).validate()
    tf.keras.utils.set_random_seed(1)
    model = Pix2Pix(options)
    os.makedirs(directory, exist_ok=True)
    save_options(options, str(directory))
    tf.train.CheckpointManager(model.checkpoint(), str(directory), max_to_keep=1,
                               checkpoint_name=CHECKPOINT_PREFIX).save(checkpoint_number=1)
    return directory


def export_options(checkpoint, output_dir, **flags):
    from pix2pix.options.record import Options

    return Options(mode="export", checkpoint=checkpoint and str(checkpoint), output_dir=str(output_dir),
                   **flags)


def saved_step(directory):
    """The global step of the newest checkpoint in DIRECTORY (0 when there is none)."""
    import tensorflow as tf

    path = tf.train.latest_checkpoint(str(directory))
    return int(tf.train.load_variable(path, "global_step/.ATTRIBUTES/VARIABLE_VALUE")) if path else 0


def build_served_models(base):
    """BASE/run (a training directory of untrained Lab-colorization weights, 32x32, ngf=ndf=8) and
    its --deterministic export twice, as TF Serving's base directory: BASE/models/color/{1,2}."""
    from pix2pix.modes.export import export_mode

    run = make_run(base / "run", task="lab")
    for version in (1, 2):
        export_mode(export_options(run, base / "models" / "color" / str(version), deterministic=True))
    return run, base / "models" / "color"


def build_once(root, name, build):
    """ROOT/NAME, made by BUILD(ROOT/NAME) once per test run whichever pytest-xdist worker asks first
    (the others wait for it on a lock file; ROOT is conftest's shared_dir); the path. A build that
    fails leaves nothing behind, so the next worker that asks tries again (and fails the same way)."""
    path, done = pathlib.Path(root) / name, pathlib.Path(root) / f"{name}.done"
    with open(pathlib.Path(root) / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir()
            try:
                build(path)
            except BaseException:
                shutil.rmtree(path, ignore_errors=True)
                raise
            done.touch()
    return path


# ------------------------------------------------------------------------------------ serving
SERVER_START_TIMEOUT = 240  # TensorFlow's import and the model's load, on a busy 2-core machine


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"Reply({self.status}, {self.body[:300]!r})"


def call(method, url, body=None, headers=None, timeout=300) -> Reply:
    """One request on a fresh connection; BODY: bytes, str, or an object sent as JSON."""
    parts = urllib.parse.urlsplit(url)
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode("utf-8")
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body,
                           headers=headers or {})
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


class ServerProcess:
    """`python -m pix2pix --mode serve ARGS --port 0` in a subprocess; .url once it is serving,
    .lines: everything it printed on stdout since (the access log).

    The server binds a free port itself and prints `page: http://127.0.0.1:PORT/`, which is read
    back here (no race for the port).

    The server is forked from the worker's CLI fork server (.process is a ForkedProcess: the same
    command, pid, pipes, signals and exit status, without the interpreter's start-up and imports);
    FRESH (or PIX2PIX_TEST_FRESH_CLI=1) starts a fresh interpreter instead, for a test whose subject
    is what happens while the interpreter starts (TensorFlow's log lines as it loads)."""

    def __init__(self, *args, cwd=REPO, env=None, fresh=False):
        self.process = _background("pix2pix", cli_command("--mode", "serve", "--port", 0, *args), cwd,
                                   cli_env(**(env or {})), fork=not fresh)
        self.lines, self.stderr_lines, self.url = [], [], None
        started = threading.Event()

        def read_stdout():
            for line in self.process.stdout:
                self.lines.append(line.rstrip("\n"))
                if line.startswith("page: "):
                    self.url = line.split(" ", 1)[1].strip().rstrip("/")
                    started.set()
            started.set()

        def read_stderr():
            for line in self.process.stderr:
                self.stderr_lines.append(line.rstrip("\n"))

        self._readers = [threading.Thread(target=read_stdout, daemon=True),
                         threading.Thread(target=read_stderr, daemon=True)]
        for reader in self._readers:
            reader.start()
        started.wait(SERVER_START_TIMEOUT)
        if self.url is None:
            self.kill()
            raise AssertionError(f"the server did not start (exit {self.process.returncode}):\n"
                                 + "\n".join(self.lines) + "\n" + "\n".join(self.stderr_lines[-30:]))

    def model_url(self, name="color"):
        return f"{self.url}/v1/models/{name}"

    def log_lines(self):
        return [line for line in self.lines if line.startswith("127.0.0.1 ")]

    def terminate(self, timeout=120) -> int:
        """SIGTERM, then the exit status (the process is killed if it does not stop in TIMEOUT)."""
        self.process.send_signal(signal.SIGTERM)
        return self.wait_for_exit(timeout)

    def wait_for_exit(self, timeout=120) -> int:
        """The exit status once the process has ended (killed if it has not within TIMEOUT)."""
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the server did not stop within {timeout} s:\n"
                                 + "\n".join(self.stderr_lines[-30:]))
        for reader in self._readers:
            reader.join(10)
        return code

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(60)

    def wait_until(self, predicate, what, timeout=120):
        wait_until(predicate, what, timeout)


# ------------------------------------------------------------ models by hand
def without_dropout(model):
    # The model's step and the by-hand sequence each run G once: dropout draws would differ.
    for layer in model.generator.layers:
        if "dropout" in layer.name:
            layer.rate = 0.0


def copy_weights(source, target):
    for a, b in zip(source.generator.weights + source.discriminator.weights,
                    target.generator.weights + target.discriminator.weights):
        b.assign(a.numpy())


def every_variable(model):
    """Every variable the train step reads or writes: weights (batch-norm statistics and dropout's seed
    state included), both optimisers' state (a float16 loss scale included), the global step, the loss
    averages and --update_order sequential's copy of D."""
    copy = getattr(model.update_order, "discriminator_copy", None)
    variables = (model.generator.variables + model.discriminator.variables + model.generator_optimizer.variables
                 + model.discriminator_optimizer.variables + [model.global_step, model.loss_averages.biased,
                                                              model.loss_averages.updates]
                 + (copy.copies if copy is not None else []))
    return list({id(v): v for v in variables}.values())


def fresh_models():
    """FRESH(KEY, MAKE): the model MAKE() built the first time KEY is asked for, and on every call that
    model put back exactly as it was built (every variable restored), so a test sees what a new model
    would; for a module fixture shared by the tests of one configuration: the model and its traced step
    are paid once, not per test."""
    built = {}

    def fresh(key, make):
        if key not in built:
            model = make()
            built[key] = model, [v.numpy().copy() for v in every_variable(model)]
        model, initial = built[key]
        for variable, value in zip(every_variable(model), initial):
            variable.assign(value)
        return model

    return fresh


def random_pair_batch(seed=0):
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    return tuple(tf.constant(rng.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)) for _ in range(2))


def relative_difference(a, b):
    """Largest difference relative to the scale of B (absolute where B is within rounding of 0:
    the biases that feed a batch norm have a zero gradient in exact arithmetic)."""
    a, b = np.asarray(a), np.asarray(b)
    scale = float(np.max(np.abs(b)))
    return float(np.max(np.abs(a - b))) / (scale if scale > 1e-5 else 1.0)


# ------------------------------------------------------------------------------------ browser
# Debian's chromium + chromium-driver, given to Selenium by path so Selenium Manager never downloads
# a driver, for the pages pix2pix serves or writes to disk.
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
BROWSER_WAIT = 180  # seconds: the machine is shared


def require_chromium():
    """Skip the calling test module without Chromium (fail under CI, which installs it)."""
    import pytest

    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(path)]
    if missing:
        reason = (f"{' and '.join(missing)} not installed (apt-get install -y chromium chromium-driver; "
                  ".ci/run does)")
        if os.environ.get("CI"):  # CI installs them: their absence there is a failure, not a skip
            raise RuntimeError(reason)
        pytest.skip(reason, allow_module_level=True)
    pytest.importorskip("selenium.webdriver")


@contextlib.contextmanager
def chromium_session(width=1200, height=900, log_requests=False):
    """A headless Chromium driver in a fresh profile, quit (and the profile removed) afterwards.
    LOG_REQUESTS: keep the performance log (driver.get_log("performance"): every request the pages make)."""
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
    if log_requests:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(BROWSER_WAIT)
        driver.set_script_timeout(BROWSER_WAIT)
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


# ------------------------------------------------------------------ a file server for the downloads

ENDLESS_PATH = "/endless.tar.gz"  # served as a body that never ends


class ArchiveServer:
    """Serves {url path: bytes} (archives, model files) on 127.0.0.1 from a thread and records each
    request's Range header.

    ENDLESS_PATH is answered with a body without a length that goes on until the client stops.
    drop_first: the first full download sends half the bytes (after announcing them all) and closes.
    stall_first: the same, but it waits (until ``release`` is set) instead of closing.
    honour_range: False makes it answer every request with 200 and the whole file.
    """

    def __init__(self, files, drop_first=False, stall_first=False, honour_range=True):
        self.files, self.drop_first, self.stall_first = files, drop_first, stall_first
        self.honour_range = honour_range
        self.release = threading.Event()
        self.requests = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send_endless_body(self):
                """200 with no Content-Length and bytes until the client hangs up (at most 1 GB)."""
                self.send_response(200)
                self.send_header("Content-Type", "application/gzip")
                self.end_headers()
                chunk = b"\0" * 65536
                try:
                    for _ in range(16384):
                        self.wfile.write(chunk)
                except OSError:
                    pass
                self.close_connection = True

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                if self.path == ENDLESS_PATH:
                    self.send_endless_body()
                    return
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                wanted = self.headers.get("Range")
                if wanted and server.honour_range:
                    start = int(wanted.split("=")[1].rstrip("-"))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", "bytes */%d" % len(body))
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(body) - 1, len(body)))
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "application/gzip")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if (server.drop_first or server.stall_first) and start == 0:
                    stall, server.drop_first, server.stall_first = server.stall_first, False, False
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    if stall:
                        server.release.wait(60)
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.httpd.server_address[1], path)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
