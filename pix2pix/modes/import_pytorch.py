"""Import mode for PyTorch: a generator saved by the PyTorch pix2pix (its published models, or
a training run's latest_net_G.pth) becomes a training directory of this port, without PyTorch.

    pix2pix --mode import --checkpoint FILE.pth --output_dir OUT [--bn_statistics running]

FILE.pth is torch.save of the generator's state_dict (either of torch.save's layouts; read by
pix2pix.io.torch_pickle, which runs nothing from the file). What network it holds (--netG
unet_pytorch, resnet_9blocks or resnet_6blocks; ngf; U-Net depth, hence --crop_size; norm;
the ResNet's dropout) is read off its keys and shapes; a flag given on the command line with
another value is an error. Channels must match --task and --which_direction (3 -> 3 for the
default task).

The discriminator: when FILE is named PREFIX_net_G.pth (what PyTorch training writes), the
PREFIX_net_D.pth beside it is imported too (PatchGAN: --netD basic or n_layers, ndf, whether it
is conditional), so training resumed from OUT fine-tunes both networks. Otherwise the
discriminator starts from the usual random initialisation (the published models hold only the
generator); resumed training then begins a fresh discriminator. Adam starts afresh, at step 0.

OUT receives a checkpoint and options.json, staged and renamed into place as the TF1 import
does; test, export, infer and serve use it as any training directory. With --bn_statistics
running the batch norms use PyTorch's imported running statistics whenever the generator runs
with dropout off (--deterministic: PyTorch's test.py --eval); by default they use the batch's
statistics (PyTorch's test.py without --eval, and the TF1 original).
"""

import dataclasses
import os
import re

from pix2pix.errors import Pix2PixError
from pix2pix.io.torch_pickle import read_state_dict
from pix2pix.models import pytorch_weights
from pix2pix.models.pix2pix_model import Pix2Pix
from pix2pix.modes.import_base import check_imported_channels, set_from_file, write_checkpoint
from pix2pix.modes.preparation import flags_given, prepare
from pix2pix.options.record import Options
from pix2pix.options.stored import OPTIONS_FILE

PYTORCH_SUFFIXES = (".pth", ".pt")
_GENERATOR_FILE = re.compile(r"^(.*)net_G(\.pth?)$")


def is_pytorch_checkpoint(path) -> bool:
    """True when --checkpoint names a PyTorch file (a .pth or .pt file) rather than a TF1
    checkpoint directory or prefix: the dispatch rule of --mode import."""
    return bool(path) and os.path.isfile(path) and path.lower().endswith(PYTORCH_SUFFIXES)


def discriminator_file(generator_path: str):
    """PREFIX_net_D.pth beside PREFIX_net_G.pth if it exists, else None."""
    match = _GENERATOR_FILE.match(os.path.basename(generator_path))
    if not match:
        return None
    path = os.path.join(os.path.dirname(generator_path), f"{match.group(1)}net_D{match.group(2)}")
    return path if os.path.isfile(path) else None


def model_options(options: Options, given, generator, generator_path, discriminator=None,
                  discriminator_path=None) -> Options:
    """OPTIONS describing the networks the files hold (GeneratorFacts, DiscriminatorFacts)."""
    values = {"netG": generator.netG, "ngf": generator.ngf, "norm": generator.norm}
    if generator.depth:
        values["crop_size"] = 2 ** generator.depth
    if generator.dropout is not None:
        values["no_dropout"] = not generator.dropout
    options = set_from_file(options, given, generator_path, **values)
    if discriminator is None:
        return options
    if discriminator.norm != generator.norm:
        raise Pix2PixError(f"--norm: {discriminator_path} uses {discriminator.norm} norm but "
                           f"{generator_path} uses {generator.norm}; this port has one --norm")
    inputs, outputs = generator.input_channels, generator.output_channels
    if discriminator.input_channels not in (inputs + outputs, outputs):
        raise Pix2PixError(f"{discriminator_path}: its discriminator sees {discriminator.input_channels} "
                           f"channels; the generator's {inputs} -> {outputs} needs "
                           f"{inputs + outputs} (conditional) or {outputs}")
    basic = discriminator.n_layers == 3
    return set_from_file(options, given, discriminator_path, ndf=discriminator.ndf,
                netD="basic" if basic else "n_layers",
                n_layers_D=None if basic else discriminator.n_layers,
                condition_GAN=discriminator.input_channels == inputs + outputs)


def _read(path, describe):
    state = pytorch_weights.clean_keys(read_state_dict(path))
    return state, describe(state, path)


def import_pytorch(options: Options, explicit=None) -> str:
    """`--mode import` of a PyTorch .pth: write the training directory; returns its checkpoint prefix."""
    path = options.checkpoint
    if not is_pytorch_checkpoint(path):
        raise Pix2PixError(f"--checkpoint: {path} is not a PyTorch .pth or .pt file")
    given = flags_given(options, explicit)
    g_state, g_facts = _read(path, pytorch_weights.describe_generator)
    d_path = discriminator_file(path)
    d_state, d_facts = _read(d_path, pytorch_weights.describe_discriminator) if d_path else (None, None)
    options = model_options(options, given, g_facts, path, d_facts, d_path)
    options = prepare(dataclasses.replace(options, mode="import"), explicit)
    check_imported_channels(options, path, g_facts.input_channels, g_facts.output_channels)

    model = Pix2Pix(options)
    pytorch_weights.load_generator(model.generator, g_state, path)
    if d_state is not None:
        pytorch_weights.load_discriminator(model.discriminator, d_state, d_path)
    prefix = write_checkpoint(model, options, options.output_dir, step=0)
    discriminator = (f"discriminator from {d_path} ({d_facts})" if d_path else
                     "no discriminator file beside it: the discriminator starts from random weights")
    print(f"imported {path}: {g_facts}; {discriminator}; bn_statistics {options.bn_statistics}\n"
          f"wrote {prefix} and {os.path.join(options.output_dir, OPTIONS_FILE)}", flush=True)
    return prefix

