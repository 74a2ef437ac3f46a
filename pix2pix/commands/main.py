"""The `pix2pix` command: absl flags with the reference's names and defaults, and main(argv).

This module only turns flags into an Options record and picks the mode.
"""

import dataclasses
import signal
import sys

from absl import app, flags, logging

from pix2pix.errors import Pix2PixError
from pix2pix.options.record import MODES, PRECISIONS, STRATEGIES, Options, prepare

_D = Options()  # the defaults, so flags and the record cannot disagree

flags.DEFINE_enum("mode", None, list(MODES),
                  "train, test, export (SavedModel), infer (folder of photos), import (TF1 checkpoint), "
                  "score (metrics of predictions against targets), serve (web page and TF Serving REST API)")
flags.DEFINE_string("input_dir", None, "path to folder containing images")
flags.DEFINE_string("output_dir", None, "where to put output files")
flags.DEFINE_integer("seed", None, "random seed (chosen and recorded in options.json if not given)")
flags.DEFINE_string("checkpoint", None,
                    "directory with checkpoint to resume training from or use for test/export/infer "
                    "(infer: also a SavedModel); import: the TF1 checkpoint directory")
flags.DEFINE_integer("max_steps", None, "number of training steps (default: --max_epochs, else no limit)")
flags.DEFINE_integer("max_epochs", None, "number of training epochs")
flags.DEFINE_integer("summary_freq", _D.summary_freq, "update summaries every summary_freq steps")
flags.DEFINE_integer("progress_freq", _D.progress_freq, "display progress every progress_freq steps")
flags.DEFINE_integer("trace_freq", _D.trace_freq, "trace execution every trace_freq steps")
flags.DEFINE_integer("display_freq", _D.display_freq,
                     "write current training images every display_freq steps")
flags.DEFINE_integer("save_freq", _D.save_freq, "save model every save_freq steps, 0 to disable")
flags.DEFINE_bool("separable_conv", _D.separable_conv, "use separable convolutions in the generator")
flags.DEFINE_float("aspect_ratio", _D.aspect_ratio,
                   "aspect ratio of output images (width/height)")
flags.DEFINE_bool("lab_colorization", _D.lab_colorization,
                  "split input image into brightness (A) and color (B)")
flags.DEFINE_integer("batch_size", _D.batch_size, "number of images in batch")
flags.DEFINE_enum("which_direction", _D.which_direction, ["AtoB", "BtoA"], "direction")
flags.DEFINE_integer("ngf", _D.ngf, "number of generator filters in first conv layer")
flags.DEFINE_integer("ndf", _D.ndf, "number of discriminator filters in first conv layer")
flags.DEFINE_integer("scale_size", _D.scale_size,
                     "scale images to this size before cropping to crop_size")
flags.DEFINE_bool("flip", _D.flip, "flip images horizontally (--noflip or --no_flip to disable)")
flags.DEFINE_bool("no_flip", False, "don't flip images horizontally (same as --noflip)")
flags.DEFINE_float("lr", _D.lr, "initial learning rate for adam")
flags.DEFINE_float("beta1", _D.beta1, "momentum term of adam")
flags.DEFINE_float("l1_weight", _D.l1_weight, "weight on L1 term for generator gradient")
flags.DEFINE_float("gan_weight", _D.gan_weight, "weight on GAN term for generator gradient")
flags.DEFINE_enum("output_filetype", _D.output_filetype, ["png", "jpeg"], "export/infer output file type")
# Additions; their defaults reproduce the reference.
flags.DEFINE_bool("rgb_colorization", _D.rgb_colorization,
                  "single colour photos: grey (luma, 1 channel) in, RGB out")
flags.DEFINE_string("task", _D.task,
                    "data mode by name: pairs (A|B files), lab (= --lab_colorization), "
                    "rgb (= --rgb_colorization), or one registered in pix2pix.data.tasks")
flags.DEFINE_integer("crop_size", _D.crop_size,
                     "training/test image size, a power of two >= 32; the U-Net depth follows it "
                     "(8 levels at 256, 7 at 128, 9 at 512)")
flags.DEFINE_bool("deterministic", _D.deterministic,
                  "test, export, infer: dropout off, so the same input gives the same output")
