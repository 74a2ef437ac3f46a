"""--mode infer."""

from pix2pix.modes.definition import Mode

MODE = Mode(
    name="infer", order=4, deterministic=True,
    purpose="translate a folder of photos and videos (a training directory or an export)",
    example="pix2pix --mode infer --checkpoint exported --input_dir my_photos --output_dir colorized",
    needs={"checkpoint": "a training output directory or a SavedModel written by --mode export",
           "input_dir": "the folder of photos and videos", "output_dir": "where the results go"},
    folders=("input_dir",),
    run="pix2pix.modes.infer:run")
