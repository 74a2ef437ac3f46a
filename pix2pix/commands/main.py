"""The `pix2pix` command: flags -> one Options record -> the mode's `run` (modes/__init__.py).

    pix2pix --mode MODE [--flag value ...]       pix2pix --help       pix2pix --mode MODE --help

    pix2pix --helpfull

Help is printed without loading TensorFlow, and so are the errors the flags alone show (an
unknown flag or mode, a bad value, a missing flag, a folder that does not exist: the mode's
definition says what it needs, modes.check_command_line): those answer at once. Exit status:
0 done, 1 the run failed (Pix2PixError, OSError), 2 the command line cannot work (UsageError, a
flag absl cannot parse), 130 interrupted, 128+N stopped by signal N (training, after saving).
"""

import sys

from absl import flags, logging

from pix2pix import modes
from pix2pix.commands.flags import FLAGS, define_flags, explicit_flags, options_from_flags
from pix2pix.commands.help import help_text
from pix2pix.commands.logs import quiet_tensorflow
from pix2pix.errors import Pix2PixError, UsageError
from pix2pix.options.record import check_values

HELP_WORDS = ("-h", "-help", "--help", "--helpshort", "--helpfull", "-helpfull", "-?")
FULL_HELP_WORDS = ("--helpfull", "-helpfull")
USAGE_ERROR, RUN_ERROR, INTERRUPTED = 2, 1, 130


def _mode_named(arguments) -> str:
    """The value of --mode among ARGUMENTS (for `--mode infer --help`), or None."""
    for i, argument in enumerate(arguments):
        if argument in ("--mode", "-mode") and i + 1 < len(arguments) and not arguments[i + 1].startswith("-"):
            return arguments[i + 1]
        if argument.startswith(("--mode=", "-mode=")):
            return argument.split("=", 1)[1]
    return None


def _fail(message: str, status: int) -> int:
    print(f"pix2pix: error: {message}", file=sys.stderr, flush=True)
    return status


def parse(argv):
    """(Options, the flags given) from ARGV; UsageError for what absl or the record refuses."""
    define_flags()
    try:
        rest = FLAGS(list(argv))
    except flags.Error as err:
        raise UsageError(f"{err} (pix2pix --help lists the flags)") from None
    if len(rest) > 1:
        raise UsageError(f"unexpected arguments: {' '.join(rest[1:])} (every option is a --flag)")
    if FLAGS.mode is None:
        raise UsageError(f"--mode: is required, one of {', '.join(modes.names())} (pix2pix --help shows them)")
    modes.named(FLAGS.mode)  # an unknown mode, with the nearest name
    options = options_from_flags()
    check_values(options)
    modes.check_command_line(options)
    return options, explicit_flags()


def main(argv) -> int:
    """Run the command ARGV (program name first); returns the exit status."""
    arguments = list(argv[1:])
    logging.set_verbosity(logging.WARNING)  # keep TensorFlow's INFO lines out of the progress output
    try:
        if not arguments or any(argument in HELP_WORDS for argument in arguments):
            full = any(argument in FULL_HELP_WORDS for argument in arguments)
            print(help_text(_mode_named(arguments), full), end="")
            return 0
        options, explicit = parse(argv)
        quiet_tensorflow(options.verbose)  # before any mode imports TensorFlow
        return modes.run(options, explicit)
    except UsageError as err:
        return _fail(str(err), USAGE_ERROR)
    except (Pix2PixError, OSError) as err:  # OSError: disk full, permissions... named, no traceback
        return _fail(str(err), RUN_ERROR)
    except KeyboardInterrupt:  # before training started (or a second Ctrl-C): nothing to save
        print("pix2pix: interrupted", file=sys.stderr)
        return INTERRUPTED


def entry_point():
    """Console script `pix2pix` (and `python -m pix2pix`)."""
    sys.exit(main(sys.argv))