flags.DEFINE_bool("skip_preflight", _D.skip_preflight,
                  "don't decode every input image before starting")
flags.DEFINE_integer("max_pixels", _D.max_pixels,
                     "infer: refuse (naming it) a photo whose header claims more pixels than this "
                     "(decompression bombs; as data_prep's --max_pixels)")
flags.DEFINE_bool("skip_bad_images", _D.skip_bad_images,
                  "leave out (and name) images that cannot be decoded instead of stopping")
flags.DEFINE_bool("skip_nonfinite", _D.skip_nonfinite,
                  "skip a batch whose loss is NaN/inf instead of stopping")
flags.DEFINE_enum("strategy", _D.strategy, list(STRATEGIES),
                  "tf.distribute: mirrored = all local GPUs; multiworker = MultiWorkerMirroredStrategy "
                  "configured by TF_CONFIG. --batch_size is the global batch, split over replicas")
flags.DEFINE_enum("mixed_precision", _D.mixed_precision, list(PRECISIONS),
                  "compute dtype for training: float16 (with dynamic loss scaling) or bfloat16 are for "
                  "GPUs/TPUs; variables, losses and outputs stay float32")
# Metrics (test mode writes metrics.csv/json) and --mode score.
flags.DEFINE_string("target_dir", _D.target_dir,
                    "score: folder of targets; the predictions in --input_dir are matched to them by file stem")
flags.DEFINE_string("pred_suffix", _D.pred_suffix,
                    "score: match only predictions whose stems end in this, removed first (test mode's "
                    "images/: -outputs)")
flags.DEFINE_string("target_suffix", _D.target_suffix,
                    "score: match only targets whose stems end in this, removed first (test mode's images/: -targets)")
flags.DEFINE_string("fid_weights", _D.fid_weights,
                    "test, score: also compute FID with this weights file of Keras' InceptionV3(include_top=False, "
                    "pooling='avg'), or 'imagenet' to let Keras fetch them; compares runs of this project only")

# Native aspect ratio and videos (issue 13): infer, export.
flags.DEFINE_integer("render_size", _D.render_size,
                     "infer, export: run the generator at the photo's aspect ratio, short side resized to this "
                     "(long side in proportion, reflection-padded to the multiple the generator needs); "
                     "0 = crop_size x crop_size, the reference's square. Fixed into an export")
flags.DEFINE_integer("max_render_pixels", _D.max_render_pixels,
                     "infer, export: refuse (naming it) a photo or video that --render_size would give the "
                     "generator more pixels than this (padded height x width; memory)")
flags.DEFINE_string("video_codec", _D.video_codec,
                    "infer: fourcc of the videos written: mp4v (.mp4), VP80 or VP90 (.webm), MJPG or XVID (.avi)")
flags.DEFINE_float("temporal_smoothing", _D.temporal_smoothing,
                   "infer, colorization videos: smooth the predicted colour over time, "
                   "s_t = A s_(t-1) + (1 - A) p_t, A in [0, 1); 0 = off. Reset at scene cuts")
flags.DEFINE_float("scene_cut", _D.scene_cut,
                   "infer, videos: a grey-histogram change between frames (half the L1 distance of the "
                   "normalised 64-bin histograms, 0..1) above this is a scene cut")

# The model zoo: names as the PyTorch pix2pix's flags; defaults are the reference's model.
flags.DEFINE_string("netG", _D.netG, "generator: unet (the reference's, depth from --crop_size), "
                    "encoder_decoder (the paper's U-Net without skips), resnet_9blocks, resnet_6blocks")
flags.DEFINE_string("netD", _D.netD, "discriminator: basic (70x70 PatchGAN), n_layers (with "
                    "--n_layers_D), pixel (1x1 PixelGAN)")
flags.DEFINE_integer("n_layers_D", None, "--netD n_layers only: 1 = 16x16 patches, 3 = 70x70, "
                     "5 = 286x286 (ImageGAN at 256); default 3")
flags.DEFINE_bool("condition_GAN", _D.condition_GAN, "the discriminator sees the input beside the "
                  "target/output (--nocondition_GAN: the image alone, the paper's GAN rows)")
