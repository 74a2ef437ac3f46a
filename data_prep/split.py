"""Train / val / test assignment, and the ``split`` operation.

Rounding rule (shared by ``split`` and ``colorize --val_frac/--test_frac``):
every subset that has an explicit fraction gets floor(fraction x N) files,
and the remaining subset (val for ``split``, train for ``colorize``) gets
whatever is left. The floor is taken with a 1e-9 tolerance, so binary
floating point does not cost a file (0.29 x 100 is 29, not 28). This is the
reference ``tools/split.py`` rule (int() of the product, val takes the rest).

Which file goes where: the N file names are sorted; a list of labels
[train] x n_train + [val] x n_val + [test] x n_test is shuffled with
``random.Random(seed)`` (or left in that order with ``sort``) and the i-th
sorted name gets the i-th label. Same names + same seed = same assignment.
"""

import errno
import math
import os
import random
import time

from pix2pix.io import images as image_io
from pix2pix.io.listing import scan_folder
from data_prep.report import Reporter, Summary, UsageError

SUBSETS = ("train", "val", "test")
DEFAULT_SEED = 0

# Slack for floor(fraction * N) so that e.g. 0.29 * 100 = 28.999999999999996 counts as 29.
_ROUNDING_TOLERANCE = 1e-9


def check_fraction(flag, value):
    """Raise UsageError unless 0 <= value <= 1."""
    if not 0.0 <= value <= 1.0 or math.isnan(value):
        raise UsageError("--%s must be between 0 and 1, got %g" % (flag, value))


def subset_counts(total, fractions, remainder):
    """Number of files per subset.

    fractions: {subset: fraction} for the subsets with explicit fractions;
    ``remainder`` gets the rest. Fractions must sum to at most 1.
    """
    counts = {subset: 0 for subset in SUBSETS}
    for subset, fraction in fractions.items():
        counts[subset] = int(math.floor(fraction * total + _ROUNDING_TOLERANCE))
    counts[remainder] = total - sum(count for subset, count in counts.items() if subset != remainder)
    if counts[remainder] < 0:
        raise UsageError("fractions add up to more than 1")
    return counts


def assign_subsets(names, counts, seed=DEFAULT_SEED, shuffle=True):
    """{name: subset} for the sorted ``names`` (see module docstring)."""
    ordered_names = sorted(names)
    labels = []
    for subset in SUBSETS:
        labels.extend([subset] * counts[subset])
    if len(labels) != len(ordered_names):
        raise ValueError("counts add up to %d, not %d" % (len(labels), len(ordered_names)))
    if shuffle:
        random.Random(seed).shuffle(labels)
    return dict(zip(ordered_names, labels))


def scan_images(directory):
    """(sorted names of the image files directly inside ``directory``, [(path, reason)] of the other
    files): pix2pix.io.listing's one list of extensions, any case. Subdirectories are not entered,
    and hidden files (names starting with a dot: temporary files, macOS "._" files) are ignored
    (named among the others when their extension is an image's)."""
    listing = scan_folder(directory, one_per_name=False)
    return sorted(os.path.basename(path) for path in listing.paths), listing.skipped


def list_images(directory):
    """Sorted names of the image files directly inside ``directory`` (scan_images)."""
    return scan_images(directory)[0]


def _move_file(source, destination):
    """Rename, falling back to copy + delete across file systems."""
    try:
        os.replace(source, destination)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        image_io.copy_file_atomically(source, destination)
        os.unlink(source)


def split_directory(input_dir, output_dir=None, train_frac=0.8, test_frac=0.0, seed=DEFAULT_SEED,
                    sort=False, copy=False, overwrite=False, reporter=None):
    """Distribute the images of ``input_dir`` into train/, val/ and test/.

    The subset folders are created in ``output_dir`` (default: ``input_dir``
    itself, like the reference). Files are moved unless ``copy``. A file whose
    destination already exists is skipped (left in place) unless
    ``overwrite``. Returns a Summary.

    (Its keyword arguments are the split operation's flags, one each, so the Python API reads as
    the command line does.)
    """
    check_fraction("train_frac", train_frac)
    check_fraction("test_frac", test_frac)
    if train_frac + test_frac > 1.0 + _ROUNDING_TOLERANCE:
        raise UsageError("--train_frac + --test_frac must be at most 1, got %g" % (train_frac + test_frac))
    if not os.path.isdir(input_dir):
        raise UsageError("--input_dir: not a directory: %s" % input_dir)
    output_dir = input_dir if output_dir is None else output_dir
    reporter = reporter or Reporter()
    summary = Summary("split", verb="copied" if copy else "moved")
    started = time.monotonic()

    names = list_images(input_dir)
    counts = subset_counts(len(names), {"train": train_frac, "test": test_frac}, remainder="val")
    assignment = assign_subsets(names, counts, seed=seed, shuffle=not sort)
    for subset in SUBSETS:
        if counts[subset]:
            os.makedirs(os.path.join(output_dir, subset), exist_ok=True)

    reporter.start(len(names))
    for name in names:
        source = os.path.join(input_dir, name)
        destination = os.path.join(output_dir, assignment[name], name)
        try:
            if os.path.exists(destination) and not overwrite:
                summary.skipped += 1
            else:
                if copy:
                    image_io.copy_file_atomically(source, destination)
                else:
                    _move_file(source, destination)
                summary.written += 1
                summary.files_written += 1
        except OSError as error:
            reason = "cannot %s to %s: %s" % ("copy" if copy else "move", destination, error.strerror or error)
            summary.failed += 1
            summary.failures.append((source, reason))
            reporter.file_failed(source, reason)
        reporter.advance()
    reporter.finish()
    summary.seconds = time.monotonic() - started
    return summary
