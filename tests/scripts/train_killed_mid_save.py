"""`python -m pix2pix ARGS` that SIGKILLs itself in the middle of its Nth checkpoint save.

Usage: train_killed_mid_save.py N ARGS...

TensorFlow writes a checkpoint in two steps: the variables go to `<prefix>_temp/` shards, then
merge_v2_checkpoints moves them into place and updates nothing else until done. Dying just before
the merge is the worst moment for a crash (the shards are on disk, the checkpoint is not), and a
test that polls for the `_temp` directory catches it only by luck; this process dies there every
time. If TensorFlow ever stops calling merge_v2_checkpoints from Python, the process does not die
and exits 3, so the test fails instead of silently testing nothing.
"""

import os
import runpy
import signal
import sys

from tensorflow.python.ops import gen_io_ops

kill_at = int(sys.argv[1])
merge = gen_io_ops.merge_v2_checkpoints
saves = 0


def merge_or_die(*args, **kwargs):
    global saves
    saves += 1
    if saves == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return merge(*args, **kwargs)


gen_io_ops.merge_v2_checkpoints = merge_or_die
sys.argv = ["pix2pix", *sys.argv[2:]]
try:
    runpy.run_module("pix2pix", run_name="__main__", alter_sys=True)
finally:
    if saves < kill_at:
        print(f"only {saves} checkpoint saves: never reached save {kill_at}", file=sys.stderr)
        os._exit(3)
