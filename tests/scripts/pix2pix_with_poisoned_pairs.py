"""`python -m pix2pix ARGS` with one more task registered: `--task poisoned_pairs`.

No image file can hold a NaN (PNG and JPEG samples are integers, decoded into [0, 1]), so a
batch whose loss is not finite cannot come from the data as it is. This task is the documented
way in (a Task registered before the CLI runs, docs/extending.md): it is A|B `pairs`, except that
a file whose top-left pixel is pure magenta gets NaN targets, so every batch holding that file
has a NaN loss while all the other batches train normally.
"""

import runpy
import sys

import tensorflow as tf

from pix2pix.data.tasks import Pairs, register_task


@register_task("poisoned_pairs")
class PoisonedPairs(Pairs):
    def split_sides(self, image):
        a, b = super().split_sides(image)
        marked = tf.reduce_all(tf.equal(image[0, 0], tf.constant([1.0, 0.0, 1.0])))
        return a, tf.where(marked, tf.fill(tf.shape(b), float("nan")), b)


sys.argv = ["pix2pix", *sys.argv[1:]]
runpy.run_module("pix2pix", run_name="__main__", alter_sys=True)
