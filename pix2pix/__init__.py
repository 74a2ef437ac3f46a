"""pix2pix for TensorFlow 2: a faithful port of the TF1 pix2pix onto tf.keras and tf.data.

The public API:

    build_generator(input_channels=3, output_channels=3, ngf=64, separable_conv=False, depth=8)
        the U-Net generator, [N, H, W, Ci] -> [N, H, W, Co], values in [-1, 1]
    build_discriminator(input_channels=3, target_channels=3, ndf=64)
        the 70x70 PatchGAN, model([inputs, targets]) -> [N, H/8-2, W/8-2, 1] probabilities
    discriminator_loss(predict_real, predict_fake), generator_losses(predict_fake, targets, outputs, ...)
    rgb_to_lab(srgb), lab_to_rgb(lab)      sRGB in [0, 1] <-> CIE Lab (D65), as TF ops
    Options                                every option of a run (the CLI's flags), with the reference's defaults
    paired_dataset(options, training)      the tf.data input pipeline for options.input_dir
    Pix2Pix(options)                       networks + optimisers + the GradientTape train step
    train(options), test(options)          the CLI's train and test modes as functions
    export_mode(options), infer_mode(options), import_mode(options)
                                           the CLI's export, infer and import modes (docs/export.md)
    ImageTranslator                        the exported SavedModel's root: any-size photos in, pictures out
    plots                                  plot_losses, plot_results (matplotlib, written atomically)
    Pix2PixError                           raised for bad input; its message names the flag or file
"""

from pix2pix.color import lab_to_rgb, rgb_to_lab
from pix2pix.data import paired_dataset
from pix2pix.errors import Pix2PixError
from pix2pix.evaluate import test
from pix2pix.export import ImageTranslator, export_mode
from pix2pix.infer import InferredImage, infer_mode
from pix2pix.losses import discriminator_loss, generator_losses
from pix2pix.model import Pix2Pix
from pix2pix.networks import build_discriminator, build_generator, count_trainable_parameters
from pix2pix.options import Options, prepare_test_options, prepare_train_options
from pix2pix.tf1_import import import_mode
from pix2pix.train import train
from pix2pix import plots

__version__ = "0.1.0"

__all__ = [
    "build_generator", "build_discriminator", "count_trainable_parameters",
    "discriminator_loss", "generator_losses", "rgb_to_lab", "lab_to_rgb",
    "Options", "prepare_train_options", "prepare_test_options", "paired_dataset",
    "Pix2Pix", "train", "test", "Pix2PixError", "export_mode", "infer_mode", "import_mode",
    "ImageTranslator", "InferredImage", "plots",
]
