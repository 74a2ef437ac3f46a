"""data_prep: turn a folder of photos into pix2pix A|B training sets.

Command line: ``python -m data_prep --operation OP --input_dir IN --output_dir OUT``
(see docs/data_prep.md). The same work from Python::

    import data_prep
    summary = data_prep.process_directory(
        "colorize", "photos", "datasets/colorize",
        data_prep.Options(size=256, val_frac=0.1), workers=2)
    print(summary.line())

Images are numpy arrays: RGB, uint8, shape (height, width, 3).

Directory operations
    process_directory(operation, input_dir, output_dir, options, workers)
        operation in IMAGE_OPERATIONS: grayscale, resize, blank, combine, edges, colorize, filter_grey
    split_directory(input_dir, output_dir=None, train_frac, test_frac, seed, sort, copy)
    write_samples(output_dir)          (needs scikit-image)
    download_dataset(name, output_dir, url=None, force=False)   one of DATASETS; DownloadError
    Options, Summary, UsageError
Single images
    read_image, write_image, ImageError
    to_grayscale, resize_square, blank_center, combine_ab, colorize_pair,
    random_square_crops, crop_rng, detect_edges
    colour_figures (colourfulness and hue spread: what filter_grey judges)
"""

from data_prep.colour_filter import colour_figures
from data_prep.download import DATASETS, DownloadError, download_dataset
from data_prep.edges import detect_edges
from pix2pix.io.images import ImageError, read_image, write_image
from pix2pix.io.listing import IMAGE_EXTENSIONS as SUPPORTED_EXTENSIONS  # the project's one list
from data_prep.ops import (blank_center, colorize_pair, combine_ab, crop_rng, random_square_crops, resize_square,
                           to_grayscale)
from data_prep.report import Summary, UsageError
from data_prep.runner import IMAGE_OPERATIONS, Options, process_directory
from data_prep.samples import write_samples
from data_prep.split import split_directory

__all__ = [
    "DATASETS", "IMAGE_OPERATIONS", "SUPPORTED_EXTENSIONS", "DownloadError", "ImageError", "Options", "Summary",
    "UsageError", "blank_center", "colorize_pair", "colour_figures", "combine_ab", "crop_rng", "detect_edges",
    "download_dataset", "process_directory",
    "random_square_crops", "read_image", "resize_square", "split_directory", "to_grayscale",
    "write_image", "write_samples",
]
