"""Write tests/fixtures/pytorch/: small networks of the PyTorch pix2pix, saved with torch.save in
both of its layouts, with inputs and the outputs PyTorch computes for them.

tests/test_pytorch_import.py checks that this port, without PyTorch, reads those files and
computes the same outputs. Run this script only to remake the fixtures; it needs

- PyTorch and NumPy, best in a virtual environment of their own outside the project
  (python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch numpy);
- models/networks.py of the PyTorch repository junyanz/pytorch-CycleGAN-and-pix2pix, saved as
  networks.py in a directory given by --networks_dir (it is not part of this project).

    /tmp/torchenv/bin/python tests/scripts/make_pytorch_fixtures.py --networks_dir DIR

The networks (sizes chosen to keep the fixtures under 1 MB):
- unet: UnetGenerator unet_256 (8 levels), ngf 2, batch norm, dropout modules, 3 -> 3, one
  256x256 picture; outputs in train mode with the Dropout modules switched off (batch
  statistics: PyTorch's test.py without --eval) and in eval mode (running statistics, set
  first by three train-mode passes: --eval). Only two 32x32 windows of each output are
  stored (a corner, for the padding, and the centre); all of them depend on every weight.
- resnet: ResnetGenerator resnet_6blocks, ngf 4, instance norm, dropout modules, 32x32 input;
  train mode with dropout off (its instance norm keeps running statistics in this
  networks.py, which the port must skip).
- discriminator: NLayerDiscriminator basic (n_layers 3), ndf 4, batch norm, 6 input channels,
  32x32; train and eval outputs, plus its state before the three train-mode passes and their
  inputs, so the port's running-statistics update can be checked against PyTorch's.
Each network's state_dict is saved as NAME_zip.pth (torch.save's default layout) and
NAME_legacy.pth (_use_new_zipfile_serialization=False, the layout of older PyTorch).
"""

import argparse
import functools
import os
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "pytorch")
WINDOWS = ((0, 0), (112, 112))  # top-left corners of the stored 32x32 output windows
WINDOW = 32


def randomise(net, generator):
    """Weights N(0, 0.02) as the repository initialises them, then norms and biases away from
    their trivial initial values so every parameter shows in the outputs."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            module.weight.data.normal_(0.0, 0.02, generator=generator)
            if module.bias is not None:
                module.bias.data.normal_(0.0, 0.1, generator=generator)
        elif isinstance(module, nn.BatchNorm2d):
            module.weight.data.uniform_(0.5, 1.5, generator=generator)
            module.bias.data.normal_(0.0, 0.2, generator=generator)


def dropout_off(net):
    """Train mode (batch statistics) with every Dropout module made the identity."""
    net.train()
    for module in net.modules():
        if isinstance(module, nn.Dropout):
            module.eval()


def blocky_picture(height, width, channels, seed, block=8):
    """A uint8 picture of random BLOCKxBLOCK squares (it compresses to little): inputs as
    the data pipeline makes them, x / 127.5 - 1."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // block, width // block, channels), dtype=np.uint8)
    return small.repeat(block, 0).repeat(block, 1)  # [H, W, C]


def to_torch(pictures):
    """[N, H, W, C] uint8 -> [N, C, H, W] float in [-1, 1]."""
    return torch.from_numpy(pictures.astype(np.float32) / 127.5 - 1.0).permute(0, 3, 1, 2).contiguous()


def to_numpy(tensor):
    """[N, C, H, W] -> [N, H, W, C] float32."""
    return tensor.detach().permute(0, 2, 3, 1).contiguous().numpy().astype(np.float32)


def windows(images):
    return np.stack([images[:, y:y + WINDOW, x:x + WINDOW, :] for y, x in WINDOWS], 0)


def save_state(net, name):
    state = net.state_dict()
    torch.save(state, os.path.join(OUT, f"{name}_zip.pth"))
    torch.save(state, os.path.join(OUT, f"{name}_legacy.pth"), _use_new_zipfile_serialization=False)


def warm_up(net, inputs_list):
    """Three train-mode passes: running statistics away from (0, 1)."""
    dropout_off(net)
    with torch.no_grad():
        for inputs in inputs_list:
            net(inputs)


def train_and_eval_outputs(net, pictures):
    """PyTorch's outputs for uint8 PICTURES: train mode with dropout off (batch statistics;
    the running ones move once more), then eval mode (running statistics)."""
    with torch.no_grad():
        dropout_off(net)
        train = to_numpy(net(to_torch(pictures)))
        net.eval()
        return train, to_numpy(net(to_torch(pictures)))


def make_unet(networks, generator):
    norm = functools.partial(nn.BatchNorm2d, affine=True)
    net = networks.UnetGenerator(3, 3, 8, 2, norm_layer=norm, use_dropout=True)
    randomise(net, generator)
    warm_up(net, [to_torch(blocky_picture(256, 256, 3, seed)[None]) for seed in (11, 12, 13)])
    picture = blocky_picture(256, 256, 3, 1)[None]
    train, running = train_and_eval_outputs(net, picture)
    save_state(net, "unet")
    np.savez_compressed(os.path.join(OUT, "unet_io.npz"), inputs=picture,
                        train_windows=windows(train), eval_windows=windows(running),
                        window_corners=np.array(WINDOWS), window=WINDOW,
                        parameters=sum(p.numel() for p in net.parameters()))


def make_resnet(networks, generator):
    norm = functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=True)
    net = networks.ResnetGenerator(3, 3, 4, norm_layer=norm, use_dropout=True, n_blocks=6)
    randomise(net, generator)
    warm_up(net, [to_torch(blocky_picture(32, 32, 3, seed, 4)[None]) for seed in (21, 22)])
    pictures = np.stack([blocky_picture(32, 32, 3, 2, 4), blocky_picture(32, 32, 3, 3, 4)])
    train, _ = train_and_eval_outputs(net, pictures)  # eval: its instance norm's running stats
    save_state(net, "resnet")
    np.savez_compressed(os.path.join(OUT, "resnet_io.npz"), inputs=pictures, train=train,
                        parameters=sum(p.numel() for p in net.parameters()))


def make_discriminator(networks, generator):
    norm = functools.partial(nn.BatchNorm2d, affine=True)
    net = networks.NLayerDiscriminator(6, 4, n_layers=3, norm_layer=norm)
    randomise(net, generator)
    before = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    passes = np.stack([blocky_picture(32, 32, 6, seed, 4) for seed in (31, 32, 33)])[:, None]
    warm_up(net, [to_torch(p) for p in passes])
    pictures = np.stack([blocky_picture(32, 32, 6, 4, 4), blocky_picture(32, 32, 6, 5, 4)])
    train, running = train_and_eval_outputs(net, pictures)
    save_state(net, "discriminator")
    np.savez_compressed(
        os.path.join(OUT, "discriminator_io.npz"), inputs=pictures, train=train, eval=running,
        warm_up_inputs=passes, parameters=sum(p.numel() for p in net.parameters()),
        **{"before." + k: v.numpy() for k, v in before.items()})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks_dir", required=True,
                        help="directory holding the PyTorch repository's models/networks.py")
    args = parser.parse_args()
    sys.path.insert(0, os.path.abspath(args.networks_dir))
    import networks  # the PyTorch repository's module

    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    make_unet(networks, generator)
    make_resnet(networks, generator)
    make_discriminator(networks, generator)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total / 1e6:.2f} MB, to {os.path.normpath(OUT)}")


if __name__ == "__main__":
    main()
