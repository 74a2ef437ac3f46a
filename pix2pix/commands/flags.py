"""The `pix2pix` command's absl flags, generated from the Options fields and their metadata.

A new option is written once, as a field of options.record.Options; its flag (name, type,
default, help) follows from the field. Fixed choices are checked by Options itself, so every
bad value gets the same one-line error. Two aliases: `--no_flip` (the reference's `--flip` is a
boolean, so `--noflip` exists anyway; `--no_flip` is what people type) and `--load_size`, the
PyTorch pix2pix's name for `--scale_size` (giving both with different values is an error).
"""

import typing

from absl import flags

from pix2pix.errors import UsageError
from pix2pix.options.record import Options, fields

FLAGS = flags.FLAGS
# alias flag -> its field: --no_flip sets flip to False, --load_size sets scale_size to its value
ALIASES = {"no_flip": "flip", "load_size": "scale_size"}


def _base_type(annotation):
    """int for Optional[int], and so on."""
    arguments = [a for a in typing.get_args(annotation) if a is not type(None)]
    return arguments[0] if typing.get_origin(annotation) is typing.Union else annotation


_DEFINE = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float,
           str: flags.DEFINE_string}


def define_flags(flag_values=FLAGS) -> None:
    """One absl flag per Options field (once per process)."""
    if "mode" in flag_values:
        return
    hints = typing.get_type_hints(Options)
    for field in fields():
        default = None if field.name == "mode" else field.default  # --mode must be given
        _DEFINE[_base_type(hints[field.name])](field.name, default, field.metadata["help"],
                                               flag_values=flag_values)
    flags.DEFINE_bool("no_flip", False, "don't flip images horizontally (same as --noflip)",
                      flag_values=flag_values)
    flags.DEFINE_integer("load_size", None, "the PyTorch pix2pix's name for --scale_size (give one of the two)",
                         flag_values=flag_values)


def options_from_flags(flag_values=FLAGS) -> Options:
    """One Options record from the parsed flags (before the mode prepares it)."""
    values = {field.name: flag_values[field.name].value for field in fields()}
    if flag_values["no_flip"].value:
        values["flip"] = False
    if flag_values["load_size"].present:
        if flag_values["scale_size"].present and flag_values["scale_size"].value != flag_values["load_size"].value:
            raise UsageError(f"--load_size: is --scale_size by another name; given {flag_values['load_size'].value} "
                             f"and --scale_size {flag_values['scale_size'].value}")
        values["scale_size"] = flag_values["load_size"].value
    if values["mode"] is None:
        values["mode"] = Options.mode
    return Options(**values)


def explicit_flags(flag_values=FLAGS) -> set:
    """The fields the user set on the command line (an alias counts for its field)."""
    given = {name for name in flag_values if flag_values[name].present}
    return {ALIASES.get(name, name) for name in given}
