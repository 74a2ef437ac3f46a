"""`pix2pix --help` (one screen: the modes with an example each, the common flags), `--helpfull`
(every flag, grouped by the mode that reads it) and `--mode MODE --help` (that mode's flags), built
from the modes' definitions (modes/catalog/) and the Options fields' metadata, without loading
TensorFlow."""

import textwrap

from pix2pix import modes
from pix2pix.commands.flags import ALIASES
from pix2pix.options.record import fields

# The flags most runs give, shown by the short --help (every flag: --helpfull, docs/flags.md).
COMMON_FLAGS = ("input_dir", "output_dir", "checkpoint", "max_steps", "max_epochs", "which_direction",
                "lab_colorization", "batch_size", "crop_size", "deterministic", "verbose")
EXIT_STATUSES = ("exit status: 0 done (and for --help); 2 the command line cannot work, said at once, before "
                 "TensorFlow loads (an unknown flag or mode, a bad value, a missing flag, flags that do not go "
                 "together, a path that does not exist or is not what its flag takes, such as an output path "
                 "that is a file or a .pth file that only --mode import reads), or later a flag that "
                 "contradicts a checkpoint's stored options; 1 the run failed on what the files hold (an image "
                 "that cannot be decoded, a checkpoint that cannot be used, a full disk); 130 interrupted "
                 "(Ctrl-C); 128+N stopped by signal N (training saves first).")
WIDTH = 100


def _default(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def _flag_lines(field) -> str:
    name = field.name
    if isinstance(field.default, bool):
        shown = f"--[no]{name}"
    else:
        shown = f"--{name} {name.upper()}"
    detail = field.metadata["help"]
    if field.metadata["choices"] and name != "video_codec":
        detail += f" (one of {', '.join(field.metadata['choices'])})"
    detail += f" [default: {_default(field.default)}]"
    aliases = [alias for alias, target in ALIASES.items() if target == name]
    if aliases:
        detail += f"; also --{aliases[0]}"
    return shown + "\n" + textwrap.fill(detail, WIDTH, initial_indent="      ", subsequent_indent="      ")


def reads(field, mode) -> bool:
    """True when MODE (a Mode) reads the Options FIELD."""
    readers = field.metadata["modes"]
    return field.name != "mode" and ("*" in readers or mode.name in readers or field.name in mode.flags)


def mode_flags(name: str) -> list:
    """The Options fields the mode NAME reads, in the order they are declared."""
    mode = modes.named(name)
    return [field for field in fields() if reads(field, mode)]


def mode_help(name: str) -> str:
    mode = modes.named(name)
    lines = [f"pix2pix --mode {name}: {mode.purpose}", "", "example:", "  " + mode.example, "",
             f"flags of --mode {name}:"]
    lines += ["  " + _flag_lines(field) for field in mode_flags(name)]
    return "\n".join(lines) + "\n"


def usage() -> str:
    """One screen: the modes, an example each, the common flags, where the rest is."""
    lines = ["usage: pix2pix --mode MODE [--flag value ...]    (or: python -m pix2pix ...)", "",
             "pix2pix for TensorFlow 2: image-to-image translation with conditional GANs "
             "(Isola et al.), as the TF1 original.", "", "modes:"]
    width = max(len(mode.name) for mode in modes.all_modes())
    for mode in modes.all_modes():
        lines.append(f"  {mode.name:{width}}  {mode.purpose}")
        lines.append(f"  {'':{width}}  {mode.example}")
    by_name = {field.name: field for field in fields()}
    lines += ["", "common flags:"] + ["  " + _flag_lines(by_name[name]) for name in COMMON_FLAGS]
    lines += ["", "The flags of one mode: pix2pix --mode MODE --help    Every flag: pix2pix --helpfull "
                  "(and docs/flags.md)", "", textwrap.fill(EXIT_STATUSES, WIDTH)]
    return "\n".join(lines) + "\n"


def full_help() -> str:
    """The usage, then every mode's flags."""
    parts = [usage()]
    for mode in modes.all_modes():
        parts.append("-" * WIDTH + "\n" + mode_help(mode.name))
    return "\n".join(parts)


def help_text(mode=None, full=False) -> str:
    """--helpfull: every flag; --mode MODE --help: that mode's flags (UsageError for an unknown
    MODE); else the one-screen usage."""
    if full:
        return full_help()
    return mode_help(mode) if mode is not None else usage()


def flags_markdown() -> str:
    """docs/flags.md: every flag by the modes that read it, as `--help` shows them (a test keeps the
    file equal to this)."""
    lines = ["# Flags", "", "Generated from the modes' definitions (`pix2pix/modes/catalog/`) and the Options "
             "fields (`pix2pix/options/record.py`) by `python -m pix2pix.commands.help`; `pix2pix --helpfull` "
             "prints the same, `pix2pix --mode MODE --help` one mode of it.", "",
             EXIT_STATUSES, ""]
    for mode in modes.all_modes():
        lines += [f"## --mode {mode.name}", "", mode.purpose + ":", "", "```sh", mode.example, "```", "",
                  "| flag | default | what |", "|---|---|---|"]
        for field in mode_flags(mode.name):
            detail = field.metadata["help"].replace("|", "\\|")
            if field.metadata["choices"] and field.name != "video_codec":
                detail += f" (one of {', '.join(field.metadata['choices'])})"
            aliases = [f"`--{alias}`" for alias, target in ALIASES.items() if target == field.name]
            name = f"`--{field.name}`" + (f" ({', '.join(aliases)})" if aliases else "")
            lines.append(f"| {name} | {_default(field.default)} | {detail} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(flags_markdown(), end="")
