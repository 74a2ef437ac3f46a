"""Test mode: run a trained generator over a set once; write images/, metrics and index.html.

As in the reference, the generator runs exactly as in training (batch statistics,
dropout on) unless `--deterministic` turns dropout off (export, infer and serve turn it off
unless --nodeterministic: modes/preparation.py).
"""

import os

import tensorflow as tf

from pix2pix.data.arrays import reads_arrays, side_mappings
from pix2pix.data.pipeline import padding_before, paired_dataset
from pix2pix.io.arrays import output_extension, write_array
from pix2pix.errors import UsageError
from pix2pix.io.locks import output_lock
from pix2pix.io.progress import ProgressBar
from pix2pix.models.checkpoints import restore_generator
from pix2pix.models.networks import define_generator, side_multiple
from pix2pix.modes.preparation import prepare_for
from pix2pix.options.record import Options
from pix2pix.options.stored import save_options
from pix2pix.reporting.plots import plot_results, spread_rows
from pix2pix.reporting.recorder import MetricsRecorder
from pix2pix.data.tasks import task_for
from pix2pix.reporting.pictures import PAIR_COLUMNS, file_stem, save_pictures, to_display

RESULTS_PNG = "results.png"
DATA_OUTPUTS = "outputs"  # the full-depth outputs of a model of data at its own depth (DataOutputs)
PROGRESS_SECONDS = 10.0  # the bar's redraws in a log file (on a terminal it redraws in place)
RESULTS_MAX_ROWS = 16  # a glance at the results, spread over the whole set; index.html has them all


def check_not_a_training_directory(options: Options) -> None:
    """Refuse an --output_dir that is --checkpoint or holds a checkpoint: test writes options.json and
    index.html there, which would overwrite the training's own."""
    out = options.output_dir
    same = (options.checkpoint and os.path.isdir(out) and os.path.isdir(options.checkpoint)
            and os.path.samefile(out, options.checkpoint))
    if same or os.path.isfile(os.path.join(out, "checkpoint")):
        what = "the training directory --checkpoint reads" if same else "a training directory (it holds a checkpoint)"
        raise UsageError(f"--output_dir: {out} is {what}; test would overwrite its options.json and index.html: "
                         "choose another --output_dir")


def test(options: Options) -> str:
    """Run `--mode test` for OPTIONS (model options already read from the checkpoint).

    Writes output_dir/images/NAME-{inputs,outputs,targets}.png, output_dir/index.html
    (a fresh table of name, input, output, target and each picture's figures),
    metrics.csv and metrics.json (the figures of the outputs against the targets, as saved;
    pix2pix.reporting.recorder; for colorization also the grey baseline's) and output_dir/results.png
    (RESULTS_MAX_ROWS rows spread over the set, as one picture); returns the index.html path.
    """
    check_not_a_training_directory(options)
    tf.keras.utils.set_random_seed(options.seed)
    examples = paired_dataset(options, training=False, side_multiple=side_multiple(options))
    generator = define_generator(options)
    restored = restore_generator(generator, options.checkpoint)
    print(f"loaded {restored}", flush=True)
    data = DataOutputs(options) if reads_arrays(options) else None
    recorder = MetricsRecorder(options.fid_weights, full_depth=data and data.full_depth)
    baseline = task_for(options).baseline  # "grey" for colorization: scored beside the model
    baselines = {baseline: MetricsRecorder()} if baseline else {}

    os.makedirs(options.output_dir, exist_ok=True)
    with output_lock(options.output_dir, "test"):  # a second run on this folder is refused
        save_options(options, options.output_dir)
        generate = tf.function(lambda x: generator(x, training=not options.deterministic), autograph=False)
        rows = []
        # one bar on stderr, not a line per image (the reference's "evaluated image NAME")
        progress = ProgressBar(examples.count, label="test", unit="image", every=PROGRESS_SECONDS)
        for batch in examples.dataset:
            inputs, targets, outputs = _unpadded(batch, generate(batch["inputs"]))
            outputs_data, targets_data = outputs.numpy(), targets.numpy()
            pictures = to_display(inputs, targets, outputs, options)
            names = [file_stem(p) for p in batch["paths"].numpy()]
            rows += save_pictures(options.output_dir, names, pictures)
            if data is not None:  # the outputs written and scored at full depth
                data.write_and_score(recorder, names, outputs_data, targets_data)
            inputs, outputs, targets = (pictures[kind].numpy() for kind in ("inputs", "outputs", "targets"))
            for i, name in enumerate(names):
                if data is None or not data.full_depth:
                    recorder.add(name, outputs[i], targets[i])  # the very arrays the PNGs hold
                for baseline_recorder in baselines.values():
                    baseline_recorder.add(name, inputs[i], targets[i])
            progress.update(len(rows))
        progress.finish(len(rows))
        index = recorder.write(options.output_dir, rows, PAIR_COLUMNS, baselines)
        if rows:
            results_png = os.path.join(options.output_dir, RESULTS_PNG)
            plot_results(spread_rows(rows, RESULTS_MAX_ROWS), results_png, base_dir=options.output_dir,
                         total=len(rows))
            print(f"wrote {results_png}", flush=True)
    return index


class DataOutputs:
    """Test mode's outputs of a model of data at its own depth (pix2pix.data.arrays): each written at
    full depth in output_dir/outputs/NAME.png (8 or 16 bits, 1, 3 or 4 channels) or .tif (other channel
    counts, float32), beside the 8-bit previews of images/; scored at full depth (metrics.json says so)
    unless the targets are 8-bit RGB pictures, which are scored as pictures."""

    def __init__(self, options: Options):
        self.directory = os.path.join(options.output_dir, DATA_OUTPUTS)
        self.mapping = side_mappings(options)[1]
        self.extension = output_extension(self.mapping.sample_type, options.output_nc)
        pictures = self.mapping.sample_type == "uint8" and options.output_nc == 3
        self.full_depth = None if pictures else {
            "sample_type": self.mapping.sample_type, "channels": options.output_nc,
            "data_range": self.mapping.data_range, "outputs": f"{DATA_OUTPUTS}/NAME{self.extension}",
            "note": "l1, psnr and ssim are computed on the outputs and targets at full depth, on all channels; "
                    "index.html shows 8-bit previews (the first three channels, or the first as grey)"}
        if self.full_depth and options.fid_weights:
            raise UsageError("--fid_weights: FID needs 8-bit RGB pictures; this model's targets are "
                             f"{options.output_nc} channel(s) of {self.mapping.sample_type}")

    def write_and_score(self, recorder, names, outputs, targets):
        for name, output, target in zip(names, outputs, targets):
            output, target = self.mapping.from_network(output), self.mapping.from_network(target)
            write_array(os.path.join(self.directory, name + self.extension), output)
            if self.full_depth:
                recorder.add_data(name, output, target)


def _unpadded(batch, outputs):
    """(inputs, targets, outputs) of BATCH without the padding to the generator's multiple
    (--preprocess none, scale_width: the whole picture at its own shape is what gets saved and scored).
    A batch's pictures share one size (crops, or a batch of one)."""
    size = batch["sizes"][0]
    top, left = tf.unstack(padding_before(tf.shape(outputs)[1:3], size))
    return tuple(t[:, top:top + size[0], left:left + size[1]]
                 for t in (batch["inputs"], batch["targets"], outputs))


def run(options: Options, explicit=None) -> int:
    test(prepare_for("test", options, explicit))
    return 0
