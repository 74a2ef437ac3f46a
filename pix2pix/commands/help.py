"""`pix2pix --help`: the modes with an example each, then the flags grouped by the mode that
reads them, built from the Options fields' metadata (no TensorFlow is loaded to print it)."""

import textwrap

from pix2pix.commands.flags import ALIASES
from pix2pix.options.record import MODES, fields

EXAMPLES = {
    "train": "pix2pix --mode train --input_dir facades/train --output_dir run --which_direction BtoA "
             "--max_epochs 200",
    "test": "pix2pix --mode test --input_dir facades/val --output_dir results --checkpoint run",
    "export": "pix2pix --mode export --checkpoint run --output_dir exported",
    "infer": "pix2pix --mode infer --checkpoint exported --input_dir my_photos --output_dir colorized",
    "import": "pix2pix --mode import --checkpoint tf1_train_dir --output_dir run",
    "score": "pix2pix --mode score --input_dir predictions --target_dir truths --output_dir scores",
    "serve": "pix2pix --mode serve --checkpoint exported --port 8501",
}
PURPOSES = {
    "train": "train a model on A|B pairs (or single photos: --lab_colorization)",
    "test": "run a trained model over a set once: images, metrics, index.html",
    "export": "write a SavedModel that translates photos of any size",
    "infer": "translate a folder of photos and videos (a training directory or an export)",
    "import": "a TF1 original checkpoint, a PyTorch .pth or a .pict file -> a training directory",
    "score": "the metrics of a folder of predictions against a folder of targets",
    "serve": "a local web page and TensorFlow Serving's REST API over one model",
}
EXIT_STATUSES = ("exit status: 0 done (and for --help); 1 the run failed (a file, folder or checkpoint "
                 "that cannot be used); 2 the command line is wrong (unknown flag, bad value, flags that do "
                 "not go together); 130 interrupted (Ctrl-C); 128+N stopped by signal N (training saves first).")
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
    elif name == "mode":
        shown = "--mode MODE"
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


def mode_flags(mode: str) -> list:
    """The Options fields MODE reads, in the order they are declared."""
    return [field for field in fields() if mode in field.metadata["modes"] and field.name != "mode"]


def mode_help(mode: str) -> str:
    lines = [f"pix2pix --mode {mode}: {PURPOSES[mode]}", "", "example:", "  " + EXAMPLES[mode], "",
             f"flags of --mode {mode}:"]
    lines += ["  " + _flag_lines(field) for field in mode_flags(mode)]
    return "\n".join(lines) + "\n"


def usage() -> str:
    lines = ["usage: pix2pix --mode MODE [--flag value ...]    (or: python -m pix2pix ...)", "",
             "pix2pix for TensorFlow 2: image-to-image translation with conditional GANs "
             "(Isola et al.), as the TF1 original.", "", "modes:"]
    for mode in MODES:
        lines.append(f"  {mode:7} {PURPOSES[mode]}")
        lines.append(f"          {EXAMPLES[mode]}")
    lines += ["", "Colorize your own photos: pix2pix --mode infer --checkpoint MODEL --input_dir PHOTOS "
                  "--output_dir OUT", "The flags of one mode: pix2pix --mode MODE --help", "",
              textwrap.fill(EXIT_STATUSES, WIDTH)]
    return "\n".join(lines) + "\n"


def full_help() -> str:
    """The usage, then every mode's flags."""
    parts = [usage()]
    for mode in MODES:
        parts.append("-" * WIDTH + "\n" + mode_help(mode))
    return "\n".join(parts)


def help_text(mode=None) -> str:
    return mode_help(mode) if mode in MODES else full_help()



def flags_markdown() -> str:
    """docs/flags.md: every flag by the modes that read it, as `--help` shows them (a test keeps the
    file equal to this)."""
    lines = ["# Flags", "", "Generated from the Options fields (`pix2pix/options/record.py`) by "
             "`python -m pix2pix.commands.help`; `pix2pix --mode MODE --help` prints the same per mode.", "",
             EXIT_STATUSES, ""]
    for mode in MODES:
        lines += [f"## --mode {mode}", "", PURPOSES[mode] + ":", "", "```sh", EXAMPLES[mode], "```", "",
                  "| flag | default | what |", "|---|---|---|"]
        for field in mode_flags(mode):
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
