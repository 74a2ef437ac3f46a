"""The training loop: data, model, progress lines, summaries, display pages, checkpoints, resume.

`--max_steps` counts global steps: a run resumed with `--checkpoint` continues from the
stored step and stops when the global step reaches max_steps, so re-running an
interrupted command with `--checkpoint` finishes the same job. (The reference ran
max_steps more steps after a restore; this is the one deliberate difference, and it
only concerns resumed runs.)
"""

import os
import shutil
import signal
import time

import tensorflow as tf

from pix2pix.data.pair_check import check_pairs
from pix2pix.data.arrays import reads_arrays, with_data_types
from pix2pix.data.pipeline import paired_dataset
from pix2pix.errors import Pix2PixError, error_line
from pix2pix.io.files import check_output_dir
from pix2pix.io.progress import format_duration
from pix2pix.io.locks import output_lock
from pix2pix.models.checkpoints import CHECKPOINT_PREFIX, first_non_finite, latest_checkpoint, restore_checked
from pix2pix.models.pix2pix_model import Pix2Pix
from pix2pix.models.networks import count_trainable_parameters, side_multiple
from pix2pix.models.precision import print_precision_advice
from pix2pix.modes.preparation import prepare_for
from pix2pix.options.record import Options, check_budget
from pix2pix.options.stored import save_options
from pix2pix.reporting.histograms import write_histogram
from pix2pix.reporting.loss_history import append_loss_history, read_loss_history, truncate_loss_history
from pix2pix.reporting.plots import plot_losses
from pix2pix.reporting.pictures import (PAIR_COLUMNS, STEP_COLUMN, file_stem, probabilities_to_uint8,
                             save_pictures, to_display, write_index)

LOSSES_CSV = "losses.csv"  # the averaged losses of every progress report
LOSSES_PNG = "losses.png"  # their curves, drawn when the run ends or is stopped


# A run's first progress line comes this many seconds after its first step at the latest, whatever
# --progress_freq says (at 256x256 on a CPU, 50 steps are minutes): a first estimate of s/step and
# the time left, measured from the end of the first (tracing) step. Then every --progress_freq steps.
FIRST_PROGRESS_SECONDS = 20.0


def _should(freq, step, max_steps):
    """True every FREQ global steps and at the last step (never when FREQ is 0)."""
    return freq > 0 and (step % freq == 0 or step == max_steps)


class _StopRequest:
    """Turns SIGINT/SIGTERM into a flag the loop checks after each step."""

    def __init__(self):
        self.signal_name = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signal_name is not None:  # a second signal: stop right away
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name
        print(f"received {self.signal_name}: finishing the current step and saving a checkpoint",
              flush=True)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


# TensorBoard names of the reference's three losses; any other loss is shown under its own name.
SUMMARY_NAMES = {"discrim_loss": "discriminator_loss", "gen_loss_GAN": "generator_loss_GAN",
                 "gen_loss_L1": "generator_loss_L1"}


def _write_summaries(writer, model, batch, details, step, options):
    averages = model.loss_averages.read()
    pictures = to_display(batch["inputs"], batch["targets"], details["outputs"], options)
    # Scores of a discriminator without a sigmoid are shown through one, as probabilities.
    as_probabilities = (lambda scores: scores) if model.gan_loss.SIGMOID else tf.sigmoid
    with writer.as_default(step=step):
        for name, value in averages.items():
            tf.summary.scalar(SUMMARY_NAMES.get(name, name), value)
        if options.lr_policy != "constant":
            tf.summary.scalar("learning_rate", model.current_learning_rate(step - 1))
        for kind, images in pictures.items():
            tf.summary.image(kind, images)
        for kind in ("predict_real", "predict_fake"):
            tf.summary.image(kind, probabilities_to_uint8(as_probabilities(details[kind])))
        for network, grads in ((model.discriminator, details["discriminator_gradients"]),
                               (model.generator, details["generator_gradients"])):
            for var, grad in zip(network.trainable_variables, grads):
                name = f"{network.name}/{var.path}"
                write_histogram(name + "/values", var)
                write_histogram(name + "/gradients", grad)
    writer.flush()


