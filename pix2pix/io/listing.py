"""Listing the image files of a folder in the reference's order (no TensorFlow).

The reference takes the *.jpg files of --input_dir, else its *.png files, and sorts them by
the integer value of their base names when all are integers, else by name.
"""

import glob
import os
from typing import List

from pix2pix.errors import Pix2PixError


def list_image_files(input_dir: str, extensions=None, purpose: str = "", noun: str = "images") -> List[str]:
    """The images of INPUT_DIR in the reference's order; the project's one image lister.

    Without EXTENSIONS, the reference's rule: the *.jpg files, else the *.png files. With
    EXTENSIONS (lower case, e.g. (".jpg", ".png")), every non-hidden file whose name ends in
    one of them, in any case. Sorted by the integer value of the base names when all are
    integers, else by name. PURPOSE ends the "is required" error (e.g. "for --mode infer"),
    NOUN names the files in the "contains no" error.
    """
    if not input_dir:
        raise Pix2PixError(f"--input_dir: is required{' ' + purpose if purpose else ''}")
    if not os.path.isdir(input_dir):
        raise Pix2PixError(f"--input_dir: {input_dir} does not exist or is not a directory")
    if extensions is None:
        paths = glob.glob(os.path.join(glob.escape(input_dir), "*.jpg"))
        if not paths:
            paths = glob.glob(os.path.join(glob.escape(input_dir), "*.png"))
        wanted = ".jpg or .png images"
    else:
        paths = [os.path.join(input_dir, name) for name in os.listdir(input_dir)
                 if not name.startswith(".") and name.lower().endswith(tuple(extensions))
                 and os.path.isfile(os.path.join(input_dir, name))]
        wanted = f"{noun} ({' '.join(extensions)})"
    if not paths:
        raise Pix2PixError(f"--input_dir: {input_dir} contains no {wanted}")
    return sort_image_paths(paths)


def sort_image_paths(paths: List[str]) -> List[str]:
    """PATHS by the integer value of their base names when all are integers, else by name."""
    def stem(path):
        return os.path.splitext(os.path.basename(path))[0]

    if all(stem(p).isdigit() for p in paths):
        return sorted(paths, key=lambda p: (int(stem(p)), p))
    return sorted(paths)
