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
    export_mode(options), infer_mode(options), import_mode(options), serve_mode(options)
                                           the CLI's export, infer, import and serve modes (docs/export.md)
    ImageTranslator                        the exported SavedModel's root: any-size photos in, pictures out
    plots                                  plot_losses, plot_results (matplotlib, written atomically)
    loss_history                           read_loss_history, append_loss_history (a run's losses.csv)
    Pix2PixError                           raised for bad input; its message names the flag or file
    metrics                                image quality figures on 8-bit RGB (numpy only)

Names are imported on first use, so `from pix2pix import metrics` (or data_prep's import of
pix2pix.reporting.metrics) does not load TensorFlow.
"""

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "lab_to_rgb": "data.color", "rgb_to_lab": "data.color",
    "paired_dataset": "data.pipeline",
    "Pix2PixError": "errors",
    "test": "modes.test",
    "ImageTranslator": "inference.translator", "export_mode": "modes.export",
    "InferredImage": "modes.infer", "infer_mode": "modes.infer",
    "discriminator_loss": "models.losses", "generator_losses": "models.losses",
    "Pix2Pix": "models.pix2pix_model",
    "build_discriminator": "models.networks", "build_generator": "models.networks",
    "count_trainable_parameters": "models.networks",
    "Options": "options.record", "prepare_test_options": "modes.preparation",
    "prepare_train_options": "modes.preparation",
    "import_mode": "modes.importing",
    "serve_mode": "modes.serve",
    "train": "modes.train",
}
# public submodules: attribute name -> module
_SUBMODULES = {"plots": "reporting.plots", "loss_history": "reporting.loss_history", "metrics": "reporting.metrics"}

__all__ = sorted(_EXPORTS) + sorted(_SUBMODULES)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"pix2pix.{_EXPORTS[name]}"), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"pix2pix.{_SUBMODULES[name]}")
    else:
        raise AttributeError(f"module 'pix2pix' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__ + ["__version__"]