flags.DEFINE_string("gan_mode", _D.gan_mode, "vanilla (the reference's cross-entropy), lsgan, wgangp")
flags.DEFINE_string("norm", _D.norm, "batch (batch statistics always, the reference's), instance, none")
flags.DEFINE_bool("no_dropout", _D.no_dropout, "no dropout in the U-Net decoders / ResNet blocks")
flags.DEFINE_string("lr_policy", _D.lr_policy, "constant, linear (decay to 0 over the last "
                    "--n_epochs_decay epochs), step (x0.1 every --lr_decay_iters steps), cosine")
flags.DEFINE_integer("n_epochs_decay", _D.n_epochs_decay, "--lr_policy linear: epochs of decay to 0")
flags.DEFINE_integer("lr_decay_iters", None, "--lr_policy step: steps between the x0.1 drops")
# --mode serve (pix2pix/serve.py; needs the serve extra: pip install ".[serve]").
flags.DEFINE_string("host", _D.host, "serve: address to listen on (0.0.0.0: every interface, with a warning)")
flags.DEFINE_integer("port", _D.port, "serve: TCP port (TF Serving's REST port; 0: any free port)")
flags.DEFINE_string("model_name", _D.model_name,
                    "serve: the model's name in /v1/models/NAME (default: --checkpoint's directory name)")
flags.DEFINE_integer("max_request_mb", _D.max_request_mb, "serve: larger request bodies are refused (413)")
flags.DEFINE_integer("max_queue", _D.max_queue,
                     "serve: requests that may wait for the one model worker; more are refused (503)")
flags.DEFINE_enum("update_order", _D.update_order, ["simultaneous", "sequential"],
                  "simultaneous: both gradients from one forward pass, D applied then G; sequential: D "
                  "applied first, then G's gradient through the updated D (one more D forward, as the "
                  "TF1 original's control dependency / the PyTorch port)")

FLAGS = flags.FLAGS


def options_from_flags() -> Options:
    """One Options record from the parsed flags (before mode-specific preparation)."""
    values = {f.name: FLAGS[f.name].value for f in dataclasses.fields(Options) if f.name in FLAGS}
    if FLAGS.no_flip:
        values["flip"] = False
    return Options(**values)


def _explicit_flags():
    return {name for name in FLAGS if FLAGS[name].present}


def run(options: Options) -> None:
    """Run the mode OPTIONS asks for."""
    if options.mode == "train":
        from pix2pix.modes.train import train
        model = train(prepare(options, _explicit_flags()))
        if model.stopped_by:  # saved and resumable, but not finished: say so in the status
            sys.exit(128 + signal.Signals[model.stopped_by].value)
    elif options.mode == "test":
        from pix2pix.modes.test import test
        test(prepare(options, _explicit_flags()))
    elif options.mode == "export":
        from pix2pix.inference.translator import export_mode
        export_mode(options, _explicit_flags())
    elif options.mode == "infer":
        from pix2pix.modes.infer import infer_mode
        infer_mode(options, _explicit_flags())
    elif options.mode == "import":
        from pix2pix.modes.importing import import_mode
        import_mode(options, _explicit_flags())
    elif options.mode == "score":
        from pix2pix.reporting.scoring import score_mode
        score_mode(options)
    elif options.mode == "serve":
        from pix2pix.serving.server import serve_mode
        serve_mode(options, _explicit_flags())


def main(argv):
    if len(argv) > 1:
        print(f"pix2pix: error: unexpected arguments: {' '.join(argv[1:])}", file=sys.stderr)
        sys.exit(2)
    logging.set_verbosity(logging.WARNING)  # keep TensorFlow's INFO lines out of the progress output
    try:
        run(options_from_flags())
    except Pix2PixError as err:
        print(f"pix2pix: error: {err}", file=sys.stderr)
        sys.exit(1)
    except OSError as err:  # disk full, permissions, ...: name the file, no traceback
        print(f"pix2pix: error: {err}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:  # before training started (or a second Ctrl-C): nothing to save
        print("pix2pix: interrupted", file=sys.stderr)
        sys.exit(130)


def entry_point():
    """Console script `pix2pix`."""
    flags.mark_flag_as_required("mode")
    flags.register_multi_flags_validator(  # every mode writes somewhere except serve
        ["mode", "output_dir"], lambda values: values["mode"] == "serve" or values["output_dir"] is not None,
        message="--output_dir is required (except with --mode serve)")
    app.run(main)
