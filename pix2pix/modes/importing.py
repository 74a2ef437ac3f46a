"""Import mode: turn a checkpoint of the TF1 reference, a PyTorch pix2pix .pth or a .pict file into one
this port trains, tests and exports. This module only chooses the importer by the file --checkpoint names:

    pix2pix --mode import --checkpoint TF1_DIR --output_dir OUT      (the reference's: import_tf1.py)
    pix2pix --mode import --checkpoint FILE.pth --output_dir OUT     (the PyTorch pix2pix's: import_pytorch.py)
    pix2pix --mode import --checkpoint FILE.pict --output_dir OUT    (the TF1 demo's generator: import_pict.py)

What they share (the options checked against the file, the training directory written) is in import_base.py.
"""

from pix2pix.io.pict import is_pict_file
from pix2pix.modes.import_pict import import_pict
from pix2pix.modes.import_pytorch import import_pytorch, is_pytorch_checkpoint
from pix2pix.modes.import_tf1 import import_tf1
from pix2pix.options.record import Options


def import_mode(options: Options, explicit_flag_names=None) -> str:
    """`--mode import`: read the checkpoint --checkpoint names, write a training directory; returns its
    checkpoint prefix."""
    if is_pytorch_checkpoint(options.checkpoint):  # a .pth/.pt file: the PyTorch pix2pix's weights
        return import_pytorch(options, explicit_flag_names)
    if is_pict_file(options.checkpoint):  # a .pict file: the TF1 demo's quantised generator
        return import_pict(options, explicit_flag_names)
    return import_tf1(options, explicit_flag_names)  # the reference's own checkpoint


def run(options: Options, explicit=None) -> int:
    import_mode(options, explicit)
    return 0
