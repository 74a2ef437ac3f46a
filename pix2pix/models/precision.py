"""--mixed_precision: the Keras dtype policy networks are built under, and what to tell a CPU user.

    with dtype_policy("bfloat16"): build layers      compute in bfloat16, variables float32
    precision_advice(options, cpu)                   the one line a run prints about it, or None

float32 is the default (the reference's numbers). bfloat16 computes the convolutions in
bfloat16; variables, optimiser state, losses, the networks' outputs (their last layer is
float32) and the Lab conversion stay float32. It pays on CPUs that compute bfloat16 natively
(AMX, AVX512-BF16: io/cpu_features.py) and on GPUs/TPUs; elsewhere it is slower than float32.
"""

import contextlib

import keras
import tensorflow as tf

from pix2pix.io.cpu_features import native_bfloat16

# The default model's CLI train step (256x256, batch 1), bfloat16 over float32, measured side by
# side (docs/benchmarks.md#bfloat16-on-the-cpu), by the kind of native bfloat16.
MEASURED_GAIN = {"AMX": "2.3-2.7x", "AVX512-BF16": "1.6-2.4x"}


@contextlib.contextmanager
def dtype_policy(precision):
    """Build layers under Keras' mixed policy for PRECISION, then restore the previous policy."""
    previous = keras.config.dtype_policy()
    if precision != "float32":
        keras.config.set_dtype_policy(f"mixed_{precision}")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def precision_advice(options, cpu=None):
    """The line a run on the CPU prints about --mixed_precision, or None.

    Training in float32 on a CPU with native bfloat16: that --mixed_precision bfloat16 is
    faster here, by how much. Asking for bfloat16 on a CPU without it: that it will be slow.
    Nothing with a GPU, or where the CPU's flags cannot be read. CPU: what native_bfloat16()
    says (default: ask it)."""
    if tf.config.list_physical_devices("GPU"):
        return None
    cpu = native_bfloat16() if cpu is None else cpu
    if cpu is None:
        return None
    if options.mixed_precision == "bfloat16" and not cpu:
        return ("warning: --mixed_precision bfloat16: this CPU has no native bfloat16 (neither AMX "
                "nor AVX512-BF16 in its flags), so it will run slower than float32 here; leave the flag out")
    if options.mixed_precision == "float32" and cpu and options.mode == "train":
        return (f"note: this CPU computes bfloat16 natively ({cpu}): --mixed_precision bfloat16 trained "
                f"the default model {MEASURED_GAIN[cpu]} faster per step on such a CPU (variables and "
                "losses stay float32; docs/benchmarks.md)")
    return None


def print_precision_advice(options):
    """Print precision_advice(OPTIONS), if any."""
    advice = precision_advice(options)
    if advice:
        print(advice, flush=True)
