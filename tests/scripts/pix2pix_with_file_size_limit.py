"""`python -m pix2pix ARGS` that may not write a file larger than LIMIT bytes: a full disk, for one run.

Usage: pix2pix_with_file_size_limit.py LIMIT ARGS...

RLIMIT_FSIZE is set in this process (so it holds wherever the run comes from: a fresh interpreter or
the tests' CLI fork server), with SIGXFSZ ignored, so a write past the limit fails with EFBIG (as a
write to a full disk fails with ENOSPC) instead of killing the process.
"""

import resource
import runpy
import signal
import sys

limit = int(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
sys.argv = ["pix2pix", *sys.argv[2:]]
runpy.run_module("pix2pix", run_name="__main__", alter_sys=True)
