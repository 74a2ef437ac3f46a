"""Validation in one place: `Options.validate` checks each value against the bounds and choices its field
declares, the flags that must agree, and every name table a flag chooses from (options/registry.py)."""

import dataclasses
import math
import re
import subprocess
import sys

import pytest

from pix2pix.errors import UsageError
from pix2pix.modes.preparation import NAME_TABLES
from pix2pix.options.record import Options, check_values, fields, with_task_aliases
from pix2pix.options.registry import REGISTRIES

from helpers import REPO

BOUNDED = [field for field in fields() if field.metadata["bounds"]]


def _outside(bounds, value_type):
    """A value just outside BOUNDS, of VALUE_TYPE."""
    if bounds.power_of_two:
        return bounds.low * 3 // 2
    if math.isfinite(bounds.low):
        return bounds.low if bounds.low_open else bounds.low - 1
    if math.isfinite(bounds.high):
        return bounds.high if bounds.high_open else bounds.high + 1
    return value_type("nan")


def test_every_count_size_rate_and_timeout_declares_its_bounds():
    names = {field.name for field in BOUNDED}
    assert {"batch_size", "ngf", "crop_size", "lr", "beta1", "port", "max_steps", "n_layers_D", "render_size",
            "temporal_smoothing", "scene_cut", "header_timeout", "l1_weight"} <= names


@pytest.mark.parametrize("field", BOUNDED, ids=[field.name for field in BOUNDED])
def test_a_value_outside_the_declared_bounds_is_refused_naming_the_flag(field):
    value_type = float if isinstance(field.default, float) else int
    value = _outside(field.metadata["bounds"], value_type)
    options = dataclasses.replace(Options(output_dir="out"), **{field.name: value})
    with pytest.raises(UsageError, match=rf"^--{field.name}: must be {re.escape(field.metadata['bounds'].says)}, "
                                         rf"got {re.escape(str(value))}$"):
        options.validate()
    check_values(dataclasses.replace(options, **{field.name: field.default}))  # its default is inside


def test_a_name_no_table_holds_is_refused_by_options_validate():
    for flag, value in (("netG", "no_such_net"), ("netD", "huge"), ("gan_mode", "hinge"), ("norm", "group"),
                        ("lr_policy", "plateau"), ("task", "nope")):
        with pytest.raises(UsageError, match=f"^--{flag}: must be one of .*, got '{value}'$"):
            Options(output_dir="out", **{flag: value}).validate()


def test_every_name_table_is_listed_by_its_flag_and_loaded_by_preparation():
    assert sorted(REGISTRIES) == sorted(("task", "netG", "netD", "gan_mode", "norm", "lr_policy"))
    assert set(REGISTRIES.values()) == set(NAME_TABLES)


def test_a_fresh_options_record_holds_no_tensorflow_and_the_tables_arrive_with_their_modules():
    """The options floor lists the tables without importing them; preparing a mode loads them all."""
    code = ("import sys; from pix2pix.options.record import Options; from pix2pix.options.registry import "
            "REGISTRIES; Options(output_dir='o').validate(); assert 'tensorflow' not in sys.modules; "
            "print(sorted(REGISTRIES)); import pix2pix.modes.preparation; print(sorted(REGISTRIES))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "['gan_mode', 'lr_policy', 'netD', 'netG', 'norm', 'task']"]


def test_the_reference_flags_are_spelled_as_task_by_validate_and_the_record_never_changes():
    options = Options(output_dir="out", lab_colorization=True)
    assert options.task == "pairs"  # as given: no alias written into the record behind one's back
    validated = options.validate()
    assert (validated.task, validated.lab_colorization) == ("lab", True) and options.task == "pairs"
    assert with_task_aliases(Options(task="rgb")).rgb_colorization
    # a replaced field stays as replaced (once a record rewrote it from the other one)
    assert dataclasses.replace(validated, task="pairs", lab_colorization=False).task == "pairs"
    with pytest.raises(UsageError, match="^--rgb_colorization: cannot be combined with --lab_colorization"):
        Options(output_dir="out", task="rgb", lab_colorization=True).validate()
