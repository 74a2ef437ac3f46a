"""--mode train."""

from pix2pix.modes.definition import Mode
from pix2pix.options.record import check_budget

MODE = Mode(
    name="train", order=1,
    purpose="train a model on A|B pairs (or single photos: --lab_colorization)",
    example="pix2pix --mode train --input_dir facades/train --output_dir run --which_direction BtoA --max_epochs 200",
    needs={"input_dir": "the folder of training images", "output_dir": "where the checkpoints go"},
    folders=("input_dir",),
    check=check_budget,
    run="pix2pix.modes.train:run")
