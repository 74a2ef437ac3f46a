"""--mode test."""

from pix2pix.modes.definition import Mode

MODE = Mode(
    name="test", order=2,
    purpose="run a trained model over a set once: images, metrics, index.html",
    example="pix2pix --mode test --input_dir facades/val --output_dir results --checkpoint run",
    needs={"checkpoint": "the training output directory to use", "input_dir": "the folder of test pairs",
           "output_dir": "where the results go"},
    folders=("input_dir",),
    run="pix2pix.modes.test:run")
