"""--mode import."""

from pix2pix.modes.definition import Mode

MODE = Mode(
    name="import", order=5,
    purpose="a TF1 original checkpoint, a PyTorch .pth or a .pict file -> a training directory",
    example="pix2pix --mode import --checkpoint tf1_train_dir --output_dir run",
    needs={"checkpoint": "the TF1 training output directory or checkpoint prefix, a PyTorch pix2pix .pth "
                         "file or a .pict file", "output_dir": "the training directory to write"},
    run="pix2pix.modes.importing:run")
