"""The tests' fork server for `python -m pix2pix ARGS`: one per test worker, started by
helpers.run_cli on first use.

It imports TensorFlow and every mode's module once (about 5 of the 10 to 20 seconds a tiny CLI
run takes on 2 cores), then serves requests on a Unix socket: each request (the arguments, the
working directory, the environment, two files for stdout and stderr) is run in a child forked
from this process. The child is a process of its own running `python -m pix2pix ARGS` through
runpy, exactly as the interpreter's -m does: the same `__main__`, the same flags, files, exit
status, atexit handlers and finalisation. What it skips is only the interpreter's start-up and
the imports, so the runs whose subject is the start-up itself (help without TensorFlow, log
lines printed while TensorFlow loads, Ctrl-C and signals, PYTHONPATH additions) start a fresh
interpreter instead (helpers.run_cli decides, PIX2PIX_TEST_FRESH_CLI=1 makes every run fresh).

Forking after TensorFlow has only been imported is safe: its runtime (thread pools, devices)
starts with the first operation, and this server never runs one; it checks that before serving.

Protocol, one request per connection: a JSON line {"args", "cwd", "env", "stdout", "stderr"};
the server answers with the child's pid, then its exit status (a line each).
"""

import importlib
import importlib.util
import json
import os
import runpy
import socket
import sys

PREFIX = "pix2pix."


def preload():
    """Everything a CLI run imports before its first TensorFlow operation."""
    import tensorflow  # noqa: F401
    from tensorflow.python.eager import context

    from pix2pix import modes
    import pix2pix.commands.main  # noqa: F401

    for mode in modes.all_modes():
        mode.runner()
    if context.context()._context_handle is not None:
        raise SystemExit("cli_forkserver: TensorFlow's runtime started while importing; forking is not safe")


def run_child(request):
    """In the forked child: become `python -m pix2pix ARGS` and never return to the server."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    stdin = os.open(os.devnull, os.O_RDONLY)
    stdout, stderr = (os.open(request[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                      for name in ("stdout", "stderr"))
    for source, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
        os.dup2(source, target)
        os.close(source)
    main = importlib.util.find_spec("pix2pix.__main__").origin
    sys.argv = [main, *request["args"]]
    runpy.run_module("pix2pix", run_name="__main__", alter_sys=True)
    sys.exit(0)  # SystemExit from the command (its status) propagates; so does any other exception


def serve(path):
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(4)
    listener.settimeout(1.0)
    print("ready", flush=True)
    while os.getppid() == parent:  # the test worker that started this server has not gone
        try:
            connection, _ = listener.accept()
        except socket.timeout:
            continue
        connection.settimeout(None)
        with connection, connection.makefile("rw") as stream:
            request = json.loads(stream.readline())
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                listener.close()
                run_child(request)
            stream.write(f"{pid}\n")
            stream.flush()
            _, status = os.waitpid(pid, 0)
            stream.write(f"{os.waitstatus_to_exitcode(status)}\n")
            stream.flush()


if __name__ == "__main__":
    socket_path = sys.argv[1]
    preload()
    server = os.getpid()
    try:
        serve(socket_path)
    finally:
        if os.getpid() == server:  # not in a child on its way out
            os.unlink(socket_path)
