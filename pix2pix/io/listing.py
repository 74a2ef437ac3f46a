"""Listing the image files of a folder: the project's one list of image extensions, the
reference's order, and every file left out named with the reason (no TensorFlow).

Every command (train, test, infer, serve's page, score, pix2pix-prep) takes the same files:
IMAGE_EXTENSIONS, in any case (a camera's IMG_0001.JPG as well as photo.jpeg). All of them decode
with OpenCV and Pillow here; TensorFlow decodes all but TIFF, which the training pipeline and
infer hand to OpenCV (pix2pix.data.pipeline, pix2pix.io.images.upright).

The order is the reference's: by the integer value of the base names when all are integers, else
by name. The reference took the *.jpg files of --input_dir, else its *.png files; here every image
file is taken, and where two share a base name (1.jpg and 1.png) the first in IMAGE_EXTENSIONS'
order is used (.jpg before .png, as the reference preferred) and the other left out, named. A folder
of only .jpg or only .png files gives exactly the reference's list.
"""

import dataclasses
import os
import sys
from typing import List, Sequence, Tuple

from pix2pix.errors import Pix2PixError

# The order is the preference when two files share a base name.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")


def has_image_extension(name: str) -> bool:
    """True if the file name ends in one of IMAGE_EXTENSIONS (any case)."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


@dataclasses.dataclass
class Listing:
    """The files of a folder a command takes, in order, and those it leaves out: (path, reason)."""

    paths: List[str]
    skipped: List[Tuple[str, str]]

    def skipped_lines(self, most: int = 20) -> str:
        """One indented line per skipped file (the first MOST, then how many more)."""
        lines = [f"  {path}: {why}" for path, why in self.skipped[:most]]
        if len(self.skipped) > most:
            lines.append(f"  ... and {len(self.skipped) - most} more")
        return "\n".join(lines)


def scan_folder(input_dir: str, extensions: Sequence[str] = IMAGE_EXTENSIONS, one_per_name: bool = True) -> Listing:
    """The files of INPUT_DIR (not its subfolders) whose names end in EXTENSIONS (lower case, any
    case on disk), in the reference's order, and every other file, named with the reason. Hidden
    files (a leading dot: .DS_Store, macOS "._" copies) are left out, named only when their
    extension is listed. ONE_PER_NAME: of files sharing a base name, only the first in EXTENSIONS'
    order (then by name) is taken."""
    extensions = tuple(extensions)
    wanted = " ".join(extensions)
    paths, skipped = [], []
    for name in sorted(os.listdir(input_dir)):
        path = os.path.join(input_dir, name)
        if not os.path.isfile(path):
            continue  # subfolders (train/, val/, test/) are not files of this folder
        extension = os.path.splitext(name)[1].lower()
        if name.startswith("."):
            if extension in extensions:
                skipped.append((path, "hidden file (its name starts with a dot)"))
        elif extension in extensions:
            paths.append(path)
        else:
            skipped.append((path, f"not one of {wanted} (any case)"))
    if one_per_name:
        paths, doubles = _one_per_name(paths, extensions)
        skipped = sorted(skipped + doubles)
    return Listing(paths=sort_image_paths(paths), skipped=skipped)


def _one_per_name(paths: List[str], extensions: Tuple[str, ...]):
    """(PATHS with one file per base name, [(path, reason)] for the others)."""
    def preference(path):
        extension = os.path.splitext(path)[1].lower()
        return extensions.index(extension) if extension in extensions else len(extensions), path

    chosen, skipped = {}, []
    for path in sorted(paths, key=preference):
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in chosen:
            skipped.append((path, f"same base name as {os.path.basename(chosen[stem])}, which is used instead "
                                  f"(preferred in the order {' '.join(extensions)}: the reference took .jpg "
                                  "before .png)"))
        else:
            chosen[stem] = path
    return list(chosen.values()), skipped


def report_skipped(listing: Listing, input_dir: str, stream=None, flag: str = "--input_dir") -> None:
    """Name every file LISTING leaves out, with the reason and the count, in one warning on STREAM
    (stderr by default); nothing when none is. FLAG names the folder's flag."""
    if listing.skipped:
        total = len(listing.paths) + len(listing.skipped)
        print(f"warning: {flag} {input_dir}: skipping {len(listing.skipped)} of its {total} files:\n"
              f"{listing.skipped_lines()}", file=stream if stream is not None else sys.stderr, flush=True)


def list_image_files(input_dir: str, extensions: Sequence[str] = IMAGE_EXTENSIONS, purpose: str = "",
                     noun: str = "images", one_per_name: bool = True, stream=None) -> List[str]:
    """The images of INPUT_DIR in the reference's order (scan_folder); the files left out are named
    on STREAM (report_skipped). PURPOSE ends the "is required" error (e.g. "for --mode infer"), NOUN
    names the files in the "contains no" error."""
    listing = scan_input_dir(input_dir, extensions, purpose, noun, one_per_name)
    report_skipped(listing, input_dir, stream)
    return listing.paths


def scan_input_dir(input_dir: str, extensions: Sequence[str] = IMAGE_EXTENSIONS, purpose: str = "",
                   noun: str = "images", one_per_name: bool = True) -> Listing:
    """scan_folder of --input_dir, after the errors for a missing folder or one with no such file."""
    if not input_dir:
        raise Pix2PixError(f"--input_dir: is required{' ' + purpose if purpose else ''}")
    if not os.path.isdir(input_dir):
        raise Pix2PixError(f"--input_dir: {input_dir} does not exist or is not a directory")
    listing = scan_folder(input_dir, extensions, one_per_name)
    if not listing.paths:
        raise Pix2PixError(f"--input_dir: {input_dir} contains no {noun} ({' '.join(extensions)}, any case)")
    return listing


def sort_image_paths(paths: List[str]) -> List[str]:
    """PATHS by the integer value of their base names when all are integers, else by name."""
    def stem(path):
        return os.path.splitext(os.path.basename(path))[0]

    if all(stem(p).isdigit() for p in paths):
        return sorted(paths, key=lambda p: (int(stem(p)), p))
    return sorted(paths)
