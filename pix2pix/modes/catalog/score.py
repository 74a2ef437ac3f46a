"""--mode score."""

from pix2pix.modes.definition import Mode

MODE = Mode(
    name="score", order=6,
    purpose="the metrics of a folder of predictions against a folder of targets",
    example="pix2pix --mode score --input_dir predictions --target_dir truths --output_dir scores",
    needs={"input_dir": "the folder of predictions", "target_dir": "the folder of targets",
           "output_dir": "where metrics.csv, metrics.json and index.html go"},
    folders=("input_dir", "target_dir"),
    run="pix2pix.modes.score:run")