def _write_display(output_dir, batch, details, step, options):
    pictures = to_display(batch["inputs"], batch["targets"], details["outputs"], options)
    names = [file_stem(p) for p in batch["paths"].numpy()]
    rows = save_pictures(output_dir, names, pictures, prefix=f"{step:08d}-")
    for row in rows:
        row["step"] = step
    write_index(output_dir, rows, columns=STEP_COLUMN + PAIR_COLUMNS, append=True)


def _print_progress(model, step, start_step, start_time, max_steps, steps_per_epoch, batch_size, note=""):
    """A progress line (global step of the total, epochs done as a fraction, speed in images/s and
    s/step, the time left as h:mm:ss), then the averaged losses to 4 decimals. It starts with
    "progress": pix2pix-reproduce echoes those. NOTE ends the line (the first early estimate's)."""
    seconds_per_step = max(time.time() - start_time, 1e-9) / max(step - start_step, 1)
    rate = batch_size / seconds_per_step
    learning_rate = ""
    if model.options.lr_policy != "constant":  # the reference's line otherwise
        learning_rate = f"  lr {model.current_learning_rate(step - 1):.4g}"
    print(f"progress  step {step}/{max_steps}  epoch {step / steps_per_epoch:.1f}  image/sec {rate:0.1f}  "
          f"s/step {seconds_per_step:.2f}  remaining {format_duration((max_steps - step) * seconds_per_step)}"
          f"{learning_rate}{note}", flush=True)
    for name, value in model.loss_averages.read().items():
        print(f"{name} {value:.4f}", flush=True)


def total_steps(options: Options, steps_per_epoch: int) -> int:
    """max_steps if given, else max_epochs * steps_per_epoch, else 2**32 (the reference's rule)."""
    if options.max_steps is not None:
        return options.max_steps
    if options.max_epochs is not None:
        return options.max_epochs * steps_per_epoch
    return 2 ** 32


def _trainable(model):
    return model.generator.trainable_variables + model.discriminator.trainable_variables


def _first_non_finite_weight(model):
    """The path of the first trainable variable holding NaN/inf, or None."""
    return first_non_finite(_trainable(model))


def _save(manager, model, step, output_dir):
    """Save a checkpoint for STEP; a failed write leaves the previous one intact and says so."""
    bad_weight = _first_non_finite_weight(model)
    if bad_weight:
        raise Pix2PixError(f"step {step}: weight {bad_weight} is not finite; not saving it over "
                           f"the last good checkpoint {manager.latest_checkpoint}")
    print("saving model", flush=True)
    try:
        manager.save(checkpoint_number=step)
    except (tf.errors.OpError, OSError) as err:
        raise Pix2PixError(
            f"could not write the checkpoint for step {step} in {output_dir} "
            f"({error_line(err)}; is the disk full?). The previous checkpoint, "
            f"{manager.latest_checkpoint or 'none'}, is intact.") from None


def _restore(model, checkpoint, resume_from):
    restore_checked(checkpoint, resume_from, _trainable(model), "these options",
                    advice="resume from an earlier, finite checkpoint")
    if int(model.global_step.numpy()) < 0:
        raise Pix2PixError(f"--checkpoint: {resume_from} is at step {int(model.global_step.numpy())}; a "
                           "training's step is a whole number >= 0 (the checkpoint is damaged)")
    print(f"resumed from {resume_from} at step {int(model.global_step.numpy())}", flush=True)


def _non_finite(results, step, batch, model, options):
    """Report a batch whose loss was NaN/inf (its update was not applied); raise unless skipping."""
    losses = ", ".join(f"{name}={float(results[name]):.4g}" for name in model.loss_names)
    names = ", ".join(file_stem(p) for p in batch["paths"].numpy())
    bad_weight = _first_non_finite_weight(model)
    if not options.skip_nonfinite or bad_weight:
        why = f"weight {bad_weight} is no longer finite" if bad_weight else "the batch was not applied"
        raise Pix2PixError(f"step {step}: non-finite loss ({losses}) on images {names}; {why}. "
                           "Stopped without saving: the last checkpoint is untouched. Resume from it, "
                           "perhaps with a lower --lr (--skip_nonfinite skips such batches).")
    print(f"warning: step {step}: non-finite loss ({losses}) on images {names}; batch skipped",
          flush=True)


