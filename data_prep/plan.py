"""Planning a run in the parent process: which file produces which output(s), which outputs
already exist, name clashes, missing combine partners, train/val/test assignment."""

import dataclasses
import os
from typing import Optional, Tuple

from data_prep import split
from data_prep.report import UsageError

# Preferred extensions when several files in --b_dir share a base name.
_SIBLING_PREFERENCE = (".png", ".jpg", ".jpeg")


@dataclasses.dataclass(frozen=True)
class Task:
    """One input file and the output file(s) it produces."""

    source: str                      # input path (input_dir as given + file name); also names it in messages
    outputs: Tuple[str, ...]         # final output paths
    sibling: Optional[str] = None    # combine: path of the B image


@dataclasses.dataclass(frozen=True)
class Outcome:
    """Result of one Task: number of files written, or the reason it failed."""

    label: str
    files_written: int = 0
    error: Optional[str] = None
    left_out: Optional[str] = None   # why a grey or toned photo was left out (colour filter)


def _same_directory(first, second):
    return os.path.realpath(first) == os.path.realpath(second)


def check_directories(operation, input_dir, output_dir, options):
    """Raise UsageError for missing input folders or an output that would touch inputs."""
    if not input_dir:
        raise UsageError("--input_dir is required for --operation %s" % operation)
    if not output_dir:
        raise UsageError("--output_dir is required for --operation %s" % operation)
    if not os.path.isdir(input_dir):
        raise UsageError("--input_dir: not a directory: %s" % input_dir)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise UsageError("--output_dir: exists and is not a directory: %s" % output_dir)
    if _same_directory(input_dir, output_dir):
        raise UsageError("--output_dir must differ from --input_dir (inputs are never modified)")
    if operation == "combine":
        if not options.b_dir:
            raise UsageError("--operation combine needs --b_dir (the folder of B images)")
        if not os.path.isdir(options.b_dir):
            raise UsageError("--b_dir: not a directory: %s" % options.b_dir)
        if _same_directory(options.b_dir, output_dir):
            raise UsageError("--output_dir must differ from --b_dir (inputs are never modified)")
    elif options.b_dir:
        raise UsageError("--b_dir only applies to --operation combine")


def _sibling_index(b_dir):
    """{base name: file name} of the images in b_dir, preferring .png, then .jpg, .jpeg."""
    def preference(name):
        extension = os.path.splitext(name)[1].lower()
        rank = _SIBLING_PREFERENCE.index(extension) if extension in _SIBLING_PREFERENCE else len(_SIBLING_PREFERENCE)
        return rank, name

    index = {}
    for name in sorted(split.list_images(b_dir), key=preference):
        index.setdefault(os.path.splitext(name)[0], name)
    return index


def _output_names(name, options, operation):
    base = os.path.splitext(name)[0]
    if operation == "filter_grey":
        return [name]  # a byte-for-byte copy keeps its name and format
    extension = "." + options.image_format
    if operation == "colorize" and options.val_region:
        # train/NAME_cK crops of the kept part, then val/NAME_vK of the held-out end
        kept, held_out = options.region_counts
        return ([os.path.join("train", "%s_c%d%s" % (base, index, extension)) for index in range(kept)]
                + [os.path.join("val", "%s_v%d%s" % (base, index, extension)) for index in range(held_out)])
    if operation == "colorize" and options.crops_per_image:
        return ["%s_c%d%s" % (base, index, extension) for index in range(options.crops_per_image)]
    return [base + extension]


def _colorize_assignment(names, options):
    """{name: subset} when colorize splits its output by photo, else None."""
    if not options.splits_output or options.val_region:
        return None
    counts = split.subset_counts(len(names), {"val": options.val_frac, "test": options.test_frac},
                                 remainder="train")
    return split.assign_subsets(names, counts, seed=options.seed)


@dataclasses.dataclass
class Plan:
    """The work of a run: tasks to execute, failures found up front, skip count."""

    tasks: list = dataclasses.field(default_factory=list)
    failures: list = dataclasses.field(default_factory=list)  # (label, reason) found while planning
    skipped: int = 0
    not_images: list = dataclasses.field(default_factory=list)  # (path, reason): files that are no image
    directories: list = dataclasses.field(default_factory=list)  # output folders to create


class _Planner:
    """Turns the file names of input_dir into Tasks, failures and skips."""

    def __init__(self, operation, input_dir, output_dir, options, names):
        self.operation = operation
        self.input_dir = input_dir
        self.output_dir = output_dir
        self.options = options
        self.assignment = _colorize_assignment(names, options) if operation == "colorize" else None
        self.siblings = _sibling_index(options.b_dir) if operation == "combine" else None
        self.first_with_base = {}

    def output_dirs(self):
        if self.operation == "colorize" and self.options.val_region:
            return [os.path.join(self.output_dir, subset) for subset in ("train", "val")]
        if not self.assignment:
            return [self.output_dir]
        used = set(self.assignment.values())
        return [os.path.join(self.output_dir, subset) for subset in split.SUBSETS if subset in used]

    def plan_file(self, name, plan):
        """Add ``name``'s task, failure or skip to ``plan``."""
        label = os.path.join(self.input_dir, name)
        base = os.path.splitext(name)[0]
        if base in self.first_with_base and self.operation != "filter_grey":
            plan.failures.append((label, "same base name as %s, so it would overwrite its output; "
                                         "rename one of them" % self.first_with_base[base]))
            return
        self.first_with_base[base] = label
        subset = self.assignment[name] if self.assignment else None
        target_dir = os.path.join(self.output_dir, subset) if subset else self.output_dir
        outputs = tuple(os.path.join(target_dir, output)
                        for output in _output_names(name, self.options, self.operation))
        sibling = None
        if self.siblings is not None:
            if base not in self.siblings:
                plan.failures.append((label, "no B image named %s.* in %s" % (base, self.options.b_dir)))
                return
            sibling = os.path.join(self.options.b_dir, self.siblings[base])
        stale = subset and _output_in_other_subset(self.output_dir, subset, outputs[0])
        if stale:
            plan.failures.append((label, "an earlier run put its output in %s, but it now belongs to %s "
                                         "(different files or --seed); use a fresh --output_dir" % (stale, subset)))
            return
        if not self.options.overwrite and all(os.path.exists(output) for output in outputs):
            plan.skipped += 1
            return
        plan.tasks.append(Task(source=label, outputs=outputs, sibling=sibling))


def plan_work(operation, input_dir, output_dir, options):
    """Decide what each input file produces (see the module docstring); returns a Plan."""
    names, not_images = split.scan_images(input_dir)
    planner = _Planner(operation, input_dir, output_dir, options, names)
    plan = Plan(directories=planner.output_dirs(), not_images=not_images)
    for name in names:
        planner.plan_file(name, plan)
    return plan


def _output_in_other_subset(output_dir, subset, output):
    """Path of ``output``'s name in another subset folder, if a previous run wrote it there."""
    for other in split.SUBSETS:
        if other != subset:
            candidate = os.path.join(output_dir, other, os.path.basename(output))
            if os.path.exists(candidate):
                return candidate
    return None
