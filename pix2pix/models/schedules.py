"""Learning-rate policies (--lr_policy), as functions of the global step s of a run of T steps.

    constant  lr (the reference's)
    linear    lr * min(1, (T - s) / D), D = min(n_epochs_decay * steps_per_epoch, T):
              constant, then straight down to 0 over the last n_epochs_decay epochs (PyTorch pix2pix)
    step      lr * 0.1 ** floor(s / lr_decay_iters)
    cosine    lr * (1 + cos(pi * s / T)) / 2

Both Adam optimisers follow the same policy. Being a function of the global step, a resumed
run continues the schedule where it stopped.
"""

import math

from pix2pix.options.registry import Registry

SCHEDULES = Registry("learning-rate policy", flag="lr_policy")


@SCHEDULES.register("constant")
def constant(options, step, total_steps, steps_per_epoch):
    return options.lr


@SCHEDULES.register("linear")
def linear(options, step, total_steps, steps_per_epoch):
    decay_steps = min(options.n_epochs_decay * steps_per_epoch, total_steps)
    return options.lr * min(1.0, max(total_steps - step, 0) / decay_steps)


@SCHEDULES.register("step")
def step_decay(options, step, total_steps, steps_per_epoch):
    return options.lr * 0.1 ** (step // options.lr_decay_iters)


@SCHEDULES.register("cosine")
def cosine(options, step, total_steps, steps_per_epoch):
    return options.lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))


def learning_rate(options, step, total_steps, steps_per_epoch):
    """The rate for the step taken at global step STEP (0 for a run's first)."""
    return SCHEDULES.get(options.lr_policy)(options, step, total_steps, steps_per_epoch)