def make_strategy(name):
    """The tf.distribute strategy --strategy names (None for a single device)."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return None


def _is_chief(strategy) -> bool:
    """True unless this is a non-chief worker of a multi-worker run."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0)


def _first_replica(batch, strategy):
    """The first replica's share of a (possibly distributed) batch, for summaries and display."""
    if strategy is None:
        return batch
    return {k: strategy.experimental_local_results(v)[0] for k, v in batch.items()}


def _truncate_losses(output_dir, step):
    """Drop loss rows past STEP (a resumed run redoes them); a damaged file is moved aside."""
    path = os.path.join(output_dir, LOSSES_CSV)
    try:
        truncate_loss_history(path, step)
    except ValueError as err:
        os.replace(path, path + ".damaged")
        print(f"warning: {err}; moved it to {path}.damaged and started a new one", flush=True)


def _plot_losses(output_dir):
    """Draw losses.csv into losses.png; a picture that cannot be drawn only warns (the run is saved)."""
    try:
        history = read_loss_history(os.path.join(output_dir, LOSSES_CSV))
        plot_losses(history, os.path.join(output_dir, LOSSES_PNG))
    except (OSError, ValueError) as err:
        print(f"warning: could not draw {LOSSES_PNG}: {err}", flush=True)


class _Trainer:
    """One training run, in the order it happens: set up (strategy, model, resume, data), then
    under the output folder's lock write the run's files and loop, then say how it ended."""

    def __init__(self, options: Options):
        self.options = options
        self.strategy = strategy = make_strategy(options.strategy)  # first: multi-worker wants it early
        replicas = strategy.num_replicas_in_sync if strategy else 1
        if options.batch_size % replicas:
            raise Pix2PixError(f"--batch_size: {options.batch_size} does not split over {replicas} replicas")
        self.chief = _is_chief(strategy)
        # Non-chief workers write their (identical) checkpoints to a scratch folder.
        self.output_dir = options.output_dir if self.chief else os.path.join(
            options.output_dir, f".worker-{strategy.cluster_resolver.task_id}")
        tf.keras.utils.set_random_seed(options.seed)
        self.resume_from = latest_checkpoint(options.checkpoint) if options.checkpoint else None

        self.model = model = Pix2Pix(options, strategy)
        self.checkpoint = model.checkpoint()
        if self.resume_from:
            _restore(model, self.checkpoint, self.resume_from)
        self.start_step = self.step = int(model.global_step.numpy())
        self.examples = paired_dataset(options, training=True, seed=options.seed,
                                       start=self.start_step * options.batch_size,
                                       side_multiple=side_multiple(options))
        self.max_steps = total_steps(options, self.examples.steps_per_epoch)
        model.follow_schedule(self.max_steps, self.examples.steps_per_epoch)
        self.dataset = (strategy.experimental_distribute_dataset(self.examples.dataset) if strategy
                        else self.examples.dataset)
        parameters = (count_trainable_parameters(model.generator)
                      + count_trainable_parameters(model.discriminator))
        print(f"examples count = {self.examples.count}", flush=True)
        print(f"parameter_count = {parameters}", flush=True)
        print_precision_advice(options)
        if strategy:
            print(f"replicas = {replicas} ({options.strategy}), {options.batch_size // replicas} images each",
                  flush=True)

    def _should(self, freq, step):
        return _should(freq, step, self.max_steps)

    def run(self) -> Pix2Pix:
        # Nothing is written before every check of __init__ has passed.
        check_output_dir(self.output_dir)
        with output_lock(self.output_dir, "train"):  # a second run on this folder is refused
            if self.chief:
                save_options(self.options, self.output_dir)
                # Rows past the resumed step belong to steps this run does again (all of them, afresh).
                _truncate_losses(self.output_dir, self.start_step)
            self.manager = tf.train.CheckpointManager(self.checkpoint, self.output_dir, max_to_keep=1,
                                                      checkpoint_name=CHECKPOINT_PREFIX)
            self.writer = tf.summary.create_file_writer(self.output_dir)
            same_dir = self.resume_from and os.path.samefile(self.options.checkpoint, self.output_dir)
            self.saved_step = self.start_step if same_dir else None
            try:
                with _StopRequest() as stop:
                    self._loop(stop)
            finally:
                self.writer.close()
            if self.chief:
                _plot_losses(self.output_dir)
            else:
                shutil.rmtree(self.output_dir, ignore_errors=True)
        return self._ended(stop.signal_name)

    def _loop(self, stop) -> None:
        """Steps until the budget is spent or a signal asks to stop, then a last save."""
        options, model = self.options, self.model
        self.start_time = time.time()
        self.first_step_done, self.progress_shown = None, False  # (step, time) at the end of the first step
        iterator = iter(self.dataset)
        while self.step < self.max_steps and stop.signal_name is None:
            batch = next(iterator)
            next_step = self.step + 1
            tracing = self._should(options.trace_freq, next_step)
            if tracing:
                tf.profiler.experimental.start(self.output_dir)
            results = model.train_step(batch["inputs"], batch["targets"])
            if tracing:
                tf.profiler.experimental.stop()
            if not bool(results["applied"]):
                _non_finite(results, next_step, _first_replica(batch, self.strategy), model, options)
                continue
            self.step = next_step
            self._report(batch, results)
            del results  # its gradients are the size of the model: not kept through the next step
        if self.saved_step != self.step:
            _save(self.manager, model, self.step, self.output_dir)

    def _report(self, batch, results) -> None:
        """After a step: summaries, display pages, progress and loss history, checkpoints, each at its
        frequency (and at the last step)."""
        options, model, step, output_dir = self.options, self.model, self.step, self.output_dir
        if self.chief and self._should(options.summary_freq, step):
            print("recording summary", flush=True)
            _write_summaries(self.writer, model, _first_replica(batch, self.strategy), results, step, options)
        if self.chief and self._should(options.display_freq, step):
            print("saving display images", flush=True)
            _write_display(output_dir, _first_replica(batch, self.strategy), results, step, options)
        if self._should(options.progress_freq, step):
            _print_progress(model, step, self.start_step, self.start_time, self.max_steps,
                            self.examples.steps_per_epoch, options.batch_size)
            self.progress_shown = True
            if self.chief:
                append_loss_history(os.path.join(output_dir, LOSSES_CSV),
                                    {"step": step, **model.loss_averages.read()})
        elif self._first_progress_due(step):
            first_step, first_time = self.first_step_done
            _print_progress(model, step, first_step, first_time, self.max_steps, self.examples.steps_per_epoch,
                            options.batch_size, note=f"  (first estimate; then every {options.progress_freq} steps)")
            self.progress_shown = True
        if self._should(options.save_freq, step):
            _save(self.manager, model, step, output_dir)
            self.saved_step = step

    def _first_progress_due(self, step) -> bool:
        """True once, FIRST_PROGRESS_SECONDS after the first step of this run ended, if no progress
        line has been shown yet (and --progress_freq is not 0: progress lines asked off)."""
        if self.progress_shown or self.options.progress_freq <= 0:
            return False
        if self.first_step_done is None:
            self.first_step_done = (step, time.time())
            return False
        return time.time() - self.first_step_done[1] >= FIRST_PROGRESS_SECONDS

    def _ended(self, signal_name) -> Pix2Pix:
        self.model.stopped_by = signal_name
        if signal_name is not None:
            print(f"stopped by {signal_name} at step {self.step}; checkpoint saved in {self.output_dir}.\n"
                  f"Resume with the same command plus --checkpoint {self.output_dir}", flush=True)
        else:
            print(f"done: step {self.step}; checkpoint in {self.output_dir}", flush=True)
        return self.model


def train(options: Options) -> Pix2Pix:
    """Run `--mode train` for OPTIONS (already prepared: validated, seed chosen).

    Returns the model; `model.stopped_by` names the signal if SIGINT/SIGTERM ended the run
    early (a checkpoint was saved first), else it is None.
    """
    return _Trainer(options).run()


def run(options: Options, explicit=None) -> int:
    """The mode's entry: prepare, train; a run ended early by a signal (saved and resumable, but not
    finished) exits with 128 + the signal's number, as a process killed by it would."""
    check_budget(options)  # the command line checked it already; the Python API gets here
    prepared = with_data_types(prepare_for("train", options, explicit))
    if not reads_arrays(prepared):  # data read at its own depth is paired by folders or by its own halves
        check_pairs(prepared)
    model = train(prepared)
    if model.stopped_by:
        return 128 + signal.Signals[model.stopped_by].value
    return 0
