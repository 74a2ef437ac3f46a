"""The tests' fork server for `python -m MODULE ARGS` (MODULE: pix2pix or pix2pix.commands.reproduce):
one per test worker, started by helpers.run_cli on first use.

It imports TensorFlow and every mode's module once (about 5 of the 10 to 20 seconds a tiny CLI
run takes on 2 cores), then serves requests on a Unix socket: each request (the module, the
arguments, the working directory, the environment, and the three standard streams as file
descriptors) is run in a child forked from this process. The child is a process of its own
running `python -m MODULE ARGS` through runpy, exactly as the interpreter's -m does: the same
`__main__`, the same flags, files, exit status, atexit handlers and finalisation. What it skips is
only the interpreter's start-up and the imports, so the runs whose subject is the start-up itself
(help without TensorFlow, log lines printed while TensorFlow loads, PYTHONPATH additions, a fresh
interpreter's same seed) start a fresh interpreter instead (helpers.run_cli decides,
PIX2PIX_TEST_FRESH_CLI=1 makes every run fresh). A forked child gets SIGINT at Python's default
handler, as a fresh interpreter does, so Ctrl-C and signals are tested on forked runs.

A request may name an `executable` for the child's sys.executable: pix2pix-reproduce runs its rows
as `sys.executable -m pix2pix ...`, and helpers.run_cli gives it tests/scripts/cli_forkclient.py's
launcher, so the rows are forked from here too. Requests are served concurrently (a reproduce
child waits on its rows' requests): the server waits on its children through pidfds.

Forking after TensorFlow has only been imported is safe: its runtime (thread pools, devices)
starts with the first operation, and this server never runs one; it checks that before serving.

A request may name a `script` instead of a module: `python SCRIPT ARGS` (run_path, the script's
folder first on sys.path), for the benchmark scripts the tests run, whose subject is not the
interpreter's start-up either.

Protocol, one request per connection: a JSON line {"module" or "script", "args", "cwd", "env"[, "executable"]}
sent with three file descriptors (stdin, stdout, stderr; SCM_RIGHTS); the server answers with the
child's pid, then its exit status as os.waitstatus_to_exitcode gives it (a line each).
"""

import gc
import importlib
import importlib.util
import json
import os
import runpy
import selectors
import signal
import socket
import sys
import tempfile

MODULES = ("pix2pix", "pix2pix.commands.reproduce")


def preload():
    """Everything a CLI run imports before its first TensorFlow operation."""
    import tensorflow  # noqa: F401
    from tensorflow.python.eager import context

    from pix2pix import modes
    import pix2pix.commands.main  # noqa: F401
    import pix2pix.commands.reproduce  # noqa: F401

    for mode in modes.all_modes():
        mode.runner()
    if context.context()._context_handle is not None:
        raise SystemExit("cli_forkserver: TensorFlow's runtime started while importing; forking is not safe")
    # What is imported now lives as long as any child: out of the garbage collector's sight, a child's
    # collections and its exit no longer touch (and so copy) every page of it. A forked tiny training
    # run went from about 5.5 to 3.5 CPU seconds, a refused command from 1.3 to 0.3; the child still
    # runs its atexit handlers and finalisation as before.
    gc.freeze()


def receive(connection):
    """(the request, its three file descriptors)."""
    data, fds, _, _ = socket.recv_fds(connection, 1 << 20, 3)
    while not data.endswith(b"\n"):
        more = connection.recv(1 << 20)
        if not more:
            raise ConnectionError("the request ended early")
        data += more
    if len(fds) != 3:
        raise ConnectionError(f"a request comes with 3 file descriptors, not {len(fds)}")
    return json.loads(data), fds


def run_child(request, fds):
    """In the forked child: become `python -m MODULE ARGS` and never return to the server."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # the preload cached $TMPDIR's folder: the request's TMPDIR counts, as in a fresh one
    for source, target in zip(fds, (0, 1, 2)):
        os.dup2(source, target)
        os.close(source)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as a fresh interpreter sets it
    if "script" in request:  # `python SCRIPT ARGS`: the script's folder first on sys.path, as python puts it
        script = os.path.abspath(request["script"])
        sys.path[0] = os.path.dirname(script)
        sys.argv = [script, *request["args"]]
        runpy.run_path(script, run_name="__main__")
        sys.exit(0)
    module = request["module"]
    if module not in MODULES:
        raise SystemExit(f"cli_forkserver: {module} is not one of {', '.join(MODULES)}")
    sys.executable = request.get("executable", sys.executable)
    main = importlib.util.find_spec(f"{module}.__main__").origin
    sys.argv = [main, *request["args"]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    sys.exit(0)  # SystemExit from the command (its status) propagates; so does any other exception


def serve(path):
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(16)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    print("ready", flush=True)
    while os.getppid() == parent:  # the test worker that started this server has not gone
        for key, _ in selector.select(timeout=1.0):
            if key.fileobj is listener:
                connection, _ = listener.accept()
                try:
                    request, fds = receive(connection)
                except (OSError, ValueError) as err:
                    print(f"cli_forkserver: a bad request ({err}) refused", file=sys.stderr, flush=True)
                    connection.close()
                    continue
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    # The server's descriptors are not the run's: the other runs' pidfds and
                    # connections (a long-lived run, a server under test, counts its open files).
                    for other in list(selector.get_map().values()):
                        if other.fileobj is not listener:
                            os.close(other.fd)
                            other.data[1].close()
                    selector.close()
                    listener.close()
                    connection.close()
                    run_child(request, fds)
                for fd in fds:
                    os.close(fd)  # the child's copies only: a pipe's reader sees its end when the child's go
                connection.sendall(f"{pid}\n".encode())
                selector.register(os.pidfd_open(pid), selectors.EVENT_READ, (pid, connection))
            else:  # a child has ended
                pid, connection = key.data
                selector.unregister(key.fileobj)
                os.close(key.fd)
                _, status = os.waitpid(pid, 0)
                with connection:
                    try:
                        connection.sendall(f"{os.waitstatus_to_exitcode(status)}\n".encode())
                    except OSError:  # the client gave up (its timeout) and went
                        pass


if __name__ == "__main__":
    socket_path = sys.argv[1]
    preload()
    server = os.getpid()
    try:
        serve(socket_path)
    finally:
        if os.getpid() == server:  # not in a child on its way out
            os.unlink(socket_path)
