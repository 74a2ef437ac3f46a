"""Types of stored options: an options.json read back must hold what the Options fields declare.

options.json is written by training, export and import, but it is a plain file a person (or a
tool) may edit: "ngf": "64", "crop_size": 256.0, "lr": NaN or "ngf": [64] would otherwise reach
the model builders and end in a traceback far from the file. Every stored key that names an
Options field is checked against the field's type; keys Options does not know are left alone
(the TF1 reference's files hold only flags we know, but a newer version may add some).
"""

import dataclasses
import math
import typing

from pix2pix.errors import Pix2PixError
from pix2pix.options.record import Options

_SHOWN_CHARACTERS = 40  # a long stored value is cut in the error line


def _field_types(options_class) -> dict:
    """{field name: (allowed python type, None allowed)} of a dataclass of options."""
    hints = typing.get_type_hints(options_class)
    types = {}
    for field in dataclasses.fields(options_class):
        hint = hints[field.name]
        arguments = typing.get_args(hint)
        optional = typing.get_origin(hint) is typing.Union and type(None) in arguments
        base = next(a for a in arguments if a is not type(None)) if optional else hint
        types[field.name] = (base, optional)
    return types


def _expected(base, optional) -> str:
    words = {bool: "true or false", int: "a whole number", float: "a finite number", str: "a string"}
    return words.get(base, base.__name__) + (" or null" if optional else "")


def _fits(value, base) -> bool:
    if base is bool:
        return isinstance(value, bool)
    if base is int:  # JSON has no separate integers, but this port writes them without a point
        return isinstance(value, int) and not isinstance(value, bool)
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return isinstance(value, base)


def _shown(value) -> str:
    text = repr(value) if not isinstance(value, bool) else str(value).lower()
    return text if len(text) <= _SHOWN_CHARACTERS else text[:_SHOWN_CHARACTERS - 3] + "..."


def check_stored_types(stored: dict, source: str, options_class=None) -> None:
    """Pix2PixError naming SOURCE and the first option of STORED whose value has the wrong type.

    OPTIONS_CLASS is the dataclass whose field types apply (default: pix2pix's Options).
    """
    types = _field_types(options_class or Options)
    for name in sorted(stored):
        if name not in types:
            continue
        base, optional = types[name]
        value = stored[name]
        if value is None and optional:
            continue
        if not _fits(value, base):
            raise Pix2PixError(f"--checkpoint: {source} holds {name}={_shown(value)}, which is not "
                               f"{_expected(base, optional)}; correct it in that file")
