"""TensorFlow's own C++ log lines kept off the terminal unless --verbose.

What TF 2.21 prints on a CPU machine, none of which the user can act on:
    I0000 ... port.cc:153] oneDNN custom operations are on. You may see slightly different ...
    I0000 ... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
    I0000 ... cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use ...
    E0000 ... cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: ...
and, where Grappler's remapper gives up fusing a graph (an error-level line, "remapper failed:
INVALID_ARGUMENT"), a graph that runs unfused: slower, the same values (models/kernels.py's LeakyReLU
keeps the default networks out of it); TFLite's "INFO: Created TensorFlow Lite XNNPACK delegate for
CPU." and its quantizer's "fully_quantize: 0, inference_type: 6, ..." (export --format tflite).

TF_CPP_MIN_LOG_LEVEL (3 here, unless the environment sets it) silences TensorFlow's logging, but it
must be set before TensorFlow is imported, and it does not reach the lines its libraries print
through absl before absl is initialised ("WARNING: All log messages before absl::InitializeLog()
is called are written to STDERR" and the I0000 lines above, printed again when more libraries
load). So stderr (file descriptor 2, where C++ writes) is also passed through a small filter
process that drops lines in that format ([IWE]MMDD hh:mm:ss.micros thread file:line] ...) and
passes everything else at once. Its own process, so nothing is lost when pix2pix is killed or
aborts (a thread would die with it); its own session, so Ctrl-C reaches only pix2pix, whose
"stopped ... checkpoint saved" still gets through. Fatal lines (F...) are never dropped, and
errors of the run itself are Python exceptions, which pix2pix prints as one line: not affected.
"""

import atexit
import os
import re
import subprocess
import sys

_TF_LOG_LINE = re.compile(rb"^[IWE]\d{4} \d\d:\d\d:[\d.]+\s+\d+ [^\s\]]+:\d+\] ")
_MAYBE_TF_LOG_LINE = re.compile(rb"^[IWE](\d{0,4}|\d{4} [^\n\r]*)$")  # an unfinished line that may be one
_DRAIN_SECONDS = 10
_filter = None  # the filter process, kept referenced for the life of pix2pix
_NOISE_LINES = (b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
                b"To enable the following instructions: ",  # the second line of cpu_feature_guard's
                # TFLite's (export --format tflite): its interpreter's start, its quantizer's settings
                b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
                b"fully_quantize: ")


def is_noise(line: bytes) -> bool:
    """True for one of TensorFlow's C++ log lines (with its line ending)."""
    return bool(_TF_LOG_LINE.match(line)) or line.startswith(_NOISE_LINES)


def _may_become_noise(partial: bytes) -> bool:
    return bool(_MAYBE_TF_LOG_LINE.match(partial)) or any(n.startswith(partial) or partial.startswith(n)
                                                          for n in _NOISE_LINES)


def filter_stream(source=None, sink=None) -> None:
    """Copy SOURCE to SINK (binary files; stdin to stdout by default) without TensorFlow's C++ log
    lines. Lines end at \\n or \\r (progress bars redraw with \\r); an unfinished line is passed on
    at once unless it may still become a log line."""
    source = source or sys.stdin.buffer
    sink = sink or sys.stdout.buffer
    pending = b""
    while True:
        chunk = source.read1(65536) if hasattr(source, "read1") else source.read(65536)
        if not chunk:
            break
        pieces = re.split(rb"(?<=[\n\r])", pending + chunk)
        pending = pieces.pop()
        kept = b"".join(piece for piece in pieces if not is_noise(piece))
        if pending and not _may_become_noise(pending):
            kept, pending = kept + pending, b""
        if kept:
            sink.write(kept)
            sink.flush()
    if pending and not is_noise(pending):
        sink.write(pending)
        sink.flush()


def quiet_tensorflow(verbose: bool) -> None:
    """Before TensorFlow is imported: unless VERBOSE, set TF_CPP_MIN_LOG_LEVEL (3 if not set) and
    pass file descriptor 2 through filter_stream in a child process. Does nothing where stderr
    cannot be replaced (no file descriptor 2, e.g. some embedded interpreters)."""
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        sys.stderr.flush()
        original = os.dup(2)
    except (OSError, ValueError, AttributeError):
        return
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from pix2pix.commands.logs import filter_stream; filter_stream()")
    try:
        child = subprocess.Popen([sys.executable, "-c", code, package_root], stdin=subprocess.PIPE,
                                 stdout=original, stderr=original, start_new_session=True, close_fds=True)
    except OSError:
        os.close(original)
        return
    global _filter
    _filter = child
    os.dup2(child.stdin.fileno(), 2)  # C++ and Python both write to descriptor 2
    child.stdin.close()  # descriptor 2 is now the only writer: the filter ends when pix2pix does
    atexit.register(_finish, child, original)


def _finish(child, original) -> None:
    """At exit: give descriptor 2 back and wait for the filter to pass on the last lines, so they
    come before the shell's next prompt (after a kill the filter still drains them, a moment later)."""
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os.dup2(original, 2)
    try:
        child.wait(timeout=_DRAIN_SECONDS)
    except subprocess.TimeoutExpired:
        pass  # a child process of pix2pix still holds the pipe: the filter ends with it
