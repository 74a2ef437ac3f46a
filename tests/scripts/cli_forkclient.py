"""`python -m pix2pix ARGS` run by a test worker's fork server (tests/scripts/cli_forkserver.py).

Usage: cli_forkclient.py SOCKET PYTHON_ARGS...

The sys.executable helpers.run_cli gives pix2pix-reproduce (through a two-line launcher beside the
server's socket): reproduce runs each row as `sys.executable -m pix2pix ...`, which comes here and is
forked from the server with this process's working directory, environment and standard streams,
so the rows stream into reproduce's pipes as fresh interpreters would. SIGINT and SIGTERM are passed
on to the forked run, and this process ends as it did (its exit status, or the same signal). Any
other command line is the real interpreter's (exec).
"""

import json
import os
import signal
import socket
import sys


def main(socket_path, argv):
    if argv[:2] != ["-m", "pix2pix"]:
        os.execv(sys.executable, [sys.executable, *argv])
    request = {"module": "pix2pix", "args": argv[2:], "cwd": os.getcwd(), "env": dict(os.environ)}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(socket_path)
        socket.send_fds(connection, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
        stream = connection.makefile("r")
        pid = int(stream.readline())
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, lambda received, frame: os.kill(pid, received))
        code = int(stream.readline())
    if code < 0:  # killed by a signal: so is this process
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
